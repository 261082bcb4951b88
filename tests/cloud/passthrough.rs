//! `/api/me`, `/api/jobs`, `/api/jobs/{id}/events`: headers, scope, streaming.

use std::time::Duration;

use arkor_tui::core::events::NoticeLevel;
use futures::StreamExt;
use serde_json::json;

use super::fake::Canned;
use super::harness::{Builder, EnvUrl, FAKE, oauth_credentials, state};

const SUNSET: &str = "Wed, 01 Jan 2030 00:00:00 GMT";

#[tokio::test]
async fn case_08_me_identifies_the_sdk_and_copies_deprecation_headers() {
    let studio = Builder::new().start().await;
    studio.fake.on(
        "GET",
        "/v1/me",
        Canned::json(200, json!({"user": {"id": "u1"}}))
            .header("content-type", "text/plain")
            .deprecated("299 - \"me endpoint deprecated\"", SUNSET),
    );
    let reply = studio.get("/api/me").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text, r#"{"user":{"id":"u1"}}"#, "byte-identical body");
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "forced"
    );
    assert_eq!(reply.header("deprecation"), Some("true"));
    assert_eq!(
        reply.header("warning"),
        Some("299 - \"me endpoint deprecated\"")
    );
    assert_eq!(reply.header("sunset"), Some(SUNSET));
    let sent = &studio.fake.requests_to("GET", "/v1/me")[0];
    assert_eq!(sent.uri(), "/v1/me");
    assert_eq!(sent.header("authorization"), Some("Bearer tok"));
    assert_eq!(sent.header("x-arkor-client"), Some("arkor/0.0.3-alpha.1"));

    // Shown to the user once, however often the page polls.
    studio.get("/api/me").await;
    let notices = studio.notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].0, NoticeLevel::Warn);
    assert!(
        notices[0].1.contains("me endpoint deprecated"),
        "{notices:?}"
    );
    assert!(notices[0].1.contains(SUNSET));
}

#[tokio::test]
async fn client_version_is_the_installed_sdks() {
    let studio = Builder::new().start().await;
    let pkg = studio.project_root.join("node_modules").join("arkor");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(
        pkg.join("package.json"),
        r#"{"name":"arkor","version":"9.8.7-beta.1"}"#,
    )
    .unwrap();
    studio.get("/api/me").await;
    let sent = &studio.fake.requests_to("GET", "/v1/me")[0];
    assert_eq!(sent.header("x-arkor-client"), Some("arkor/9.8.7-beta.1"));
}

#[tokio::test]
async fn case_09_jobs_forward_scope_bearer_client_and_deprecation() {
    let studio = Builder::new()
        .state(state("anon-org", "jobs project"))
        .start()
        .await;
    studio.fake.on(
        "GET",
        "/v1/jobs",
        Canned::json(200, json!({"jobs": []})).deprecated("299 - \"jobs deprecated\"", SUNSET),
    );
    let reply = studio.get("/api/jobs").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"jobs": []}));
    assert_eq!(reply.header("deprecation"), Some("true"));
    assert_eq!(reply.header("warning"), Some("299 - \"jobs deprecated\""));
    assert_eq!(reply.header("sunset"), Some(SUNSET));
    let sent = studio.fake.requests_to("GET", "/v1/jobs");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].uri(),
        "/v1/jobs?orgSlug=anon-org&projectSlug=jobs%20project"
    );
    assert_eq!(sent[0].header("authorization"), Some("Bearer tok"));
    assert!(
        sent[0]
            .header("x-arkor-client")
            .is_some_and(|v| v.starts_with("arkor/"))
    );
}

#[tokio::test]
async fn jobs_upstream_errors_pass_through_unwrapped() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    studio
        .fake
        .on("GET", "/v1/jobs", Canned::raw(403, "forbidden, plain"));
    let reply = studio.get("/api/jobs").await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.text, "forbidden, plain");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.header("deprecation").is_none());
}

