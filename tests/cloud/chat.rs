//! `/api/inference/chat` and the anonymous project bootstrap.

use serde_json::json;

use super::fake::Canned;
use super::harness::{Builder, state};

const SUNSET: &str = "Wed, 01 Jan 2030 00:00:00 GMT";
const CHAT_BODY: &str = r#"{"baseModel":"unsloth/gemma-4-E4B-it","messages":[{"id":1,"role":"user","content":"hello"}],"stream":true,"temperature":0.25,"unknownField":[1,2]}"#;

#[tokio::test]
async fn case_16_chat_bootstraps_the_project_for_an_anonymous_user() {
    let studio = Builder::new().start().await;
    let reply = studio.post("/api/inference/chat", CHAT_BODY).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        reply.header("cache-control"),
        Some("no-cache, no-transform")
    );
    assert!(reply.text.contains("\"Hello\"") && reply.text.ends_with("data: [DONE]\n\n"));

    let state: serde_json::Value =
        serde_json::from_str(&studio.state_text().expect("state written")).unwrap();
    assert_eq!(
        state,
        json!({"orgSlug": "anon-org", "projectSlug": "auto-slug", "projectId": "p-bootstrap"})
    );
    assert!(
        studio.state_text().unwrap().ends_with("}\n"),
        "pretty JSON + newline"
    );

    let requests = studio.fake.requests();
    assert_eq!(requests.len(), 2, "create project, then chat");
    let create = &requests[0];
    assert_eq!(
        (create.method.as_str(), create.uri().as_str()),
        ("POST", "/v1/projects?orgSlug=anon-org")
    );
    assert_eq!(create.header("authorization"), Some("Bearer tok"));
    let chat = &requests[1];
    assert_eq!(
        chat.uri(),
        "/v1/inference/chat?orgSlug=anon-org&projectSlug=auto-slug"
    );
    assert_eq!(
        &chat.body[..],
        CHAT_BODY.as_bytes(),
        "body forwarded verbatim"
    );
    assert_eq!(chat.header("content-type"), Some("application/json"));
    assert!(
        chat.header("x-arkor-client")
            .is_some_and(|v| v.starts_with("arkor/"))
    );
}

#[tokio::test]
async fn chat_body_is_forwarded_without_any_validation() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    let odd = "{not even json, and a text/plain content type";
    let reply = studio
        .send(
            studio
                .request(reqwest::Method::POST, "/api/inference/chat")
                .header("content-type", "text/plain")
                .body(odd),
        )
        .await;
    assert_eq!(reply.status, 200);
    let chat = &studio.fake.requests_to("POST", "/v1/inference/chat")[0];
    assert_eq!(&chat.body[..], odd.as_bytes());
    assert_eq!(chat.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn case_17_chat_with_a_stale_state_is_409_and_touches_nothing() {
    let studio = Builder::new()
        .state(state("anon-previous", "old"))
        .start()
        .await;
    let before = studio.state_text();
    let reply = studio.post("/api/inference/chat", CHAT_BODY).await;
    assert_eq!(reply.status, 409);
    assert!(
        reply.error().contains(".arkor/state.json"),
        "{}",
        reply.text
    );
    assert!(studio.fake.requests().is_empty());
    assert_eq!(studio.state_text(), before);
}

#[tokio::test]
async fn case_18_chat_with_a_usable_state_skips_bootstrap_and_keeps_deprecation() {
    let studio = Builder::new()
        .state(state("anon-org", "existing"))
        .start()
        .await;
    studio.fake.on(
        "POST",
        "/v1/inference/chat",
        Canned::sse("data: {\"content\":\"ok\"}\n\n")
            .deprecated("299 - \"chat endpoint deprecated\"", SUNSET),
    );
    let reply = studio.post("/api/inference/chat", CHAT_BODY).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("deprecation"), Some("true"));
    assert_eq!(
        reply.header("warning"),
        Some("299 - \"chat endpoint deprecated\"")
    );
    assert_eq!(reply.header("sunset"), Some(SUNSET));
    assert!(studio.fake.requests_to("POST", "/v1/projects").is_empty());
    let chat = &studio.fake.requests_to("POST", "/v1/inference/chat")[0];
    assert!(
        chat.uri().contains("projectSlug=existing"),
        "{}",
        chat.uri()
    );
}

