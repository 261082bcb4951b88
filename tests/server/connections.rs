//! Connection limits over real sockets: the header-read timeout (also cutting idle keep-alive
//! connections), the body deadline, and the cap on connections served at once.

use std::time::Duration;

use arkor_tui::server::connections::HEADER_READ_TIMEOUT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::common::*;

/// Short enough for a test, long enough that a loaded machine still sends a request in time.
const SHORT_TIMEOUT: Duration = Duration::from_millis(500);

async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect")
}

/// Read until the server closes the connection; returns what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(WAIT, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the server kept the connection open; got {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

/// Read one response whose body has a Content-Length, leaving the connection open.
async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = find(&raw, b"\r\n\r\n") {
            let head = RawResponse::parse(&raw[..end + 4]);
            let len: usize = head
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if raw.len() >= end + 4 + len {
                return RawResponse::parse(&raw[..end + 4 + len]);
            }
        }
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .expect("a response in time")
            .expect("read");
        assert!(n > 0, "closed before a whole response");
        raw.extend_from_slice(&buf[..n]);
    }
}

fn manifest_request(token: &str) -> String {
    format!(
        "GET /api/manifest HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Arkor-Studio-Token: {token}\r\n\r\n"
    )
}

#[test]
fn the_default_header_timeout_is_at_most_30_s() {
    assert!(HEADER_READ_TIMEOUT <= Duration::from_secs(30));
    assert!(HEADER_READ_TIMEOUT >= Duration::from_secs(5));
}

#[tokio::test]
async fn half_sent_headers_and_idle_connections_are_closed_by_the_timeout() {
    let h = Harness::start_with(|cfg, _| cfg.header_read_timeout = Some(SHORT_TIMEOUT)).await;

    // Headers that never end.
    let mut half = connect(h.port).await;
    half.write_all(b"GET /api/manifest HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Arkor")
        .await
        .expect("write");
    let answer = read_until_closed(&mut half).await;
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );

    // A connection that never says anything.
    let mut silent = connect(h.port).await;
    read_until_closed(&mut silent).await;

    // A keep-alive connection: served, then closed once idle for the timeout.
    let mut kept = connect(h.port).await;
    kept.write_all(manifest_request(&h.token).as_bytes())
        .await
        .expect("write");
    assert_eq!(read_response(&mut kept).await.status, 200);
    kept.write_all(manifest_request(&h.token).as_bytes())
        .await
        .expect("write");
    assert_eq!(
        read_response(&mut kept).await.status,
        200,
        "still kept alive"
    );
    assert!(read_until_closed(&mut kept).await.is_empty());

    // The server still serves.
    assert_eq!(h.get("/api/manifest").await.status(), 200);
}

#[tokio::test]
async fn a_body_that_never_arrives_is_a_json_408_and_starts_nothing() {
    let h = Harness::start_with(|cfg, _| cfg.header_read_timeout = Some(SHORT_TIMEOUT)).await;
    let mut stream = connect(h.port).await;
    stream
        .write_all(
            format!(
                "POST /api/train HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Arkor-Studio-Token: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"fi",
                h.token
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    let res = read_response(&mut stream).await;
    assert_eq!(res.status, 408);
    let body: serde_json::Value = serde_json::from_str(&res.text()).expect("json");
    assert_eq!(
        body,
        serde_json::json!({"error": "the request body did not arrive within 0.5 s"})
    );
    assert!(h.engine.commands.is_empty(), "no run was started");
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let h = Harness::start_with(|cfg, _| cfg.max_connections = Some(2)).await;
    // Two keep-alive connections, each served once: both hold their slot.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(h.port).await;
        stream
            .write_all(manifest_request(&h.token).as_bytes())
            .await
            .expect("write");
        assert_eq!(read_response(&mut stream).await.status, 200);
        holders.push(stream);
    }
    // A third client connects (the kernel's backlog takes it) but is not served...
    let mut waiting = connect(h.port).await;
    waiting
        .write_all(manifest_request(&h.token).as_bytes())
        .await
        .expect("write");
    let mut buf = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), waiting.read(&mut buf)).await;
    assert!(early.is_err(), "served past the cap: {early:?}");
    // ...until a slot frees.
    drop(holders.pop());
    assert_eq!(read_response(&mut waiting).await.status, 200);
    // The slot it took is its own: the remaining holder still works.
    let mut holder = holders.pop().expect("holder");
    holder
        .write_all(manifest_request(&h.token).as_bytes())
        .await
        .expect("write");
    assert_eq!(read_response(&mut holder).await.status, 200);
}
