//! `--listen ADDR:PORT`: GET /metrics for Prometheus, and nothing else.
//!
//! Requests are parsed by httparse (the HTTP/1.x parser under hyper: no allocation, no I/O),
//! over a fixed buffer this module fills, so a request's size and time are bounded here:
//! - at most 8 KiB of request line and headers (431 past that), complete within 3 s of the
//!   connection (408 after: a slow or silent client), a response write stalled for 10 s is
//!   dropped; one request per connection (`Connection: close`);
//! - only GET of /metrics (any query) is served: 405 for other methods, 404 for other paths,
//!   400 for what is not HTTP;
//! - a few workers take connections in turn, so a slow client holds one of them for 3 s at
//!   most and memory is a few scrapes' numbers at most; no error of one connection stops the
//!   server.
//!
//! A scrape reads the groups afresh each time (groups come and go), writing the text as it
//! goes. `--explain` prints one line per request: peer, request, status, bytes, time.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use isolab_core::exit;

use crate::args::Exposition;
use crate::metrics::{self, CgroupIds};
use crate::select::{self, Selection};

/// Longest request line and headers accepted.
const MAX_REQUEST: usize = 8192;
/// Headers a request may have.
const MAX_HEADERS: usize = 64;
/// Time a client has to send its whole request.
const REQUEST_DEADLINE: Duration = Duration::from_secs(3);
/// Time one write of the response may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at the same time.
const WORKERS: usize = 4;

struct Server {
    listener: TcpListener,
    selection: Selection,
    exposition: Exposition,
    ids: CgroupIds,
    explain: bool,
}

/// Serve until killed.
pub fn run(selection: Selection, exposition: Exposition, addr: SocketAddr, explain: bool) -> anyhow::Result<u8> {
    let ids = CgroupIds::detect()?;
    // Names that do not exist are refused now, with exit 125, rather than at every scrape.
    select::resolve(&selection)?;
    let listener = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let server = Arc::new(Server { listener, selection, exposition, ids, explain });
    if explain {
        log(format_args!("serving http://{}/metrics", server.listener.local_addr()?));
    }
    for _ in 1..WORKERS {
        let s = Arc::clone(&server);
        std::thread::Builder::new().name("cgstat-http".into()).spawn(move || s.serve())?;
    }
    server.serve()
}

