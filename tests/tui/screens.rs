//! One snapshot per screen and state. The clock is fixed (`at(300)`), so uptimes and
//! countdowns are exact.

use std::sync::Arc;
use std::time::Duration;

use arkor_tui::core::engine::BuildStatus;
use arkor_tui::core::events::{
    DevEvent, DispatchOutcome, EngineEvent, ExitStatus, HotSwapTarget, NoticeLevel, RestartTarget,
    RunInfo, RunState,
};
use arkor_tui::core::logs::{LogStore, LogStream};
use arkor_tui::tui::keymap::Focus;
use arkor_tui::tui::timeline::TimelineKind;
use arkor_tui::tui::{Action, App, AppOptions};
use ratatui::style::Color;

use crate::support::*;

const BUILD_ERROR: &str = "\u{1b}[31m[PARSE_ERROR] Error:\u{1b}[0m Unexpected token\n   \
╭─[ src/arkor/trainer.ts:3:27 ]\n   │\n 3 │ export const trainer = {{{\n   │                           ┬\n   \
│                           ╰── here\n───╯";

/// Every state a run can be in, as the engine would report them at `at(300)`.
fn runs_in_every_state() -> Vec<RunInfo> {
    vec![
        RunInfo {
            origin: arkor_tui::core::events::RunOrigin::Http,
            ..run(41001, RunState::Running)
        },
        RunInfo {
            state_since: at(280),
            content_hash: Some("feedbeef00000000".into()),
            ..run(41002, RunState::HotSwapped)
        },
        RunInfo {
            state_since: at(258),
            kill_deadline: Some(at(558)),
            config_hash: Some("0123456789abcdef".into()),
            restart_reason: vec![change("learningRate", Some("0.0002"), Some("0.0001"))],
            ..run(41003, RunState::EarlyStopping)
        },
        RunInfo {
            state_since: at(290),
            restart_reason: vec![
                change("learningRate", Some("0.0002"), Some("0.0001")),
                change("loraR", Some("16"), Some("32")),
            ],
            ..run(41004, RunState::Restarting)
        },
        RunInfo {
            started_at: at(0),
            ..exited(41005, ExitStatus::Code(0))
        },
        exited(41006, ExitStatus::Code(1)),
        exited(41007, ExitStatus::Signal(9)),
        RunInfo {
            job_id: None,
            started_at: at(295),
            state_since: at(295),
            restarted_from: restarted(
                41004,
                vec![
                    change("learningRate", Some("0.0002"), Some("0.0001")),
                    change("loraR", Some("16"), Some("32")),
                ],
            ),
            ..run(41008, RunState::Starting)
        },
    ]
}

#[test]
fn empty_before_the_first_build() {
    let mut app = app(LogStore::new(), snapshot(BuildStatus::Pending, vec![]));
    let screen = draw(&mut app, 100, 16);
    insta::assert_snapshot!("empty", text(&screen));
    assert_eq!(app.next_change(), None, "nothing animates: no tick");
}

#[test]
fn building_keeps_the_last_good_build_visible() {
    let mut app = app(LogStore::new(), snapshot(BuildStatus::Ok, vec![]));
    assert!(app.apply_event(EngineEvent::BuildStarted));
    let screen = draw(&mut app, 100, 12);
    insta::assert_snapshot!("building", text(&screen));
    assert!(text(&screen).contains("◌ building…"));
}

