//! Every key → Action → engine Command, and the deliberate quit sequence.

use std::sync::Arc;

use arkor_tui::core::engine::{BuildStatus, Command, StartRunError};
use arkor_tui::core::events::{EngineEvent, ExitStatus, NoticeLevel, RunInfo, RunOrigin, RunState};
use arkor_tui::core::logs::{LogStore, LogStream};
use arkor_tui::core::registry::ConfigChangePolicy;
use arkor_tui::tui::app::QuitState;
use arkor_tui::tui::keymap::{Focus, map_key, map_mouse};
use arkor_tui::tui::{Action, App};
use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use crate::support::*;

fn key(app: &App, code: KeyCode) -> Option<Action> {
    let modifiers = match code {
        KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
        _ => KeyModifiers::NONE,
    };
    map_key(KeyEvent::new(code, modifiers), app.key_context())
}

fn ctrl(app: &App, c: char) -> Option<Action> {
    map_key(
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
        app.key_context(),
    )
}

/// Press a key and return the command the App sends, if any.
fn press(app: &mut App, code: KeyCode) -> Option<Command> {
    let action = key(app, code)?;
    app.handle_action(action)
}

fn two_live_runs() -> App {
    let logs = LogStore::new();
    logs.push_many(
        41002,
        (0..100).map(|i| (LogStream::Stdout, format!("line {i}"))),
    );
    app(
        logs,
        snapshot(
            BuildStatus::Ok,
            vec![
                exited(41000, ExitStatus::Code(0)),
                run(41001, RunState::Running),
                run(41002, RunState::Running),
            ],
        ),
    )
}

#[test]
fn newest_live_run_is_selected_at_start() {
    assert_eq!(two_live_runs().selected, Some(41002));
}

#[test]
fn run_keys_send_engine_commands_for_the_selected_run() {
    let mut app = two_live_runs();
    assert!(matches!(
        press(&mut app, KeyCode::Char('r')),
        Some(Command::Rebuild)
    ));
    // Runs are live: another one is another cloud job, so `s` asks first.
    assert!(press(&mut app, KeyCode::Char('s')).is_none());
    assert!(matches!(
        press(&mut app, KeyCode::Char('y')),
        Some(Command::StartRun {
            origin: RunOrigin::Engine,
            reply: None
        })
    ));
    assert!(matches!(
        press(&mut app, KeyCode::Char('x')),
        Some(Command::StopRun {
            pid: 41002,
            force: false
        })
    ));
    assert!(press(&mut app, KeyCode::Char('X')).is_none());
    assert!(matches!(
        press(&mut app, KeyCode::Enter),
        Some(Command::StopRun {
            pid: 41002,
            force: true
        })
    ));
    assert!(matches!(
        press(&mut app, KeyCode::Char('R')),
        Some(Command::RestartRun { pid: 41002 })
    ));
    assert!(matches!(
        press(&mut app, KeyCode::Char('c')),
        Some(Command::ClearLogs { pid: 41002 })
    ));
}

#[test]
fn stopping_an_exited_run_sends_nothing_and_says_why() {
    let mut app = two_live_runs();
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(app.selected, Some(41000));
    assert!(press(&mut app, KeyCode::Char('x')).is_none());
    let (_, message) = app.message.clone().expect("a message");
    assert!(message.contains("already exited"), "{message}");
    assert!(press(&mut app, KeyCode::Char('X')).is_none());
    assert!(app.confirm.is_none(), "nothing to kill, nothing to ask");
}

#[test]
fn r_on_a_finished_run_starts_it_again() {
    let mut app = two_live_runs();
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.selected, Some(41000));
    assert!(matches!(
        press(&mut app, KeyCode::Char('R')),
        Some(Command::RestartRun { pid: 41000 })
    ));
    let (_, message) = app.message.clone().expect("a message");
    assert!(message.contains("starting run 41000 again"), "{message}");
}

