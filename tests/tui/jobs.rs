//! The Jobs view (`2`) and a job's detail, drawn from fixed state at `at(300)`: the list with
//! a local run marked, loading, no project state, an outage over an old list, a replayed job
//! with its chart and log, the cancel question, and the view's help.

use std::time::SystemTime;

use arkor_tui::core::cloud::job_events::{
    EventBatch, FollowEnd, FollowerUpdate, JobEvent, JobEventKind, TrainingLog,
};
use arkor_tui::core::cloud::jobs::{CloudJob, JobStatus};
use arkor_tui::core::engine::BuildStatus;
use arkor_tui::core::events::{RunInfo, RunState};
use arkor_tui::core::logs::LogStore;
use arkor_tui::tui::cloud_tasks::CloudProblem;
use arkor_tui::tui::views::View;
use arkor_tui::tui::{Action, App};
use serde_json::json;

use crate::support::*;

fn job(id: &str, status: JobStatus, created: u64, ended: Option<u64>) -> CloudJob {
    CloudJob {
        id: id.into(),
        name: "demo-triage".into(),
        status,
        created_at: Some(at(created)),
        started_at: Some(at(created + 2)),
        completed_at: ended.map(at),
        error: None,
        config: json!({"model": "unsloth/gemma-4-E4B-it", "maxSteps": 40, "learningRate": 0.001}),
    }
}

fn jobs() -> Vec<CloudJob> {
    vec![
        job("sim-run-1", JobStatus::Running, 200, None),
        CloudJob {
            error: Some("the loss became NaN".into()),
            ..job("sim-failed-2", JobStatus::Failed, 100, Some(160))
        },
        job("sim-done-3", JobStatus::Completed, 0, Some(90)),
    ]
}

/// An App on the Jobs view whose list answered with `result` at `at(295)`.
fn jobs_app(result: Result<Vec<CloudJob>, CloudProblem>) -> App {
    let live = RunInfo {
        job_id: Some("sim-run-1".into()),
        ..run(4242, RunState::Running)
    };
    let mut app = app(LogStore::new(), snapshot(BuildStatus::Ok, vec![live]));
    app.handle_action(Action::ShowView(View::Jobs));
    assert_eq!(app.take_cloud_requests().len(), 1, "the list is fetched");
    app.now = at(295);
    app.apply_cloud_reply(arkor_tui::tui::cloud_tasks::CloudReply::Jobs {
        generation: 1,
        result,
    });
    app.now = at(300);
    app
}

#[test]
fn the_list_shows_each_job_newest_first_with_its_local_run() {
    let mut app = jobs_app(Ok(jobs()));
    let screen = text(&draw(&mut app, 110, 10));
    insta::assert_snapshot!("jobs_list", screen);
}

#[test]
fn the_view_says_it_is_loading_instead_of_freezing() {
    let mut app = app(LogStore::new(), snapshot(BuildStatus::Ok, vec![]));
    app.handle_action(Action::ShowView(View::Jobs));
    let screen = text(&draw(&mut app, 80, 8));
    insta::assert_snapshot!("jobs_loading", screen);
}

#[test]
fn no_project_state_says_what_is_missing_and_what_to_do() {
    let mut app = jobs_app(Err(CloudProblem::NoProjectState));
    let screen = text(&draw(&mut app, 100, 8));
    insta::assert_snapshot!("jobs_no_state", screen);
}

#[test]
fn an_outage_keeps_the_last_list_under_one_warning_line() {
    let mut app = jobs_app(Ok(jobs()));
    assert!(app.jobs.refresh().is_some());
    app.jobs.answered(
        2,
        Err(CloudProblem::Unreachable(
            "cloud API unreachable at https://api.arkor.ai: connection refused".into(),
        )),
        at(300),
    );
    let screen = text(&draw(&mut app, 110, 9));
    insta::assert_snapshot!("jobs_unreachable", screen);
}

fn event(kind: JobEventKind, secs: u64) -> JobEvent {
    JobEvent {
        kind,
        at: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs),
    }
}

fn log(step: u64, loss: f64) -> JobEventKind {
    JobEventKind::Log(TrainingLog {
        loss: Some(loss),
        learning_rate: Some(2e-4),
        ..TrainingLog::at_step(step)
    })
}

