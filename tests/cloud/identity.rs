//! `/api/credentials`, credential resolution, lazy single-flight sign-in and base URLs.

use arkor_tui::core::cloud::credentials::{
    AnonymousCredentials, Credentials, read_credentials, write_credentials,
};
use arkor_tui::core::cloud::{CloudEnv, PRODUCTION_API_URL};
use serde_json::json;

use super::harness::{Builder, EnvUrl, FAKE, oauth_credentials, state};

#[tokio::test]
async fn case_01_credentials_report_token_mode_base_and_org() {
    let studio = Builder::new().start().await;
    let reply = studio.get("/api/credentials").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.text,
        json!({"token": "tok", "mode": "anon", "baseUrl": studio.fake.base,
            "orgSlug": "anon-org", "projectSlug": null})
        .to_string(),
        "field order and values as the reference"
    );
    assert!(studio.fake.requests().is_empty(), "no upstream call");
}

#[tokio::test]
async fn case_02_query_token_does_not_reach_the_route_as_a_credential() {
    // The 403 itself is the guard's (docs/protocol.md §6, mounted in front of this router by the
    // server). What this router must guarantee is that a `studioToken` query is inert:
    // never forwarded upstream, never mistaken for the cloud token.
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    let reply = studio.get("/api/jobs?studioToken=leaked").await;
    assert_eq!(reply.status, 200);
    let sent = studio.fake.requests_to("GET", "/v1/jobs");
    assert_eq!(sent.len(), 1);
    assert!(!sent[0].uri().contains("studioToken"), "{}", sent[0].uri());
    assert_eq!(sent[0].header("authorization"), Some("Bearer tok"));
}

#[tokio::test]
async fn case_03_credentials_scope_follows_usable_state() {
    // State in the credentials' org → its project.
    let own = Builder::new()
        .state(state("anon-org", "mine"))
        .start()
        .await;
    let body = own.get("/api/credentials").await.json();
    assert_eq!(body["orgSlug"], "anon-org");
    assert_eq!(body["projectSlug"], "mine");

    // Anonymous + another org's state → the credentials' org, no project.
    let stale = Builder::new().state(state("anon-old", "old")).start().await;
    let before = stale.state_text();
    let body = stale.get("/api/credentials").await.json();
    assert_eq!(body["orgSlug"], "anon-org");
    assert_eq!(body["projectSlug"], serde_json::Value::Null);
    assert_eq!(
        stale.state_text(),
        before,
        "a stale state file is never rewritten"
    );

    // OAuth + any org → that state's org and project.
    let oauth = Builder::new()
        .credentials(Some(oauth_credentials(FAKE)))
        .state(state("team-org", "shared"))
        .start()
        .await;
    let body = oauth.get("/api/credentials").await.json();
    assert_eq!(body["mode"], "oauth");
    assert_eq!(body["token"], "at-oauth");
    assert_eq!(body["orgSlug"], "team-org");
    assert_eq!(body["projectSlug"], "shared");
}

#[tokio::test]
async fn case_05_first_request_mints_once_and_later_ones_reuse_it() {
    let studio = Builder::new()
        .credentials(None)
        .env_url(EnvUrl::Fake)
        .start()
        .await;
    let first = studio.get("/api/credentials").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.json()["token"], "minted-token-1");
    assert_eq!(first.json()["mode"], "anon");
    let mint = &studio.fake.requests_to("POST", "/v1/auth/anonymous")[0];
    assert_eq!(mint.json(), json!({"kind": "cli"}));
    assert!(
        mint.header("x-arkor-client")
            .is_some_and(|v| v.starts_with("arkor/"))
    );
    let second = studio.get("/api/credentials").await;
    assert_eq!(second.json()["token"], "minted-token-1");
    assert_eq!(studio.fake.mints(), 1);
    // Persisted as the SDK writes it, with the start-up base stamped in.
    let file = studio.credentials_json().expect("credentials written");
    assert_eq!(
        file,
        json!({"mode": "anon", "token": "minted-token-1", "anonymousId": "minted-id-1",
            "arkorCloudApiUrl": studio.fake.base, "orgSlug": "anon-org"})
    );
}

#[tokio::test]
async fn concurrent_first_requests_mint_exactly_once() {
    // Better than the reference (which can mint twice): the fake's mint takes 150 ms, so
    // all eight requests arrive while the first mint is in flight.
    let studio = Builder::new()
        .credentials(None)
        .env_url(EnvUrl::Fake)
        .start()
        .await;
    let replies = futures::future::join_all((0..8).map(|_| studio.get("/api/credentials"))).await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json()["token"], "minted-token-1");
    }
    assert_eq!(studio.fake.mints(), 1);
}

#[tokio::test]
async fn case_06_lazy_mint_reconciles_a_stale_state_against_the_new_org() {
    let studio = Builder::new()
        .credentials(None)
        .env_url(EnvUrl::Fake)
        .state(state("anon-old", "old"))
        .start()
        .await;
    studio.fake.set_anon_org("anon-fresh");
    let body = studio.get("/api/credentials").await.json();
    assert_eq!(body["mode"], "anon");
    assert_eq!(body["orgSlug"], "anon-fresh");
    assert_eq!(body["projectSlug"], serde_json::Value::Null);
    assert_eq!(studio.fake.mints(), 1);
}

