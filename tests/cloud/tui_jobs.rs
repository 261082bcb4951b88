//! The dashboard's Jobs view against the recording fake cloud: the App asks, the dashboard's
//! cloud tasks call the cloud through the core client (not the HTTP server), and the fake
//! records what reached it.

use arkor_tui::core::cloud::jobs::JobStatus;
use arkor_tui::core::events::NoticeLevel;
use arkor_tui::tui::Action;
use arkor_tui::tui::cloud_tasks::CloudProblem;
use arkor_tui::tui::popup::Answer;
use arkor_tui::tui::views::View;

use super::dashboard::Dashboard;
use super::harness::{Builder, anon_credentials, state};

#[tokio::test]
async fn cancel_from_the_jobs_view_posts_one_scoped_cancel_only_after_yes() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    let mut dash = Dashboard::new(&studio);
    dash.show_jobs().await;
    let jobs = &dash.app.jobs.jobs;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].id, "job-e2e-1");
    assert_eq!(jobs[0].status, JobStatus::Running);
    let lists = studio.fake.requests_to("GET", "/v1/jobs");
    assert_eq!(lists[0].uri(), "/v1/jobs?orgSlug=anon-org&projectSlug=p");

    // Asked, and declined: nothing reaches the cloud.
    dash.act(Action::CancelJob).await;
    let question = dash.app.cloud_confirm.as_ref().expect("asks first");
    assert!(question.question.contains("job-e2e-1"), "{question:?}");
    dash.act(Action::Answer(Answer::No)).await;
    assert_eq!(dash.send_requests(), 0);
    assert!(studio.fake.requests_to("POST", "/v1/jobs/").is_empty());

    // Asked, and confirmed: one scoped POST with the project's identity.
    dash.act(Action::CancelJob).await;
    dash.act(Action::Answer(Answer::Yes)).await;
    assert_eq!(dash.send_requests(), 1);
    dash.next_reply().await;
    let cancels = studio.fake.requests_to("POST", "/v1/jobs/");
    assert_eq!(cancels.len(), 1);
    assert_eq!(
        cancels[0].uri(),
        "/v1/jobs/job-e2e-1/cancel?orgSlug=anon-org&projectSlug=p"
    );
    assert_eq!(cancels[0].header("authorization"), Some("Bearer tok"));
    assert!(cancels[0].body.is_empty());
    let said = dash.app.message.clone().expect("the footer says so");
    assert_eq!(said.1, "cloud job job-e2e-1 cancelled");
    // The list is fetched again at once to show the new status.
    assert_eq!(dash.send_requests(), 1);
    dash.next_reply().await;
    assert_eq!(studio.fake.requests_to("GET", "/v1/jobs").len(), 2);
}

#[tokio::test]
async fn a_refused_cancel_is_an_alert_naming_the_job_and_the_reason() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    studio.fake.on(
        "POST",
        "/v1/jobs/job-e2e-1/cancel",
        super::fake::Canned::json(409, serde_json::json!({"error": "job already finishing"})),
    );
    let mut dash = Dashboard::new(&studio);
    dash.show_jobs().await;
    dash.act(Action::CancelJob).await;
    dash.act(Action::Answer(Answer::Yes)).await;
    dash.send_requests();
    dash.next_reply().await;
    let (level, text) = dash.app.alert.clone().expect("an alert");
    assert_eq!(level, NoticeLevel::Error);
    assert_eq!(
        text,
        "cloud job job-e2e-1 not cancelled: job already finishing"
    );
}

#[tokio::test]
async fn without_project_state_the_view_says_so_and_asks_nothing_of_the_cloud() {
    let studio = Builder::new().start().await;
    let mut dash = Dashboard::new(&studio);
    dash.show_jobs().await;
    assert_eq!(
        dash.app.jobs.poll.problem,
        Some(CloudProblem::NoProjectState)
    );
    assert!(studio.fake.requests().is_empty(), "no call, no mint");
}

#[tokio::test]
async fn a_stale_anonymous_scope_is_named_and_never_listed() {
    let studio = Builder::new()
        .state(state("someone-elses-org", "p"))
        .start()
        .await;
    let mut dash = Dashboard::new(&studio);
    dash.show_jobs().await;
    let problem = dash.app.jobs.poll.problem.clone().expect("a problem");
    assert!(
        matches!(problem, CloudProblem::StaleScope(_)),
        "{problem:?}"
    );
    assert!(problem.advice().contains("state.json"));
    assert!(studio.fake.requests_to("GET", "/v1/jobs").is_empty());
}

#[tokio::test]
async fn an_unreachable_cloud_is_said_once_however_often_the_list_polls() {
    let studio = Builder::new()
        .credentials(Some(anon_credentials("http://127.0.0.1:9")))
        .state(state("anon-org", "p"))
        .start()
        .await;
    let mut dash = Dashboard::new(&studio);
    dash.show_jobs().await;
    for _ in 0..2 {
        dash.act(Action::RefreshJobs).await;
        assert_eq!(dash.send_requests(), 1);
        dash.next_reply().await;
    }
    let problem = dash.app.jobs.poll.problem.clone().expect("a problem");
    assert!(
        matches!(&problem, CloudProblem::Unreachable(m) if m.contains("127.0.0.1:9")),
        "{problem:?}"
    );
    let notices = dash.notices.lock().unwrap().clone();
    assert_eq!(
        notices.len(),
        1,
        "one notice for three failed fetches: {notices:?}"
    );
}

