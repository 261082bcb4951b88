//! The real event loop on a TestBackend, driven through a detached engine: the test plays
//! the engine (publishes events, answers commands) and the terminal (sends key events). On
//! paused tokio time: the frame pacing and every wait run on the virtual clock, so nothing
//! here depends on how busy the machine is (key latency under load is the benchmark's).

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arkor_tui::core::engine::{
    BuildStatus, Command, DetachedEngine, EngineHandle, EngineSnapshot, RunHandle,
};
use arkor_tui::core::events::{EngineEvent, ExitStatus, RunInfo, RunState};
use arkor_tui::core::logs::LogStream;
use arkor_tui::tui::{App, ExitReason, MIN_FRAME_INTERVAL, TerminalHost, event_loop};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::support::*;

/// Virtual time: only catches a loop that never answers.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Records what the loop would write to a real terminal between frames.
#[derive(Clone, Default)]
struct RecordingHost {
    notifications: Arc<Mutex<Vec<String>>>,
}

impl TerminalHost<TestBackend> for RecordingHost {
    fn suspend(&mut self, _terminal: &mut Terminal<TestBackend>) -> io::Result<()> {
        Ok(())
    }

    fn notify(&mut self, _terminal: &mut Terminal<TestBackend>, escape: &str) -> io::Result<()> {
        self.notifications
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(escape.to_string());
        Ok(())
    }
}

struct Harness {
    /// What the engine would report in its snapshot (kept in step with published runs).
    snapshot: EngineSnapshot,
    keys: futures::channel::mpsc::UnboundedSender<io::Result<Event>>,
    signals: mpsc::UnboundedSender<i32>,
    engine: DetachedEngine,
    host: RecordingHost,
    task: JoinHandle<(anyhow::Result<ExitReason>, Terminal<TestBackend>, App)>,
}

impl Harness {
    fn start(snapshot: EngineSnapshot) -> Self {
        let (handle, engine) = EngineHandle::detached(project());
        engine.set_snapshot(snapshot.clone());
        let events = handle.subscribe();
        let mut app = App::new(
            "~/demo",
            handle.logs().clone(),
            handle.snapshot(),
            options(true),
            at(300),
        );
        let (keys, key_rx) = futures::channel::mpsc::unbounded();
        let (signals, signal_rx) = mpsc::unbounded_channel();
        let host = RecordingHost::default();
        let mut loop_host = host.clone();
        let task = tokio::spawn(async move {
            let mut terminal = Terminal::new(TestBackend::new(100, 24)).expect("test backend");
            let result = event_loop(
                &mut terminal,
                &mut loop_host,
                &handle,
                &mut app,
                key_rx,
                events,
                signal_rx,
            )
            .await;
            (result, terminal, app)
        });
        Self {
            snapshot,
            keys,
            signals,
            engine,
            host,
            task,
        }
    }

    fn code(&self, code: KeyCode) {
        let _ = self
            .keys
            .unbounded_send(Ok(Event::Key(KeyEvent::new(code, KeyModifiers::NONE))));
    }

    fn key(&self, c: char) {
        let _ = self.keys.unbounded_send(Ok(Event::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        ))));
    }

    fn publish(&self, event: EngineEvent) {
        let _ = self.engine.shared.events.send(event);
    }

    /// As the engine does: update the snapshot, then publish the change.
    fn publish_run(&mut self, run: RunInfo) {
        let run = Arc::new(run);
        match self.snapshot.runs.iter_mut().find(|r| r.pid == run.pid) {
            Some(slot) => *slot = run.clone(),
            None => self.snapshot.runs.push(run.clone()),
        }
        self.engine.set_snapshot(self.snapshot.clone());
        self.publish(EngineEvent::Run(run));
    }

    async fn command(&mut self) -> Command {
        tokio::time::timeout(TIMEOUT, self.engine.commands.recv())
            .await
            .expect("a command within the timeout")
            .expect("command channel open")
    }

    async fn finish(self) -> (ExitReason, Terminal<TestBackend>, App) {
        let (result, terminal, app) = tokio::time::timeout(TIMEOUT, self.task)
            .await
            .expect("the loop ends within the timeout")
            .expect("loop task did not panic");
        (result.expect("loop result"), terminal, app)
    }
}

