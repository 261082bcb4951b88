//! The ratatui dashboard (`arkor tui`).
//!
//! One task `select!`s over terminal input, engine events, signals and a timer that exists
//! only while something on screen animates (uptime, countdowns). It draws only when the state
//! changed, at most once per [`MIN_FRAME_INTERVAL`], so a flood of log lines becomes one frame
//! and idle costs nothing. The dashboard only sends engine [`Command`]s; it never signals a
//! child itself.
//!
//! Wiring (`cli/dev.rs`): start the engine, then
//! `let exit = tui::run(handle, AppOptions::from_env() /* + server_url, hints */, feed).await?`
//! with the [`SignalFeed`] of the process's signal owner (which asks the engine to shut down
//! on a signal; the dashboard only leaves), then wait for the engine task to end and print
//! `exit.summary_lines()`. Install no tracing subscriber that writes to the terminal while
//! the dashboard runs (arkor logs to `<project>/.arkor/tui.log`).

pub mod action;
pub mod ansi;
pub mod app;
pub mod chart_data;
pub mod clipboard;
pub mod cloud_tasks;
pub mod confirmations;
pub mod format;
pub mod keymap;
pub mod logview;
pub mod notify;
pub mod popup;
pub mod terminal;
pub mod theme;
pub mod timeline;
mod ui;
pub mod views;

use std::io::{self, IsTerminal};
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use crossterm::event::Event;
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

use crate::core::engine::{Command, EngineHandle, RunHandle, StartRunError};
use crate::core::events::{EngineEvent, NoticeLevel, RunInfo};

pub use action::Action;
pub use app::{App, AppOptions, QuitState};
pub use ui::{MIN_FRAME_INTERVAL, render};

/// Engine events folded into the state before a frame is considered.
const MAX_EVENTS_PER_BATCH: usize = 8192;

/// The shutdown signals as the dashboard sees them. Their owner (the caller) has already
/// asked the engine to shut down when one arrives; the dashboard only leaves.
pub struct SignalFeed {
    /// Every shutdown signal (or reported hang-up, as SIGHUP), in order.
    pub received: mpsc::UnboundedReceiver<i32>,
    /// Where the dashboard reports that its terminal hung up: a hang-up does not always come
    /// with a SIGHUP for arkor (a wrapper shell may take it).
    pub hang_up: mpsc::UnboundedSender<()>,
}

/// Why the dashboard ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// `q`, and every run stopped at its checkpoint.
    Quit,
    /// `q` twice: runs were force-stopped.
    ForceQuit,
    /// The engine shut down without a quit from this dashboard (signal, another front end).
    EngineShutDown,
    /// The engine's channels closed.
    EngineGone,
    /// SIGTERM / SIGINT / SIGHUP (or a terminal hang-up, as SIGHUP) arrived; the signals'
    /// owner asked the engine to shut down.
    Signal(i32),
    /// The terminal's input ended (the terminal went away).
    InputClosed,
}

#[derive(Clone, Debug)]
pub struct TuiExit {
    pub reason: ExitReason,
    /// The last known state of every run, so the caller can print what happened to each.
    pub runs: Vec<Arc<RunInfo>>,
}

impl TuiExit {
    /// One line per run for the shell after the dashboard is gone, so nobody wonders what
    /// happened to a job: `run 700 (alpaca-lora): stopped at its checkpoint (exit 0)`.
    pub fn summary_lines(&self) -> Vec<String> {
        self.runs.iter().map(|run| run.summary_line()).collect()
    }
}

/// What the event loop needs from the real terminal beyond drawing.
pub trait TerminalHost<B: Backend> {
    /// Ctrl-Z: give the terminal back and stop until resumed.
    fn suspend(&mut self, terminal: &mut Terminal<B>) -> io::Result<()>;
    /// Write a notification escape between frames.
    fn notify(&mut self, terminal: &mut Terminal<B>, escape: &str) -> io::Result<()>;
    /// Write a clipboard escape (OSC 52) between frames.
    fn copy(&mut self, terminal: &mut Terminal<B>, escape: &str) -> io::Result<()> {
        self.notify(terminal, escape)
    }
}

struct CrosstermHost {
    /// Running inside tmux: notification escapes need its passthrough wrapper.
    in_tmux: bool,
}

impl TerminalHost<ratatui::backend::CrosstermBackend<terminal::TerminalOut>> for CrosstermHost {
    fn suspend(&mut self, terminal: &mut terminal::CrosstermTerminal) -> io::Result<()> {
        terminal::suspend(terminal)
    }

    fn notify(
        &mut self,
        terminal: &mut terminal::CrosstermTerminal,
        escape: &str,
    ) -> io::Result<()> {
        if self.in_tmux {
            terminal::write_raw(terminal, &notify::for_tmux(escape))
        } else {
            terminal::write_raw(terminal, escape)
        }
    }

