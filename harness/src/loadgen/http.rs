//! Minimal HTTP/1.1 client framing for the load generator: prebuilt request bytes and an
//! incremental response parser (httparse for the head, `Content-Length` bodies). Keeping it
//! this small is what lets one core drive as much load as wrk does.

/// Request bytes for `method path` with `body` and extra `headers`, keep-alive.
pub fn build_request(method: &str, path: &str, host: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    if !(method == "GET" && body.is_empty()) {
        head += &format!("Content-Type: application/octet-stream\r\nContent-Length: {}\r\n", body.len());
    }
    head += "\r\n";
    let mut r = head.into_bytes();
    r.extend_from_slice(body);
    r
}

/// Result of looking at the bytes received so far on a connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Need more bytes.
    Incomplete,
    /// A whole response: status, where the body starts, its length, the total length of the
    /// response in the buffer, and whether the server will close the connection.
    Complete { status: u16, body_start: usize, body_len: usize, total: usize, close: bool },
    /// Not a response we can frame.
    Invalid(String),
}

/// Most header lines a response may have (the first try holds [`FEW_HEADERS`], on the stack).
pub const MAX_HEADERS: usize = 256;
const FEW_HEADERS: usize = 32;

/// Frame the response at the start of `buf` ([`Parsed`]).
pub fn parse_response(buf: &[u8]) -> Parsed {
    let mut few = [httparse::EMPTY_HEADER; FEW_HEADERS];
    match parse_with(buf, &mut few) {
        Err(httparse::Error::TooManyHeaders) => parse_with(buf, &mut vec![httparse::EMPTY_HEADER; MAX_HEADERS]),
        parsed => parsed,
    }
    .unwrap_or_else(|e| Parsed::Invalid(format!("bad response head: {e}")))
}

/// [`parse_response`] with room for `headers.len()` header lines; an unparsable head is `Err`.
fn parse_with<'a>(buf: &'a [u8], headers: &mut [httparse::Header<'a>]) -> Result<Parsed, httparse::Error> {
    let mut resp = httparse::Response::new(headers);
    let head_len = match resp.parse(buf)? {
        httparse::Status::Partial => return Ok(Parsed::Incomplete),
        httparse::Status::Complete(n) => n,
    };
    let status = resp.code.unwrap_or(0);
    let mut len: Option<usize> = None;
    let mut close = resp.version == Some(0);
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse().ok()) {
                Some(n) => len = Some(n),
                None => return Ok(Parsed::Invalid("bad Content-Length".into())),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Ok(Parsed::Invalid("chunked responses are not supported".into()));
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            close = v.contains("close");
        }
    }
    let body_len = match (len, status) {
        (Some(n), _) => n,
        (None, 204 | 304) | (None, 100..=199) => 0,
        (None, _) => return Ok(Parsed::Invalid("response without Content-Length".into())),
    };
    let Some(total) = head_len.checked_add(body_len) else {
        return Ok(Parsed::Invalid(format!("Content-Length {body_len} is more than this client can hold")));
    };
    if buf.len() < total {
        return Ok(Parsed::Incomplete);
    }
    Ok(Parsed::Complete { status, body_start: head_len, body_len, total, close })
}

/// One blocking `POST` (for tests and checks, not for load): returns status and body.
pub fn request_once(
    addr: std::net::SocketAddr,
    path: &str,
    host: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    request(addr, "POST", path, host, &[], body)
}

/// One blocking request with `method` and extra `headers`: returns status and body.
pub fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    host: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    request_on(&mut s, &build_request(method, path, host, headers, body))
}

/// Send the request bytes `req` on a connected stream and read one response: status and body.
pub fn request_on(s: &mut std::net::TcpStream, req: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    use std::io::{Read, Write};
    s.write_all(req)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match parse_response(&buf) {
            Parsed::Complete { status, body_start, body_len, .. } => {
                return Ok((status, buf[body_start..body_start + body_len].to_vec()))
            }
            Parsed::Invalid(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Parsed::Incomplete => {}
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before the response ended",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_incrementally() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..full.len() {
            assert_eq!(parse_response(&full[..cut]), Parsed::Incomplete, "cut at {cut}");
        }
        assert_eq!(
            parse_response(full),
            Parsed::Complete { status: 200, body_start: 38, body_len: 5, total: 43, close: false }
        );
    }

    #[test]
    fn connection_close_and_errors() {
        let r = parse_response(b"HTTP/1.1 503 X\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        assert!(matches!(r, Parsed::Complete { status: 503, close: true, .. }));
        assert!(matches!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), Parsed::Invalid(_)));
        assert!(matches!(parse_response(b"garbage\r\n\r\n"), Parsed::Invalid(_)));
    }

    /// A server that sends more header lines than fit the first, stack-sized try (some
    /// proxies and web servers send 40 or more) is still framed, up to [`MAX_HEADERS`].
    #[test]
    fn many_headers_are_framed_up_to_the_most() {
        let head = |n: usize| {
            let lines: String = (0..n).map(|i| format!("X-H{i}: v\r\n")).collect();
            format!("HTTP/1.1 200 OK\r\n{lines}Content-Length: 2\r\n\r\nok").into_bytes()
        };
        let r = head(40);
        assert_eq!(
            parse_response(&r),
            Parsed::Complete { status: 200, body_start: r.len() - 2, body_len: 2, total: r.len(), close: false }
        );
        assert!(matches!(parse_response(&head(MAX_HEADERS - 1)), Parsed::Complete { status: 200, .. }));
        assert_eq!(parse_response(&head(MAX_HEADERS)), Parsed::Invalid("bad response head: too many headers".into()));
    }

    /// A length no buffer can hold is an error, not an overflow (the largest `usize` on 64
    /// bits, plus the head's bytes).
    #[test]
    fn a_content_length_past_memory_is_invalid() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n");
        assert_eq!(r, Parsed::Invalid("Content-Length 18446744073709551615 is more than this client can hold".into()));
    }
}
