//! The dashboard's cloud side as `arkor tui` wires it, without a terminal: an App whose cloud
//! calls run through [`CloudTasks`] and the core client (not the HTTP server), and the event
//! loop's part, run by the test: send what the App asks, fold the answers back in.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arkor_tui::core::cloud::{CloudEnv, ProjectCloud, ProjectCloudOptions};
use arkor_tui::core::engine::EngineSnapshot;
use arkor_tui::core::events::NoticeLevel;
use arkor_tui::core::logs::LogStore;
use arkor_tui::tui::cloud_tasks::{CloudReply, CloudTasks};
use arkor_tui::tui::views::View;
use arkor_tui::tui::views::job_detail::StreamState;
use arkor_tui::tui::views::text_input::Edit;
use arkor_tui::tui::{Action, App, AppOptions};
use tokio::sync::mpsc;

use super::harness::Studio;

pub struct Dashboard {
    pub app: App,
    tasks: CloudTasks,
    replies: mpsc::UnboundedReceiver<CloudReply>,
    pub notices: Arc<Mutex<Vec<(NoticeLevel, String)>>>,
    /// Every piece of a chat reply folded in, in order.
    pub chat_pieces: Vec<String>,
}

impl Dashboard {
    /// On `studio`'s project, its cloud the recording fake.
    pub fn new(studio: &Studio) -> Self {
        Self::on_project(&studio.project_root, studio.env())
    }

    /// On the project at `root`, with the identity (and so the cloud) `env` gives.
    pub fn on_project(root: &Path, env: CloudEnv) -> Self {
        let notices: Arc<Mutex<Vec<(NoticeLevel, String)>>> = Arc::default();
        let sink = notices.clone();
        let mut options = ProjectCloudOptions::new(root, env);
        options.notices =
            Arc::new(move |level, message| sink.lock().unwrap().push((level, message)));
        let cloud = ProjectCloud::new(options);
        let app = App::new(
            "demo",
            LogStore::new(),
            EngineSnapshot::default(),
            AppOptions {
                cloud: Some(cloud.clone()),
                ..AppOptions::default()
            },
            SystemTime::now(),
        );
        let (tx, replies) = mpsc::unbounded_channel();
        Self {
            app,
            tasks: CloudTasks::new(Some(cloud), tx),
            replies,
            notices,
            chat_pieces: Vec::new(),
        }
    }

    /// Send what the App asked for; return how many requests went out.
    pub fn send_requests(&mut self) -> usize {
        let requests = self.app.take_cloud_requests();
        let n = requests.len();
        for request in requests {
            self.tasks.run(request);
        }
        n
    }

    /// Wait for the next answer (generous bound: only catches a hang) and fold it in.
    pub async fn next_reply(&mut self) {
        let reply = tokio::time::timeout(Duration::from_secs(20), self.replies.recv())
            .await
            .expect("a cloud answer in time")
            .expect("reply channel open");
        if let CloudReply::ChatText { text, .. } = &reply {
            self.chat_pieces.push(text.clone());
        }
        self.app.apply_cloud_reply(reply);
    }

    pub async fn act(&mut self, action: Action) {
        self.app.handle_action(action);
    }

    /// Show the Jobs view and wait for its first list.
    pub async fn show_jobs(&mut self) {
        self.act(Action::ShowView(View::Jobs)).await;
        assert_eq!(self.send_requests(), 1, "showing the view fetches the list");
        self.next_reply().await;
    }

    /// Open the selected job and fold in its stream until it ends.
    pub async fn replay_selected_job(&mut self) {
        self.act(Action::OpenJob).await;
        assert_eq!(self.send_requests(), 1, "Enter follows the job's stream");
        while !matches!(
            self.app.jobs.detail.as_ref().map(|d| &d.stream),
            Some(StreamState::Ended(_))
        ) {
            self.next_reply().await;
        }
    }

    /// Send `prompt` from the Playground and fold in answers until the reply ends.
    pub async fn chat_turn(&mut self, prompt: &str) {
        self.act(Action::FocusInput).await;
        self.act(Action::Edit(Edit::Paste(prompt.into()))).await;
        self.act(Action::SendPrompt).await;
        assert_eq!(self.send_requests(), 1, "one chat request");
        while self.app.playground.is_streaming() {
            self.next_reply().await;
        }
    }
}
