//! The dashboard's Endpoints view against the recording fake cloud: every change goes out as
//! exactly the request the Studio's routes would make (scoped, with the project's identity),
//! the costly ones only after a yes, and a body the server would refuse never leaves.

use arkor_tui::core::events::NoticeLevel;
use arkor_tui::tui::Action;
use arkor_tui::tui::popup::Answer;
use arkor_tui::tui::views::View;
use arkor_tui::tui::views::endpoints::EndpointAction as E;
use arkor_tui::tui::views::text_input::Edit;
use serde_json::json;

use super::dashboard::Dashboard;
use super::fake::{Canned, deployment};
use super::harness::{Builder, Studio, state};

const SCOPE: &str = "orgSlug=anon-org&projectSlug=p";

async fn studio() -> Studio {
    Builder::new().state(state("anon-org", "p")).start().await
}

/// Show the Endpoints view and wait for its first list.
async fn show_endpoints(dash: &mut Dashboard) {
    dash.act(Action::ShowView(View::Endpoints)).await;
    assert_eq!(dash.send_requests(), 1, "showing the view fetches the list");
    dash.next_reply().await;
}

/// Send what the App asked for and fold in that many answers.
async fn settle(dash: &mut Dashboard) {
    let sent = dash.send_requests();
    for _ in 0..sent {
        dash.next_reply().await;
    }
}

#[tokio::test]
async fn the_list_is_the_projects_and_opening_one_lists_its_keys() {
    let studio = studio().await;
    let mut dash = Dashboard::new(&studio);
    show_endpoints(&mut dash).await;
    let listed = &dash.app.endpoints.deployments;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].slug, "x");
    let lists = studio.fake.requests_to("GET", "/v1/endpoints");
    assert_eq!(lists[0].uri(), format!("/v1/endpoints?{SCOPE}"));
    assert_eq!(lists[0].header("authorization"), Some("Bearer tok"));

    dash.act(Action::Endpoint(E::Open)).await;
    settle(&mut dash).await;
    let detail = dash.app.endpoints.detail.as_ref().expect("open");
    assert_eq!(detail.keys.len(), 2);
    let keys = studio.fake.requests_to("GET", "/v1/endpoints/d1/keys");
    assert_eq!(keys[0].uri(), format!("/v1/endpoints/d1/keys?{SCOPE}"));
}

#[tokio::test]
async fn a_create_from_the_form_posts_the_studios_body_and_a_bad_slug_never_leaves() {
    let studio = studio().await;
    let mut dash = Dashboard::new(&studio);
    show_endpoints(&mut dash).await;
    dash.act(Action::Endpoint(E::New)).await;
    // The form fetched the job list for its targets (the project's first fetch of it).
    settle(&mut dash).await;
    let form = dash.app.endpoints.form.as_ref().expect("the form");
    assert_eq!(
        form.slug.text(),
        "gemma-4-e4b-it",
        "a slug made from the base model"
    );
    dash.act(Action::Edit(Edit::ClearToStart)).await;
    dash.act(Action::Edit(Edit::Paste("X".into()))).await;
    dash.act(Action::Endpoint(E::Submit)).await;
    assert_eq!(dash.send_requests(), 0, "refused here");
    let error = dash.app.endpoints.form.as_ref().unwrap().error.clone();
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.starts_with("Invalid deployment create body: slug")),
        "{error:?}"
    );
    assert!(studio.fake.requests_to("POST", "/v1/endpoints").is_empty());

    dash.act(Action::Edit(Edit::ClearToStart)).await;
    dash.act(Action::Edit(Edit::Paste("my-model".into()))).await;
    dash.act(Action::Endpoint(E::ToggleAuth)).await;
    dash.act(Action::Endpoint(E::Submit)).await;
    assert_eq!(dash.send_requests(), 1);
    dash.next_reply().await;
    let creates = studio.fake.requests_to("POST", "/v1/endpoints");
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].uri(), format!("/v1/endpoints?{SCOPE}"));
    // The fake's only job is still running: no adapter yet, so the base model is offered.
    assert_eq!(
        creates[0].json(),
        json!({"slug": "my-model", "authMode": "none",
            "target": {"kind": "base_model", "baseModel": "unsloth/gemma-4-E4B-it"}})
    );
    assert!(dash.app.endpoints.form.is_none(), "the form closes");
    assert_eq!(
        dash.app.message.clone().map(|m| m.1).as_deref(),
        Some("endpoint my-model created")
    );
    // The list is fetched again and keeps the new one selected.
    settle(&mut dash).await;
    assert_eq!(studio.fake.requests_to("GET", "/v1/endpoints").len(), 2);
}