#[tokio::test]
async fn case_10_oauth_credentials_url_beats_the_startup_base() {
    // The start-up base (no env override) would be production; the credentials point at
    // the fake, and that is where the call goes.
    let studio = Builder::new()
        .credentials(Some(oauth_credentials(FAKE)))
        .state(state("anon-org", "p"))
        .start()
        .await;
    let reply = studio.get("/api/jobs").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let sent = studio.fake.requests_to("GET", "/v1/jobs");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("authorization"), Some("Bearer at-oauth"));
}

#[tokio::test]
async fn case_11_events_proxy_url_and_deprecation_headers() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    studio.fake.on(
        "GET",
        "/v1/jobs/job%201/events/stream",
        Canned::sse("event: training.started\ndata: {}\n\n")
            .deprecated("299 - \"stream deprecated\"", SUNSET),
    );
    let reply = studio.get("/api/jobs/job%201/events?studioToken=abc").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text, "event: training.started\ndata: {}\n\n");
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        reply.header("cache-control"),
        Some("no-cache, no-transform")
    );
    assert_eq!(reply.header("deprecation"), Some("true"));
    assert_eq!(reply.header("warning"), Some("299 - \"stream deprecated\""));
    assert_eq!(reply.header("sunset"), Some(SUNSET));
    let sent = studio.fake.requests_to("GET", "/v1/jobs/");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].uri(),
        "/v1/jobs/job%201/events/stream?orgSlug=anon-org&projectSlug=p",
        "id re-encoded, scope added, browser query dropped"
    );
    assert_eq!(sent[0].header("accept"), Some("text/event-stream"));
    assert_eq!(sent[0].header("authorization"), Some("Bearer tok"));
    assert_eq!(studio.notices().len(), 1);
}

#[tokio::test]
async fn case_12_jobs_without_or_with_stale_state_is_an_empty_list_without_calls() {
    let none = Builder::new()
        .credentials(None)
        .auto_anonymous(false)
        .start()
        .await;
    let reply = none.get("/api/jobs").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"jobs": []}));
    assert!(none.fake.requests().is_empty(), "no mint, no call");

    let stale = Builder::new()
        .state(state("anon-previous", "old"))
        .start()
        .await;
    let before = stale.state_text();
    let reply = stale.get("/api/jobs").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"jobs": []}));
    assert!(stale.fake.requests().is_empty());
    assert_eq!(stale.state_text(), before);
}

#[tokio::test]
async fn case_04_and_13_events_without_or_with_stale_state_is_400() {
    let none = Builder::new()
        .credentials(None)
        .auto_anonymous(false)
        .start()
        .await;
    let reply = none.get("/api/jobs/job-1/events?studioToken=ok").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json(), json!({"error": "No project state"}));
    assert!(none.fake.requests().is_empty());

    let stale = Builder::new()
        .state(state("anon-previous", "old"))
        .start()
        .await;
    let before = stale.state_text();
    let reply = stale.get("/api/jobs/job-1/events").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json(), json!({"error": "No project state"}));
    assert!(stale.fake.requests().is_empty());
    assert_eq!(stale.state_text(), before);
}

#[tokio::test]
async fn case_14_last_event_id_is_forwarded_only_when_present() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    let path = "/v1/jobs/job-1/events/stream";
    studio.fake.on("GET", path, Canned::sse("data: {}\n\n"));
    studio
        .send(
            studio
                .request(reqwest::Method::GET, "/api/jobs/job-1/events")
                .header("Last-Event-ID", "1700000000-evt-42"),
        )
        .await;
    studio.get("/api/jobs/job-1/events").await;
    studio
        .send(
            studio
                .request(reqwest::Method::GET, "/api/jobs/job-1/events")
                .header("Last-Event-ID", ""),
        )
        .await;
    let sent = studio.fake.requests_to("GET", path);
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].header("last-event-id"), Some("1700000000-evt-42"));
    assert!(sent[1].headers.get("last-event-id").is_none());
    assert!(
        sent[2].headers.get("last-event-id").is_none(),
        "empty = absent"
    );
}

