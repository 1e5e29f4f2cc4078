//! A minimal HTTP/1.1 server for stand-ins of metadata endpoints (AWS container and
//! instance credentials, Azure managed identity) and for receivers: it answers each
//! request with the first route whose method and path prefix match, and records every
//! request it got. Runs on a thread for the life of the value.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One answer.
#[derive(Debug, Clone)]
pub struct Route {
    /// `GET`, `PUT`, `POST`, or `*` for any.
    pub method: &'static str,
    /// A path prefix (`/latest/api/token`).
    pub path: String,
    /// Status code.
    pub status: u16,
    /// Body (sent as `application/json` when it starts with `{`).
    pub body: String,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// How long to wait before answering (a hanging endpoint).
    pub delay: Duration,
}

impl Route {
    /// `200` with `body` for `method` on paths starting with `path`.
    pub fn ok(method: &'static str, path: &str, body: &str) -> Self {
        Route {
            method,
            path: path.into(),
            status: 200,
            body: body.into(),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// The same answer after `delay`.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The same answer with `status`.
    #[must_use]
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The same answer with one more response header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method.
    pub method: String,
    /// Path with query.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

/// A running stub.
pub struct Stub {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Every request so far.
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl Stub {
    /// Starts a stub answering with `routes` (404 when none matches).
    pub fn start(routes: Vec<Route>) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind stub");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (routes, seen) = (routes.clone(), seen.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &routes, &seen);
                });
            }
        });
        Stub { url, requests }
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

fn serve(stream: TcpStream, routes: &[Route], seen: &Mutex<Vec<Request>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            if k == "content-length" {
                length = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Request {
            method: method.clone(),
            path: path.clone(),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    let route = routes
        .iter()
        .find(|r| (r.method == "*" || r.method == method) && path.starts_with(&r.path));
    if let Some(r) = route {
        std::thread::sleep(r.delay);
    }
    let (status, body) = route.map_or((404, "not found"), |r| (r.status, r.body.as_str()));
    let mut extra = String::new();
    for (k, v) in route.map(|r| r.headers.as_slice()).unwrap_or_default() {
        extra.push_str(k);
        extra.push_str(": ");
        extra.push_str(v);
        extra.push_str("\r\n");
    }
    let kind = if body.starts_with('{') {
        "application/json"
    } else {
        "text/plain"
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}