#[test]
fn a_job_detail_has_its_status_config_checkpoints_chart_and_events() {
    let mut app = jobs_app(Ok(jobs()));
    app.handle_action(Action::ScrollDown(1));
    app.handle_action(Action::OpenJob);
    assert_eq!(app.take_cloud_requests().len(), 1, "the stream is followed");
    let mut events = vec![event(JobEventKind::Started, 102)];
    for step in 1..=20u64 {
        events.push(event(log(step, 2.5 - step as f64 * 0.08), 102 + step * 2));
        if step % 10 == 0 {
            events.push(event(
                JobEventKind::CheckpointSaved { step },
                102 + step * 2,
            ));
        }
    }
    events.push(event(
        JobEventKind::Failed {
            error: "the loss became NaN".into(),
            step: Some(21),
        },
        160,
    ));
    for update in [
        FollowerUpdate::Events(EventBatch {
            events,
            malformed: 0,
        }),
        FollowerUpdate::Ended(FollowEnd::JobEnded),
    ] {
        app.apply_cloud_reply(arkor_tui::tui::cloud_tasks::CloudReply::JobUpdate {
            job_id: "sim-failed-2".into(),
            update,
        });
    }
    let screen = text(&draw(&mut app, 100, 34));
    insta::assert_snapshot!("job_detail", screen);
}

#[test]
fn cancel_asks_first_and_names_the_local_run() {
    let mut app = jobs_app(Ok(jobs()));
    app.handle_action(Action::CancelJob);
    let screen = text(&draw(&mut app, 90, 14));
    insta::assert_snapshot!("jobs_confirm_cancel", screen);
    // A finished job has nothing to cancel: no question.
    app.handle_action(Action::Answer(arkor_tui::tui::popup::Answer::No));
    app.handle_action(Action::ScrollDown(1));
    app.handle_action(Action::CancelJob);
    assert!(app.cloud_confirm.is_none());
    assert!(
        app.message
            .as_ref()
            .is_some_and(|(_, m)| m == "job sim-failed-2 is failed: nothing to cancel")
    );
}

#[test]
fn help_in_the_jobs_view_lists_its_keys_first() {
    let mut app = jobs_app(Ok(jobs()));
    app.handle_action(Action::ToggleHelp);
    let screen = text(&draw(&mut app, 80, 30));
    insta::assert_snapshot!("jobs_help", screen);
}

#[test]
fn number_keys_switch_views_and_r_and_c_mean_what_the_view_says() {
    use arkor_tui::tui::keymap::map_key;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let key = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let mut app = jobs_app(Ok(jobs()));
    let jobs_ctx = app.key_context();
    assert_eq!(map_key(key('r'), jobs_ctx), Some(Action::RefreshJobs));
    assert_eq!(map_key(key('c'), jobs_ctx), Some(Action::CancelJob));
    assert_eq!(
        map_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), jobs_ctx),
        Some(Action::OpenJob)
    );
    assert_eq!(
        map_key(key('1'), jobs_ctx),
        Some(Action::ShowView(View::Runs))
    );
    assert_eq!(map_key(key('q'), jobs_ctx), Some(Action::Quit));
    assert_eq!(
        arkor_tui::tui::keymap::map_paste("r".into(), jobs_ctx),
        None,
        "a paste outside the prompt is no key"
    );
    app.handle_action(Action::OpenJob);
    let detail_ctx = app.key_context();
    assert_eq!(
        map_key(key('q'), detail_ctx),
        Some(Action::CloseJob),
        "q leaves a job first"
    );
    app.handle_action(Action::CloseJob);
    app.take_cloud_requests();
    app.handle_action(Action::ShowView(View::Runs));
    let runs_ctx = app.key_context();
    assert_eq!(map_key(key('r'), runs_ctx), Some(Action::Rebuild));
    assert_eq!(map_key(key('c'), runs_ctx), Some(Action::ClearLogs));
    assert_eq!(
        map_key(key('2'), runs_ctx),
        Some(Action::ShowView(View::Jobs))
    );
    // Back on the Jobs view: the list from before is shown, and no fetch starts before it
    // is five seconds old.
    app.now = at(297);
    app.handle_action(Action::ShowView(View::Jobs));
    assert!(app.take_cloud_requests().is_empty());
    assert_eq!(app.jobs.jobs.len(), 3);
    app.now = at(300);
    app.tick_cloud();
    assert_eq!(
        app.take_cloud_requests().len(),
        1,
        "five seconds after the answer"
    );
}

#[test]
fn p_opens_the_playground_on_the_jobs_adapter_with_the_prompt_focused() {
    use arkor_tui::core::cloud::inference::{AdapterRef, ChatModel};
    let mut app = jobs_app(Ok(jobs()));
    // A running job without a known checkpoint has no adapter yet.
    app.handle_action(Action::OpenPlayground);
    assert_eq!(app.view, View::Jobs);
    assert!(
        app.message
            .as_ref()
            .is_some_and(|(_, m)| m.starts_with("job sim-run-1 is running and has no adapter"))
    );
    app.handle_action(Action::ScrollBottom);
    app.handle_action(Action::OpenPlayground);
    assert_eq!(app.view, View::Playground);
    assert!(app.key_context().input_focused);
    assert_eq!(
        app.playground.model,
        ChatModel::Adapter(AdapterRef::final_of("sim-done-3"))
    );
}

