//! The dashboard's state. It is fed engine events and user actions, answers with engine
//! commands, and is drawn by [`crate::tui::render`] (which depends on it, never the other way). No I/O happens here, so tests can drive it directly and
//! render it on a `TestBackend` with a fixed clock.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ratatui::layout::Rect;

use crate::core::engine::{BuildStatus, Command, EngineSnapshot, StartRunError};
use crate::core::events::{
    BuiltArtifact, DevEvent, EngineEvent, ExitStatus, NoticeLevel, RunInfo, RunOrigin, RunState,
};
use crate::core::logs::{LogStore, MAX_EXITED_RUNS_KEPT};
use crate::core::registry::ConfigChangePolicy;
use crate::core::training::{OutcomeKind, RunOutcome};
use crate::tui::action::Action;
use crate::tui::chart_data::ChartCache;
use crate::tui::cloud_tasks::CloudRequest;
use crate::tui::confirmations;
use crate::tui::format;
use crate::tui::keymap::{Focus, KeyContext};
use crate::tui::logview::{LogBounds, LogView};
use crate::tui::popup::{Answer, Confirm};
use crate::tui::theme::Theme;
use crate::tui::timeline::{Timeline, TimelineKind};
use crate::tui::views::View;
use crate::tui::views::endpoints::EndpointsView;
use crate::tui::views::jobs::JobsView;
use crate::tui::views::playground::Playground;

mod cloud_views;
mod endpoints_view;

/// After a force quit, leave even if the engine has not reported every run gone.
pub const FORCE_QUIT_GRACE: Duration = Duration::from_secs(3);
/// Columns one ←/→ press scrolls truncated log lines.
const HSCROLL_STEP: u16 = 8;

/// How the dashboard looks and behaves.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    /// Studio / dev server URL shown in the header.
    pub server_url: Option<String>,
    /// Bell + OSC 9/777 when a run ends on its own.
    pub notifications: bool,
    /// False under NO_COLOR.
    pub colors: bool,
    /// Local time offset for the timeline clock (seconds east of UTC).
    pub utc_offset_secs: i64,
    /// Lines shown in the timeline at start (sign-in, server warnings, the demo's folder).
    pub hints: Vec<String>,
    /// What to try (the demo): pinned above the timeline's entries, never scrolled away.
    pub instructions: Vec<String>,
    /// The project's cloud, for the cloud views (`None`: no home directory, they say so).
    pub cloud: Option<crate::core::cloud::ProjectCloud>,
}

impl AppOptions {
    /// Notifications on, colours unless NO_COLOR is set (to anything non-empty, per
    /// no-color.org), the local time zone's offset.
    pub fn from_env() -> Self {
        Self {
            server_url: None,
            notifications: true,
            colors: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            utc_offset_secs: local_utc_offset(),
            hints: Vec::new(),
            instructions: Vec::new(),
            cloud: None,
        }
    }
}

/// Seconds east of UTC for the timeline clock.
fn local_utc_offset() -> i64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: localtime_r only writes into the zeroed `tm` we own; `now` outlives the call.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            0
        } else {
            tm.tm_gmtoff
        }
    }
}

/// Where the user is in the deliberate quit sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuitState {
    Running,
    /// First `q`: every run early-stops at its next checkpoint; the TUI waits.
    Graceful {
        since: SystemTime,
    },
    /// Second `q`: every run is killed; the TUI leaves once they are gone.
    Forced {
        since: SystemTime,
    },
    /// Leave now.
    Leave,
}

/// Screen areas of the last frame, for mouse hits.
#[derive(Clone, Debug, Default)]
pub struct HitMap {
    pub runs_area: Rect,
    /// Screen row → run pid.
    pub run_rows: Vec<(u16, u32)>,
    pub logs_area: Rect,
    /// Empty when the timeline is not drawn.
    pub timeline_area: Rect,
}