#[test]
fn costly_keys_ask_and_any_other_key_cancels() {
    let mut app = two_live_runs();
    for (costly, cost) in [('X', "SIGKILL now"), ('s', "already training")] {
        // Esc, q or any other key cancels; nothing is sent and nothing quits.
        for cancel in [KeyCode::Esc, KeyCode::Char('q'), KeyCode::Char('n')] {
            assert!(press(&mut app, KeyCode::Char(costly)).is_none());
            let confirm = app.confirm.as_ref().expect("a question");
            assert!(
                confirm.cost.iter().any(|c| c.contains(cost)),
                "{costly}: {confirm:?}"
            );
            assert!(press(&mut app, cancel).is_none(), "{cancel:?}");
            assert!(app.confirm.is_none());
            assert_eq!(app.quit, QuitState::Running);
        }
    }
}

#[test]
fn q_and_esc_close_the_help_and_only_the_main_view_quits() {
    let mut app = two_live_runs();
    for close in [KeyCode::Char('q'), KeyCode::Esc, KeyCode::Char('?')] {
        assert!(press(&mut app, KeyCode::Char('?')).is_none());
        assert!(app.help_open);
        assert!(press(&mut app, close).is_none(), "{close:?}");
        assert!(!app.help_open, "{close:?} closes the help");
        assert_eq!(app.quit, QuitState::Running);
    }
    assert!(matches!(
        press(&mut app, KeyCode::Char('q')),
        Some(Command::Shutdown { force: false })
    ));
}

#[test]
fn o_cycles_the_config_change_policy() {
    let mut app = two_live_runs();
    for expected in [
        ConfigChangePolicy::Ask,
        ConfigChangePolicy::Hold,
        ConfigChangePolicy::Restart,
    ] {
        match press(&mut app, KeyCode::Char('o')) {
            Some(Command::SetConfigChangePolicy(policy)) => assert_eq!(policy, expected),
            other => panic!("{other:?}"),
        }
        assert_eq!(app.on_config_change, expected);
        let header = text(&draw(&mut app, 160, 20));
        let header = header.lines().next().unwrap_or_default();
        assert_eq!(
            header.contains(&format!("config changes: {expected} (o)")),
            expected != ConfigChangePolicy::Restart,
            "{header}"
        );
    }
}

#[test]
fn under_ask_a_held_change_asks_to_restart_and_a_revert_withdraws_the_question() {
    let mut app = two_live_runs();
    app.on_config_change = ConfigChangePolicy::Ask;
    let behind = RunInfo {
        pending_config: Some(vec![change("learningRate", Some("0.0002"), Some("0.0001"))]),
        ..run(41002, RunState::Running)
    };
    app.apply_event(EngineEvent::Run(Arc::new(behind.clone())));
    let confirm = app.confirm.as_ref().expect("asked");
    assert_eq!(confirm.question, "config changed: restart now? (y/n)");
    assert!(press(&mut app, KeyCode::Char('n')).is_none());
    assert!(app.confirm.is_none());
    // Asked again only when a new change comes, not on every event of the same run.
    app.apply_event(EngineEvent::Run(Arc::new(behind.clone())));
    assert!(app.confirm.is_none());
    // Reverted, then changed again: asked again; yes restarts it.
    app.apply_event(EngineEvent::Run(Arc::new(run(41002, RunState::Running))));
    app.apply_event(EngineEvent::Run(Arc::new(behind.clone())));
    assert!(matches!(
        press(&mut app, KeyCode::Char('y')),
        Some(Command::RestartRun { pid: 41002 })
    ));
    // A revert while the question is open withdraws it.
    app.apply_event(EngineEvent::Run(Arc::new(run(41002, RunState::Running))));
    app.apply_event(EngineEvent::Run(Arc::new(behind)));
    assert!(app.confirm.is_some());
    app.apply_event(EngineEvent::Run(Arc::new(run(41002, RunState::Running))));
    assert!(app.confirm.is_none());
}

