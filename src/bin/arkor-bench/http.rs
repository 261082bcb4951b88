//! A minimal HTTP/1.1 client over loopback for streaming responses (SSE, `/api/train`).
//!
//! Hand-rolled on purpose: the figures must include only the server's work and the loopback,
//! and every body read is stamped with the instant its bytes arrived.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An open response whose body is read incrementally.
pub struct Response {
    stream: TcpStream,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    chunked: bool,
    /// Raw bytes read but not yet decoded.
    raw: Vec<u8>,
    /// Decoded body bytes not yet consumed by a caller.
    body: Vec<u8>,
    /// When the bytes now in `body` last grew.
    pub last_read: Instant,
    eof: bool,
}

pub async fn request(port: u16, head: &str, body: &[u8]) -> anyhow::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .with_context(|| format!("connecting to 127.0.0.1:{port}"))?;
    stream.set_nodelay(true)?;
    let mut out = head.as_bytes().to_vec();
    out.extend_from_slice(body);
    stream.write_all(&out).await?;
    let mut raw = Vec::new();
    let header_end = loop {
        if let Some(pos) = find(&raw, b"\r\n\r\n") {
            break pos;
        }
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            bail!("connection closed before the response headers");
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head_text = String::from_utf8_lossy(&raw[..header_end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let rest = raw[header_end + 4..].to_vec();
    let mut response = Response {
        stream,
        status,
        headers,
        chunked,
        raw: Vec::new(),
        body: Vec::new(),
        last_read: Instant::now(),
        eof: false,
    };
    response.absorb(&rest);
    Ok(response)
}

/// `GET path` with the studio token header.
pub async fn get(port: u16, path: &str, token: &str) -> anyhow::Result<Response> {
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Arkor-Studio-Token: {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    request(port, &head, b"").await
}

/// `POST path` with a JSON body and the studio token header.
pub async fn post_json(port: u16, path: &str, token: &str, json: &str) -> anyhow::Result<Response> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Arkor-Studio-Token: {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        json.len()
    );
    request(port, &head, json.as_bytes()).await
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn absorb(&mut self, bytes: &[u8]) {
        if !self.chunked {
            self.body.extend_from_slice(bytes);
            return;
        }
        self.raw.extend_from_slice(bytes);
        // Decode every complete chunk; a partial one waits for more bytes.
        loop {
            let Some(line_end) = find(&self.raw, b"\r\n") else {
                return;
            };
            let size_text = String::from_utf8_lossy(&self.raw[..line_end]);
            let size_hex = size_text.split(';').next().unwrap_or("").trim();
            let Ok(size) = usize::from_str_radix(size_hex, 16) else {
                self.eof = true;
                return;
            };
            if size == 0 {
                self.eof = true;
                return;
            }
            let start = line_end + 2;
            if self.raw.len() < start + size + 2 {
                return;
            }
            self.body.extend_from_slice(&self.raw[start..start + size]);
            self.raw.drain(..start + size + 2);
        }
    }

    /// Read more body bytes (waiting at most `timeout`). Returns false at end of stream or
    /// timeout.
    pub async fn fill(&mut self, timeout: Duration) -> bool {
        if self.eof {
            return false;
        }
        let mut buf = vec![0u8; 64 * 1024];
        match tokio::time::timeout(timeout, self.stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                self.eof = true;
                false
            }
            Ok(Ok(n)) => {
                self.last_read = Instant::now();
                let bytes = buf[..n].to_vec();
                self.absorb(&bytes);
                true
            }
            Err(_) => false,
        }
    }

    /// Take the decoded body bytes read so far.
    pub fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body)
    }

    pub fn body_buffer(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }

    pub fn is_eof(&self) -> bool {
        self.eof
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One server-sent event.
#[derive(Clone, Debug)]
pub struct SseEvent {
    pub kind: String,
    pub data: String,
    /// When the read that completed this frame returned.
    pub received: Instant,
}

/// An open `/api/dev/events` stream.
pub struct SseClient {
    response: Response,
}

impl SseClient {
    pub async fn connect(port: u16, token: &str) -> anyhow::Result<Self> {
        let response = get(port, "/api/dev/events", token).await?;
        if response.status != 200 {
            bail!("/api/dev/events answered {}", response.status);
        }
        Ok(Self { response })
    }

    /// The next complete frame, or `None` on timeout / end of stream.
    pub async fn next(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let body = self.response.body_buffer();
            // Node servers may end lines with \r\n; normalise before splitting frames.
            if body.contains(&b'\r') {
                body.retain(|b| *b != b'\r');
            }
            if let Some(end) = find(body, b"\n\n") {
                let frame: Vec<u8> = body.drain(..end + 2).collect();
                let text = String::from_utf8_lossy(&frame);
                let mut kind = String::from("message");
                let mut data = String::new();
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() && kind == "message" {
                    continue; // a comment or keep-alive
                }
                return Some(SseEvent {
                    kind,
                    data,
                    received: self.response.last_read,
                });
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || !self.response.fill(left).await {
                return None;
            }
        }
    }
}
