//! The Endpoints view (`4`), drawn from fixed state at `at(300)`: the list, one endpoint with
//! its keys, the create form with a refused slug, a new key's secret, no project state; and
//! its keys (text fields take every key but Ctrl-C; the secret takes the next key).

use arkor_tui::core::cloud::endpoints::{
    AuthMode, CreatedKey, Deployment, DeploymentKey, DeploymentTarget,
};
use arkor_tui::core::cloud::inference::AdapterRef;
use arkor_tui::core::cloud::jobs::{CloudJob, JobStatus};
use arkor_tui::core::engine::BuildStatus;
use arkor_tui::core::logs::LogStore;
use arkor_tui::tui::cloud_tasks::{CloudProblem, CloudReply, CloudRequest};
use arkor_tui::tui::keymap::map_key;
use arkor_tui::tui::views::View;
use arkor_tui::tui::views::endpoints::{ChangeOutcome, EndpointAction as E};
use arkor_tui::tui::views::text_input::Edit;
use arkor_tui::tui::{Action, App};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::support::*;

/// The cloud's RFC 3339 text for `at(secs)`.
fn stamp(secs: u64) -> String {
    arkor_tui::core::timestamp::rfc3339_millis(at(secs))
}

fn deployment(id: &str, slug: &str, target: DeploymentTarget, enabled: bool) -> Deployment {
    Deployment {
        id: id.into(),
        slug: slug.into(),
        target,
        auth_mode: AuthMode::FixedApiKey,
        enabled,
        custom_domain: None,
        created_at: stamp(200),
    }
}

fn deployments() -> Vec<Deployment> {
    vec![
        deployment(
            "d1",
            "triage",
            DeploymentTarget::Adapter(AdapterRef::final_of("sim-done-3")),
            true,
        ),
        Deployment {
            auth_mode: AuthMode::None,
            ..deployment(
                "d2",
                "triage-early",
                DeploymentTarget::Adapter(AdapterRef::checkpoint_of("sim-run-1", 20)),
                false,
            )
        },
    ]
}

fn key(id: &str, label: &str, enabled: bool) -> DeploymentKey {
    DeploymentKey {
        id: id.into(),
        label: label.into(),
        prefix: "ark_live_ab".into(),
        enabled,
        created_at: stamp(210),
        last_used_at: enabled.then(|| stamp(290)),
    }
}

/// An App on the Endpoints view whose list answered with `result` at `at(295)`.
fn endpoints_app(result: Result<Vec<Deployment>, CloudProblem>) -> App {
    let mut app = app(LogStore::new(), snapshot(BuildStatus::Ok, vec![]));
    app.handle_action(Action::ShowView(View::Endpoints));
    assert_eq!(
        app.take_cloud_requests(),
        [CloudRequest::ListDeployments { generation: 1 }]
    );
    app.now = at(295);
    app.apply_cloud_reply(CloudReply::Deployments {
        generation: 1,
        result,
    });
    app.now = at(300);
    app
}

/// The same, with the first endpoint open and its keys in.
fn open_app() -> App {
    let mut app = endpoints_app(Ok(deployments()));
    app.handle_action(Action::Endpoint(E::Open));
    app.take_cloud_requests();
    app.apply_cloud_reply(CloudReply::Keys {
        deployment_id: "d1".into(),
        result: Ok(vec![key("k1", "ci", true), key("k2", "laptop", false)]),
    });
    app
}

#[test]
fn the_list_shows_each_endpoint_with_what_it_serves() {
    let mut app = endpoints_app(Ok(deployments()));
    let screen = text(&draw(&mut app, 120, 8));
    insta::assert_snapshot!("endpoints_list", screen);
}

#[test]
fn an_open_endpoint_shows_its_url_auth_and_keys() {
    let mut app = open_app();
    let screen = text(&draw(&mut app, 100, 16));
    insta::assert_snapshot!("endpoint_detail", screen);
}

#[test]
fn no_project_state_says_what_is_missing_and_what_to_do() {
    let mut app = endpoints_app(Err(CloudProblem::NoProjectState));
    let screen = text(&draw(&mut app, 100, 8));
    insta::assert_snapshot!("endpoints_no_state", screen);
}

#[test]
fn the_form_offers_finished_jobs_and_shows_a_refused_slug() {
    let mut app = endpoints_app(Ok(deployments()));
    app.jobs.jobs = vec![CloudJob {
        id: "sim-done-3".into(),
        name: "demo".into(),
        status: JobStatus::Completed,
        created_at: None,
        started_at: None,
        completed_at: None,
        error: None,
        config: serde_json::Value::Null,
    }];
    app.handle_action(Action::Endpoint(E::New));
    assert_eq!(app.endpoints.form.as_ref().unwrap().slug.text(), "demo");
    app.handle_action(Action::Edit(Edit::ClearToStart));
    app.handle_action(Action::Edit(Edit::Paste("Bad Slug".into())));
    app.handle_action(Action::Endpoint(E::Submit));
    assert!(
        app.take_cloud_requests()
            .iter()
            .all(|r| !matches!(r, CloudRequest::ChangeEndpoint(_))),
        "refused here"
    );
    let screen = text(&draw(&mut app, 90, 20));
    insta::assert_snapshot!("endpoint_form", screen);
}