#[test]
fn under_ask_a_change_during_another_question_is_asked_after_it() {
    let mut app = two_live_runs();
    app.on_config_change = ConfigChangePolicy::Ask;
    // The force-stop question is open when the change comes.
    press(&mut app, KeyCode::Char('X'));
    let kill = app.confirm.as_ref().expect("X asks").question.clone();
    let behind = RunInfo {
        pending_config: Some(vec![change("learningRate", Some("0.0002"), Some("0.0001"))]),
        ..run(41001, RunState::Running)
    };
    app.apply_event(EngineEvent::Run(Arc::new(behind)));
    assert_eq!(app.confirm.as_ref().map(|c| c.question.clone()), Some(kill));
    // Declining the first brings the second.
    assert!(press(&mut app, KeyCode::Char('n')).is_none());
    let next = app.confirm.as_ref().expect("the deferred question");
    assert_eq!(next.question, "config changed: restart now? (y/n)");
    assert!(matches!(
        press(&mut app, KeyCode::Char('y')),
        Some(Command::RestartRun { pid: 41001 })
    ));
    assert!(app.confirm.is_none());
}

#[test]
fn under_ask_a_deferred_question_is_dropped_when_its_change_is_reverted() {
    let mut app = two_live_runs();
    app.on_config_change = ConfigChangePolicy::Ask;
    press(&mut app, KeyCode::Char('X'));
    let behind = RunInfo {
        pending_config: Some(vec![change("learningRate", Some("0.0002"), Some("0.0001"))]),
        ..run(41001, RunState::Running)
    };
    app.apply_event(EngineEvent::Run(Arc::new(behind)));
    app.apply_event(EngineEvent::Run(Arc::new(run(41001, RunState::Running))));
    assert!(press(&mut app, KeyCode::Char('n')).is_none());
    assert!(app.confirm.is_none(), "nothing left to ask");
}

#[test]
fn a_footer_message_about_a_run_goes_when_its_state_changes() {
    let mut app = two_live_runs();
    press(&mut app, KeyCode::Char('x'));
    assert!(app.message.is_some());
    app.apply_event(EngineEvent::Run(Arc::new(run(41001, RunState::HotSwapped))));
    assert!(app.message.is_some(), "another run's change keeps it");
    app.apply_event(EngineEvent::Run(Arc::new(run(
        41002,
        RunState::EarlyStopping,
    ))));
    assert_eq!(app.message, None);
}

#[test]
fn arrows_and_jk_select_in_runs_and_scroll_in_logs() {
    let mut app = two_live_runs();
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(app.selected, Some(41001));
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected, Some(41002));
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(app.selected, Some(41002), "stays on the last run");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.focus, Focus::Logs);
    draw(&mut app, 80, 20);
    press(&mut app, KeyCode::Char('k'));
    assert!(!app.log_view.follow, "k scrolls the log up in the log pane");
    assert_eq!(app.selected, Some(41002));
    press(&mut app, KeyCode::End);
    assert!(app.log_view.follow);
    press(&mut app, KeyCode::PageUp);
    assert!(!app.log_view.follow);
    press(&mut app, KeyCode::Char('f'));
    assert!(app.log_view.follow, "f toggles follow back on");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.focus, Focus::Runs);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Logs);
}

#[test]
fn search_box_takes_text_until_enter_or_esc() {
    let mut app = two_live_runs();
    press(&mut app, KeyCode::Char('/'));
    assert!(app.log_view.search.editing);
    for c in ['l', 'i', 'n', 'e', ' ', '9', 'q', 'x'] {
        assert!(
            press(&mut app, KeyCode::Char(c)).is_none(),
            "typed text never runs commands"
        );
    }
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Backspace);
    assert_eq!(app.log_view.search.input, "line 9");
    assert_eq!(app.quit, QuitState::Running);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.log_view.search.query, "line 9");
    assert_eq!(app.log_view.search.hit_count(), 11);
    assert_eq!(app.log_view.search.current, Some(99));
    press(&mut app, KeyCode::Char('N'));
    assert_eq!(app.log_view.search.current, Some(98));
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.log_view.search.current, Some(99));
    press(&mut app, KeyCode::Esc);
    assert!(
        !app.log_view.search.is_active(),
        "Esc clears a confirmed search"
    );
}

#[test]
fn help_overlay_swallows_keys_except_close_and_quit() {
    let mut app = two_live_runs();
    press(&mut app, KeyCode::Char('?'));
    assert!(app.help_open);
    assert!(press(&mut app, KeyCode::Char('x')).is_none());
    press(&mut app, KeyCode::Esc);
    assert!(!app.help_open);
}