#[tokio::test]
async fn a_finished_jobs_detail_replays_its_whole_stream() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    let timeline = studio.fake.job_timeline("job-e2e-1");
    timeline.started();
    timeline.log(1, 2.5);
    timeline.log(2, 2.0);
    timeline.checkpoint(2);
    timeline.log(3, 1.5);
    timeline.completed();
    timeline.end();
    let mut dash = Dashboard::new(&studio);
    dash.show_jobs().await;
    dash.replay_selected_job().await;
    let detail = dash.app.jobs.detail.as_ref().expect("open");
    assert_eq!(detail.events.len(), 6, "{:?}", detail.events);
    assert_eq!(detail.metrics.progress().step, Some(3));
    assert_eq!(
        detail.metrics.checkpoints().steps().collect::<Vec<_>>(),
        [2]
    );
    let streams = studio.fake.stream_requests("job-e2e-1");
    assert_eq!(
        streams[0].uri(),
        "/v1/jobs/job-e2e-1/events/stream?orgSlug=anon-org&projectSlug=p"
    );
    assert_eq!(streams[0].header("last-event-id"), None, "from the start");
    dash.act(Action::CloseJob).await;
    assert_eq!(dash.send_requests(), 1, "closing stops the stream");
    assert!(dash.app.jobs.detail.is_none());
}

#[tokio::test]
async fn p_on_a_job_chats_with_its_adapter_and_the_reply_streams_in() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    studio.fake.on(
        "GET",
        "/v1/jobs",
        super::fake::Canned::json(
            200,
            serde_json::json!({"jobs": [{"id": "job-done", "name": "t", "status": "completed",
                "createdAt": "2026-05-01T00:00:00Z", "config": {}}]}),
        ),
    );
    let mut dash = Dashboard::new(&studio);
    dash.show_jobs().await;
    dash.act(Action::OpenPlayground).await;
    assert_eq!(dash.app.view, View::Playground);
    assert!(dash.app.playground.editing, "the prompt has the keys");
    dash.chat_turn("hi").await;
    let turns = &dash.app.playground.turns;
    assert_eq!(turns[1].text, "Hello from e2e");
    let chats = studio.fake.requests_to("POST", "/v1/inference/chat");
    assert_eq!(chats.len(), 1);
    assert_eq!(
        chats[0].uri(),
        "/v1/inference/chat?orgSlug=anon-org&projectSlug=p"
    );
    assert_eq!(
        chats[0].json(),
        serde_json::json!({"adapter": {"kind": "final", "jobId": "job-done"},
            "messages": [{"role": "user", "content": "hi"}], "stream": true})
    );
    // Multi-turn: the second request carries the whole conversation.
    dash.chat_turn("more").await;
    let chats = studio.fake.requests_to("POST", "/v1/inference/chat");
    let messages = chats[1].json()["messages"].clone();
    assert_eq!(
        messages,
        serde_json::json!([{"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello from e2e"},
            {"role": "user", "content": "more"}])
    );
}

#[tokio::test]
async fn an_error_reply_reads_as_the_studio_shows_it() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    studio.fake.on(
        "POST",
        "/v1/inference/chat",
        super::fake::Canned::json(400, serde_json::json!({"error": "adapter not found"})),
    );
    let mut dash = Dashboard::new(&studio);
    dash.act(Action::ShowView(View::Playground)).await;
    dash.chat_turn("hi").await;
    assert_eq!(
        dash.app.playground.turns[1].text,
        "[error] {\"error\":\"adapter not found\"}"
    );
    let body = studio.fake.requests_to("POST", "/v1/inference/chat")[0].json();
    assert_eq!(body["baseModel"], "unsloth/gemma-4-E4B-it");
}

#[tokio::test]
async fn a_reply_stopped_mid_stream_closes_its_connection() {
    use arkor_tui::tui::views::playground::ReplyState;
    use arkor_tui::tui::views::text_input::Edit;
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    studio.fake.on(
        "POST",
        "/v1/inference/chat",
        super::fake::Canned::open_stream(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Once\"}}]}\n\n",
        ),
    );
    let mut dash = Dashboard::new(&studio);
    dash.act(Action::ShowView(View::Playground)).await;
    dash.act(Action::FocusInput).await;
    dash.act(Action::Edit(Edit::Paste("a story".into()))).await;
    dash.act(Action::SendPrompt).await;
    dash.send_requests();
    dash.next_reply().await;
    assert_eq!(dash.app.playground.turns[1].text, "Once");
    dash.act(Action::LeaveInput).await;
    dash.act(Action::StopReply).await;
    assert_eq!(dash.send_requests(), 1, "the stop");
    assert!(
        studio.fake.wait_streams_closed(1).await,
        "the connection closed"
    );
    assert_eq!(dash.app.playground.turns[1].state, ReplyState::Stopped);
    assert!(!dash.app.playground.is_streaming());
}