#[tokio::test]
async fn a_job_s_adapter_is_served_from_the_jobs_view_with_e() {
    let studio = studio().await;
    studio.fake.on(
        "GET",
        "/v1/jobs",
        Canned::json(
            200,
            json!({"jobs": [{"id": "job-done", "name": "Demo Triage", "status": "completed",
                "createdAt": "2026-05-01T00:00:00Z", "config": {}}]}),
        ),
    );
    let mut dash = Dashboard::new(&studio);
    dash.act(Action::ShowView(View::Jobs)).await;
    settle(&mut dash).await;
    dash.act(Action::Endpoint(E::DeployJob)).await;
    assert_eq!(dash.app.view, View::Endpoints);
    let form = dash.app.endpoints.form.as_ref().expect("the form");
    assert_eq!(
        form.slug.text(),
        "demo-triage",
        "a slug from the job's name"
    );
    settle(&mut dash).await;
    dash.act(Action::Endpoint(E::Submit)).await;
    settle(&mut dash).await;
    let body = studio.fake.requests_to("POST", "/v1/endpoints")[0].json();
    assert_eq!(
        body,
        json!({"slug": "demo-triage", "authMode": "fixed_api_key",
            "target": {"kind": "adapter", "adapter": {"kind": "final", "jobId": "job-done"}}})
    );
}

#[tokio::test]
async fn disable_and_delete_ask_first_and_send_one_request_each_on_yes() {
    let studio = studio().await;
    let mut disabled = deployment("d1", "x");
    disabled["enabled"] = json!(false);
    studio.fake.on(
        "PATCH",
        "/v1/endpoints/d1",
        Canned::json(200, json!({ "deployment": disabled })),
    );
    let mut dash = Dashboard::new(&studio);
    show_endpoints(&mut dash).await;

    dash.act(Action::Endpoint(E::ToggleEnabled)).await;
    let question = dash.app.cloud_confirm.as_ref().expect("disabling asks");
    assert_eq!(question.question, "disable endpoint x?");
    dash.act(Action::Answer(Answer::No)).await;
    assert_eq!(dash.send_requests(), 0);
    dash.act(Action::Endpoint(E::ToggleEnabled)).await;
    dash.act(Action::Answer(Answer::Yes)).await;
    assert_eq!(dash.send_requests(), 1);
    dash.next_reply().await;
    let patches = studio.fake.requests_to("PATCH", "/v1/endpoints/d1");
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].uri(), format!("/v1/endpoints/d1?{SCOPE}"));
    assert_eq!(patches[0].json(), json!({"enabled": false}));
    assert!(!dash.app.endpoints.deployments[0].enabled);
    settle(&mut dash).await;

    dash.act(Action::Endpoint(E::Delete)).await;
    let question = dash.app.cloud_confirm.as_ref().expect("deleting asks");
    assert!(
        question.cost[0].contains("https://x.arkor.app"),
        "{question:?}"
    );
    dash.act(Action::Answer(Answer::No)).await;
    assert_eq!(dash.send_requests(), 0);
    assert!(
        studio
            .fake
            .requests_to("DELETE", "/v1/endpoints")
            .is_empty()
    );
    dash.act(Action::Endpoint(E::Delete)).await;
    dash.act(Action::Answer(Answer::Yes)).await;
    assert_eq!(dash.send_requests(), 1);
    dash.next_reply().await;
    let deletes = studio.fake.requests_to("DELETE", "/v1/endpoints");
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].uri(), format!("/v1/endpoints/d1?{SCOPE}"));
    assert!(dash.app.endpoints.deployments.is_empty());
}