    fn copy(&mut self, terminal: &mut terminal::CrosstermTerminal, escape: &str) -> io::Result<()> {
        // tmux handles OSC 52 itself (set-clipboard), no passthrough needed.
        terminal::write_raw(terminal, escape)
    }
}

/// Run the dashboard until the user quits, a signal arrives or the engine ends.
pub async fn run(
    engine: EngineHandle,
    options: AppOptions,
    signals: SignalFeed,
) -> anyhow::Result<TuiExit> {
    let started = Instant::now();
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        anyhow::bail!("arkor tui needs a terminal; use `arkor tui --headless` for plain output");
    }
    // Subscribe before reading the snapshot so nothing falls between them.
    let events = engine.subscribe();
    let hints = options.hints.clone();
    let mut app = App::new(
        project_label(&engine),
        engine.logs().clone(),
        engine.snapshot(),
        options,
        SystemTime::now(),
    );
    // Paths inside the project read relative to it (the header names the project): the
    // timeline is narrow, and `/tmp/arkor-demo-123/src/arkor/trainer.ts` mostly repeats it.
    let root_prefix = format!("{}/", engine.project().root.display());
    for hint in &hints {
        app.apply_event(EngineEvent::Notice {
            level: NoticeLevel::Info,
            message: hint.replace(&root_prefix, ""),
        });
    }
    let hang_up_watch = tokio::spawn(watch_for_hang_up(signals.hang_up));
    let (mut terminal, guard) = terminal::enter().context("could not set up the terminal")?;
    let input = crossterm::event::EventStream::new();
    tracing::info!(
        setup_us = started.elapsed().as_micros() as u64,
        "terminal ready"
    );
    let result = event_loop(
        &mut terminal,
        &mut CrosstermHost {
            in_tmux: std::env::var_os("TMUX").is_some(),
        },
        &engine,
        &mut app,
        input,
        events,
        signals.received,
    )
    .await;
    hang_up_watch.abort();
    drop(guard);
    let reason = result?;
    tracing::info!(?reason, "dashboard ended");
    Ok(TuiExit {
        reason,
        runs: app.runs.clone(),
    })
}

fn project_label(engine: &EngineHandle) -> String {
    let root = &engine.project().root;
    match std::env::var_os("HOME").map(std::path::PathBuf::from) {
        Some(home) if root.starts_with(&home) => match root.strip_prefix(&home) {
            Ok(rest) => format!("~/{}", rest.display()),
            Err(_) => root.display().to_string(),
        },
        _ => root.display().to_string(),
    }
}

/// How often the dashboard checks that its terminal is still there.
const HANGUP_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// A terminal that hangs up is a SIGHUP, whether or not the signal reaches us.
async fn watch_for_hang_up(report: mpsc::UnboundedSender<()>) {
    let mut tick = tokio::time::interval(HANGUP_POLL_INTERVAL);
    while !report.is_closed() {
        tick.tick().await;
        if terminal::hung_up() {
            let _ = report.send(());
            break;
        }
    }
}

