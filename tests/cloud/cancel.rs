//! The cloud job cancel behind "Stop" (docs/protocol.md §12).

use arkor_tui::core::cloud::cancel::CancelError;
use arkor_tui::core::cloud::client::CloudError;
use arkor_tui::core::cloud::{CancelOutcome, CancelSnapshot, cancel_job};
use serde_json::json;

use super::fake::Canned;
use super::harness::{Builder, EnvUrl, anon_credentials, state, write_json};

#[tokio::test]
async fn case_38_stop_after_the_marker_posts_one_scoped_cancel() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    let snapshot = CancelSnapshot::capture_in(&studio.project_root, studio.env());
    let outcome = cancel_job(snapshot, "job-42").await.expect("cancelled");
    assert!(
        matches!(outcome, CancelOutcome::Cancelled { .. }),
        "{outcome:?}"
    );
    let sent = studio.fake.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, "POST");
    assert_eq!(
        sent[0].uri(),
        "/v1/jobs/job-42/cancel?orgSlug=anon-org&projectSlug=p"
    );
    assert_eq!(sent[0].header("authorization"), Some("Bearer tok"));
    assert!(
        sent[0]
            .header("x-arkor-client")
            .is_some_and(|v| v.starts_with("arkor/"))
    );
    assert!(sent[0].body.is_empty(), "no body");
}

#[tokio::test]
async fn case_40_spawn_time_scope_and_identity_win_late_state_fills_a_gap() {
    // State deleted after spawn → the spawn-time scope is used.
    let studio = Builder::new()
        .state(state("anon-org", "spawned"))
        .start()
        .await;
    let snapshot = CancelSnapshot::capture_in(&studio.project_root, studio.env());
    std::fs::remove_file(studio.state_path()).unwrap();
    // A login switch after spawn does not redirect the cancel either.
    write_json(
        &studio.credentials_path(),
        &json!({"mode": "anon", "token": "someone-else", "anonymousId": "x",
            "arkorCloudApiUrl": "http://127.0.0.1:9", "orgSlug": "other"}),
    );
    cancel_job(snapshot, "job-1").await.expect("cancelled");
    let sent = studio.fake.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].uri(),
        "/v1/jobs/job-1/cancel?orgSlug=anon-org&projectSlug=spawned"
    );
    assert_eq!(sent[0].header("authorization"), Some("Bearer tok"));

    // No state at spawn (fresh anonymous project) → read at cancel time.
    let studio = Builder::new().start().await;
    let snapshot = CancelSnapshot::capture_in(&studio.project_root, studio.env());
    assert!(snapshot.scope().is_none());
    write_json(&studio.state_path(), &state("anon-org", "written-by-child"));
    cancel_job(snapshot, "job-2").await.expect("cancelled");
    let sent = studio.fake.requests();
    assert_eq!(
        sent[0].uri(),
        "/v1/jobs/job-2/cancel?orgSlug=anon-org&projectSlug=written-by-child"
    );

    // Neither → nothing to address; no call.
    let studio = Builder::new().start().await;
    let snapshot = CancelSnapshot::capture_in(&studio.project_root, studio.env());
    assert_eq!(
        cancel_job(snapshot, "job-3").await.unwrap(),
        CancelOutcome::NoScope
    );
    assert!(studio.fake.requests().is_empty());
}

#[tokio::test]
async fn cancel_without_credentials_at_spawn_resolves_them_at_cancel_time() {
    let studio = Builder::new()
        .credentials(None)
        .env_url(EnvUrl::Fake)
        .state(state("anon-org", "p"))
        .start()
        .await;
    let mut env = studio.env();
    env.cloud_api_url_override = Some(studio.fake.base.clone());
    let snapshot = CancelSnapshot::capture_in(&studio.project_root, env);
    // Credentials appear after spawn (the child's SDK signed in).
    write_json(
        &studio.credentials_path(),
        &anon_credentials(&studio.fake.base),
    );
    cancel_job(snapshot, "job-9").await.expect("cancelled");
    let sent = studio.fake.requests();
    assert_eq!(sent.len(), 1, "no mint: the file was there by cancel time");
    assert_eq!(sent[0].header("authorization"), Some("Bearer tok"));

    // Still none at cancel time → skipped; a freshly minted identity could not own the job.
    let studio = Builder::new()
        .credentials(None)
        .env_url(EnvUrl::Fake)
        .state(state("anon-org", "p"))
        .start()
        .await;
    let mut env = studio.env();
    env.cloud_api_url_override = Some(studio.fake.base.clone());
    let snapshot = CancelSnapshot::capture_in(&studio.project_root, env);
    assert_eq!(
        cancel_job(snapshot, "job-10").await.unwrap(),
        CancelOutcome::NoCredentials
    );
    assert!(studio.fake.requests().is_empty(), "no mint, no cancel");
}

#[tokio::test]
async fn cancel_reports_a_rejection() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    studio.fake.on(
        "POST",
        "/v1/jobs/job-5/cancel",
        Canned::json(404, json!({"error": "no such job"})),
    );
    let snapshot = CancelSnapshot::capture_in(&studio.project_root, studio.env());
    match cancel_job(snapshot, "job-5").await {
        Err(CancelError::Cloud {
            source:
                CloudError::Api {
                    status: 404,
                    message,
                },
            ..
        }) => assert_eq!(message, "no such job"),
        other => panic!("{other:?}"),
    }
}