#[test]
fn quit_with_live_runs_is_graceful_then_forced() {
    let mut app = two_live_runs();
    assert!(matches!(
        press(&mut app, KeyCode::Char('q')),
        Some(Command::Shutdown { force: false })
    ));
    assert!(matches!(app.quit, QuitState::Graceful { .. }));
    assert!(
        !app.should_exit(),
        "waits for the runs to reach their checkpoint"
    );
    app.apply_event(EngineEvent::ShuttingDown);
    assert!(!app.should_exit());
    assert!(matches!(
        ctrl(&app, 'c').and_then(|a| app.handle_action(a)),
        Some(Command::Shutdown { force: true })
    ));
    assert!(matches!(app.quit, QuitState::Forced { .. }));
    assert!(!app.should_exit(), "still waiting for the kills to land");
    for pid in [41001, 41002] {
        app.apply_event(EngineEvent::Run(Arc::new(exited(
            pid,
            ExitStatus::Signal(9),
        ))));
    }
    assert!(app.should_exit());
}

#[test]
fn graceful_quit_ends_when_the_engine_has_stopped() {
    let mut app = two_live_runs();
    press(&mut app, KeyCode::Char('q'));
    app.apply_event(EngineEvent::ShuttingDown);
    app.apply_event(EngineEvent::Run(Arc::new(exited(
        41001,
        ExitStatus::Code(0),
    ))));
    app.apply_event(EngineEvent::Run(Arc::new(exited(
        41002,
        ExitStatus::Code(0),
    ))));
    assert!(
        !app.should_exit(),
        "runs are gone, but the engine may still cancel cloud jobs"
    );
    let banner = text(&draw(&mut app, 120, 12));
    assert!(banner.contains("every run stopped · finishing"), "{banner}");
    app.apply_event(EngineEvent::Stopped);
    assert!(app.should_exit());
    assert!(
        app.take_notifications().is_empty(),
        "runs stopped by quit do not notify"
    );
}

#[test]
fn forced_quit_leaves_after_a_grace_even_if_a_run_lingers() {
    let mut app = two_live_runs();
    press(&mut app, KeyCode::Char('q'));
    press(&mut app, KeyCode::Char('q'));
    assert!(!app.should_exit());
    app.now = at(300 + arkor_tui::tui::app::FORCE_QUIT_GRACE.as_secs());
    assert!(app.should_exit());
}

#[test]
fn quit_without_live_runs_leaves_at_once() {
    let mut app = app(
        LogStore::new(),
        snapshot(BuildStatus::Ok, vec![exited(41000, ExitStatus::Code(0))]),
    );
    assert!(matches!(
        press(&mut app, KeyCode::Char('q')),
        Some(Command::Shutdown { force: false })
    ));
    assert!(app.should_exit());
}

#[test]
fn control_keys() {
    let app = two_live_runs();
    assert_eq!(ctrl(&app, 'z'), Some(Action::Suspend));
    assert_eq!(ctrl(&app, 'l'), Some(Action::Redraw));
    assert_eq!(ctrl(&app, 'c'), Some(Action::Quit));
    let release = KeyEvent {
        kind: KeyEventKind::Release,
        ..KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE)
    };
    assert_eq!(
        map_key(release, app.key_context()),
        None,
        "key releases are ignored"
    );
}

#[test]
fn mouse_click_selects_a_run_and_wheel_scrolls_logs() {
    let mut app = two_live_runs();
    let screen = draw(&mut app, 100, 20);
    let (_, row) = find(&screen, "41001").expect("run row on screen");
    let click = |column, row| MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    };
    let action = map_mouse(click(10, row)).expect("click maps");
    app.handle_action(action);
    assert_eq!(app.selected, Some(41001));
    let wheel = MouseEvent {
        kind: MouseEventKind::ScrollUp,
        ..click(50, 15)
    };
    assert_eq!(map_mouse(wheel), Some(Action::ScrollUp(3)));
}

#[test]
fn a_run_ending_on_its_own_notifies_but_a_stopped_one_does_not() {
    let mut app = two_live_runs();
    app.apply_event(EngineEvent::Run(Arc::new(exited(
        41001,
        ExitStatus::Code(0),
    ))));
    let notes = app.take_notifications();
    assert_eq!(notes, vec!["alpaca-lora (41001) completed".to_string()]);
    press(&mut app, KeyCode::Char('x'));
    app.apply_event(EngineEvent::Run(Arc::new(exited(
        41002,
        ExitStatus::Code(0),
    ))));
    assert!(app.take_notifications().is_empty());
}