fn one_live_run() -> EngineSnapshot {
    snapshot(BuildStatus::Ok, vec![run(500, RunState::Running)])
}

#[tokio::test(start_paused = true)]
async fn quit_twice_early_stops_then_forces_and_exits_when_runs_are_gone() {
    let mut h = Harness::start(one_live_run());
    h.key('q');
    assert!(matches!(
        h.command().await,
        Command::Shutdown { force: false }
    ));
    h.publish(EngineEvent::ShuttingDown);
    h.publish_run(RunInfo {
        state_since: at(300),
        kill_deadline: Some(at(600)),
        ..run(500, RunState::EarlyStopping)
    });
    h.key('q');
    assert!(matches!(
        h.command().await,
        Command::Shutdown { force: true }
    ));
    h.publish_run(exited(500, ExitStatus::Signal(9)));
    let (reason, _, app) = h.finish().await;
    assert_eq!(reason, ExitReason::ForceQuit);
    assert_eq!(app.live_runs(), 0);
}

#[tokio::test(start_paused = true)]
async fn graceful_quit_waits_for_the_checkpoint() {
    let mut h = Harness::start(one_live_run());
    h.key('q');
    assert!(matches!(
        h.command().await,
        Command::Shutdown { force: false }
    ));
    h.publish(EngineEvent::ShuttingDown);
    h.publish_run(RunInfo {
        state_since: at(300),
        ..run(500, RunState::EarlyStopping)
    });
    // Still waiting for the run: the loop must not have ended.
    let mut task = h.task;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut task)
            .await
            .is_err(),
        "the TUI left while a run was still early-stopping"
    );
    h.task = task;
    h.publish_run(exited(500, ExitStatus::Code(0)));
    h.publish(EngineEvent::Stopped);
    let notifications = h.host.notifications.clone();
    let (reason, terminal, _) = h.finish().await;
    assert_eq!(reason, ExitReason::Quit);
    let screen = text(terminal.backend().buffer());
    // The last frame shows the quit in progress (which phase depends on frame timing).
    assert!(
        screen.contains("quitting: 1 run early-stopping") || screen.contains("every run stopped"),
        "{screen}"
    );
    assert!(notifications.lock().map(|n| n.is_empty()).unwrap_or(false));
}

#[tokio::test(start_paused = true)]
async fn a_signal_ends_the_dashboard_and_leaves_the_shutdown_to_the_signals_owner() {
    let Harness {
        signals,
        mut engine,
        task,
        keys: _keys,
        ..
    } = Harness::start(one_live_run());
    let _ = signals.send(libc::SIGTERM);
    let (result, _, _) = tokio::time::timeout(TIMEOUT, task)
        .await
        .expect("the loop ends within the timeout")
        .expect("loop task did not panic");
    assert_eq!(
        result.expect("loop result"),
        ExitReason::Signal(libc::SIGTERM)
    );
    // The owner of the process's signals asked the engine already; one request, not two.
    let sent = engine.commands.try_recv();
    assert!(sent.is_err(), "{sent:?}");
}

