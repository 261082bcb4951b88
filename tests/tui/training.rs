//! Training progress on screen: the runs table's training columns, the progress line and the
//! loss chart of the selected run (checkpoints, hot-swap and stop markers, a restart's
//! predecessor beside it), with metrics built the way the engine builds them: from job events.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arkor_tui::core::cloud::job_events::{
    FollowerUpdate, JobEvent, JobEventKind, StreamError, StreamHealth, TrainingLog,
};
use arkor_tui::core::engine::BuildStatus;
use arkor_tui::core::events::{EngineEvent, ExitStatus, RunInfo, RunState};
use arkor_tui::core::logs::LogStore;
use arkor_tui::core::training::{
    FinalMetrics, MarkerKind, OutcomeKind, RunMetrics, RunOutcome, SharedMetrics,
};

use crate::support::*;

/// Metrics after `steps` steps at two steps per second of the cloud's clock (ending at
/// `at(300)`, the screens' clock): a loss falling from about 2.4, an eval loss every 25 steps,
/// a checkpoint every 40.
fn trained(steps: u64, max_steps: Option<u64>, floor: f64) -> SharedMetrics {
    let metrics = SharedMetrics::new(RunMetrics::new(max_steps));
    let start = at(300) - Duration::from_millis(steps * 500);
    let time = |step: u64| start + Duration::from_millis(step * 500);
    metrics.write(|m| {
        m.apply_event(&JobEvent {
            kind: JobEventKind::Started,
            at: start,
        });
        for step in 1..=steps {
            let loss = floor + 2.1 * (-(step as f64) / 40.0).exp() + 0.05 * (step as f64).sin();
            let eval_loss = step.is_multiple_of(25).then_some(loss + 0.15);
            m.apply_event(&event(
                JobEventKind::Log(TrainingLog {
                    loss: Some(loss),
                    eval_loss,
                    learning_rate: Some(2e-4),
                    ..TrainingLog::at_step(step)
                }),
                time(step),
            ));
            if step.is_multiple_of(40) {
                m.apply_event(&event(JobEventKind::CheckpointSaved { step }, time(step)));
            }
        }
    });
    metrics
}

fn event(kind: JobEventKind, at: SystemTime) -> JobEvent {
    JobEvent { kind, at }
}

fn selected(runs: Vec<RunInfo>, pid: u32) -> arkor_tui::tui::App {
    let mut app = app(LogStore::new(), snapshot(BuildStatus::Ok, runs));
    app.selected = Some(pid);
    app
}

#[test]
fn the_runs_table_shows_step_losses_checkpoint_speed_and_eta() {
    let live = RunInfo {
        metrics: trained(150, Some(200), 0.3),
        ..run(41001, RunState::Running)
    };
    let done = exited(41002, ExitStatus::Code(0));
    let done = RunInfo {
        metrics: trained(200, Some(200), 0.2),
        ..done
    };
    done.metrics.write(|m| {
        m.apply_event(&event(JobEventKind::Completed, at(300)));
        m.conclude(OutcomeKind::Completed);
    });
    let done = RunInfo {
        outcome: done.metrics.outcome(),
        ..done
    };
    // A run without any cloud progress (no job stream) keeps dashes.
    let quiet = run(41003, RunState::Starting);
    let mut app = selected(vec![live, done, quiet], 41001);
    let screen = draw(&mut app, 150, 40);
    insta::assert_snapshot!("training_table", text(&screen));
    let table = text(&screen);
    assert!(table.contains("150/200"), "{table}");
    assert!(table.contains("2.0"), "two steps per second");
    assert!(table.contains("25s"), "50 steps left at 2/s");
}

#[test]
fn the_loss_chart_marks_checkpoints_a_hot_swap_and_a_stop_request() {
    let metrics = trained(90, Some(200), 0.3);
    metrics.write(|m| {
        m.apply_event(&event(
            JobEventKind::Log(TrainingLog {
                loss: Some(f64::NAN),
                eval_loss: Some(f64::INFINITY),
                ..TrainingLog::at_step(91)
            }),
            at(300),
        ));
    });
    // Markers sit at the latest step: hot-swap at 91, then more steps, then a stop request.
    metrics.write(|m| m.mark(MarkerKind::HotSwap, at(300)));
    let more = trained(120, Some(200), 0.3);
    metrics.write(|m| {
        for step in 92..=120 {
            let loss = more.read(|o| o.loss().points().find(|p| p.step == step).map(|p| p.value));
            m.apply_event(&event(
                JobEventKind::Log(TrainingLog {
                    loss,
                    ..TrainingLog::at_step(step)
                }),
                at(300),
            ));
        }
        m.mark(MarkerKind::EarlyStopRequested, at(300));
    });
    let stopping = RunInfo {
        metrics,
        kill_deadline: Some(at(330)),
        state_since: at(290),
        ..run(41001, RunState::EarlyStopping)
    };
    let mut app = selected(vec![stopping], 41001);
    let screen = draw(&mut app, 120, 40);
    insta::assert_snapshot!("loss_chart", text(&screen));
    let shown = text(&screen);
    for needle in [
        "loss · run 41001",
        "hot-swap",
        "stop requested",
        "checkpoint",
        "eval loss",
    ] {
        assert!(shown.contains(needle), "{needle} missing:\n{shown}");
    }
    assert!(!shown.contains("NaN") && !shown.contains("inf"), "{shown}");
}

