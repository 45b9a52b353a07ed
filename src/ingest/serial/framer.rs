//! Newline framing of a byte stream with a maximum frame length.
//!
//! Bytes arrive in arbitrary chunks; complete lines (terminated by `\n`, an optional `\r`
//! before it stripped) come out. A line longer than the maximum is discarded up to its
//! terminating newline and reported once as [`Reject::Oversize`]; the framer then
//! resynchronises on the next line, so a burst of noise costs one frame, not the stream.
//! Memory is bounded by the maximum frame length.

use super::super::Reject;

#[derive(Debug)]
pub struct LineFramer {
    buf: Vec<u8>,
    max: usize,
    /// Inside an oversize line: drop bytes until the next newline.
    discarding: bool,
}

impl LineFramer {
    pub fn new(max_frame_bytes: usize) -> LineFramer {
        LineFramer {
            buf: Vec::with_capacity(max_frame_bytes.min(4096)),
            max: max_frame_bytes,
            discarding: false,
        }
    }

    /// Feed bytes; every complete frame (or the reason it was dropped) goes to `emit`.
    pub fn push(&mut self, mut bytes: &[u8], mut emit: impl FnMut(Result<&str, Reject>)) {
        while !bytes.is_empty() {
            let nl = bytes.iter().position(|&b| b == b'\n');
            let (chunk, rest, complete) = match nl {
                Some(i) => (&bytes[..i], &bytes[i + 1..], true),
                None => (bytes, &[][..], false),
            };
            bytes = rest;
            if self.discarding {
                if complete {
                    self.discarding = false;
                }
                continue;
            }
            if self.buf.len() + chunk.len() > self.max {
                self.buf.clear();
                emit(Err(Reject::Oversize));
                self.discarding = !complete;
                continue;
            }
            self.buf.extend_from_slice(chunk);
            if complete {
                let line = self.buf.strip_suffix(b"\r").unwrap_or(&self.buf);
                match std::str::from_utf8(line) {
                    Ok(text) => emit(Ok(text)),
                    Err(_) => emit(Err(Reject::BadUtf8)),
                }
                self.buf.clear();
            }
        }
    }

    /// Forget a partial line (the device was reopened: its tail belongs to nothing).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.discarding = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(max: usize, chunks: &[&[u8]]) -> Vec<Result<String, Reject>> {
        let mut f = LineFramer::new(max);
        let mut out = Vec::new();
        for c in chunks {
            f.push(c, |r| out.push(r.map(str::to_string)));
        }
        out
    }

    #[test]
    fn lines_split_across_chunks_are_joined() {
        assert_eq!(
            frames(64, &[b"a,1\r\nb,", b"2\n", b"c"]),
            vec![Ok("a,1".into()), Ok("b,2".into())]
        );
    }

    #[test]
    fn oversize_line_is_reported_once_and_the_next_line_survives() {
        let long = vec![b'x'; 50];
        assert_eq!(
            frames(16, &[&long, &long, b"\nok\n"]),
            vec![Err(Reject::Oversize), Ok("ok".into())]
        );
    }

    #[test]
    fn invalid_utf8_is_rejected_without_losing_sync() {
        assert_eq!(
            frames(16, &[b"\xff\xfe\nfine\n"]),
            vec![Err(Reject::BadUtf8), Ok("fine".into())]
        );
    }
}