#[test]
fn ok_with_runs_in_every_state() {
    let mut app = app(
        LogStore::new(),
        snapshot(BuildStatus::Ok, runs_in_every_state()),
    );
    let screen = draw(&mut app, 130, 28);
    let shown = text(&screen);
    insta::assert_snapshot!("runs_every_state", shown);
    // The restart reasons and the early-stop countdown are the point of this screen.
    assert!(shown.contains("waiting for its next checkpoint: 42s of 5m00s (killed in 4m18s)"));
    assert!(shown.contains("config changed: learningRate 0.0002 → 0.0001"));
    assert!(
        shown.contains(
            "restarting with the new config: learningRate 0.0002 → 0.0001, loraR 16 → 32"
        )
    );
    assert!(shown.contains("restarted from 41004: learningRate 0.0002 → 0.0001"));
    assert_eq!(fg_at(&screen, "● running"), Color::Green);
    assert!(
        shown.contains("alpaca-lora (studio)"),
        "runs started over HTTP are marked"
    );
    assert_eq!(
        fg_at(&screen, "01234567≠"),
        Color::Yellow,
        "config older than the build"
    );
    assert_eq!(fg_at(&screen, "◐ early-stop"), Color::Yellow);
    assert_eq!(fg_at(&screen, "✗ killed"), Color::Red);
    // Live runs show uptime: the screen changes at the next whole second.
    assert_eq!(app.next_change(), Some(Duration::from_secs(1)));
}

#[test]
fn build_error_shows_location_and_frame() {
    let mut app = app(
        LogStore::new(),
        snapshot(BuildStatus::Ok, vec![run(41001, RunState::Running)]),
    );
    app.apply_event(EngineEvent::Dev(Arc::new(DevEvent::Error {
        message: BUILD_ERROR.into(),
    })));
    let screen = draw(&mut app, 100, 24);
    let shown = text(&screen);
    insta::assert_snapshot!("build_error", shown);
    assert!(shown.contains("build error at src/arkor/trainer.ts:3:27"));
    assert_eq!(
        fg_at(&screen, "[PARSE_ERROR]"),
        Color::Indexed(1),
        "compiler colours kept"
    );
    // The next good build clears the pane.
    app.apply_event(EngineEvent::Dev(Arc::new(DevEvent::Built {
        first: false,
        artifact: artifact(),
        dispatch: None,
    })));
    let shown = text(&draw(&mut app, 100, 24));
    assert!(!shown.contains("build error"));
    assert!(shown.contains("✓ build ok"));
}

fn training_log(logs: &LogStore, pid: u32, lines: usize) {
    logs.push_many(
        pid,
        (0..lines).map(|i| {
            (
                LogStream::Stdout,
                format!(
                    "\u{1b}[32m✔\u{1b}[0m step {i:>4} loss=\u{1b}[1;33m{:.3}\u{1b}[0m",
                    2.5 - i as f64 / 1000.0
                ),
            )
        }),
    );
}

fn log_app(lines: usize) -> (App, LogStore) {
    let logs = LogStore::new();
    training_log(&logs, 41001, lines);
    let app = app(
        logs.clone(),
        snapshot(BuildStatus::Ok, vec![run(41001, RunState::Running)]),
    );
    (app, logs)
}

#[test]
fn log_pane_keeps_ansi_colours_and_strips_control_sequences() {
    let (mut app, logs) = log_app(3);
    logs.push(
        41001,
        LogStream::Stderr,
        "\u{1b}[31mERROR\u{1b}[0m shard 3: retrying".into(),
    );
    logs.push(
        41001,
        LogStream::Stdout,
        "clear\u{1b}[2J\u{1b}[H attempt \u{1b}]0;pwned\u{7}ok".into(),
    );
    logs.push(
        41001,
        LogStream::System,
        "[arkor] SIGUSR2 sent (callbacks hot-swap)".into(),
    );
    let screen = draw(&mut app, 90, 14);
    insta::assert_snapshot!("log_ansi", text(&screen));
    assert_eq!(fg_at(&screen, "ERROR"), Color::Indexed(1));
    assert_eq!(fg_at(&screen, "✔"), Color::Indexed(2));
    assert!(text(&screen).contains("clear attempt ok"));
    assert_eq!(
        fg_at(&screen, "[arkor] SIGUSR2"),
        Color::Blue,
        "arkor's own lines stand apart"
    );
}

