//! The cloud views against the shared fake cloud (`fake-cloud.mjs`, see node_fake.rs), driven
//! through App actions and the dashboard's cloud tasks as in tui_jobs.rs: a job that finished
//! before the dashboard started is listed with its status, Enter replays its whole history, `p`
//! chats with its adapter and the reply streams in; `c` + yes cancels a running job.
//!
//! Needs `ARKOR_TEST_FAKE_CLOUD` = the path of `fake-cloud.mjs` (and `node` on PATH); each
//! test is skipped, saying so, when it is not set.

use arkor_tui::core::cloud::inference::{AdapterRef, ChatModel};
use arkor_tui::core::cloud::job_events::JobEventKind;
use arkor_tui::core::cloud::jobs::JobStatus;
use arkor_tui::core::training::CloudVerdict;
use arkor_tui::tui::Action;
use arkor_tui::tui::popup::Answer;
use arkor_tui::tui::views::View;
use arkor_tui::tui::views::job_detail::StreamState;
use arkor_tui::tui::views::playground::ReplyState;
use serde_json::json;

use super::dashboard::Dashboard;
use super::node_fake::{FakeProject, NodeFake, Pace, assert_whole_and_exact, fake_cloud_script};

/// Jobs that finish in well under a second: the earlier job is over before the dashboard
/// starts.
const QUICK: Pace = Pace {
    step_ms: 5,
    checkpoint_ms: 100,
    max_steps: 120,
    eval_every: 25,
};

/// Jobs that outlive any test (a day at 50 ms a step): a cancel never races the job's end.
/// The fake trains every job of its process alike, hence a process of its own.
const LONG: Pace = Pace {
    step_ms: 50,
    checkpoint_ms: 1000,
    max_steps: 2_000_000,
    eval_every: 25,
};

#[tokio::test]
async fn an_earlier_job_is_listed_replayed_whole_and_chatted_with() {
    let Some(script) = fake_cloud_script("list, replay and chat with a job") else {
        return;
    };
    let cloud = NodeFake::start(&script, &QUICK).await;
    let learning_rate = 3e-4;
    let job_id = cloud
        .create_job(
            "earlier",
            json!({"maxSteps": QUICK.max_steps, "learningRate": learning_rate}),
        )
        .await;
    cloud.wait_for_status(&job_id, "completed").await;

    let project = FakeProject::new(&cloud.base);
    let mut dash = Dashboard::on_project(project.root(), project.env());
    dash.show_jobs().await;
    let jobs = &dash.app.jobs.jobs;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].id, job_id);
    assert_eq!(jobs[0].name, "earlier");
    assert_eq!(jobs[0].status, JobStatus::Completed);

    // Enter: the whole history, from the start, every step once.
    dash.replay_selected_job().await;
    let detail = dash.app.jobs.detail.as_ref().expect("open");
    assert_eq!(detail.stream, StreamState::Ended("the job ended".into()));
    assert_eq!(detail.job.status, JobStatus::Completed);
    assert!(matches!(
        detail.events.front().map(|e| &e.kind),
        Some(JobEventKind::Started)
    ));
    assert!(matches!(
        detail.events.back().map(|e| &e.kind),
        Some(JobEventKind::Completed)
    ));
    let (losses, _) = assert_whole_and_exact(&detail.events, &QUICK, learning_rate);
    let metrics = &detail.metrics;
    assert_eq!(metrics.verdict(), Some(&CloudVerdict::Completed));
    let progress = metrics.progress();
    assert_eq!(progress.step, Some(QUICK.max_steps));
    assert_eq!(
        progress.fraction(),
        Some(1.0),
        "maxSteps from the job's config"
    );
    let series: Vec<(u64, f64)> = metrics.loss().points().map(|p| (p.step, p.value)).collect();
    assert_eq!(series, losses, "the chart holds the same numbers");
    assert_eq!(metrics.malformed_frames(), 0);

    // Back to the list, `p`: the Playground on the job's final adapter.
    dash.act(Action::CloseJob).await;
    assert_eq!(dash.send_requests(), 1, "closing stops the stream");
    dash.act(Action::OpenPlayground).await;
    assert_eq!(dash.app.view, View::Playground);
    assert_eq!(
        dash.app.playground.model,
        ChatModel::Adapter(AdapterRef::final_of(job_id.clone()))
    );
    dash.chat_turn("the quick brown fox").await;
    let reply = &dash.app.playground.turns[1];
    assert_eq!(reply.state, ReplyState::Done);
    assert_eq!(
        reply.text,
        format!("Reply from {job_id}: fox brown quick the")
    );
    // The fake writes a word every 30 ms: the reply was shown as it came, not at the end.
    assert!(
        dash.chat_pieces.len() > 1,
        "streamed in pieces: {:?}",
        dash.chat_pieces
    );
    assert_eq!(dash.chat_pieces.concat(), reply.text);
}

#[tokio::test]
async fn c_and_yes_cancel_the_selected_running_job_and_the_list_shows_it_cancelled() {
    let Some(script) = fake_cloud_script("cancel a job") else {
        return;
    };
    let cloud = NodeFake::start(&script, &LONG).await;
    let earlier = cloud.create_job("earlier", json!({})).await;
    let second = cloud.create_job("second", json!({})).await;

    let project = FakeProject::new(&cloud.base);
    let mut dash = Dashboard::on_project(project.root(), project.env());
    dash.show_jobs().await;
    let listed = |dash: &Dashboard| -> Vec<(String, JobStatus)> {
        let jobs = &dash.app.jobs.jobs;
        jobs.iter()
            .map(|j| (j.id.clone(), j.status.clone()))
            .collect()
    };
    assert_eq!(
        listed(&dash),
        [
            (second.clone(), JobStatus::Running),
            (earlier.clone(), JobStatus::Running)
        ],
        "newest first"
    );
    let selected = dash.app.jobs.selected_job().map(|j| j.id.clone());
    assert_eq!(selected.as_ref(), Some(&second));

    dash.act(Action::CancelJob).await;
    let question = dash.app.cloud_confirm.as_ref().expect("asks first");
    assert!(question.question.contains(&second), "{question:?}");
    dash.act(Action::Answer(Answer::Yes)).await;
    assert_eq!(dash.send_requests(), 1, "the cancel");
    dash.next_reply().await;
    let said = dash.app.message.clone().expect("the footer says so");
    assert_eq!(said.1, format!("cloud job {second} cancelled"));
    assert_eq!(cloud.job_status(&second).await, "cancelled");

    // The list is fetched again at once: the second job cancelled, the earlier one untouched.
    assert_eq!(dash.send_requests(), 1, "the refresh");
    dash.next_reply().await;
    assert_eq!(
        listed(&dash),
        [
            (second.clone(), JobStatus::Cancelled),
            (earlier, JobStatus::Running)
        ]
    );

    // Its history ends with the fake's cancel.
    dash.replay_selected_job().await;
    let detail = dash.app.jobs.detail.as_ref().expect("open");
    assert_eq!(detail.job.id, second);
    assert!(
        matches!(
            detail.metrics.verdict(),
            Some(CloudVerdict::Failed { error, .. }) if error == "cancelled"
        ),
        "{:?}",
        detail.metrics.verdict()
    );
}
