//! Host allow-list and studio-token guard, over real HTTP.

use super::common::*;

const TOKEN_ERROR: &str = r#"{"error":"Missing or invalid studio token"}"#;
const HOST_API_ERROR: &str = r#"{"error":"Studio API is loopback-only"}"#;

#[tokio::test]
async fn evil_host_is_rejected_even_with_a_valid_token() {
    let h = Harness::start().await;
    let token_header = format!("X-Arkor-Studio-Token: {}\r\n", h.token);
    for host in [
        "evil.com",
        "evil.com:4000",
        "192.168.1.5:4000",
        "localhost.evil.com",
        "127.0.0.1.nip.io",
    ] {
        let api = h.raw_get("/api/manifest", host, &token_header).await;
        assert_eq!(api.status, 403, "{host}");
        assert_eq!(api.text(), HOST_API_ERROR, "{host}");
        assert!(
            api.header("content-type")
                .unwrap_or("")
                .starts_with("application/json")
        );

        let page = h.raw_get("/", host, "").await;
        assert_eq!(page.status, 403, "{host}");
        assert_eq!(page.text(), "Studio is loopback-only");
        assert!(!page.text().contains(&h.token));
    }
    // The event stream with the query token is guarded too.
    let sse = h
        .raw_get(
            &format!("/api/dev/events?studioToken={}", h.token),
            "evil.example.com",
            "",
        )
        .await;
    assert_eq!(sse.status, 403);
}

#[tokio::test]
async fn loopback_hosts_pass() {
    let h = Harness::start().await;
    let token_header = format!("X-Arkor-Studio-Token: {}\r\n", h.token);
    let port = h.port;
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "[::1]".to_owned(),
    ] {
        let res = h.raw_get("/api/manifest", &host, &token_header).await;
        assert_eq!(res.status, 200, "{host}: {}", res.text());
    }
}

#[tokio::test]
async fn missing_or_malformed_host_is_rejected_without_a_panic() {
    let h = Harness::start().await;
    // HTTP/1.0 without Host.
    let res = RawResponse::parse(&h.raw(b"GET /api/manifest HTTP/1.0\r\n\r\n").await);
    assert_eq!(res.status, 403);
    assert_eq!(res.text(), HOST_API_ERROR);
    // Non-UTF-8 bytes, an empty value, a bracket without its end.
    for host in [
        &b"\xff\xfe:1"[..],
        b"",
        b"[::1",
        b"localhost:",
        b"localhost:80:80",
    ] {
        let mut req = b"GET / HTTP/1.1\r\nHost: ".to_vec();
        req.extend_from_slice(host);
        req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        let res = RawResponse::parse(&h.raw(&req).await);
        assert!(
            res.status == 403 || res.status == 400,
            "{:?} → {}",
            host,
            res.status
        );
    }
    // The server is still alive and well.
    assert_eq!(h.get("/api/manifest").await.status(), 200);
}

#[tokio::test]
async fn every_token_rejection_is_403_with_the_reference_body() {
    let h = Harness::start().await;
    let host = format!("127.0.0.1:{}", h.port);
    let mut one_off = h.token.clone().into_bytes();
    let last = one_off.len() - 1;
    one_off[last] = if one_off[last] == b'A' { b'B' } else { b'A' };
    let one_off = String::from_utf8(one_off).expect("ascii");
    let short = h.token[..h.token.len() - 1].to_owned();
    let long = format!("{}x", h.token);
    let cases: Vec<(String, String)> = vec![
        ("missing".into(), String::new()),
        (
            "wrong".into(),
            "X-Arkor-Studio-Token: not-the-token\r\n".into(),
        ),
        ("empty".into(), "X-Arkor-Studio-Token: \r\n".into()),
        (
            "too short".into(),
            format!("X-Arkor-Studio-Token: {short}\r\n"),
        ),
        (
            "too long".into(),
            format!("X-Arkor-Studio-Token: {long}\r\n"),
        ),
        (
            "one byte off".into(),
            format!("X-Arkor-Studio-Token: {one_off}\r\n"),
        ),
        (
            "lower-case copy".into(),
            format!("X-Arkor-Studio-Token: {}\r\n", h.token.to_lowercase()),
        ),
    ];
    for path in [
        "/api/manifest",
        "/api/dev/events",
        "/api/credentials",
        "/api/nope",
    ] {
        for (name, header) in &cases {
            if name == "lower-case copy" && h.token.to_lowercase() == h.token {
                continue;
            }
            let res = h.raw_get(path, &host, header).await;
            assert_eq!(res.status, 403, "{path} {name}");
            assert_eq!(res.text(), TOKEN_ERROR, "{path} {name}");
        }
    }
    // Non-UTF-8 token bytes.
    let mut req = format!("GET /api/manifest HTTP/1.1\r\nHost: {host}\r\nX-Arkor-Studio-Token: ")
        .into_bytes();
    req.extend_from_slice(b"\xff\xfe\xfd");
    req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    assert_eq!(RawResponse::parse(&h.raw(&req).await).status, 403);
}