#[test]
fn log_pane_follows_then_scrolls_back() {
    let (mut app, logs) = log_app(200);
    let following = text(&draw(&mut app, 90, 14));
    assert!(
        following.contains("step  199"),
        "follow shows the newest line"
    );
    app.handle_action(Action::PageUp);
    let scrolled = draw(&mut app, 90, 14);
    // New output while paused does not move the view.
    training_log(&logs, 41001, 5);
    let scrolled_after = draw(&mut app, 90, 14);
    insta::assert_snapshot!("log_scrolled", text(&scrolled_after));
    assert_eq!(
        text(&scrolled).lines().skip(5).collect::<Vec<_>>(),
        text(&scrolled_after).lines().skip(5).collect::<Vec<_>>()
    );
    assert!(text(&scrolled_after).contains("paused"));
    app.handle_action(Action::ScrollTop);
    assert!(text(&draw(&mut app, 90, 14)).contains("step    0"));
    app.handle_action(Action::ScrollBottom);
    let back = text(&draw(&mut app, 90, 14));
    assert!(back.contains("follow") && back.contains("step    4"));
}

#[test]
fn search_highlights_hits_and_steps_through_them() {
    let (mut app, logs) = log_app(0);
    for i in 0..40 {
        let text = if i % 10 == 3 {
            format!("step {i} \u{1b}[31mcheckpoint\u{1b}[0m saved")
        } else {
            format!("step {i} loss=1.0")
        };
        logs.push(41001, LogStream::Stdout, text);
    }
    app.handle_action(Action::SearchOpen);
    for c in "checkpoint".chars() {
        app.handle_action(Action::SearchInput(c));
    }
    let typing = text(&draw(&mut app, 90, 14));
    assert!(typing.contains("/checkpoint▏"));
    app.handle_action(Action::SearchSubmit);
    let screen = draw(&mut app, 90, 14);
    insta::assert_snapshot!("log_search", text(&screen));
    assert!(
        text(&screen).contains("/checkpoint 4/4 hits"),
        "newest hit first"
    );
    assert_eq!(
        bg_at(&screen, "checkpoint saved"),
        Color::LightRed,
        "current hit"
    );
    app.handle_action(Action::SearchPrev);
    let screen = draw(&mut app, 90, 14);
    assert!(text(&screen).contains("3/4 hits"));
    app.handle_action(Action::SearchNext);
    app.handle_action(Action::SearchNext);
    assert!(
        text(&draw(&mut app, 90, 14)).contains("1/4 hits"),
        "wraps around"
    );
}

#[test]
fn long_lines_wrap_or_truncate_by_toggle() {
    let (mut app, logs) = log_app(0);
    logs.push(
        41001,
        LogStream::Stdout,
        format!("head {} tail", "x".repeat(70)),
    );
    logs.push(41001, LogStream::Stdout, "short".into());
    let truncated = text(&draw(&mut app, 40, 12));
    assert!(truncated.contains("…"));
    assert!(!truncated.contains("tail"));
    app.handle_action(Action::ToggleWrap);
    let wrapped = text(&draw(&mut app, 40, 12));
    insta::assert_snapshot!("log_wrapped", wrapped);
    assert!(wrapped.contains("tail"));
}

