//! The cloud routes mounted in the real server, behind its Host and token guards (docs/protocol.md
//! §5, §12.0): what a browser actually talks to.

use std::sync::Arc;

use arkor_tui::core::cloud::CloudEnv;
use arkor_tui::core::engine::EngineHandle;
use arkor_tui::core::project::Project;
use arkor_tui::server::cloud::{CloudContext, CloudOptions, router};
use arkor_tui::server::{RunningServer, ServerConfig, TokenFile};
use serde_json::json;
use tempfile::TempDir;

use super::fake::FakeCloud;
use super::harness::{anon_credentials, state, write_json};

struct Guarded {
    server: RunningServer,
    fake: FakeCloud,
    http: reqwest::Client,
    _home: TempDir,
    _project: TempDir,
    _engine: arkor_tui::core::engine::DetachedEngine,
}

async fn start() -> Guarded {
    let fake = FakeCloud::start().await;
    let home = TempDir::new().unwrap();
    let project = TempDir::new().unwrap();
    write_json(
        &home.path().join(".arkor").join("credentials.json"),
        &anon_credentials(&fake.base),
    );
    write_json(
        &project.path().join(".arkor").join("state.json"),
        &state("anon-org", "p"),
    );
    let mut options = CloudOptions::new(
        project.path(),
        CloudEnv {
            home: home.path().to_path_buf(),
            cloud_api_url_override: None,
        },
    );
    options.notices = Arc::new(|_, _| {});
    let (engine, detached) = EngineHandle::detached(Project::at(project.path()).unwrap());
    let server = arkor_tui::server::start(
        engine,
        ServerConfig {
            port: Some(0),
            token_file: TokenFile::Disabled,
            cloud_routes: Some(router(CloudContext::new(options))),
            ..Default::default()
        },
    )
    .await
    .expect("server started");
    Guarded {
        server,
        fake,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        _home: home,
        _project: project,
        _engine: detached,
    }
}

impl Guarded {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.server.port())
    }
}

#[tokio::test]
async fn case_02_query_token_is_refused_on_credentials_but_accepted_on_job_events() {
    let g = start().await;
    let token = g.server.token().to_owned();
    let reply = g
        .http
        .get(g.url(&format!("/api/credentials?studioToken={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 403);
    assert_eq!(
        reply.json::<serde_json::Value>().await.unwrap(),
        json!({"error": "Missing or invalid studio token"})
    );
    let reply = g
        .http
        .get(g.url("/api/credentials"))
        .header("x-arkor-studio-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.json::<serde_json::Value>().await.unwrap()["token"],
        "tok"
    );

    // The event stream accepts the query token (EventSource cannot send headers), and the
    // token never travels upstream.
    g.fake.on(
        "GET",
        "/v1/jobs/job-1/events/stream",
        super::fake::Canned::sse("data: {}\n\n"),
    );
    let reply = g
        .http
        .get(g.url(&format!("/api/jobs/job-1/events?studioToken={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let sent = g.fake.requests_to("GET", "/v1/jobs/job-1");
    assert_eq!(sent.len(), 1);
    assert!(!sent[0].uri().contains(&token));
    assert_eq!(sent[0].header("authorization"), Some("Bearer tok"));
}

#[tokio::test]
async fn case_25_mutating_deployment_route_without_token_is_403_without_calls() {
    let g = start().await;
    let create =
        r#"{"slug":"my-model","target":{"kind":"base_model","baseModel":"m"},"authMode":"none"}"#;
    for (method, path) in [
        (reqwest::Method::POST, "/api/deployments"),
        (reqwest::Method::PATCH, "/api/deployments/dep-1"),
        (reqwest::Method::DELETE, "/api/deployments/dep-1"),
        (reqwest::Method::POST, "/api/deployments/dep-1/keys"),
    ] {
        let reply = g
            .http
            .request(method, g.url(path))
            .header("content-type", "application/json")
            .body(create)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 403, "{path}");
    }
    // Non-loopback Host: refused even with the right token.
    let reply = g
        .http
        .get(g.url("/api/jobs"))
        .header("host", "evil.example.com")
        .header("x-arkor-studio-token", g.server.token())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 403);
    assert!(g.fake.requests().is_empty(), "nothing reached the cloud");
}