#[tokio::test]
async fn case_07_no_credentials_and_auto_anonymous_off_is_500() {
    let studio = Builder::new()
        .credentials(None)
        .auto_anonymous(false)
        .env_url(EnvUrl::Fake)
        .start()
        .await;
    let reply = studio.get("/api/credentials").await;
    assert_eq!(reply.status, 500);
    assert!(reply.error().contains("arkor login"), "{}", reply.text);
    assert!(studio.fake.requests().is_empty());
    assert!(studio.credentials_json().is_none());
}

#[test]
fn case_41_base_url_resolution() {
    let anon = |url: Option<&str>| {
        Credentials::Anonymous(AnonymousCredentials {
            token: "t".into(),
            anonymous_id: "a".into(),
            arkor_cloud_api_url: url.map(str::to_owned),
            org_slug: "o".into(),
        })
    };
    let env = |v: Option<&str>| CloudEnv {
        home: "/nonexistent".into(),
        cloud_api_url_override: v.map(str::to_owned),
    };
    let creds = anon(Some("https://creds.example/"));
    assert_eq!(
        env(Some("https://api.example.com////")).base_url_for(Some(&creds)),
        "https://api.example.com",
        "env wins and trailing slashes are stripped"
    );
    assert_eq!(
        env(Some("")).base_url_for(Some(&creds)),
        "",
        "an empty env is kept"
    );
    assert_eq!(
        env(None).base_url_for(Some(&creds)),
        "https://creds.example"
    );
    let legacy_oauth =
        serde_json::from_value::<serde_json::Value>(json!({"mode": "oauth", "accessToken": "x"}))
            .unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("credentials.json");
    std::fs::write(&path, legacy_oauth.to_string()).unwrap();
    let legacy = read_credentials(&path).unwrap().unwrap();
    assert_eq!(env(None).base_url_for(Some(&legacy)), PRODUCTION_API_URL);
    assert_eq!(env(None).base_url_for(Some(&anon(Some("")))), "");
    assert_eq!(env(None).base_url_for(None), PRODUCTION_API_URL);
}

#[tokio::test]
async fn case_41_empty_base_url_fails_loudly_over_http() {
    let studio = Builder::new()
        .env_url(EnvUrl::Custom(String::new()))
        .state(state("anon-org", "p"))
        .start()
        .await;
    let creds = studio.get("/api/credentials").await;
    assert_eq!(creds.json()["baseUrl"], "");
    let jobs = studio.get("/api/jobs").await;
    assert_eq!(jobs.status, 500);
    assert!(
        jobs.error().contains("invalid cloud API URL"),
        "{}",
        jobs.text
    );
}

#[tokio::test]
async fn case_42_corrupt_credentials_are_missing_and_a_directory_is_an_error() {
    // Corrupt JSON → treated as missing, silently: a lazy mint replaces it.
    let studio = Builder::new()
        .credentials(None)
        .env_url(EnvUrl::Fake)
        .start()
        .await;
    std::fs::create_dir_all(studio.credentials_path().parent().unwrap()).unwrap();
    std::fs::write(studio.credentials_path(), "{not json").unwrap();
    let reply = studio.get("/api/credentials").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["token"], "minted-token-1");
    assert!(studio.notices().is_empty(), "silent");

    // A directory where the file should be → the read error propagates; nothing is minted
    // and the directory is left alone.
    let studio = Builder::new()
        .credentials(None)
        .env_url(EnvUrl::Fake)
        .start()
        .await;
    std::fs::create_dir_all(studio.credentials_path()).unwrap();
    let reply = studio.get("/api/credentials").await;
    assert_eq!(reply.status, 500);
    assert!(reply.error().contains("could not read"), "{}", reply.text);
    assert_eq!(studio.fake.mints(), 0);
    assert!(studio.credentials_path().is_dir());
}

#[test]
fn credentials_are_written_atomically_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir
        .path()
        .join("nested")
        .join(".arkor")
        .join("credentials.json");
    let creds = Credentials::Anonymous(AnonymousCredentials {
        token: "t".into(),
        anonymous_id: "a".into(),
        arkor_cloud_api_url: Some("http://x".into()),
        org_slug: "o".into(),
    });
    write_credentials(&path, &creds).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("{\n  \"mode\": \"anon\""), "{text}");
    assert!(!text.ends_with('\n'));
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(read_credentials(&path).unwrap(), Some(creds));

    // A failed rename (target is a non-empty directory) removes the temp file.
    let blocked = dir.path().join("blocked");
    std::fs::create_dir_all(blocked.join("credentials.json").join("x")).unwrap();
    let err = write_credentials(
        &blocked.join("credentials.json"),
        &read_credentials(&path).unwrap().unwrap(),
    );
    assert!(err.is_err());
    let leftovers = std::fs::read_dir(&blocked).unwrap().count();
    assert_eq!(leftovers, 1, "only the directory remains");
}