#[test]
fn timeline_tells_what_happened() {
    let mut app = app(LogStore::new(), snapshot(BuildStatus::Pending, vec![]));
    let step = |app: &mut App, secs: u64, event: EngineEvent| {
        app.now = at(secs);
        app.apply_event(event);
    };
    step(
        &mut app,
        1,
        EngineEvent::Dev(Arc::new(DevEvent::Built {
            first: true,
            artifact: artifact(),
            dispatch: None,
        })),
    );
    step(
        &mut app,
        2,
        EngineEvent::Run(Arc::new(RunInfo {
            job_id: None,
            ..run(41001, RunState::Starting)
        })),
    );
    step(
        &mut app,
        9,
        EngineEvent::Run(Arc::new(run(41001, RunState::Running))),
    );
    step(
        &mut app,
        30,
        EngineEvent::Dev(Arc::new(DevEvent::Built {
            first: false,
            artifact: artifact(),
            dispatch: Some(DispatchOutcome {
                hot_swap_targets: vec![HotSwapTarget {
                    pid: 41001,
                    train_file: None,
                }],
                ..DispatchOutcome::default()
            }),
        })),
    );
    step(
        &mut app,
        30,
        EngineEvent::Run(Arc::new(run(41001, RunState::HotSwapped))),
    );
    step(
        &mut app,
        61,
        EngineEvent::Dev(Arc::new(DevEvent::Built {
            first: false,
            artifact: artifact(),
            dispatch: Some(DispatchOutcome {
                hot_swap_targets: vec![],
                restart_targets: vec![RestartTarget {
                    pid: 41001,
                    train_file: None,
                    forced_kill: None,
                }],
                ..DispatchOutcome::default()
            }),
        })),
    );
    let reason = vec![change("learningRate", Some("0.0002"), Some("0.0001"))];
    step(
        &mut app,
        61,
        EngineEvent::Run(Arc::new(RunInfo {
            restart_reason: reason.clone(),
            state_since: at(61),
            ..run(41001, RunState::EarlyStopping)
        })),
    );
    step(
        &mut app,
        75,
        EngineEvent::Run(Arc::new(RunInfo {
            restart_reason: reason,
            state_since: at(75),
            ..run(41001, RunState::Restarting)
        })),
    );
    step(
        &mut app,
        75,
        EngineEvent::Run(Arc::new(RunInfo {
            state_since: at(75),
            ..exited(41001, ExitStatus::Code(0))
        })),
    );
    step(
        &mut app,
        76,
        EngineEvent::Run(Arc::new(RunInfo {
            restarted_from: restarted(
                41001,
                vec![change("learningRate", Some("0.0002"), Some("0.0001"))],
            ),
            started_at: at(76),
            state_since: at(76),
            ..run(41002, RunState::Starting)
        })),
    );
    step(
        &mut app,
        80,
        EngineEvent::Notice {
            level: NoticeLevel::Warn,
            message: "inspector restarted".into(),
        },
    );
    app.now = at(90);
    let screen = text(&draw(&mut app, 160, 24));
    insta::assert_snapshot!("timeline", screen);
    assert!(screen.contains("41001 early-stopping: learningRate 0.0002 → 0.0001"));
    assert!(screen.contains("41002 started (restart of 41001)"));
    assert!(screen.contains("41001 cloud job job-a029"));
    assert_eq!(app.selected, Some(41002), "selection follows the restart");

    // Tab twice focuses the timeline; ↑ scrolls it back, End returns to the newest entry.
    app.handle_action(Action::ToggleFocus);
    app.handle_action(Action::ToggleFocus);
    assert_eq!(app.focus, Focus::Timeline);
    app.handle_action(Action::ScrollUp(2));
    let scrolled = text(&draw(&mut app, 160, 24));
    insta::assert_snapshot!("timeline_scrolled", scrolled);
    assert!(scrolled.contains("timeline · 2 newer below"), "{scrolled}");
    assert!(!scrolled.contains("inspector restarted"), "{scrolled}");
    app.handle_action(Action::ScrollBottom);
    let back = text(&draw(&mut app, 160, 24));
    assert!(back.contains("inspector restarted"), "{back}");
    app.handle_action(Action::FocusRuns);
    assert_eq!(app.focus, Focus::Runs);
}

#[test]
fn z_zooms_the_log_pane_to_the_full_screen() {
    let (mut app, _logs) = log_app(200);
    app.timeline
        .push(at(1), TimelineKind::Info, "a timeline entry");
    app.handle_action(Action::ToggleZoom);
    let screen = text(&draw(&mut app, 80, 24));
    insta::assert_snapshot!("log_zoomed", screen);
    assert!(!screen.contains("PID"), "no runs table:\n{screen}");
    assert!(!screen.contains("timeline"), "no timeline:\n{screen}");
    assert!(screen.matches(" step ").count() >= 20, "{screen}");
    app.handle_action(Action::ToggleZoom);
    let screen = text(&draw(&mut app, 80, 24));
    assert!(screen.contains("PID"), "{screen}");
}

#[test]
fn a_confirmation_names_its_cost_over_the_dashboard() {
    let mut app = app(
        LogStore::new(),
        snapshot(BuildStatus::Ok, runs_in_every_state()),
    );
    app.handle_action(Action::StopRun { force: true });
    let screen = text(&draw(&mut app, 80, 24));
    insta::assert_snapshot!("confirm_kill_80x24", screen);
    assert!(screen.contains("SIGKILL now"), "{screen}");
    assert!(screen.contains("y/Enter: kill it"), "{screen}");
}

