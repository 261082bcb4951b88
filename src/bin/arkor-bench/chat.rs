//! The Playground's first token: from the moment a loopback stand-in for the cloud's chat
//! route hands the reply's first frame to the socket, until the dashboard has folded it into
//! its state and drawn the frame that shows it. The dashboard side is the real one: the App,
//! its cloud tasks and the core chat client, with a `TestBackend` for the terminal.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use arkor_tui::core::cloud::{CloudEnv, ProjectCloud, ProjectCloudOptions};
use arkor_tui::core::engine::EngineSnapshot;
use arkor_tui::core::logs::LogStore;
use arkor_tui::tui::cloud_tasks::{CloudReply, CloudTasks};
use arkor_tui::tui::views::View;
use arkor_tui::tui::views::text_input::Edit;
use arkor_tui::tui::{Action, App, AppOptions};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::post;
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

use crate::stats::Samples;

/// When the stand-in handed out the first frame of the current reply.
type SentAt = Arc<Mutex<Option<Instant>>>;

/// A chat route that answers each chat with one frame, then holds the stream open (the
/// dashboard stops the reply, closing it).
async fn serve_chat(sent: SentAt) -> anyhow::Result<String> {
    let app = Router::new().route(
        "/v1/inference/chat",
        post(move || {
            let sent = sent.clone();
            async move {
                let first = futures::stream::once(async move {
                    *sent.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                    Ok::<_, std::convert::Infallible>(Bytes::from_static(
                        b"data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n",
                    ))
                });
                let body = Body::from_stream(first.chain(futures::stream::pending()));
                ([("content-type", "text/event-stream")], body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

/// `runs` chats: each one's first token, reply frame sent → drawn, in milliseconds. The
/// home and project live under `scratch`.
pub async fn first_token(scratch: &Path, runs: usize) -> anyhow::Result<Samples> {
    let sent: SentAt = Arc::default();
    let url = serve_chat(sent.clone()).await?;
    let home = scratch.join("chat-home");
    let project = scratch.join("chat-project");
    crate::fixture::write_home(&home, &url)?;
    std::fs::create_dir_all(project.join(".arkor"))?;
    std::fs::write(
        project.join(".arkor/state.json"),
        serde_json::json!({"orgSlug": "o", "projectSlug": "bench", "projectId": "b"}).to_string(),
    )?;
    let env = CloudEnv {
        home,
        cloud_api_url_override: None,
    };
    let cloud = ProjectCloud::new(ProjectCloudOptions::new(&project, env));
    let mut app = App::new(
        "bench",
        LogStore::new(),
        EngineSnapshot::default(),
        AppOptions {
            cloud: Some(cloud.clone()),
            ..AppOptions::default()
        },
        SystemTime::now(),
    );
    let (tx, mut replies) = mpsc::unbounded_channel();
    let mut tasks = CloudTasks::new(Some(cloud), tx);
    let mut terminal = Terminal::new(TestBackend::new(100, 30))?;
    app.handle_action(Action::ShowView(View::Playground));
    let mut samples = Samples::new();
    for _ in 0..runs {
        app.handle_action(Action::FocusInput);
        app.handle_action(Action::Edit(Edit::Paste("hi".into())));
        app.handle_action(Action::SendPrompt);
        for request in app.take_cloud_requests() {
            tasks.run(request);
        }
        let reply = tokio::time::timeout(Duration::from_secs(10), replies.recv())
            .await
            .context("no reply from the loopback chat within 10 s")?
            .context("reply channel closed")?;
        let CloudReply::ChatText { .. } = &reply else {
            bail!("expected the first token, got {reply:?}");
        };
        app.apply_cloud_reply(reply);
        terminal.draw(|frame| arkor_tui::tui::render(&mut app, frame))?;
        let drawn = Instant::now();
        let Some(at) = sent.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            bail!("the reply was drawn before the stand-in sent it");
        };
        samples.push(drawn.saturating_duration_since(at).as_secs_f64() * 1000.0);
        app.handle_action(Action::LeaveInput);
        app.handle_action(Action::StopReply);
        for request in app.take_cloud_requests() {
            tasks.run(request);
        }
    }
    Ok(samples)
}