#[tokio::test]
async fn a_new_key_shows_its_secret_once_and_a_revoke_asks_first() {
    let studio = studio().await;
    let mut dash = Dashboard::new(&studio);
    show_endpoints(&mut dash).await;
    dash.act(Action::Endpoint(E::Open)).await;
    settle(&mut dash).await;

    dash.act(Action::Endpoint(E::NewKey)).await;
    dash.act(Action::Edit(Edit::Paste("  ci ".into()))).await;
    dash.act(Action::Endpoint(E::Submit)).await;
    assert_eq!(dash.send_requests(), 1);
    dash.next_reply().await;
    let creates = studio.fake.requests_to("POST", "/v1/endpoints/d1/keys");
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].json(), json!({"label": "ci"}), "trimmed");
    let secret = dash.app.endpoints.secret.clone().expect("shown");
    assert_eq!(secret.plaintext, "ark_live_secret");
    dash.act(Action::Endpoint(E::CopySecret)).await;
    assert_eq!(dash.app.take_copies(), ["ark_live_secret"]);
    dash.act(Action::Endpoint(E::CloseSecret)).await;
    assert!(dash.app.endpoints.secret.is_none(), "never shown again");
    settle(&mut dash).await;

    dash.act(Action::Endpoint(E::RevokeKey)).await;
    let question = dash.app.cloud_confirm.as_ref().expect("revoking asks");
    assert_eq!(question.question, "revoke key ci (ark_live_ab…)?");
    dash.act(Action::Answer(Answer::Yes)).await;
    assert_eq!(dash.send_requests(), 1);
    dash.next_reply().await;
    let revokes = studio.fake.requests_to("DELETE", "/v1/endpoints/d1/keys/");
    assert_eq!(revokes.len(), 1);
    assert_eq!(
        revokes[0].uri(),
        format!("/v1/endpoints/d1/keys/k1?{SCOPE}")
    );
}

#[tokio::test]
async fn a_refused_change_is_an_alert_with_the_clouds_reason() {
    let studio = studio().await;
    studio.fake.on(
        "DELETE",
        "/v1/endpoints/d1",
        Canned::json(409, json!({"error": "endpoint is serving traffic"})),
    );
    let mut dash = Dashboard::new(&studio);
    show_endpoints(&mut dash).await;
    dash.act(Action::Endpoint(E::Delete)).await;
    dash.act(Action::Answer(Answer::Yes)).await;
    settle(&mut dash).await;
    let (level, text) = dash.app.alert.clone().expect("an alert");
    assert_eq!(level, NoticeLevel::Error);
    assert_eq!(text, "endpoint x not deleted: endpoint is serving traffic");
    assert_eq!(dash.app.endpoints.deployments.len(), 1, "still listed");
}

#[tokio::test]
async fn without_project_state_the_list_asks_nothing_and_a_create_bootstraps_first() {
    let studio = Builder::new().start().await;
    let mut dash = Dashboard::new(&studio);
    show_endpoints(&mut dash).await;
    assert_eq!(
        dash.app.endpoints.poll.problem,
        Some(arkor_tui::tui::cloud_tasks::CloudProblem::NoProjectState)
    );
    assert!(studio.fake.requests().is_empty(), "no call, no mint");

    dash.act(Action::Endpoint(E::New)).await;
    settle(&mut dash).await;
    dash.act(Action::Edit(Edit::ClearToStart)).await;
    dash.act(Action::Edit(Edit::Paste("my-model".into()))).await;
    dash.act(Action::Endpoint(E::Submit)).await;
    settle(&mut dash).await;
    let order: Vec<String> = studio
        .fake
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.uri()))
        .collect();
    assert_eq!(
        order,
        [
            "POST /v1/projects?orgSlug=anon-org",
            "POST /v1/endpoints?orgSlug=anon-org&projectSlug=auto-slug"
        ],
        "the project first, then the endpoint in it"
    );
    assert!(studio.state_text().is_some(), "the state is written");
}