pub struct App {
    pub project_label: String,
    pub options: AppOptions,
    pub theme: Theme,
    /// The clock every time-dependent text is computed from (fixed in tests).
    pub now: SystemTime,
    pub status: BuildStatus,
    pub last_good: Option<BuiltArtifact>,
    /// The last build failure, kept while a follow-up build runs; cleared by a success.
    pub last_error: Option<String>,
    /// Oldest first, as the engine lists them.
    pub runs: Vec<Arc<RunInfo>>,
    pub selected: Option<u32>,
    pub focus: Focus,
    pub log_view: LogView,
    pub timeline: Timeline,
    pub help_open: bool,
    /// First help line shown (short screens scroll the overlay).
    pub help_scroll: u16,
    pub quit: QuitState,
    pub shutting_down: bool,
    /// The engine's event stream closed.
    pub engine_gone: bool,
    /// The engine published `Stopped`: shutdown is complete.
    pub engine_stopped: bool,
    /// A one-line answer to the last key (shown in the footer until the next key).
    pub message: Option<(NoticeLevel, String)>,
    /// Something went wrong that the user did not cause (a run failed, a cloud job was or
    /// was not cancelled, an engine warning): shown in the banner row until the next key.
    pub alert: Option<(NoticeLevel, String)>,
    /// The run `message` is about: it goes when that run's state changes.
    message_run: Option<u32>,
    /// A question waiting for a one-key answer, drawn over everything; its yes is a command.
    pub confirm: Option<Confirm<Command>>,
    /// The same for a cloud call (cancelling a cloud job).
    pub cloud_confirm: Option<Confirm<CloudRequest>>,
    /// Runs whose config-change question (`--on-config-change=ask`) waits for the open one.
    deferred_asks: Vec<u32>,
    /// Which view has the screen (number keys).
    pub view: View,
    /// The Jobs view's state (kept while another view is shown).
    pub jobs: JobsView,
    /// The Playground's conversation and prompt (kept while another view is shown).
    pub playground: Playground,
    /// The Endpoints view's state (kept while another view is shown).
    pub endpoints: EndpointsView,
    /// Cloud calls asked for, drained by the loop.
    cloud_requests: Vec<CloudRequest>,
    /// Timeline entries hidden below the panel (0: the newest is at the bottom).
    pub timeline_scroll: usize,
    /// The log pane has the whole screen.
    pub zoomed: bool,
    /// What a config change does to live runs (the engine's policy, as last set here).
    pub on_config_change: ConfigChangePolicy,
    pub(crate) hit_map: HitMap,
    /// Set by render: when the visible screen will look different without any event.
    pub(crate) next_change: Option<Duration>,
    /// The selected run's plot data, kept while its metrics are unchanged.
    pub chart: ChartCache,
    notifications: Vec<String>,
    /// Text to put on the clipboard, drained by the loop.
    copies: Vec<String>,
    user_stopped: HashSet<u32>,
    logs: LogStore,
}

impl App {
    pub fn new(
        project_label: impl Into<String>,
        logs: LogStore,
        snapshot: EngineSnapshot,
        options: AppOptions,
        now: SystemTime,
    ) -> Self {
        let mut app = Self {
            project_label: project_label.into(),
            theme: Theme::new(options.colors),
            options,
            now,
            status: BuildStatus::Pending,
            last_good: None,
            last_error: None,
            runs: Vec::new(),
            selected: None,
            focus: Focus::Runs,
            log_view: LogView::default(),
            timeline: Timeline::default(),
            help_open: false,
            help_scroll: 0,
            quit: QuitState::Running,
            shutting_down: false,
            engine_gone: false,
            engine_stopped: false,
            message: None,
            message_run: None,
            alert: None,
            confirm: None,
            cloud_confirm: None,
            deferred_asks: Vec::new(),
            view: View::Runs,
            jobs: JobsView::default(),
            playground: Playground::default(),
            endpoints: EndpointsView::default(),
            cloud_requests: Vec::new(),
            timeline_scroll: 0,
            zoomed: false,
            on_config_change: ConfigChangePolicy::default(),
            hit_map: HitMap::default(),
            next_change: None,
            chart: ChartCache::default(),
            notifications: Vec::new(),
            copies: Vec::new(),
            user_stopped: HashSet::new(),
            logs,
        };
        app.sync(snapshot);
        app
    }

    pub fn logs(&self) -> &LogStore {
        &self.logs
    }

    /// Replace everything with the engine's current view (start, or after missing events).
    pub fn sync(&mut self, snapshot: EngineSnapshot) {
        self.last_error = match &snapshot.status {
            BuildStatus::Error(message) => Some(message.clone()),
            BuildStatus::Building => self.last_error.take(),
            _ => None,
        };
        self.status = snapshot.status;
        self.last_good = snapshot.last_good;
        self.shutting_down = snapshot.shutting_down;
        self.on_config_change = snapshot.on_config_change;
        self.runs = snapshot.runs;
        self.fix_selection();
    }

    pub fn key_context(&self) -> KeyContext {
        KeyContext {
            focus: self.focus,
            search_editing: self.log_view.search.editing,
            search_active: self.log_view.search.is_active(),
            help_open: self.help_open,
            confirm_open: self.confirm.is_some() || self.cloud_confirm.is_some(),
            selecting: self.log_view.selection.is_some(),
            zoomed: self.zoomed,
            view: self.view,
            job_open: self.jobs.detail.is_some(),
            input_focused: self.view == View::Playground && self.playground.editing,
            endpoint_open: self.endpoints.detail.is_some(),
            endpoint_entry: self.endpoint_entry(),
            secret_open: self.view == View::Endpoints && self.endpoints.secret.is_some(),
        }
    }

    pub fn selected_run(&self) -> Option<&Arc<RunInfo>> {
        let pid = self.selected?;
        self.runs.iter().find(|r| r.pid == pid)
    }

    pub fn live_runs(&self) -> usize {
        self.runs.iter().filter(|r| is_live(r)).count()
    }