#[tokio::test]
async fn chat_without_upstream_content_type_sends_none() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    studio
        .fake
        .on("POST", "/v1/inference/chat", Canned::raw(429, "slow down"));
    let reply = studio.post("/api/inference/chat", CHAT_BODY).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.text, "slow down");
    assert!(reply.header("content-type").is_none());
}

#[tokio::test]
async fn case_19_chat_bootstrap_failure_passes_the_status_through() {
    let studio = Builder::new().start().await;
    studio.fake.on(
        "POST",
        "/v1/projects",
        Canned::json(503, json!({"error": "upstream is down"})),
    );
    let reply = studio.post("/api/inference/chat", CHAT_BODY).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json(), json!({"error": "upstream is down"}));
    assert!(studio.fake.requests_to("POST", "/v1/inference").is_empty());
    assert!(studio.state_text().is_none());
}

#[tokio::test]
async fn case_20_chat_without_credentials_and_auto_anonymous_off_is_500_json() {
    let studio = Builder::new()
        .credentials(None)
        .auto_anonymous(false)
        .start()
        .await;
    let reply = studio.post("/api/inference/chat", CHAT_BODY).await;
    assert_eq!(reply.status, 500);
    let error = reply.error().to_lowercase();
    assert!(
        error.contains("credentials") && error.contains("login"),
        "{error}"
    );
    assert!(studio.fake.requests().is_empty());
}

#[tokio::test]
async fn case_44_bootstrap_slug_and_conflict_handling() {
    // Basename `!!!` → name `!!!`, slug `project`.
    let studio = Builder::new().project_dir_named("!!!").start().await;
    assert_eq!(
        studio.post("/api/inference/chat", CHAT_BODY).await.status,
        200
    );
    let create = &studio.fake.requests_to("POST", "/v1/projects")[0];
    assert_eq!(create.json(), json!({"name": "!!!", "slug": "project"}));

    // Long names are cut to 40.
    let long = "A-Very Long Project Name That Keeps Going And Going";
    let studio = Builder::new().project_dir_named(long).start().await;
    studio.post("/api/inference/chat", CHAT_BODY).await;
    let slug = studio.fake.requests_to("POST", "/v1/projects")[0].json()["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(slug, "a-very-long-project-name-that-keeps-goin");
    assert!(slug.len() <= 40);

    // 409 on create → list and reuse the project with the same slug.
    let studio = Builder::new().project_dir_named("reuse-me").start().await;
    studio.fake.on(
        "POST",
        "/v1/projects",
        Canned::json(409, json!({"error": "Project slug already exists"})),
    );
    studio.fake.on(
        "GET",
        "/v1/projects",
        Canned::json(
            200,
            json!({"org": {"slug": "anon-org"}, "projects": [
            {"id": "p-other", "slug": "other", "name": "other", "orgId": "o"},
            {"id": "p-reused", "slug": "reuse-me", "name": "reuse-me", "orgId": "o"}]}),
        ),
    );
    let reply = studio.post("/api/inference/chat", CHAT_BODY).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let state: serde_json::Value = serde_json::from_str(&studio.state_text().unwrap()).unwrap();
    assert_eq!(state["projectId"], "p-reused");
    assert_eq!(
        studio.fake.requests_to("GET", "/v1/projects")[0].uri(),
        "/v1/projects?orgSlug=anon-org"
    );

    // 409 with no matching project → the 409 is rethrown.
    let studio = Builder::new().project_dir_named("no-match").start().await;
    studio.fake.on(
        "POST",
        "/v1/projects",
        Canned::json(409, json!({"error": "Project slug already exists"})),
    );
    let reply = studio.post("/api/inference/chat", CHAT_BODY).await;
    assert_eq!(reply.status, 409);
    assert_eq!(reply.error(), "Project slug already exists");
    assert!(studio.state_text().is_none());

    // A non-409 error → no list call.
    let studio = Builder::new().start().await;
    studio.fake.on(
        "POST",
        "/v1/projects",
        Canned::json(500, json!({"error": "boom"})),
    );
    let reply = studio.post("/api/inference/chat", CHAT_BODY).await;
    assert_eq!(reply.status, 500);
    assert!(studio.fake.requests_to("GET", "/v1/projects").is_empty());
}