#[test]
fn help_overlay_lists_every_key() {
    let mut app = app(
        LogStore::new(),
        snapshot(BuildStatus::Ok, runs_in_every_state()),
    );
    app.handle_action(Action::ToggleHelp);
    let screen = text(&draw(&mut app, 100, 30));
    insta::assert_snapshot!("help", screen);
    for binding in arkor_tui::tui::keymap::BINDINGS {
        assert!(
            screen.contains(binding.help),
            "help lists {:?}",
            binding.keys
        );
    }
}

#[test]
fn narrow_terminal_stays_readable() {
    let logs = LogStore::new();
    training_log(&logs, 41003, 20);
    let mut app = app(logs, snapshot(BuildStatus::Ok, runs_in_every_state()));
    app.handle_action(Action::SelectPrev);
    let screen = text(&draw(&mut app, 40, 10));
    insta::assert_snapshot!("narrow_40x10", screen);
    assert!(screen.lines().next().is_some_and(|l| l.contains("arkor")));
}

#[test]
fn tiny_and_zero_sizes_never_panic() {
    let logs = LogStore::new();
    training_log(&logs, 41001, 50);
    let mut app = app(logs, snapshot(BuildStatus::Ok, runs_in_every_state()));
    app.apply_event(EngineEvent::Dev(Arc::new(DevEvent::Error {
        message: BUILD_ERROR.into(),
    })));
    app.handle_action(Action::ToggleHelp);
    for (w, h) in [(0, 0), (1, 1), (0, 10), (10, 0), (20, 5), (5, 20), (40, 3)] {
        draw(&mut app, w, h);
    }
    app.handle_action(Action::ToggleHelp);
    app.handle_action(Action::ToggleWrap);
    for (w, h) in [(1, 1), (2, 8), (20, 5)] {
        draw(&mut app, w, h);
    }
}

#[test]
fn no_color_draws_no_colour_at_all() {
    let logs = LogStore::new();
    training_log(&logs, 41008, 5);
    let options = AppOptions {
        colors: false,
        ..options(false)
    };
    let mut app = App::new(
        "~/demo",
        logs,
        snapshot(BuildStatus::Ok, runs_in_every_state()),
        options,
        at(300),
    );
    app.apply_event(EngineEvent::Dev(Arc::new(DevEvent::Error {
        message: BUILD_ERROR.into(),
    })));
    let screen = draw(&mut app, 130, 40);
    insta::assert_snapshot!("no_color", text(&screen));
    assert!(
        !has_color(&screen),
        "NO_COLOR: every cell uses the terminal's default colours"
    );
    // The meaning survives without colour: symbols and the selection's reverse video.
    assert!(text(&screen).contains("◐ early-stop"));
}

#[test]
fn quit_banner_counts_down() {
    let mut app = app(
        LogStore::new(),
        snapshot(
            BuildStatus::Ok,
            vec![RunInfo {
                state_since: at(290),
                kill_deadline: Some(at(590)),
                ..run(41001, RunState::EarlyStopping)
            }],
        ),
    );
    app.now = at(290);
    app.handle_action(Action::Quit);
    app.now = at(302);
    let screen = text(&draw(&mut app, 120, 12));
    insta::assert_snapshot!("quit_banner", screen);
    assert!(screen.contains("early-stopping at next checkpoint · 12s · killed in 4m48s"));
    assert!(app.next_change().is_some(), "the countdown ticks");
}

#[test]
fn a_20x5_screen_still_shows_the_selected_run() {
    let mut app = app(
        LogStore::new(),
        snapshot(BuildStatus::Ok, vec![run(41001, RunState::Running)]),
    );
    let screen = text(&draw(&mut app, 20, 5));
    insta::assert_snapshot!("tiny_20x5", screen);
    assert!(screen.contains("41001"));
}