#[tokio::test]
async fn query_token_counts_only_for_get_on_event_streams() {
    let h = Harness::start().await;
    let client = Harness::client();
    let q = format!("?studioToken={}", h.token);

    // POST /api/train with the token only in the query → 403, and no run is started.
    let res = client
        .post(h.url(&format!("/api/train{q}")))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 403);
    assert_eq!(res.text().await.expect("body"), TOKEN_ERROR);

    // GET on a non-stream route → 403.
    for path in ["/api/manifest", "/api/credentials"] {
        let res = client
            .get(h.url(&format!("{path}{q}")))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 403, "{path}");
    }
    // POST on the stream route → 403 (405 would leak that the route exists before auth).
    let res = client
        .post(h.url(&format!("/api/dev/events{q}")))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 403);

    // GET /api/dev/events with the query token → 200 event stream.
    let res = client
        .get(h.url(&format!("/api/dev/events{q}")))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    drop(res);

    // GET /api/jobs/<id>/events with the query token passes the guard (the cloud side answers).
    let res = client
        .get(h.url(&format!("/api/jobs/job-1/events{q}")))
        .send()
        .await
        .expect("request");
    assert_ne!(res.status(), 403);

    // A present but wrong header wins over a right query token.
    let res = client
        .get(h.url(&format!("/api/dev/events{q}")))
        .header("x-arkor-studio-token", "wrong")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 403);

    // Percent-encoded query token is decoded.
    let encoded: String = h.token.bytes().map(|b| format!("%{b:02X}")).collect();
    let res = client
        .get(h.url(&format!("/api/dev/events?studioToken={encoded}")))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);

    assert!(
        h.engine.commands.is_empty(),
        "no command may reach the engine"
    );
}

#[tokio::test]
async fn no_cors_headers_anywhere() {
    let h = Harness::start().await;
    let host = format!("127.0.0.1:{}", h.port);
    let origin = "Origin: http://evil.example\r\n";
    let preflight = format!(
        "OPTIONS /api/train HTTP/1.1\r\nHost: {host}\r\n{origin}Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n"
    );
    let responses = vec![
        RawResponse::parse(&h.raw(preflight.as_bytes()).await),
        h.raw_get(
            "/api/manifest",
            &host,
            &format!("{origin}X-Arkor-Studio-Token: {}\r\n", h.token),
        )
        .await,
        h.raw_get("/", &host, origin).await,
    ];
    for res in responses {
        assert!(
            res.headers
                .iter()
                .all(|(k, _)| !k.starts_with("access-control-")),
            "{:?}",
            res.headers
        );
    }
}

#[tokio::test]
async fn ipv6_loopback_is_served_when_available() {
    let h = Harness::start().await;
    let Ok(mut stream) = tokio::net::TcpStream::connect(("::1", h.port)).await else {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!(
        "GET /api/manifest HTTP/1.1\r\nHost: [::1]:{}\r\nX-Arkor-Studio-Token: {}\r\nConnection: close\r\n\r\n",
        h.port, h.token
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut out))
        .await
        .expect("in time")
        .expect("read");
    let res = RawResponse::parse(&out);
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), r#"{"trainer":null,"configHash":null}"#);
}