#[tokio::test]
async fn case_15_events_without_upstream_content_type_default_to_event_stream() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    studio.fake.on(
        "GET",
        "/v1/jobs/job-1/events/stream",
        Canned::raw(200, "data: {}\n\n"),
    );
    let reply = studio.get("/api/jobs/job-1/events").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    // Upstream errors are streamed through with their status, not wrapped.
    studio.fake.on(
        "GET",
        "/v1/jobs/job-2/events/stream",
        Canned::json(404, json!({"error": "no such job"})),
    );
    let reply = studio.get("/api/jobs/job-2/events").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json(), json!({"error": "no such job"}));
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn event_stream_is_streamed_and_a_browser_disconnect_closes_upstream() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    // The default fake stream sends one frame and then stays open forever.
    let response = studio
        .request(reqwest::Method::GET, "/api/jobs/job-1/events")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(10), body.next())
        .await
        .expect("the first frame arrives before the upstream body ends (not buffered)")
        .expect("a chunk")
        .unwrap();
    assert_eq!(
        &first[..],
        b"event: status\ndata: {\"status\":\"running\"}\n\n"
    );
    drop(body);
    assert!(
        studio.fake.wait_streams_closed(1).await,
        "the upstream stream was not closed after the browser went away"
    );
}

#[tokio::test]
async fn unreachable_cloud_is_a_502_json_reported_once() {
    // A port that nothing listens on.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_base = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let studio = Builder::new()
        .env_url(EnvUrl::Custom(dead_base.clone()))
        .state(state("anon-org", "p"))
        .start()
        .await;
    for _ in 0..3 {
        let reply = studio.get("/api/jobs").await;
        assert_eq!(reply.status, 502);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let error = reply.error();
        assert!(
            error.starts_with(&format!("cloud API unreachable at {dead_base}: ")),
            "{error}"
        );
    }
    let reply = studio.get("/api/me").await;
    assert_eq!(reply.status, 502);
    let notices = studio.notices();
    assert_eq!(notices.len(), 1, "reported once, not per poll: {notices:?}");
    assert!(notices[0].1.contains(&dead_base));
}

#[tokio::test]
async fn a_cloud_that_does_not_answer_in_time_is_a_502() {
    let studio = Builder::new()
        .state(state("anon-org", "p"))
        .request_timeout(Duration::from_millis(200))
        .start()
        .await;
    let slow = Duration::from_secs(3);
    studio.fake.on(
        "GET",
        "/v1/jobs",
        Canned::json(200, json!({"jobs": []})).delayed(slow),
    );
    studio.fake.on(
        "GET",
        "/v1/jobs/job-1/events/stream",
        Canned::sse("data: {}\n\n").delayed(slow),
    );
    for path in ["/api/jobs", "/api/jobs/job-1/events"] {
        let started = std::time::Instant::now();
        let reply = studio.get(path).await;
        assert_eq!(reply.status, 502, "{path}: {}", reply.text);
        assert!(reply.error().ends_with(": timed out"), "{}", reply.text);
        assert!(started.elapsed() < slow, "{path} waited for the slow cloud");
    }
    // An open event stream is not cut by the timeout once its headers arrived.
    let response = studio
        .request(reqwest::Method::GET, "/api/jobs/job-2/events")
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();
    let second = tokio::time::timeout(Duration::from_millis(600), body.next()).await;
    assert!(
        second.is_err(),
        "the stream stayed open past the request timeout"
    );
}

#[tokio::test]
async fn a_slow_chat_completion_is_not_cut_short() {
    let studio = Builder::new()
        .state(state("anon-org", "p"))
        .request_timeout(Duration::from_millis(200))
        .start()
        .await;
    studio.fake.on(
        "POST",
        "/v1/inference/chat",
        Canned::json(200, json!({"content": "done"})).delayed(Duration::from_millis(700)),
    );
    let reply = studio
        .post("/api/inference/chat", r#"{"stream":false}"#)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json(), json!({"content": "done"}));
}
