//! A request head (the local endpoint, the fleet page): only the request line is used (method and path;
//! headers are read past, not interpreted). Outside bytes: a head is at most
//! [`MAX_HEAD_BYTES`], anything malformed is refused with a reason, nothing panics.

/// A request head longer than this is refused (431).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// Any other token: answered 405.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The path without the query string.
    pub path: String,
}

/// Why a head is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("request head larger than {MAX_HEAD_BYTES} bytes")]
    TooLarge,
    #[error("malformed request: {0}")]
    Malformed(&'static str),
}

/// The request in `buf` once its head is complete (`Ok(None)`: read more).
pub fn parse(buf: &[u8]) -> Result<Option<Request>, HeadError> {
    let Some(end) = head_end(buf) else {
        return if buf.len() >= MAX_HEAD_BYTES {
            Err(HeadError::TooLarge)
        } else {
            Ok(None)
        };
    };
    if end > MAX_HEAD_BYTES {
        return Err(HeadError::TooLarge);
    }
    let line_end = buf
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(HeadError::Malformed("no request line"))?;
    let line = buf[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..line_end]);
    let line = std::str::from_utf8(line).map_err(|_| HeadError::Malformed("not ASCII"))?;
    if !line.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(HeadError::Malformed(
            "control characters in the request line",
        ));
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed("expected `METHOD /path HTTP/1.x`"));
    };
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Err(HeadError::Malformed("not HTTP/1.0 or HTTP/1.1"));
    }
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(HeadError::Malformed("bad method"));
    }
    if !target.starts_with('/') {
        return Err(HeadError::Malformed("the target is not a path"));
    }
    let path = target.split('?').next().unwrap_or(target);
    Ok(Some(Request {
        method: match method {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            _ => Method::Other,
        },
        path: path.to_string(),
    }))
}

/// The length of the head up to and including its blank line (CRLF or bare LF).
fn head_end(buf: &[u8]) -> Option<usize> {
    let limit = buf.len().min(MAX_HEAD_BYTES + 4);
    let b = &buf[..limit];
    (0..b.len()).find_map(|i| {
        if b[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if b[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_get_with_headers_and_a_query_is_read() {
        let r = parse(b"GET /metrics?x=1 HTTP/1.1\r\nHost: gw\r\nAccept: */*\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.path, "/metrics");
        let r = parse(b"HEAD /health HTTP/1.0\n\n")
            .expect("valid")
            .expect("complete");
        assert_eq!((r.method, r.path.as_str()), (Method::Head, "/health"));
        let r = parse(b"DELETE / HTTP/1.1\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!(r.method, Method::Other);
    }

    #[test]
    fn an_incomplete_head_asks_for_more_and_an_endless_one_is_refused() {
        assert_eq!(parse(b"GET /metrics HTTP/1.1\r\nHost: gw\r\n"), Ok(None));
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.resize(MAX_HEAD_BYTES, b'a');
        assert_eq!(parse(&long), Err(HeadError::TooLarge));
        long.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse(&long), Err(HeadError::TooLarge));
    }

    #[test]
    fn malformed_heads_are_refused_with_a_reason() {
        for bad in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET /metrics HTTP/2\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"get /metrics HTTP/1.1\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET /m\x01 HTTP/1.1\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
            b"\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(HeadError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_an_answer_and_no_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..10_000)) {
            let _ = parse(&bytes);
        }
    }
}