#[test]
fn notifications_can_be_switched_off() {
    let mut options = options(true);
    options.notifications = false;
    let mut app = App::new(
        "~/demo",
        LogStore::new(),
        snapshot(BuildStatus::Ok, vec![run(41001, RunState::Running)]),
        options,
        at(300),
    );
    app.apply_event(EngineEvent::Run(Arc::new(exited(
        41001,
        ExitStatus::Code(1),
    ))));
    assert!(app.take_notifications().is_empty());
}

#[test]
fn start_results_select_the_run_or_explain_the_failure() {
    let mut app = two_live_runs();
    app.run_start_result(Ok(41001));
    assert_eq!(app.selected, Some(41001));
    assert!(
        app.message
            .as_ref()
            .is_some_and(|(_, m)| m == "started run 41001")
    );
    app.run_start_result(Err(StartRunError::NoSdk(
        "the arkor SDK is not installed in /home/dev/demo (no node_modules/arkor): run `npm install` there".into(),
    )));
    let (_, message) = app.message.clone().expect("message");
    assert!(message.contains("run `npm install`"), "{message}");
    assert!(
        app.timeline
            .entries()
            .back()
            .is_some_and(|e| e.text.contains("npm install"))
    );
}

#[test]
fn an_engine_that_stops_by_itself_ends_the_dashboard() {
    let mut app = two_live_runs();
    app.apply_event(EngineEvent::ShuttingDown);
    assert!(!app.should_exit());
    assert!(
        press(&mut app, KeyCode::Char('s')).is_none(),
        "no new runs while shutting down"
    );
    app.apply_event(EngineEvent::Stopped);
    assert!(app.should_exit());
}

#[test]
fn exited_runs_are_bounded_like_the_engine_keeps_them() {
    let mut app = two_live_runs();
    for pid in 50_000..50_100 {
        app.apply_event(EngineEvent::Run(Arc::new(run(pid, RunState::Running))));
        app.apply_event(EngineEvent::Run(Arc::new(exited(pid, ExitStatus::Code(0)))));
    }
    let exited_kept = app
        .runs
        .iter()
        .filter(|r| !arkor_tui::tui::app::is_live(r))
        .count();
    assert_eq!(exited_kept, arkor_tui::core::logs::MAX_EXITED_RUNS_KEPT);
    assert_eq!(app.live_runs(), 2, "live runs are never dropped");
    assert!(
        app.runs.iter().any(|r| r.pid == 50_099),
        "the newest exited run is kept"
    );
}

#[test]
fn exit_summary_says_what_happened_to_each_run() {
    let exit = arkor_tui::tui::TuiExit {
        reason: arkor_tui::tui::ExitReason::ForceQuit,
        runs: vec![
            Arc::new(exited(700, ExitStatus::Code(0))),
            Arc::new(exited(701, ExitStatus::Signal(9))),
            Arc::new(run(702, RunState::EarlyStopping)),
        ],
    };
    assert_eq!(
        exit.summary_lines(),
        vec![
            "run 700 (alpaca-lora, job job-2bc): ended (exit 0)",
            "run 701 (alpaca-lora, job job-2bd): killed by SIGKILL",
            "run 702 (alpaca-lora, job job-2be): still early-stopping (the engine finishes it)",
        ]
    );
}

#[test]
fn left_and_right_scroll_truncated_lines_sideways() {
    let mut app = two_live_runs();
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Char('l'));
    assert_eq!(app.log_view.hscroll, 16);
    press(&mut app, KeyCode::Char('h'));
    assert_eq!(app.log_view.hscroll, 8);
    let screen = text(&draw(&mut app, 100, 20));
    assert!(screen.contains("· trunc →8"), "{screen}");
    press(&mut app, KeyCode::Char('w'));
    assert_eq!(app.log_view.hscroll, 0, "wrapping shows whole lines");
    press(&mut app, KeyCode::Right);
    assert_eq!(app.log_view.hscroll, 0);
}