#[test]
fn the_playground_shows_the_conversation_the_streaming_reply_and_errors() {
    use arkor_tui::tui::cloud_tasks::{CloudReply, CloudRequest};
    use arkor_tui::tui::keymap::map_key;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = jobs_app(Ok(jobs()));
    app.handle_action(Action::ScrollBottom);
    app.handle_action(Action::OpenPlayground);
    // In the prompt, number keys and q are text.
    for c in "q1 is 2?".chars() {
        let action = map_key(
            KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
            app.key_context(),
        )
        .expect("typed");
        app.handle_action(action);
    }
    assert_eq!(app.playground.input.text(), "q1 is 2?");
    let pasted = arkor_tui::tui::keymap::map_paste("a\nb".into(), app.key_context());
    assert_eq!(
        pasted,
        Some(Action::Edit(
            arkor_tui::tui::views::text_input::Edit::Paste("a\nb".into())
        ))
    );
    app.handle_action(pasted.expect("a paste"));
    assert_eq!(app.playground.input.text(), "q1 is 2?a b");
    for _ in 0..3 {
        app.handle_action(Action::Edit(
            arkor_tui::tui::views::text_input::Edit::Backspace,
        ));
    }
    app.handle_action(Action::SendPrompt);
    let requests = app.take_cloud_requests();
    let [CloudRequest::Chat { chat_id, .. }] = requests.as_slice() else {
        panic!("{requests:?}")
    };
    let chat_id = *chat_id;
    app.apply_cloud_reply(CloudReply::ChatText {
        chat_id,
        text: "The question q1 asks".into(),
    });
    app.apply_cloud_reply(CloudReply::ChatEnded {
        chat_id,
        error: None,
    });
    for c in "and then?".chars() {
        app.handle_action(Action::Edit(
            arkor_tui::tui::views::text_input::Edit::Insert(c),
        ));
    }
    app.handle_action(Action::SendPrompt);
    let chat_id = chat_id + 1;
    app.apply_cloud_reply(CloudReply::ChatEnded {
        chat_id,
        error: Some("{\"error\":\"adapter is still loading\"}".into()),
    });
    for c in "once more".chars() {
        app.handle_action(Action::Edit(
            arkor_tui::tui::views::text_input::Edit::Insert(c),
        ));
    }
    app.handle_action(Action::SendPrompt);
    app.apply_cloud_reply(CloudReply::ChatText {
        chat_id: chat_id + 1,
        text: "Stream".into(),
    });
    app.handle_action(Action::Edit(
        arkor_tui::tui::views::text_input::Edit::Insert('x'),
    ));
    let screen = text(&draw(&mut app, 90, 18));
    insta::assert_snapshot!("playground", screen);
    // Esc leaves the prompt; c clears, y copies.
    app.handle_action(Action::LeaveInput);
    app.handle_action(Action::CopyChat);
    assert!(
        app.take_copies()
            .first()
            .is_some_and(|t| t.contains("you: q1 is 2?"))
    );
    app.handle_action(Action::ClearChat);
    assert!(app.playground.turns.is_empty());
    assert!(
        app.take_cloud_requests()
            .iter()
            .any(|r| matches!(r, CloudRequest::StopChat { .. })),
        "clearing stops the streaming reply"
    );
}

#[test]
fn a_thousand_jobs_scroll_with_the_selection_always_in_view() {
    let many: Vec<CloudJob> = (0..1000)
        .map(|i| CloudJob {
            name: format!("job-name-{i:04}"),
            ..job(&format!("id-{i:04}"), JobStatus::Completed, 0, Some(30))
        })
        .collect();
    let mut app = jobs_app(Ok(many));
    let selected_line = |app: &mut App| {
        let screen = text(&draw(app, 100, 12));
        screen
            .lines()
            .find(|l| l.starts_with("▶ "))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("a selected row: {screen}"))
    };
    assert!(selected_line(&mut app).contains("job-name-0000"));
    app.handle_action(Action::ScrollBottom);
    assert!(selected_line(&mut app).contains("job-name-0999"));
    for _ in 0..15 {
        app.handle_action(Action::ScrollUp(1));
    }
    assert!(selected_line(&mut app).contains("job-name-0984"));
    app.handle_action(Action::PageUp);
    assert!(selected_line(&mut app).contains("job-name-0974"));
    app.handle_action(Action::ScrollTop);
    assert!(selected_line(&mut app).contains("job-name-0000"));
}