/// The dashboard loop, generic over the backend and input so tests can run it on a
/// `TestBackend` with a scripted input stream.
pub async fn event_loop<B, S, H>(
    terminal: &mut Terminal<B>,
    host: &mut H,
    engine: &EngineHandle,
    app: &mut App,
    input: S,
    mut events: broadcast::Receiver<EngineEvent>,
    mut signals: mpsc::UnboundedReceiver<i32>,
) -> anyhow::Result<ExitReason>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    S: Stream<Item = io::Result<Event>>,
    H: TerminalHost<B>,
{
    let mut input = pin!(input);
    let (cloud_replies, mut cloud_rx) = mpsc::unbounded_channel();
    let mut cloud = cloud_tasks::CloudTasks::new(app.options.cloud.clone(), cloud_replies);
    let (started_tx, mut started_rx) = mpsc::unbounded_channel::<Result<u32, StartRunError>>();
    let mut signals_open = true;
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let loop_started = Instant::now();
    loop {
        if app.should_exit() {
            return Ok(exit_reason(app));
        }
        app.tick_cloud();
        for request in app.take_cloud_requests() {
            cloud.run(request);
        }
        if dirty && last_draw.is_none_or(|t| t.elapsed() >= MIN_FRAME_INTERVAL) {
            app.now = SystemTime::now();
            terminal.draw(|frame| render(app, frame))?;
            if last_draw.is_none() {
                tracing::info!(
                    after_us = loop_started.elapsed().as_micros() as u64,
                    "first frame drawn"
                );
            }
            last_draw = Some(Instant::now());
            dirty = false;
            for text in app.take_copies() {
                if let Err(e) = host.copy(terminal, &clipboard::osc52(&text)) {
                    tracing::warn!("clipboard escape not written: {e}");
                }
            }
            for message in app.take_notifications() {
                let escape = notify::notification_escape("arkor", &message);
                if let Err(e) = host.notify(terminal, &escape) {
                    tracing::warn!("notification not written: {e}");
                }
            }
            if app.should_exit() {
                return Ok(exit_reason(app));
            }
        }
        // Wake for a deferred frame, or when the screen changes by itself.
        let wake = match (dirty, last_draw) {
            (true, Some(t)) => Some(t + MIN_FRAME_INTERVAL),
            (false, Some(t)) => app.next_change().map(|d| t + d),
            (_, None) => None,
        };
        tokio::select! {
            biased;
            next = input.next() => match next {
                Some(Ok(event)) => {
                    // Timeline entries and quit countdowns are stamped with the App's clock.
                    app.now = SystemTime::now();
                    dirty |= handle_input(terminal, host, engine, app, event, &started_tx)?;
                }
                Some(Err(e)) => {
                    tracing::warn!("terminal input error: {e}");
                    return Ok(ExitReason::InputClosed);
                }
                None => return Ok(ExitReason::InputClosed),
            },
            signal = signals.recv(), if signals_open => match signal {
                Some(number) => return Ok(ExitReason::Signal(number)),
                None => signals_open = false,
            },
            received = events.recv() => {
                app.now = SystemTime::now();
                dirty |= fold_event(app, engine, received);
                // Drain what is already queued so a burst becomes one frame.
                for _ in 0..MAX_EVENTS_PER_BATCH {
                    match events.try_recv() {
                        Ok(event) => dirty |= app.apply_event(event),
                        Err(broadcast::error::TryRecvError::Empty) => break,
                        Err(broadcast::error::TryRecvError::Lagged(_)) => {
                            app.sync(engine.snapshot());
                            dirty = true;
                        }
                        Err(broadcast::error::TryRecvError::Closed) => {
                            app.engine_gone = true;
                            break;
                        }
                    }
                }
            },
            Some(reply) = cloud_rx.recv() => {
                app.now = SystemTime::now();
                dirty |= app.apply_cloud_reply(reply);
            },
            Some(result) = started_rx.recv() => {
                app.now = SystemTime::now();
                app.run_start_result(result);
                dirty = true;
            },
            _ = sleep_until_opt(wake), if wake.is_some() => dirty = true,
        }
    }
}

fn fold_event(
    app: &mut App,
    engine: &EngineHandle,
    received: Result<EngineEvent, broadcast::error::RecvError>,
) -> bool {
    match received {
        Ok(event) => app.apply_event(event),
        Err(broadcast::error::RecvError::Lagged(missed)) => {
            tracing::debug!(missed, "engine events lagged; resyncing from the snapshot");
            app.sync(engine.snapshot());
            true
        }
        Err(broadcast::error::RecvError::Closed) => {
            app.engine_gone = true;
            true
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn exit_reason(app: &App) -> ExitReason {
    match app.quit {
        _ if app.engine_gone => ExitReason::EngineGone,
        QuitState::Forced { .. } => ExitReason::ForceQuit,
        QuitState::Graceful { .. } | QuitState::Leave => ExitReason::Quit,
        QuitState::Running => ExitReason::EngineShutDown,
    }
}

/// One terminal event. Returns whether the screen needs a redraw.
fn handle_input<B, H>(
    terminal: &mut Terminal<B>,
    host: &mut H,
    engine: &EngineHandle,
    app: &mut App,
    event: Event,
    started_tx: &mpsc::UnboundedSender<Result<u32, StartRunError>>,
) -> anyhow::Result<bool>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    H: TerminalHost<B>,
{
    let action = match event {
        Event::Key(key) => keymap::map_key(key, app.key_context()),
        Event::Mouse(mouse) => keymap::map_mouse(mouse),
        Event::Paste(text) => keymap::map_paste(text, app.key_context()),
        Event::Resize(..) | Event::FocusGained => return Ok(true),
        _ => None,
    };
    let Some(action) = action else {
        return Ok(false);
    };
    match action {
        Action::Suspend => {
            host.suspend(terminal)?;
            terminal.clear()?;
        }
        Action::Redraw => terminal.clear()?,
        _ => {}
    }
    if let Some(command) = app.handle_action(action) {
        let command = attach_start_reply(command, started_tx);
        if !engine.send(command) {
            app.engine_gone = true;
        }
    }
    Ok(true)
}

/// A StartRun from a key gets a reply channel so the pid (or the reason it failed) shows up.
fn attach_start_reply(
    command: Command,
    started_tx: &mpsc::UnboundedSender<Result<u32, StartRunError>>,
) -> Command {
    match command {
        Command::StartRun {
            origin,
            reply: None,
        } => {
            let (tx, rx) = oneshot::channel::<Result<RunHandle, StartRunError>>();
            let started_tx = started_tx.clone();
            tokio::spawn(async move {
                let result = rx
                    .await
                    .unwrap_or(Err(StartRunError::ShuttingDown))
                    .map(|handle| handle.pid);
                let _ = started_tx.send(result);
            });
            Command::StartRun {
                origin,
                reply: Some(tx),
            }
        }
        other => other,
    }
}
