//! A small HTTP/1.1 server for the local endpoint (`monitor::http`) and the fleet page
//! (`fleet`): one request per connection (`Connection: close`), `GET` and `HEAD` only. A head
//! larger than 8 KiB, a malformed one or one not complete within [`READ_TIMEOUT`] is refused,
//! and at most [`MAX_CONNECTIONS`] are served at once (others wait in the listen backlog).
//! What each path answers is the caller's [`Handler`]; the answers are counted by status code.

pub mod request;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use self::request::{HeadError, Method, Request, MAX_HEAD_BYTES};

/// A request head must be complete within this.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 8;

/// The status codes answered, counted.
const CODES: [u16; 8] = [200, 400, 404, 405, 408, 431, 500, 503];

/// One answer.
pub struct Response {
    pub code: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(code: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            code,
            content_type,
            body: body.into(),
        }
    }

    pub fn text(code: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::new(code, "text/plain; charset=utf-8", body)
    }

    pub fn json(code: u16, value: &impl serde::Serialize) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response::new(code, "application/json", body),
            Err(e) => Response::text(500, format!("{e}\n")),
        }
    }
}

/// The answer for a parsed `GET` or `HEAD` request (the server sends only the head of it for
/// `HEAD`).
pub type Handler =
    Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// Requests answered, by status code.
#[derive(Default)]
pub struct Answered([AtomicU64; CODES.len()]);

impl Answered {
    fn count(&self, code: u16) {
        if let Some(i) = CODES.iter().position(|c| *c == code) {
            self.0[i].fetch_add(1, Relaxed);
        }
    }

    /// `(code, answers)` for each code this server uses.
    pub fn counts(&self) -> Vec<(u16, u64)> {
        CODES
            .iter()
            .zip(&self.0)
            .map(|(c, n)| (*c, n.load(Relaxed)))
            .collect()
    }
}

/// Serve until `stop`. `name` is for the logs.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    handler: Handler,
    answered: Arc<Answered>,
    stop: CancellationToken,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let (handler, answered) = (handler.clone(), answered.clone());
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, &handler, &answered).await {
                        debug!(%peer, error = %e, "{name}: request ended early.");
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                warn!(error = %e, "{name}: accept failed.");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Read one request head and answer it.
async fn answer(
    mut stream: TcpStream,
    handler: &Handler,
    answered: &Answered,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    let parsed = loop {
        match request::parse(&buf) {
            Ok(Some(r)) => break Ok(r),
            Ok(None) => {}
            Err(e) => break Err(e),
        }
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(r) => r?,
            Err(_) => {
                answered.count(408);
                let r = Response::text(408, "request head not complete in time\n");
                return respond(&mut stream, &r, false).await;
            }
        };
        if n == 0 {
            return Ok(()); // the client left
        }
        let room = (MAX_HEAD_BYTES + 4).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..n.min(room)]);
    };
    let (response, head_only) = match parsed {
        Err(e @ HeadError::TooLarge) => (Response::text(431, format!("{e}\n")), false),
        Err(e) => (Response::text(400, format!("{e}\n")), false),
        Ok(r) if r.method == Method::Other => (Response::text(405, "only GET and HEAD\n"), false),
        Ok(r) => {
            let head_only = r.method == Method::Head;
            (handler(r).await, head_only)
        }
    };
    answered.count(response.code);
    respond(&mut stream, &response, head_only).await
}

async fn respond(stream: &mut TcpStream, r: &Response, head_only: bool) -> std::io::Result<()> {
    let reason = match r.code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let allow = if r.code == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        r.code,
        r.content_type,
        r.body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if !head_only {
        stream.write_all(&r.body).await?;
    }
    stream.shutdown().await?;
    // Read what the client still sends (a refused head's rest) for a moment before closing:
    // closing with unread input resets the connection, and the client may lose the answer.
    let mut sink = [0u8; 4096];
    let mut left = 64 * 1024usize;
    let until = tokio::time::Instant::now() + Duration::from_millis(200);
    while left > 0 {
        match tokio::time::timeout_at(until, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => break,
        }
    }
    Ok(())
}