#[test]
fn a_new_keys_secret_is_shown_once() {
    let mut app = open_app();
    app.handle_action(Action::Endpoint(E::NewKey));
    app.handle_action(Action::Edit(Edit::Paste("ci-2".into())));
    app.handle_action(Action::Endpoint(E::Submit));
    let change = match app.take_cloud_requests().pop() {
        Some(CloudRequest::ChangeEndpoint(change)) => change,
        other => panic!("{other:?}"),
    };
    app.apply_cloud_reply(CloudReply::EndpointChanged {
        change,
        result: Ok(ChangeOutcome::Key(CreatedKey {
            id: "k3".into(),
            label: "ci-2".into(),
            plaintext: "ark_live_0123456789abcdef".into(),
            prefix: "ark_live_01".into(),
        })),
    });
    let screen = text(&draw(&mut app, 90, 16));
    insta::assert_snapshot!("endpoint_secret", screen);
    // Any key but y closes it; y copies it first.
    let ctx = app.key_context();
    let press = |code| KeyEvent::new(code, KeyModifiers::NONE);
    assert_eq!(
        map_key(press(KeyCode::Char('y')), ctx),
        Some(Action::Endpoint(E::CopySecret))
    );
    assert_eq!(
        map_key(press(KeyCode::Char('1')), ctx),
        Some(Action::Endpoint(E::CloseSecret)),
        "not a view switch while the secret is shown"
    );
    app.handle_action(Action::Endpoint(E::CloseSecret));
    assert!(!text(&draw(&mut app, 90, 16)).contains("0123456789abcdef"));
}

#[test]
fn the_views_keys_and_the_text_fields() {
    let press = |code| KeyEvent::new(code, KeyModifiers::NONE);
    let mut app = endpoints_app(Ok(deployments()));
    let list = app.key_context();
    assert_eq!(
        map_key(press(KeyCode::Enter), list),
        Some(Action::Endpoint(E::Open))
    );
    assert_eq!(map_key(press(KeyCode::Char('q')), list), Some(Action::Quit));
    assert_eq!(
        map_key(press(KeyCode::Char('d')), list),
        Some(Action::Endpoint(E::Delete))
    );
    assert_eq!(
        map_key(press(KeyCode::Char('x')), list),
        None,
        "revoke needs an open endpoint"
    );
    assert_eq!(
        map_key(press(KeyCode::Char('2')), list),
        Some(Action::ShowView(View::Jobs))
    );
    app.handle_action(Action::Endpoint(E::New));
    let form = app.key_context();
    assert_eq!(
        map_key(press(KeyCode::Char('q')), form),
        Some(Action::Edit(Edit::Insert('q'))),
        "the form takes text"
    );
    assert_eq!(
        map_key(press(KeyCode::Down), form),
        Some(Action::Endpoint(E::NextTarget))
    );
    assert_eq!(
        map_key(press(KeyCode::Tab), form),
        Some(Action::Endpoint(E::ToggleAuth))
    );
    assert_eq!(
        map_key(press(KeyCode::Esc), form),
        Some(Action::Endpoint(E::Close))
    );
    assert_eq!(
        arkor_tui::tui::keymap::map_paste("my-model".into(), form),
        Some(Action::Edit(Edit::Paste("my-model".into())))
    );
    app.handle_action(Action::Endpoint(E::Close));
    assert!(app.endpoints.form.is_none());
    app.handle_action(Action::Endpoint(E::Open));
    let open = app.key_context();
    assert_eq!(
        map_key(press(KeyCode::Char('q')), open),
        Some(Action::Endpoint(E::Close)),
        "q leaves an endpoint first"
    );
    assert_eq!(
        map_key(press(KeyCode::Char('x')), open),
        Some(Action::Endpoint(E::RevokeKey))
    );
}

#[test]
fn help_in_the_endpoints_view_lists_its_keys_first() {
    let mut app = endpoints_app(Ok(deployments()));
    app.handle_action(Action::ToggleHelp);
    let screen = text(&draw(&mut app, 90, 24));
    assert!(
        screen.contains("4 endpoints"),
        "the view's keymap is listed: {screen}"
    );
    let first = screen.find("4 endpoints").unwrap_or(usize::MAX);
    let jobs = screen.find("2 jobs").unwrap_or(usize::MAX);
    assert!(first < jobs, "its own keys first: {screen}");
}