fn log(what: std::fmt::Arguments) {
    let line = format!("{}: {what}\n", exit::tool());
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// What a request asked, or why it gets an error.
enum Request {
    Metrics,
    Error { status: u16, reason: &'static str, why: &'static str },
}

impl Server {
    fn serve(&self) -> ! {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => self.connection(stream, peer),
                Err(e) => {
                    // Out of descriptors or memory, a connection reset while queued: wait, go on.
                    if self.explain {
                        log(format_args!("accept: {e}"));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    fn connection(&self, mut stream: TcpStream, peer: SocketAddr) {
        let started = Instant::now();
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let mut buf = vec![0u8; MAX_REQUEST];
        let (request, line) = read_request(&mut stream, &mut buf, started + REQUEST_DEADLINE);
        let (status, bytes) = match request {
            None => (0, 0), // closed before sending a whole request line
            Some(Request::Metrics) => self.metrics(&mut stream),
            Some(Request::Error { status, reason, why }) => {
                let sent = respond_error(&mut stream, status, reason, why);
                (status, sent)
            }
        };
        if self.explain {
            let ms = started.elapsed().as_secs_f64() * 1e3;
            let line = if line.is_empty() { "-".to_string() } else { format!("{line:?}") };
            log(format_args!("{peer} {line} {status} {bytes} bytes {ms:.1} ms"));
        }
    }

    fn metrics(&self, stream: &mut TcpStream) -> (u16, u64) {
        let groups = match metrics::scrape(&self.selection, &self.ids) {
            Ok(g) => g,
            Err(e) => {
                let why = format!("{}: {}\n", exit::tool(), exit::one_line(&format!("{e:#}")));
                return (500, send(stream, 500, "Internal Server Error", "text/plain; charset=utf-8", why.as_bytes()));
            }
        };
        let content_type = match self.exposition {
            Exposition::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Exposition::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        };
        let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n");
        let mut out = Counting { inner: std::io::BufWriter::new(&mut *stream), bytes: 0 };
        let sent = out
            .write_all(head.as_bytes())
            .and_then(|()| metrics::write(&groups, self.exposition, &mut out))
            .and_then(|()| out.flush());
        let bytes = out.bytes;
        drop(out);
        let _ = stream.shutdown(Shutdown::Both);
        (if sent.is_ok() { 200 } else { 0 }, bytes)
    }
}

/// Read until the request line and headers are whole, the buffer is full, or the deadline.
/// Returns what to answer (`None`: the client left first) and the request line for the log.
fn read_request(stream: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> (Option<Request>, String) {
    let mut len = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return (Some(error(408)), first_line(&buf[..len]));
        }
        match stream.read(&mut buf[len..]) {
            Ok(0) => return (None, first_line(&buf[..len])),
            Ok(n) => len += n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return (Some(error(408)), first_line(&buf[..len]));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return (None, first_line(&buf[..len])),
        }
        let line = first_line(&buf[..len]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(_)) => return (Some(route(req.method, req.path)), line),
            Ok(httparse::Status::Partial) if len == buf.len() => return (Some(error(431)), line),
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => return (Some(error(431)), line),
            Err(_) => return (Some(error(400)), line),
        }
    }
}

fn route(method: Option<&str>, path: Option<&str>) -> Request {
    let path = path.unwrap_or("").split('?').next().unwrap_or("");
    match (method, path) {
        (Some("GET"), "/metrics") => Request::Metrics,
        (Some("GET"), _) => error(404),
        _ => error(405),
    }
}

fn error(status: u16) -> Request {
    let (reason, why) = match status {
        400 => ("Bad Request", "not an HTTP/1.x request"),
        404 => ("Not Found", "only /metrics is served"),
        405 => ("Method Not Allowed", "only GET /metrics is served"),
        408 => ("Request Timeout", "the request did not arrive within 3 s"),
        _ => ("Request Header Fields Too Large", "the request line and headers exceed 8 KiB"),
    };
    Request::Error { status, reason, why }
}

/// The request line as received, for the log (at most 200 characters, lossy UTF-8).
fn first_line(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(buf.len()).min(200);
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn respond_error(stream: &mut TcpStream, status: u16, reason: &str, why: &str) -> u64 {
    let body = format!("{}: {why}\n", exit::tool());
    let sent = send(stream, status, reason, "text/plain; charset=utf-8", body.as_bytes());
    // Let the client read the answer before the close: stop sending, then take (and drop) what it
    // still sends for a moment, so that the kernel does not answer its data with a reset.
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
    sent
}

fn send(stream: &mut TcpStream, status: u16, reason: &str, content_type: &str, body: &[u8]) -> u64 {
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
        body.len(),
        if status == 405 { "Allow: GET\r\n" } else { "" }
    );
    let mut msg = head.into_bytes();
    msg.extend_from_slice(body);
    match stream.write_all(&msg) {
        Ok(()) => msg.len() as u64,
        Err(_) => 0,
    }
}

/// A writer that counts what went through it.
struct Counting<W: Write> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(r: Request) -> u16 {
        match r {
            Request::Metrics => 200,
            Request::Error { status, .. } => status,
        }
    }

    #[test]
    fn only_get_metrics_is_served() {
        assert_eq!(status(route(Some("GET"), Some("/metrics"))), 200);
        assert_eq!(status(route(Some("GET"), Some("/metrics?collect[]=x"))), 200);
        assert_eq!(status(route(Some("GET"), Some("/"))), 404);
        assert_eq!(status(route(Some("GET"), Some("/metrics/"))), 404);
        assert_eq!(status(route(Some("POST"), Some("/metrics"))), 405);
        assert_eq!(status(route(Some("HEAD"), Some("/metrics"))), 405);
    }

    #[test]
    fn first_line_is_bounded() {
        assert_eq!(first_line(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"), "GET /metrics HTTP/1.1");
        assert_eq!(first_line(&[b'a'; 500]).len(), 200);
        assert_eq!(first_line(b"\xffGET"), "\u{fffd}GET");
    }
}