#[test]
fn nothing_from_user_code_reaches_the_terminal_raw() {
    let hostile = "evil\u{1b}[2J\u{7}\u{1b}]52;c;Zm9v\u{7}name\nsecond line";
    let logs = LogStore::new();
    logs.push(41001, LogStream::Stdout, hostile.into());
    let mut app = app(
        logs,
        snapshot(
            BuildStatus::Ok,
            vec![RunInfo {
                trainer_name: Some(hostile.into()),
                job_id: Some(hostile.into()),
                ..run(41001, RunState::Running)
            }],
        ),
    );
    app.apply_event(EngineEvent::Notice {
        level: NoticeLevel::Warn,
        message: hostile.into(),
    });
    app.apply_event(EngineEvent::Dev(Arc::new(DevEvent::Error {
        message: hostile.into(),
    })));
    let screen = draw(&mut app, 160, 30);
    let control = screen
        .content()
        .iter()
        .find(|cell| cell.symbol().chars().any(char::is_control));
    assert!(
        control.is_none(),
        "a control char reached a cell: {control:?}"
    );
    let shown = text(&screen);
    assert!(shown.contains("evilname"));
    assert!(
        !shown.contains("[2J") && !shown.contains("52;c"),
        "escape sequences are removed whole, not shown as garbage:\n{shown}"
    );
}

#[test]
fn at_80x24_the_demo_instructions_stay_readable_whatever_happens() {
    let logs = LogStore::new();
    training_log(&logs, 41001, 50);
    let mut app = App::new(
        "/tmp/arkor-demo-1",
        logs,
        snapshot(BuildStatus::Ok, vec![run(41001, RunState::Running)]),
        AppOptions {
            instructions: vec![
                "edit src/arkor/callbacks.ts → the run hot-swaps and keeps going".into(),
                "edit learningRate in src/arkor/trainer.ts → early stop, then restart".into(),
            ],
            ..options(true)
        },
        at(300),
    );
    for i in 0..30 {
        app.timeline.push(
            at(i),
            TimelineKind::Info,
            format!("event {i} pushes older ones out"),
        );
    }
    let screen = text(&draw(&mut app, 80, 24));
    insta::assert_snapshot!("demo_80x24", screen);
    assert!(
        screen.contains("→ edit src/arkor/callbacks.ts → the run hot-swaps and keeps going"),
        "{screen}"
    );
    assert!(
        screen.contains("→ edit learningRate in src/arkor/trainer.ts → early stop, then restart"),
        "{screen}"
    );
    assert!(
        screen.contains("event 29"),
        "the newest entry still shows:\n{screen}"
    );
}

#[test]
fn t_shows_each_line_s_time_and_c_says_the_log_was_cleared() {
    let logs = LogStore::new();
    training_log(&logs, 41001, 3);
    let mut app = app(
        logs.clone(),
        snapshot(
            BuildStatus::Ok,
            vec![RunInfo {
                log_file: Some("/home/dev/demo/.arkor/runs/20261202T091011Z-41001.log".into()),
                ..run(41001, RunState::Running)
            }],
        ),
    );
    let screen = text(&draw(&mut app, 120, 20));
    assert!(
        screen.contains("· .arkor/runs/20261202T091011Z-41001.log"),
        "the title names the file:\n{screen}"
    );
    app.handle_action(Action::ToggleTimestamps);
    let stamped = text(&draw(&mut app, 120, 20));
    let first = stamped
        .lines()
        .find(|l| l.contains("step    0"))
        .expect("the first line");
    let (time, _) = first.split_once(' ').expect("a time first");
    assert!(
        time.len() == 8 && time.as_bytes()[2] == b':' && time.as_bytes()[5] == b':',
        "{first}"
    );
    app.handle_action(Action::ToggleTimestamps);
    assert!(text(&draw(&mut app, 120, 20)).contains("\n✔ step    0"));

    logs.clear(41001);
    let cleared = text(&draw(&mut app, 120, 20));
    assert!(cleared.contains("· cleared"), "{cleared}");
    assert!(
        !cleared.contains("dropped"),
        "a clear is no drop:\n{cleared}"
    );
    assert!(
        cleared.contains("log cleared · new output appears here"),
        "{cleared}"
    );
}