#[test]
fn help_scrolls_on_a_short_screen() {
    let mut app = two_live_runs();
    press(&mut app, KeyCode::Char('?'));
    let first = text(&draw(&mut app, 60, 10));
    assert!(first.contains("↓ more"), "{first}");
    assert!(!first.contains("Jobs: the project's"));
    for _ in 0..300 {
        press(&mut app, KeyCode::Char('j'));
    }
    let last = text(&draw(&mut app, 60, 10));
    assert!(
        last.contains("Jobs: the project's"),
        "the last keymap ends it: {last}"
    );
    assert!(!last.contains("↓ more"));
    assert_eq!(
        app.selected,
        Some(41002),
        "j scrolled the help, not the runs"
    );
}

#[test]
fn a_failed_run_and_an_engine_warning_reach_the_timeline_and_the_banner() {
    let mut app = two_live_runs();
    let failed = RunInfo {
        failure: Some("exited with code 1: Error: dataset not found".into()),
        ..exited(41002, ExitStatus::Code(1))
    };
    app.apply_event(EngineEvent::Run(Arc::new(failed)));
    let (_, alert) = app.alert.clone().expect("a banner");
    assert_eq!(
        alert,
        "run 41002 failed: exited with code 1: Error: dataset not found"
    );
    assert!(app.timeline.entries().iter().any(|e| {
        e.text
            .contains("41002 failed: exited with code 1: Error: dataset not found")
    }));
    let screen = text(&draw(&mut app, 80, 24));
    assert!(screen.contains("! run 41002 failed"), "{screen}");
    press(&mut app, KeyCode::Char('j'));
    assert!(app.alert.is_none(), "a key dismisses it");

    app.apply_event(EngineEvent::Notice {
        level: NoticeLevel::Warn,
        message: "run 41001: cancelled cloud job job-1 at http://127.0.0.1:9".into(),
    });
    let (_, alert) = app.alert.clone().expect("a banner");
    assert!(alert.contains("cancelled cloud job job-1"), "{alert}");
    app.apply_event(EngineEvent::Notice {
        level: NoticeLevel::Info,
        message: "edit src/arkor/trainer.ts".into(),
    });
    assert!(
        app.alert.as_ref().is_some_and(|(_, a)| a.contains("job-1")),
        "hints are no alert"
    );
}

#[test]
fn v_selects_log_lines_and_y_copies_just_those_as_plain_text() {
    let mut app = two_live_runs();
    app.log_view.rows = 10;
    assert!(press(&mut app, KeyCode::Char('v')).is_none());
    assert_eq!(app.focus, Focus::Logs);
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(
        app.log_view.selection.map(|s| s.range()),
        Some(97..=99),
        "from the last line on screen, two up"
    );
    assert!(press(&mut app, KeyCode::Char('y')).is_none());
    assert_eq!(
        app.take_copies(),
        vec!["line 97\nline 98\nline 99\n".to_string()]
    );
    assert!(app.log_view.selection.is_none());
    let (_, message) = app.message.clone().expect("a message");
    assert!(message.contains("copied 3 lines"), "{message}");

    // Esc cancels a selection (and does not leave the log pane).
    press(&mut app, KeyCode::Char('v'));
    press(&mut app, KeyCode::Esc);
    assert!(app.log_view.selection.is_none());
    assert_eq!(app.focus, Focus::Logs);
    press(&mut app, KeyCode::Char('y'));
    assert!(
        app.take_copies().is_empty(),
        "nothing selected, nothing copied"
    );
}

#[test]
fn q_leaves_a_zoomed_pane_or_a_selection_instead_of_quitting() {
    let mut app = two_live_runs();
    press(&mut app, KeyCode::Char('z'));
    assert!(app.zoomed);
    assert!(press(&mut app, KeyCode::Char('q')).is_none());
    assert!(!app.zoomed);
    press(&mut app, KeyCode::Char('z'));
    press(&mut app, KeyCode::Esc);
    assert!(!app.zoomed);
    press(&mut app, KeyCode::Char('v'));
    assert!(press(&mut app, KeyCode::Char('q')).is_none());
    assert!(app.log_view.selection.is_none());
    assert_eq!(app.quit, QuitState::Running);
}
