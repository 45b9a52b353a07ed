//! The local metrics endpoint's request head (`http::request::parse`), fed as the
//! endpoint reads it: in chunks, stopping at the first answer, the buffer capped at the head
//! limit plus the four bytes of a blank line.
//!
//! Input layout: bytes 0-1 seed the chunk sizes; the rest is what the client sends. The answer
//! must not depend on the chunking, an unfinished head is never longer than the limit, and a
//! parsed path starts with `/` and has no query.

#![no_main]

use forewarn::http::request::{parse, MAX_HEAD_BYTES};
use forewarn_fuzz::Rng;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let mut rng = Rng::new(u64::from(u16::from_le_bytes([data[0], data[1]])));
    let sent = &data[2..];
    let cap = MAX_HEAD_BYTES + 4;

    let mut buf = Vec::new();
    let mut rest = sent;
    let chunked = loop {
        match parse(&buf) {
            Ok(None) => {}
            answer => break Some(answer),
        }
        assert!(buf.len() < MAX_HEAD_BYTES, "an unfinished head of {} bytes", buf.len());
        if rest.is_empty() {
            break None;
        }
        let n = 1 + rng.below(2048).min(rest.len() - 1);
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
    };
    let whole = parse(&sent[..sent.len().min(cap)]);
    match chunked {
        Some(answer) => assert_eq!(answer, whole, "the answer depends on the chunking"),
        None => assert_eq!(whole, Ok(None), "the whole input answers, the chunks did not"),
    }
    if let Ok(Some(r)) = whole {
        assert!(r.path.starts_with('/') && !r.path.contains('?'), "path {:?}", r.path);
    }
});