    /// Why a run is early-stopping when no config change is the cause: the user asked for it
    /// here, or the dashboard is quitting. (Why a replacement was started, its
    /// `restarted_from`, says nothing about why it stops.)
    pub fn stop_cause(&self, run: &RunInfo) -> Option<&'static str> {
        if !run.restart_reason.is_empty() {
            None
        } else if let Some(cause) = run.stop_cause {
            Some(cause.describe())
        } else if self.user_stopped.contains(&run.pid) {
            Some("you asked")
        } else if self.quit != QuitState::Running || self.shutting_down {
            Some("quitting")
        } else {
            None
        }
    }

    /// Drained by the loop and written to the terminal as clipboard escapes.
    pub fn take_copies(&mut self) -> Vec<String> {
        std::mem::take(&mut self.copies)
    }

    /// Drained by the loop and written to the terminal.
    pub fn take_notifications(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notifications)
    }

    /// How long until the screen changes by itself (uptime, countdown), if anything visible
    /// animates. `None` means: sleep until the next event.
    pub fn next_change(&self) -> Option<Duration> {
        self.next_change
    }

    pub fn should_exit(&self) -> bool {
        // The engine finished (every run ended, cloud jobs cancelled) or went away.
        if self.engine_gone || self.engine_stopped {
            return true;
        }
        match self.quit {
            QuitState::Leave => true,
            QuitState::Forced { since } => {
                self.live_runs() == 0 || self.elapsed_since(since) >= FORCE_QUIT_GRACE
            }
            // Wait for the engine's `Stopped`: it may still be cancelling cloud jobs.
            QuitState::Graceful { .. } | QuitState::Running => false,
        }
    }

    pub(crate) fn elapsed_since(&self, t: SystemTime) -> Duration {
        self.now.duration_since(t).unwrap_or_default()
    }

    /// Fold one engine event in. Returns whether the screen needs a redraw.
    pub fn apply_event(&mut self, event: EngineEvent) -> bool {
        match event {
            EngineEvent::BuildStarted => {
                self.status = BuildStatus::Building;
                true
            }
            EngineEvent::Dev(dev) => {
                self.apply_dev(&dev);
                true
            }
            EngineEvent::Run(run) => {
                self.apply_run(run);
                true
            }
            EngineEvent::Logs { pid } => self.selected == Some(pid),
            // The table shows every run's numbers: any run's progress is on screen.
            EngineEvent::Training { pid, .. } => self.runs.iter().any(|r| r.pid == pid),
            EngineEvent::Notice { level, message } => {
                let kind = match level {
                    NoticeLevel::Info => TimelineKind::Info,
                    NoticeLevel::Warn | NoticeLevel::Error => TimelineKind::Warn,
                };
                if level != NoticeLevel::Info {
                    self.alert = Some((level, message.clone()));
                }
                self.timeline.push(self.now, kind, message);
                true
            }
            EngineEvent::ShuttingDown => {
                self.shutting_down = true;
                true
            }
            EngineEvent::Stopped => {
                self.shutting_down = true;
                self.engine_stopped = true;
                true
            }
        }
    }

    fn apply_dev(&mut self, dev: &DevEvent) {
        match dev {
            DevEvent::Built {
                first,
                artifact,
                dispatch,
            } => {
                self.status = BuildStatus::Ok;
                self.last_error = None;
                let mut text = format!(
                    "{} {}",
                    if *first { "ready" } else { "rebuild" },
                    format::duration(artifact.build_duration)
                );
                if let Some(d) = dispatch {
                    if !d.hot_swap_targets.is_empty() {
                        text.push_str(&format!(" · {} hot-swapped", d.hot_swap_targets.len()));
                    }
                    if !d.restart_targets.is_empty() {
                        text.push_str(&format!(" · {} restarting", d.restart_targets.len()));
                    }
                }
                if let Some(hash) = &artifact.config_hash {
                    text.push_str(&format!(" · config {}", format::short(hash, 8)));
                }
                self.timeline.push(self.now, TimelineKind::Build, text);
                self.last_good = Some(artifact.clone());
            }
            DevEvent::Error { message } => {
                self.status = BuildStatus::Error(message.clone());
                self.last_error = Some(message.clone());
                self.timeline.push(
                    self.now,
                    TimelineKind::BuildError,
                    format!("build failed: {}", crate::tui::timeline::one_line(message)),
                );
            }
        }
    }

    fn apply_run(&mut self, run: Arc<RunInfo>) {
        let previous = self.runs.iter().position(|r| r.pid == run.pid);
        let old_state = previous.map(|i| self.runs[i].state.clone());
        let old_job = previous.and_then(|i| self.runs[i].job_id.clone());
        let had_outcome = previous.is_some_and(|i| self.runs[i].outcome.is_some());
        let was_behind = previous.is_some_and(|i| self.runs[i].pending_config.is_some());
        self.record_transition(&run, old_state.as_ref(), old_job.as_deref(), had_outcome);
        if old_state.as_ref() != Some(&run.state) && self.message_run == Some(run.pid) {
            // What the footer said about this run is out of date now.
            self.message = None;
            self.message_run = None;
        }
        self.on_held_change(&run, was_behind);
        match previous {
            Some(i) => self.runs[i] = run.clone(),
            None => self.runs.push(run.clone()),
        }
        self.forget_old_exited_runs();
        // Follow a restart: the replacement takes over the selection of the run it replaced.
        if previous.is_none()
            && (self.selected.is_none()
                || run
                    .restarted_from
                    .as_ref()
                    .is_some_and(|old| self.selected == Some(old.from)))
        {
            self.select(Some(run.pid));
        }
        self.fix_selection();
    }

    /// Keep as many exited runs as the engine keeps logs for (a long session restarts often).
    fn forget_old_exited_runs(&mut self) {
        let mut exited = self.runs.iter().filter(|r| !is_live(r)).count();
        let selected = self.selected;
        self.runs.retain(|r| {
            if exited > MAX_EXITED_RUNS_KEPT && !is_live(r) && Some(r.pid) != selected {
                exited -= 1;
                false
            } else {
                true
            }
        });
    }

    fn record_transition(
        &mut self,
        run: &RunInfo,
        old: Option<&RunState>,
        old_job: Option<&str>,
        had_outcome: bool,
    ) {
        let now = self.now;
        let pid = run.pid;
        // The outcome settles a moment after the exit (the cloud's last frames): it rewrites
        // the exit's line, or is said on its own (a restart's predecessor, still restarting).
        if let Some(outcome) = run.outcome.as_ref().filter(|_| !had_outcome)
            && old == Some(&run.state)
        {
            let text = format!("{pid} {}", outcome.describe());
            let kind = outcome_kind(outcome);
            match &run.state {
                RunState::Exited { status } => {
                    self.timeline
                        .amend_newest(&exit_text(pid, status), now, kind, &text);
                }
                _ => self.timeline.push(now, kind, text),
            }
            return;
        }
        // The job id usually arrives with Starting → Running; note it whatever the state did.
        if old.is_some()
            && old_job.is_none()
            && let Some(job) = &run.job_id
        {
            self.timeline
                .push(now, TimelineKind::Info, format!("{pid} cloud job {job}"));
        }
        if old == Some(&run.state) {
            return;
        }
        let why = format::config_changes(&run.restart_reason);
        match &run.state {
            RunState::Starting | RunState::Running if old.is_none() => {
                let text = match &run.restarted_from {
                    Some(restart) => format!("{pid} started (restart of {})", restart.from),
                    None => format!("{pid} started"),
                };
                self.timeline.push(now, TimelineKind::RunStarted, text);
            }
            RunState::Starting | RunState::Running => {}
            RunState::HotSwapped => {
                self.timeline.push(
                    now,
                    TimelineKind::HotSwap,
                    format!("{pid} hot-swapped callbacks"),
                );
            }
            RunState::EarlyStopping => {
                let text = match self.stop_cause(run) {
                    _ if !why.is_empty() => format!("{pid} early-stopping: {why}"),
                    Some(cause) => format!("{pid} early-stopping ({cause})"),
                    None => format!("{pid} early-stopping"),
                };
                self.timeline.push(now, TimelineKind::EarlyStop, text);
            }
            RunState::Restarting => {
                let text = if why.is_empty() {
                    format!("{pid} restarting")
                } else {
                    format!("{pid} restarting: {why}")
                };
                self.timeline.push(now, TimelineKind::Restart, text);
            }
            RunState::Exited { status } => {
                let failed = !matches!(status, ExitStatus::Code(0));
                let how = exit_how(status);
                if let Some(failure) = &run.failure {
                    self.alert = Some((NoticeLevel::Error, format!("run {pid} failed: {failure}")));
                }
                match &run.outcome {
                    // Said already (a restart's predecessor, while it was restarting).
                    Some(_) if had_outcome => {}
                    Some(outcome) => self.timeline.push(
                        now,
                        outcome_kind(outcome),
                        format!("{pid} {}", outcome.describe()),
                    ),
                    None => {
                        let kind = if failed {
                            TimelineKind::RunFailed
                        } else {
                            TimelineKind::RunExited
                        };
                        let text = match &run.failure {
                            Some(failure) => format!("{pid} failed: {failure}"),
                            None => exit_text(pid, status),
                        };
                        self.timeline.push(now, kind, text);
                    }
                }
                let on_its_own = matches!(
                    old,
                    Some(RunState::Starting | RunState::Running | RunState::HotSwapped)
                ) && !self.user_stopped.contains(&pid)
                    && self.quit == QuitState::Running
                    && !self.shutting_down;
                if on_its_own && self.options.notifications {
                    let trainer = run.trainer_name.as_deref().unwrap_or("run");
                    let outcome = if failed {
                        format!("{trainer} ({pid}) {how}")
                    } else {
                        format!("{trainer} ({pid}) completed")
                    };
                    self.notifications.push(outcome);
                }
                self.user_stopped.remove(&pid);
            }
        }
    }

    /// A run newly behind the build: the timeline says so, and under `ask` the user is asked.
    fn on_held_change(&mut self, run: &RunInfo, was_behind: bool) {
        let pid = run.pid;
        match (&run.pending_config, was_behind) {
            (Some(_), false) => {
                let what = format::pending_changes(run);
                self.timeline.push(
                    self.now,
                    TimelineKind::Warn,
                    format!("{pid} config change held ({what}): R restarts it"),
                );
                if self.on_config_change == ConfigChangePolicy::Ask {
                    if self.confirm.is_none() && self.cloud_confirm.is_none() {
                        self.confirm = Some(confirmations::config_changed(run));
                    } else if !self.deferred_asks.contains(&pid) {
                        // One question at a time: this one comes when the open one is answered.
                        self.deferred_asks.push(pid);
                    }
                }
            }
            (None, true) => {
                self.timeline.push(
                    self.now,
                    TimelineKind::Info,
                    format!("{pid} back on the build's config"),
                );
                // The question is moot once the change is reverted (or taken).
                self.deferred_asks.retain(|p| *p != pid);
                if self
                    .confirm
                    .as_ref()
                    .is_some_and(|c| matches!(c.on_yes, Command::RestartRun { pid: p } if p == pid))
                {
                    self.confirm = None;
                }
            }
            _ => {}
        }
    }

    /// Ask the config-change question that waited for another one, if its run is still live
    /// and still behind the build.
    pub(crate) fn ask_deferred(&mut self) {
        if self.confirm.is_some() || self.cloud_confirm.is_some() {
            return;
        }
        while !self.deferred_asks.is_empty() {
            let pid = self.deferred_asks.remove(0);
            let waiting = self
                .runs
                .iter()
                .find(|r| r.pid == pid && is_live(r) && r.pending_config.is_some())
                .cloned();
            if let Some(run) = waiting {
                self.confirm = Some(confirmations::config_changed(&run));
                return;
            }
        }
    }

    /// The user answered the open question: yes hands back its command.
    pub fn answer(&mut self, answer: Answer) -> Option<Command> {
        let confirm = self.confirm.take()?;
        let question = confirm.question.clone();
        let answered = confirm.answer(answer);
        self.ask_deferred();
        let Some(command) = answered else {
            self.say(NoticeLevel::Info, format!("cancelled: {question}"));
            return None;
        };
        match &command {
            Command::StopRun { pid, force } => {
                self.user_stopped.insert(*pid);
                let text = if *force {
                    format!("killing run {pid}")
                } else {
                    format!("run {pid} stops at its next checkpoint")
                };
                self.say_about(*pid, NoticeLevel::Warn, text);
            }
            Command::RestartRun { pid } => {
                self.user_stopped.insert(*pid);
                self.say_about(
                    *pid,
                    NoticeLevel::Info,
                    format!("run {pid} restarts with the new config after its next checkpoint"),
                );
            }
            Command::StartRun { .. } => self.say(NoticeLevel::Info, "starting a run…"),
            _ => {}
        }
        Some(command)
    }

    fn select(&mut self, pid: Option<u32>) {
        if self.selected != pid {
            self.selected = pid;
            self.log_view.reset_position();
        }
    }

    /// Keep the selection on an existing run; default to the newest live run.
    fn fix_selection(&mut self) {
        if self
            .selected
            .is_some_and(|pid| self.runs.iter().any(|r| r.pid == pid))
        {
            return;
        }
        let pick = self
            .runs
            .iter()
            .rev()
            .find(|r| is_live(r))
            .or(self.runs.last())
            .map(|r| r.pid);
        self.select(pick);
    }

    fn bounds(&self) -> LogBounds {
        match self.selected {
            Some(pid) => LogBounds::read(&self.logs, pid),
            None => LogBounds::default(),
        }
    }

    fn say(&mut self, level: NoticeLevel, text: impl Into<String>) {
        self.message = Some((level, text.into()));
        self.message_run = None;
    }

    /// A footer message about one run (cleared when that run's state changes).
    fn say_about(&mut self, pid: u32, level: NoticeLevel, text: impl Into<String>) {
        self.say(level, text);
        self.message_run = Some(pid);
    }

    /// A StartRun finished (the loop awaits the engine's reply and hands it here).
    pub fn run_start_result(&mut self, result: Result<u32, StartRunError>) {
        match result {
            Ok(pid) => {
                self.select(Some(pid));
                self.say(NoticeLevel::Info, format!("started run {pid}"));
            }
            Err(e) => {
                self.timeline
                    .push(self.now, TimelineKind::Warn, e.to_string());
                self.say(NoticeLevel::Error, e.to_string());
            }
        }
    }

    /// Apply a user action; the returned command (if any) goes to the engine.
    pub fn handle_action(&mut self, action: Action) -> Option<Command> {
        if !matches!(action, Action::Redraw) {
            self.message = None;
            self.alert = None;
        }
        if let Some(command) = self.handle_cloud_view_action(&action) {
            return command;
        }
        match action {
            // The help overlay takes the scroll keys while it is open.
            Action::ScrollUp(n) if self.help_open => {
                self.help_scroll = self.help_scroll.saturating_sub(n);
            }
            Action::ScrollDown(n) if self.help_open => {
                self.help_scroll = self.help_scroll.saturating_add(n);
            }
            Action::Rebuild => return Some(Command::Rebuild),
            Action::StartRun => {
                if self.shutting_down || self.quit != QuitState::Running {
                    self.say(NoticeLevel::Warn, "shutting down: no new runs");
                    return None;
                }
                let live = self.live_runs();
                if live > 0 {
                    self.confirm = Some(confirmations::start_another(live));
                    return None;
                }
                self.say(NoticeLevel::Info, "starting a run…");
                return Some(Command::StartRun {
                    origin: RunOrigin::Engine,
                    reply: None,
                });
            }
            Action::StopRun { force: true } => {
                self.selected_live_pid()?;
                let run = self.selected_run()?.clone();
                self.confirm = Some(confirmations::force_stop(&run));
            }
            Action::StopRun { force: false } => {
                let pid = self.selected_live_pid()?;
                self.user_stopped.insert(pid);
                self.say_about(
                    pid,
                    NoticeLevel::Info,
                    format!("run {pid} stops at its next checkpoint (X kills it now)"),
                );
                return Some(Command::StopRun { pid, force: false });
            }
            Action::RestartRun => {
                let Some(run) = self.selected_run().cloned() else {
                    self.say(NoticeLevel::Warn, "no run selected (s starts one)");
                    return None;
                };
                let pid = run.pid;
                if !is_live(&run) {
                    if self.shutting_down || self.quit != QuitState::Running {
                        self.say(NoticeLevel::Warn, "shutting down: no new runs");
                        return None;
                    }
                    self.say(NoticeLevel::Info, format!("starting run {pid} again"));
                    return Some(Command::RestartRun { pid });
                }
                self.user_stopped.insert(pid);
                let text = if run.pending_config.is_some() {
                    format!("run {pid} restarts with the new config after its next checkpoint")
                } else {
                    format!("run {pid} restarts after its next checkpoint")
                };
                self.say_about(pid, NoticeLevel::Info, text);
                return Some(Command::RestartRun { pid });
            }
            Action::CycleConfigPolicy => {
                let next = self.on_config_change.next();
                self.on_config_change = next;
                let what = match next {
                    ConfigChangePolicy::Restart => {
                        "config changes restart runs (early stop, then the new config)"
                    }
                    ConfigChangePolicy::Ask => "config changes ask before restarting a run",
                    ConfigChangePolicy::Hold => {
                        "config changes are held: runs keep their config (≠), R restarts"
                    }
                };
                self.say(
                    NoticeLevel::Info,
                    format!("on a config change: {next}: {what}"),
                );
                return Some(Command::SetConfigChangePolicy(next));
            }
            Action::ClearLogs => {
                let Some(pid) = self.selected else {
                    self.say(NoticeLevel::Warn, "no run selected");
                    return None;
                };
                self.log_view.reset_position();
                return Some(Command::ClearLogs { pid });
            }
            Action::SelectPrev | Action::SelectNext => {
                let index = self
                    .selected
                    .and_then(|pid| self.runs.iter().position(|r| r.pid == pid));
                let next = match (index, action == Action::SelectNext) {
                    (None, _) => self.runs.len().checked_sub(1),
                    (Some(i), true) => Some((i + 1).min(self.runs.len().saturating_sub(1))),
                    (Some(i), false) => Some(i.saturating_sub(1)),
                };
                let pid = next.and_then(|i| self.runs.get(i)).map(|r| r.pid);
                self.select(pid);
            }
            Action::FocusLogs => self.focus = Focus::Logs,
            Action::FocusRuns => self.focus = Focus::Runs,
            Action::ToggleFocus => {
                let timeline_shown = self.hit_map.timeline_area.area() > 0;
                self.focus = match self.focus {
                    Focus::Runs => Focus::Logs,
                    Focus::Logs if timeline_shown => Focus::Timeline,
                    Focus::Logs | Focus::Timeline => Focus::Runs,
                }
            }
            Action::ToggleTimestamps => {
                self.log_view.timestamps = !self.log_view.timestamps;
            }
            Action::ToggleZoom => {
                self.zoomed = !self.zoomed;
                if self.zoomed {
                    self.focus = Focus::Logs;
                }
            }
            Action::ScrollUp(n) if self.log_view.selection.is_some() => {
                let b = self.bounds();
                self.log_view.move_selection(-i64::from(n), b);
            }
            Action::ScrollDown(n) if self.log_view.selection.is_some() => {
                let b = self.bounds();
                self.log_view.move_selection(i64::from(n), b);
            }
            Action::SelectLines => self.toggle_selection(),
            Action::CopySelection => self.copy_selection(),
            Action::ScrollUp(n) if self.focus == Focus::Timeline => {
                self.scroll_timeline(i64::from(n))
            }
            Action::ScrollDown(n) if self.focus == Focus::Timeline => {
                self.scroll_timeline(-i64::from(n));
            }
            Action::PageUp if self.focus == Focus::Timeline => self.scroll_timeline(5),
            Action::PageDown if self.focus == Focus::Timeline => self.scroll_timeline(-5),
            Action::ScrollTop if self.focus == Focus::Timeline => self.scroll_timeline(i64::MAX),
            Action::ScrollBottom if self.focus == Focus::Timeline => self.timeline_scroll = 0,
            Action::ScrollUp(n) => {
                let b = self.bounds();
                self.log_view.scroll_up(u64::from(n), b);
            }
            Action::ScrollDown(n) => {
                let b = self.bounds();
                self.log_view.scroll_down(u64::from(n), b);
            }
            Action::PageUp => {
                let b = self.bounds();
                self.log_view.page_up(b);
            }
            Action::PageDown => {
                let b = self.bounds();
                self.log_view.page_down(b);
            }
            Action::ScrollTop => {
                let b = self.bounds();
                self.log_view.scroll_to_oldest(b);
            }
            Action::ScrollBottom => self.log_view.scroll_to_newest(),
            Action::ToggleFollow => {
                let b = self.bounds();
                self.log_view.toggle_follow(b);
            }
            Action::ToggleWrap => {
                self.log_view.wrap = !self.log_view.wrap;
                self.log_view.hscroll = 0;
            }
            Action::ScrollLeft => {
                self.log_view.hscroll = self.log_view.hscroll.saturating_sub(HSCROLL_STEP);
            }
            Action::ScrollRight if !self.log_view.wrap => {
                self.log_view.hscroll = self.log_view.hscroll.saturating_add(HSCROLL_STEP);
            }
            Action::ScrollRight => self.say(
                NoticeLevel::Info,
                "lines wrap: press w to truncate and scroll sideways",
            ),
            Action::SearchOpen => {
                let search = &mut self.log_view.search;
                search.editing = true;
                search.input = search.query.clone();
            }
            Action::SearchInput(c) => self.log_view.search.input.push(c),
            Action::SearchBackspace => {
                self.log_view.search.input.pop();
            }
            Action::SearchSubmit => self.submit_search(),
            Action::SearchCancel => self.log_view.search.editing = false,
            Action::SearchClear => {
                let search = &mut self.log_view.search;
                search.query.clear();
                search.current = None;
            }
            Action::SearchNext | Action::SearchPrev => {
                self.step_search(action == Action::SearchNext);
            }
            Action::ToggleHelp => {
                self.help_open = !self.help_open;
                self.help_scroll = 0;
            }
            Action::Answer(answer) => return self.answer(answer),
            Action::Click { column, row } => self.click(column, row),
            Action::Quit => return self.quit_step(),
            Action::Suspend | Action::Redraw => {}
            // The Jobs view's keys, outside it (handled above while it is shown).
            Action::ShowView(_)
            | Action::RefreshJobs
            | Action::OpenJob
            | Action::CloseJob
            | Action::CancelJob
            | Action::OpenPlayground
            | Action::FocusInput
            | Action::LeaveInput
            | Action::Edit(_)
            | Action::SendPrompt
            | Action::StopReply
            | Action::ClearChat
            | Action::CopyChat
            | Action::UseBaseModel
            | Action::Endpoint(_) => {}
        }
        None
    }

    fn selected_live_pid(&mut self) -> Option<u32> {
        let Some(run) = self.selected_run() else {
            self.say(NoticeLevel::Warn, "no run selected (s starts one)");
            return None;
        };
        if !is_live(run) {
            let pid = run.pid;
            self.say(
                NoticeLevel::Warn,
                format!("run {pid} has already exited (s starts a new one)"),
            );
            return None;
        }
        Some(run.pid)
    }

    fn quit_step(&mut self) -> Option<Command> {
        self.help_open = false;
        match self.quit {
            QuitState::Running => {
                if self.live_runs() == 0 {
                    self.quit = QuitState::Leave;
                } else {
                    self.quit = QuitState::Graceful { since: self.now };
                }
                Some(Command::Shutdown { force: false })
            }
            QuitState::Graceful { .. } => {
                self.quit = QuitState::Forced { since: self.now };
                Some(Command::Shutdown { force: true })
            }
            QuitState::Forced { .. } | QuitState::Leave => {
                self.quit = QuitState::Leave;
                None
            }
        }
    }

    fn submit_search(&mut self) {
        let search = &mut self.log_view.search;
        search.editing = false;
        if search.input == search.query && search.is_active() {
            self.step_search(false);
            return;
        }
        let query = std::mem::take(&mut search.input);
        search.set_query(query);
        if self.log_view.search.is_active() {
            // Newest hit first: in a training log the latest occurrence is the interesting one.
            self.step_search(false);
        }
    }

    /// Refresh the hit list (only new lines are scanned) and move to the next/previous hit.
    fn step_search(&mut self, forward: bool) {
        if !self.log_view.search.is_active() {
            self.say(NoticeLevel::Info, "press / to search the log");
            return;
        }
        let Some(pid) = self.selected else { return };
        let view = &mut self.log_view;
        let bounds = self.logs.with(pid, |log| {
            view.search.refresh(log, None);
            LogBounds::of(log)
        });
        let search = &view.search;
        let from = search.current;
        let target = if forward {
            search.next_after(from.or_else(|| Some(view.effective_top(bounds).saturating_sub(1))))
        } else {
            search.prev_before(from)
        };
        match target {
            Some(seq) => {
                view.search.current = Some(seq);
                view.jump_to(seq, bounds);
            }
            None => {
                let query = view.search.query.clone();
                self.say(NoticeLevel::Warn, format!("no match for “{query}”"));
            }
        }
    }

    fn toggle_selection(&mut self) {
        if self.log_view.selection.take().is_some() {
            self.say(NoticeLevel::Info, "selection cancelled");
            return;
        }
        let b = self.bounds();
        let Some(last) = self.log_view.last_visible(b) else {
            self.say(NoticeLevel::Warn, "no log lines to select");
            return;
        };
        self.focus = Focus::Logs;
        self.log_view.selection = Some(crate::tui::logview::Selection {
            anchor: last,
            cursor: last,
        });
        self.say(
            NoticeLevel::Info,
            "selecting log lines: ↑↓ extend, y copies, Esc cancels",
        );
    }

    fn copy_selection(&mut self) {
        let (Some(selection), Some(pid)) = (self.log_view.selection, self.selected) else {
            self.say(
                NoticeLevel::Warn,
                "nothing selected: v selects log lines first",
            );
            return;
        };
        let range = selection.range();
        let text = self.logs.with(pid, |log| {
            let mut scratch = crate::tui::ansi::StyledLine::default();
            let mut text = String::new();
            for line in log.into_iter().flat_map(|l| l.lines()) {
                if range.contains(&line.seq) {
                    text.push_str(crate::tui::ansi::plain_text(&line.text, &mut scratch));
                    text.push('\n');
                }
            }
            text
        });
        let count = text.lines().count();
        self.log_view.selection = None;
        if count == 0 {
            self.say(
                NoticeLevel::Warn,
                "the selected lines are gone (cleared or dropped)",
            );
            return;
        }
        self.copies.push(text);
        self.say(
            NoticeLevel::Info,
            format!(
                "copied {count} line{} to the clipboard (OSC 52)",
                if count == 1 { "" } else { "s" }
            ),
        );
    }

    /// Scroll the timeline back (`by` > 0, older) or forward; the newest entry is the floor.
    fn scroll_timeline(&mut self, by: i64) {
        let max = self.timeline.len().saturating_sub(1);
        let now = i64::try_from(self.timeline_scroll).unwrap_or(i64::MAX);
        let next = now.saturating_add(by).max(0);
        self.timeline_scroll = usize::try_from(next).unwrap_or(max).min(max);
    }

    fn click(&mut self, column: u16, row: u16) {
        let at = ratatui::layout::Position { x: column, y: row };
        if let Some(&(_, pid)) = self.hit_map.run_rows.iter().find(|(y, _)| *y == row) {
            self.focus = Focus::Runs;
            self.select(Some(pid));
        } else if self.hit_map.logs_area.contains(at) {
            self.focus = Focus::Logs;
        } else if self.hit_map.runs_area.contains(at) {
            self.focus = Focus::Runs;
        } else if self.hit_map.timeline_area.contains(at) {
            self.focus = Focus::Timeline;
        }
    }
}

/// `exited 0`, `failed, exit 1`, `killed by SIGKILL`.
fn exit_how(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Code(0) => "exited 0".to_string(),
        ExitStatus::Code(c) => format!("failed, exit {c}"),
        ExitStatus::Signal(n) => format!("killed by {}", format::signal_name(*n)),
    }
}

/// A run's exit line in the timeline before its outcome is known.
fn exit_text(pid: u32, status: &ExitStatus) -> String {
    format!("{pid} {}", exit_how(status))
}

fn outcome_kind(outcome: &RunOutcome) -> TimelineKind {
    match outcome.kind {
        OutcomeKind::Completed => TimelineKind::RunCompleted,
        OutcomeKind::StoppedAtCheckpoint { .. } => TimelineKind::RunExited,
        OutcomeKind::Replaced { .. } => TimelineKind::Restart,
        OutcomeKind::Exited {
            status: ExitStatus::Code(0),
        } => TimelineKind::RunExited,
        OutcomeKind::Failed { .. } | OutcomeKind::Killed { .. } | OutcomeKind::Exited { .. } => {
            TimelineKind::RunFailed
        }
    }
}

pub fn is_live(run: &RunInfo) -> bool {
    !matches!(run.state, RunState::Exited { .. })
}