#[tokio::test(start_paused = true)]
async fn a_run_that_ends_on_its_own_rings_the_bell() {
    let mut h = Harness::start(one_live_run());
    h.publish_run(exited(500, ExitStatus::Code(0)));
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let notes = loop {
        let notes = h
            .host
            .notifications
            .lock()
            .map(|n| n.clone())
            .unwrap_or_default();
        if !notes.is_empty() || tokio::time::Instant::now() > deadline {
            break notes;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(notes.len(), 1);
    assert!(notes[0].starts_with('\u{7}'), "bell first");
    assert!(notes[0].contains("\u{1b}]9;arkor: alpaca-lora (500) completed\u{7}"));
    assert!(notes[0].contains("\u{1b}]777;notify;arkor;alpaca-lora (500) completed\u{7}"));
    h.key('q');
    let (reason, _, _) = h.finish().await;
    assert_eq!(reason, ExitReason::Quit);
}

#[tokio::test(start_paused = true)]
async fn start_key_sends_a_start_with_a_reply_channel() {
    let mut h = Harness::start(snapshot(BuildStatus::Ok, vec![]));
    h.key('s');
    let Command::StartRun {
        reply: Some(reply), ..
    } = h.command().await
    else {
        panic!("expected StartRun with a reply channel");
    };
    let _ = reply.send(Ok(RunHandle {
        pid: 4242,
        output: None,
    }));
    h.publish_run(run(4242, RunState::Starting));
    h.publish_run(exited(4242, ExitStatus::Code(1)));
    // Engine-side shutdown: the loop ends after folding every event published before it.
    h.publish(EngineEvent::ShuttingDown);
    h.publish(EngineEvent::Stopped);
    let (reason, _, app) = h.finish().await;
    assert_eq!(reason, ExitReason::EngineShutDown);
    assert_eq!(app.selected, Some(4242));
}

#[tokio::test(start_paused = true)]
async fn idle_dashboard_draws_once_and_sleeps() {
    let h = Harness::start(snapshot(
        BuildStatus::Ok,
        vec![exited(1, ExitStatus::Code(0))],
    ));
    tokio::time::sleep(Duration::from_millis(400)).await;
    h.key('q');
    let (reason, mut terminal, _) = h.finish().await;
    assert_eq!(reason, ExitReason::Quit);
    assert_eq!(terminal.get_frame().count(), 1, "no frame without a change");
}

#[tokio::test(start_paused = true)]
async fn a_log_flood_becomes_one_frame_per_interval_and_keys_still_get_through() {
    let mut h = Harness::start(one_live_run());
    // An active search must not make the flood slow either (it is scanned in slices).
    h.key('/');
    for c in "step 99".chars() {
        h.key(c);
    }
    h.code(KeyCode::Enter);
    let logs = h.engine.shared.logs.clone();
    let events = h.engine.shared.events.clone();
    // 600 ms of virtual time, 1000 lines every millisecond.
    let flood_for = Duration::from_millis(600);
    let flood = tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let mut lines = 0u64;
        while started.elapsed() < flood_for {
            logs.push_many(
                500,
                (0..1000).map(|i| {
                    (
                        LogStream::Stdout,
                        format!("\u{1b}[32mstep\u{1b}[0m {i} loss=0.1"),
                    )
                }),
            );
            lines += 1000;
            let _ = events.send(EngineEvent::Logs { pid: 500 });
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        lines
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    h.key('r');
    assert!(matches!(h.command().await, Command::Rebuild));
    let lines = flood.await.expect("flood task");
    h.publish_run(exited(500, ExitStatus::Code(0)));
    h.key('q');
    // Play the engine's side of the quit (the key may overtake the exit event).
    assert!(matches!(
        h.command().await,
        Command::Shutdown { force: false }
    ));
    h.publish(EngineEvent::ShuttingDown);
    h.publish(EngineEvent::Stopped);
    let (_, mut terminal, _) = h.finish().await;
    let frames = terminal.get_frame().count();
    eprintln!("flood: {lines} lines in {flood_for:?} (virtual), {frames} frames");
    // At most one frame per MIN_FRAME_INTERVAL (+ the first and the last frames).
    let budget = (flood_for.as_millis() / MIN_FRAME_INTERVAL.as_millis()) as usize + 3;
    assert!(
        frames <= budget,
        "{frames} frames for a {flood_for:?} flood (budget {budget})"
    );
    assert!(frames >= 2, "the flood was shown");
}

#[tokio::test(start_paused = true)]
async fn events_are_stamped_when_they_arrive_not_at_the_last_frame() {
    let h = Harness::start(snapshot(BuildStatus::Ok, vec![]));
    // Let the first frame be drawn, then stay idle: no frame stamps the clock in between.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = std::time::SystemTime::now();
    h.publish(EngineEvent::Notice {
        level: arkor_tui::core::events::NoticeLevel::Info,
        message: "inspector restarted".into(),
    });
    h.publish(EngineEvent::Stopped);
    let (_, _, app) = h.finish().await;
    let entry = app.timeline.entries().back().expect("timeline entry");
    assert_eq!(entry.text, "inspector restarted");
    assert!(
        entry.at >= before,
        "stamped {:?} before it arrived",
        entry.at
    );
}