#[test]
fn after_a_restart_the_predecessors_curve_is_drawn_beside_with_the_config_change() {
    let old = RunInfo {
        metrics: trained(80, Some(200), 0.6),
        ..exited(41001, ExitStatus::Code(0))
    };
    let new = RunInfo {
        metrics: trained(60, Some(200), 0.2),
        restarted_from: restarted(
            41001,
            vec![change("learningRate", Some("0.0002"), Some("0.0001"))],
        ),
        ..run(41002, RunState::Running)
    };
    let mut app = selected(vec![old, new], 41002);
    let screen = draw(&mut app, 140, 40);
    insta::assert_snapshot!("loss_chart_with_predecessor", text(&screen));
    let shown = text(&screen);
    assert!(
        shown.contains("before: learningRate 0.0002 → 0.0001 (run 41001)"),
        "{shown}"
    );
}

#[test]
fn a_run_with_only_unusable_values_has_a_progress_line_and_no_curve() {
    let metrics = SharedMetrics::new(RunMetrics::new(None));
    metrics.write(|m| {
        m.apply_event(&event(
            JobEventKind::Log(TrainingLog {
                loss: Some(f64::NAN),
                eval_loss: None,
                ..TrainingLog::at_step(3)
            }),
            at(300),
        ));
    });
    let running = RunInfo {
        metrics,
        ..run(41001, RunState::Running)
    };
    let mut app = selected(vec![running], 41001);
    let shown = text(&draw(&mut app, 100, 30));
    assert!(shown.contains("\n step 3\n"), "{shown}");
    // The stream is down: the progress line says the numbers are not current.
    app.runs[0].metrics.write(|m| {
        m.apply(FollowerUpdate::Health(StreamHealth::Down {
            error: StreamError::Empty,
        }))
    });
    let shown = text(&draw(&mut app, 100, 30));
    assert!(
        shown.contains(" step 3 · cloud unreachable, retrying"),
        "{shown}"
    );
    assert!(shown.contains("no loss reported yet"), "{shown}");
}

#[test]
fn the_chart_is_read_again_only_when_the_metrics_changed() {
    let running = RunInfo {
        metrics: trained(50, Some(200), 0.3),
        ..run(41001, RunState::Running)
    };
    let metrics = running.metrics.clone();
    let mut app = selected(vec![running.clone()], 41001);
    draw(&mut app, 120, 40);
    draw(&mut app, 120, 40);
    assert_eq!(app.chart.builds(), 1, "an unchanged run is not read again");
    metrics.write(|m| {
        m.apply_event(&event(
            JobEventKind::Log(TrainingLog {
                loss: Some(0.5),
                ..TrainingLog::at_step(51)
            }),
            at(301),
        ))
    });
    assert!(
        app.apply_event(EngineEvent::Training {
            pid: 41001,
            job_id: "job-a029".into(),
            events: Arc::new([]),
        }),
        "new progress of a listed run redraws"
    );
    assert!(
        !app.apply_event(EngineEvent::Training {
            pid: 9,
            job_id: "job-9".into(),
            events: Arc::new([]),
        }),
        "an unknown run's progress does not"
    );
    draw(&mut app, 120, 40);
    assert_eq!(app.chart.builds(), 2);
}

#[test]
fn a_runs_outcome_rewrites_its_exit_line_and_heads_its_panel() {
    let metrics = trained(7, Some(200), 0.3);
    let running = RunInfo {
        metrics: metrics.clone(),
        ..run(41001, RunState::Running)
    };
    let mut app = selected(vec![running], 41001);
    let exited = RunInfo {
        metrics,
        ..exited(41001, ExitStatus::Code(1))
    };
    app.apply_event(EngineEvent::Run(Arc::new(exited.clone())));
    let last = |app: &arkor_tui::tui::App| app.timeline.entries().back().map(|e| e.text.clone());
    assert_eq!(last(&app).as_deref(), Some("41001 failed, exit 1"));
    let entries = app.timeline.entries().len();

    // A moment later the cloud's verdict arrived: the same line says it better.
    let outcome = RunOutcome {
        kind: OutcomeKind::Failed {
            error: "CUDA out of memory".into(),
            step: Some(7),
        },
        last: FinalMetrics {
            step: Some(7),
            loss: Some(0.5),
            eval_loss: None,
        },
    };
    app.apply_event(EngineEvent::Run(Arc::new(RunInfo {
        outcome: Some(outcome),
        ..exited
    })));
    let text = "41001 failed at step 7, loss 0.5000 (CUDA out of memory)";
    assert_eq!(last(&app).as_deref(), Some(text));
    assert_eq!(
        app.timeline.entries().len(),
        entries,
        "rewritten, not added"
    );
    let shown = crate::support::text(&draw(&mut app, 120, 30));
    assert!(
        shown.contains(" failed at step 7, loss 0.5000 (CUDA out of memory)"),
        "{shown}"
    );
}

#[test]
fn the_end_of_session_summary_gives_each_runs_outcome_with_its_last_step_and_loss() {
    let completed = RunInfo {
        metrics: trained(200, Some(200), 0.2),
        ..exited(41001, ExitStatus::Code(0))
    };
    completed.metrics.write(|m| {
        m.apply_event(&event(JobEventKind::Completed, at(300)));
        m.conclude(OutcomeKind::Completed);
    });
    let completed = RunInfo {
        outcome: completed.metrics.outcome(),
        ..completed
    };
    // No outcome yet (the dashboard closed before it settled): the exit and the numbers.
    let crashed = RunInfo {
        metrics: trained(30, Some(200), 0.2),
        ..exited(41002, ExitStatus::Code(1))
    };
    let exit = arkor_tui::tui::TuiExit {
        reason: arkor_tui::tui::ExitReason::Quit,
        runs: vec![Arc::new(completed), Arc::new(crashed)],
    };
    let lines = exit.summary_lines();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with("run 41001 (alpaca-lora, job job-a029): completed at step 200, loss "),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with(
            "run 41002 (alpaca-lora, job job-a02a): failed (exit 1) at step 30, loss "
        ),
        "{lines:?}"
    );
}