#[tokio::test]
async fn path_tricks_never_reach_an_api_route_without_the_token() {
    let h = Harness::start().await;
    h.publish(built(true, "secret-build", Some("cafebabecafebabe"), None));
    let host = format!("127.0.0.1:{}", h.port);
    for path in [
        "//api/manifest",
        "/./api/manifest",
        "/api/./manifest",
        "/x/../api/manifest",
        "/%61pi/manifest",
        "/api%2fmanifest",
        "/api/manifest/",
        "/API/manifest",
        "/api/manifest?studioToken=x",
        "/api/dev/events/",
    ] {
        let res = h.raw_get(path, &host, "").await;
        assert!(
            !res.text().contains("cafebabecafebabe") && !res.text().contains("secret-build"),
            "{path} leaked: {} {}",
            res.status,
            res.text()
        );
    }
    let mut req = b"POST //api/train HTTP/1.1\r\nHost: ".to_vec();
    req.extend_from_slice(host.as_bytes());
    req.extend_from_slice(b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    let res = RawResponse::parse(&h.raw(&req).await);
    assert_ne!(res.status, 200);
    assert!(h.engine.commands.is_empty(), "no run was started");
}

#[tokio::test]
async fn two_host_headers_are_a_bad_request_whichever_comes_first() {
    let h = Harness::start().await;
    let port = h.port;
    let token = &h.token;
    for (first, second) in [
        (format!("127.0.0.1:{port}"), "evil.com".to_owned()),
        ("evil.com".to_owned(), format!("127.0.0.1:{port}")),
        (format!("127.0.0.1:{port}"), format!("localhost:{port}")),
    ] {
        let api = RawResponse::parse(
            &h.raw(
                format!(
                    "GET /api/manifest HTTP/1.1\r\nHost: {first}\r\nX-Arkor-Studio-Token: {token}\r\nHost: {second}\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .await,
        );
        assert_eq!(api.status, 400, "{first} + {second}");
        assert_eq!(
            api.text(),
            r#"{"error":"Bad Request: more than one Host header"}"#
        );
        let page = RawResponse::parse(
            &h.raw(
                format!(
                    "GET / HTTP/1.1\r\nHost: {first}\r\nHost: {second}\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .await,
        );
        assert_eq!(page.status, 400, "{first} + {second}");
        assert_eq!(page.text(), "Bad Request: more than one Host header");
    }
}

#[tokio::test]
async fn an_absolute_form_target_must_name_a_loopback_host() {
    let h = Harness::start().await;
    let port = h.port;
    let token = &h.token;
    let request = |target: &str| {
        format!(
            "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Arkor-Studio-Token: {token}\r\nConnection: close\r\n\r\n"
        )
    };
    for target in [
        "http://evil.com/api/manifest".to_owned(),
        format!("http://evil.com:{port}/api/manifest"),
        format!("http://user@127.0.0.1:{port}/api/manifest"),
    ] {
        let res = RawResponse::parse(&h.raw(request(&target).as_bytes()).await);
        assert_eq!(res.status, 400, "{target}: {}", res.text());
        assert_eq!(
            res.text(),
            r#"{"error":"Bad Request: the request target names a host that is not loopback"}"#
        );
    }
    let page = RawResponse::parse(&h.raw(request("http://evil.com/").as_bytes()).await);
    assert_eq!(page.status, 400);
    // The same request naming this server is served.
    for target in [
        format!("http://127.0.0.1:{port}/api/manifest"),
        format!("http://localhost:{port}/api/manifest"),
    ] {
        let res = RawResponse::parse(&h.raw(request(&target).as_bytes()).await);
        assert_eq!(res.status, 200, "{target}: {}", res.text());
    }
}
