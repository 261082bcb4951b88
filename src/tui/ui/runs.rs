//! The runs table: one line per run, plus a second line saying WHY a run is stopping or
//! restarting (config keys old → new) and how long its early stop has waited for the
//! checkpoint against the kill deadline.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::core::events::{ExitStatus, RunInfo, RunOrigin, RunState, StopCause};
use crate::tui::app::{App, is_live};
use crate::tui::format;
use crate::tui::keymap::Focus;
use crate::tui::ui::progress::{self, TrainingColumns};
use crate::tui::ui::{animate_within, fit};

const MARKER: usize = 2;
const PID: usize = 8;
const TRAINER_MIN: usize = 8;
const TRAINER_MAX: usize = 24;
const STATE_MIN: usize = 14;
const JOB: usize = 14;
const CONFIG: usize = 10;
const UPTIME: usize = 8;
const EXIT: usize = 8;

/// Rows the table would like: title, column header, and each run's lines.
pub fn wanted_rows(app: &App) -> u16 {
    let lines: usize = app
        .runs
        .iter()
        .map(|r| 1 + usize::from(why_line(app, r).is_some()))
        .sum();
    (2 + lines.max(1)).min(u16::MAX as usize) as u16
}

#[derive(Clone, Copy)]
struct Columns {
    trainer: usize,
    state: usize,
    job: bool,
    config: bool,
    uptime: bool,
    exit: bool,
    training: TrainingColumns,
}

/// `training`: some run has training progress, so its columns compete for the width.
fn columns(width: usize, state: usize, training: bool) -> Columns {
    let mut cols = Columns {
        trainer: 0,
        state,
        job: false,
        config: false,
        uptime: false,
        exit: false,
        training: TrainingColumns::default(),
    };
    let mut used = MARKER + PID + state;
    let take = |w: usize, used: &mut usize| {
        if *used + w <= width {
            *used += w;
            true
        } else {
            false
        }
    };
    if take(TRAINER_MIN + 1, &mut used) {
        cols.trainer = TRAINER_MIN;
    }
    cols.uptime = take(UPTIME, &mut used);
    cols.exit = take(EXIT, &mut used);
    if training {
        cols.training = progress::choose(|w| take(w, &mut used));
    }
    cols.job = take(JOB, &mut used);
    cols.config = take(CONFIG, &mut used);
    if cols.trainer > 0 {
        cols.trainer = (cols.trainer + width.saturating_sub(used)).min(TRAINER_MAX);
    }
    cols
}

fn state_text(app: &App, run: &RunInfo) -> String {
    let (symbol, label, _) = app.theme.run_state(&run.state);
    match &run.state {
        RunState::EarlyStopping => {
            let waited = app.elapsed_since(run.state_since);
            format!("{symbol} {label} {}", format::clock_duration(waited))
        }
        RunState::Exited {
            status: ExitStatus::Code(0),
        } => format!("{symbol} {label}"),
        RunState::Exited { status } => format!("{symbol} {label} {}", format::exit_status(status)),
        _ => format!("{symbol} {label}"),
    }
}

/// The explanatory second line of a run, when there is something to explain.
fn why_line(app: &App, run: &RunInfo) -> Option<String> {
    // Stopping and restarting are explained by the run's own config change only; why a
    // replacement was started explains where it came from, not why it stops.
    let own_reason = Some(format::config_changes(&run.restart_reason)).filter(|s| !s.is_empty());
    match &run.state {
        RunState::EarlyStopping => {
            let waited = app.elapsed_since(run.state_since);
            let mut text = format!(
                "waiting for its next checkpoint: {}",
                format::clock_duration(waited)
            );
            if let Some(deadline) = run.kill_deadline {
                // The deadline was set a moment before the state: 29.99 s is the 30 s timeout.
                let timeout =
                    format::ceil_secs(deadline.duration_since(run.state_since).unwrap_or_default());
                let left = format::ceil_secs(deadline.duration_since(app.now).unwrap_or_default());
                text.push_str(&format!(
                    " of {} (killed in {})",
                    format::clock_duration(timeout),
                    format::clock_duration(left)
                ));
            }
            if let Some(reason) = own_reason {
                text.push_str(&format!(" · config changed: {reason}"));
            } else if let Some(cause) = app.stop_cause(run) {
                text.push_str(&format!(" · {cause}"));
            }
            if run.kill_deadline.is_some() && run.stop_cause == Some(StopCause::ConfigChange) {
                // Why this wait is longer than the stop timeout.
                text.push_str(" · a config restart waits as long as the runner does");
            }
            Some(text)
        }
        RunState::Restarting => Some(match own_reason {
            Some(reason) => format!("restarting with the new config: {reason}"),
            None => "restarting with the current build".to_string(),
        }),
        RunState::Exited { .. } => None,
        _ if run.pending_config.is_some() => {
            let changes = format::pending_changes(run);
            Some(format!(
                "behind the build ({changes}): R restarts it with the new config"
            ))
        }
        _ => run.restarted_from.as_ref().map(|restart| {
            format!(
                "restarted from {}: {}",
                restart.from,
                format::restart_cause(&restart.cause)
            )
        }),
    }
}

pub fn render(app: &mut App, frame: &mut Frame, area: Rect) {
    if area.height == 0 {
        return;
    }
    let theme = app.theme;
    let live = app.live_runs();
    let title = if app.runs.is_empty() {
        " runs ".to_string()
    } else {
        format!(" runs · {live} live / {} ", app.runs.len())
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border(app.focus == Focus::Runs))
        .title(Span::styled(title, theme.title()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    app.hit_map.runs_area = area;
    if inner.height == 0 {
        return;
    }
    let width = usize::from(inner.width);

    if app.runs.is_empty() {
        let hint = if app.last_good.is_some() {
            "no runs yet · press s to start one"
        } else {
            "no runs yet · waiting for a successful build"
        };
        frame.render_widget(Paragraph::new(Span::styled(hint, theme.dim())), inner);
        return;
    }

    let states: Vec<String> = app.runs.iter().map(|r| state_text(app, r)).collect();
    let state_width = states
        .iter()
        .map(|s| s.chars().count() + 2)
        .max()
        .unwrap_or(0)
        .max(STATE_MIN);
    let cols = columns(width, state_width, progress::any(&app.runs));

    // (line, pid of the run it belongs to)
    let mut lines: Vec<(Line<'static>, u32)> = Vec::new();
    let mut selected_first_line = 0usize;
    let mut animate: Option<Duration> = None;
    for (run, state) in app.runs.iter().zip(&states) {
        let selected = app.selected == Some(run.pid);
        if selected {
            selected_first_line = lines.len();
        }
        let (_, _, state_style) = theme.run_state(&run.state);
        let uptime = match run.state {
            RunState::Exited { .. } => run
                .state_since
                .duration_since(run.started_at)
                .unwrap_or_default(),
            _ => app.now.duration_since(run.started_at).unwrap_or_default(),
        };
        if is_live(run) {
            let step = format::clock_duration_next_change(uptime);
            animate = Some(animate.map_or(step, |a| a.min(step)));
            if run.state == RunState::EarlyStopping {
                let waited = app.now.duration_since(run.state_since).unwrap_or_default();
                let step = format::clock_duration_next_change(waited);
                animate = Some(animate.map_or(step, |a| a.min(step)));
            }
        }
        let mut spans = vec![
            Span::raw(if selected { "▸ " } else { "  " }),
            Span::raw(fit(&run.pid.to_string(), PID)),
        ];
        if cols.trainer > 0 {
            let name = run.trainer_name.as_deref().unwrap_or("(unnamed)");
            // Runs started from the browser Studio are listed too; say so.
            let name = match run.origin {
                RunOrigin::Http => format!("{name} (studio)"),
                RunOrigin::Engine => name.to_string(),
            };
            spans.push(Span::raw(fit(&name, cols.trainer)));
            spans.push(Span::raw(" "));
        }
        spans.push(Span::styled(fit(state, cols.state), state_style));
        spans.extend(cols.training.cells(run, theme));
        if cols.job {
            let job = run.job_id.as_deref().unwrap_or("–");
            // One column short, so a cut id never runs into the config hash.
            spans.push(Span::styled(fit(job, JOB - 1), theme.dim()));
            spans.push(Span::raw(" "));
        }
        if cols.config {
            let hash = run
                .config_hash
                .as_deref()
                .map(|h| format::short(h, 8))
                .unwrap_or("–");
            // A live run on another config than the current build is due for a restart.
            let current = app
                .last_good
                .as_ref()
                .and_then(|b| b.config_hash.as_deref());
            let stale = is_live(run) && current.is_some() && run.config_hash.as_deref() != current;
            if stale {
                spans.push(Span::styled(fit(&format!("{hash}≠"), CONFIG), theme.warn()));
            } else {
                spans.push(Span::styled(fit(hash, CONFIG), theme.dim()));
            }
        }
        if cols.uptime {
            spans.push(Span::raw(fit(&format::clock_duration(uptime), UPTIME)));
        }
        if cols.exit {
            let exit = match &run.state {
                RunState::Exited { status } => format::exit_status(status),
                _ => String::new(),
            };
            spans.push(Span::styled(fit(&exit, EXIT), state_style));
        }
        let mut line = Line::from(spans);
        if selected {
            line = line.patch_style(theme.selected());
        }
        lines.push((line, run.pid));
        if let Some(why) = why_line(app, run) {
            let text = fit(&format!("    └ {why}"), width);
            let style = match run.state {
                RunState::EarlyStopping => theme.warn(),
                RunState::Restarting => theme.accent(),
                _ => theme.dim(),
            };
            lines.push((Line::from(Span::styled(text, style)), run.pid));
        }
    }
    if let Some(step) = animate {
        animate_within(app, step);
    }

    let header = {
        let mut h = format!("{}{}", " ".repeat(MARKER), fit("PID", PID));
        if cols.trainer > 0 {
            h.push_str(&fit("TRAINER", cols.trainer + 1));
        }
        h.push_str(&fit("STATE", cols.state));
        h.push_str(&cols.training.header());
        for (on, name, w) in [
            (cols.job, "JOB", JOB),
            (cols.config, "CONFIG", CONFIG),
            (cols.uptime, "UPTIME", UPTIME),
            (cols.exit, "EXIT", EXIT),
        ] {
            if on {
                h.push_str(&fit(name, w));
            }
        }
        Line::from(Span::styled(
            h,
            theme
                .dim()
                .patch(Style::default().add_modifier(ratatui::style::Modifier::BOLD)),
        ))
    };

    // Keep the selected run (with its explanation line) in view when the table is taller
    // than its area; scroll by whole runs so no explanation is shown without its run.
    // On a very short screen a run row matters more than the column names.
    let header_rows = u16::from(inner.height >= 2);
    let body_rows = usize::from(inner.height - header_rows);
    let selected_end = lines[selected_first_line..]
        .iter()
        .take_while(|(_, pid)| Some(*pid) == app.selected)
        .count()
        + selected_first_line;
    let mut offset = 0;
    if selected_end > body_rows {
        offset = lines
            .iter()
            .enumerate()
            .filter(|(i, (_, pid))| *i == 0 || lines[i - 1].1 != *pid)
            .map(|(i, _)| i)
            .find(|start| selected_end - start <= body_rows)
            .unwrap_or(selected_first_line);
    }
    let visible: Vec<(Line<'static>, u32)> =
        lines.into_iter().skip(offset).take(body_rows).collect();
    for (i, (_, pid)) in visible.iter().enumerate() {
        app.hit_map
            .run_rows
            .push((inner.y + header_rows + i as u16, *pid));
    }
    let mut text = if header_rows > 0 {
        vec![header]
    } else {
        Vec::new()
    };
    text.extend(visible.into_iter().map(|(l, _)| l));
    frame.render_widget(Paragraph::new(text), inner);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use super::why_line;
    use crate::core::engine::{BuildStatus, EngineSnapshot};
    use crate::core::events::{
        ConfigChange, EngineEvent, Restart, RestartCause, RunInfo, RunOrigin, RunState,
    };
    use crate::core::logs::LogStore;
    use crate::tui::action::Action;
    use crate::tui::app::{App, AppOptions};

    fn run(pid: u32, state: RunState) -> RunInfo {
        RunInfo {
            trainer_name: Some("demo".into()),
            state,
            ..RunInfo::new(pid, RunOrigin::Engine, SystemTime::UNIX_EPOCH)
        }
    }

    fn app() -> App {
        let snapshot = EngineSnapshot {
            status: BuildStatus::Ok,
            ..EngineSnapshot::default()
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10);
        App::new(
            "demo",
            LogStore::new(),
            snapshot,
            AppOptions::default(),
            now,
        )
    }

    #[test]
    fn a_cut_job_id_keeps_a_space_before_the_config_hash() {
        let run = RunInfo {
            job_id: Some("sim-3c2c50452c87".into()),
            config_hash: Some("0ff9416c0ff9416c".into()),
            ..run(100, RunState::Running)
        };
        let snapshot = EngineSnapshot {
            status: BuildStatus::Ok,
            runs: vec![Arc::new(run)],
            ..EngineSnapshot::default()
        };
        let mut app = App::new(
            "demo",
            LogStore::new(),
            snapshot,
            AppOptions::default(),
            SystemTime::UNIX_EPOCH,
        );
        let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 12))
            .expect("test backend");
        terminal
            .draw(|f| crate::tui::render(&mut app, f))
            .expect("draw");
        let buffer = terminal.backend().buffer();
        let row: String = (0..120)
            .map(|x| buffer[(x, 3)].symbol().to_string())
            .collect();
        assert!(row.contains("sim-3c2c5045… 0ff9416c"), "{row}");
    }

    #[test]
    fn a_replacement_stopping_for_the_quit_does_not_blame_its_predecessors_config() {
        let mut app = app();
        let change = ConfigChange {
            key: "learningRate".into(),
            old: Some("0.0002".into()),
            new: Some("0.0001".into()),
        };
        let old = RunInfo {
            restart_reason: vec![change],
            ..run(100, RunState::EarlyStopping)
        };
        assert!(
            why_line(&app, &old).is_some_and(|w| w.contains("config changed: learningRate")),
            "the run that stops for the change says so"
        );
        app.apply_event(EngineEvent::Run(Arc::new(old.clone())));
        let replacement = RunInfo {
            restarted_from: Some(Restart {
                from: 100,
                cause: RestartCause::ConfigChanged {
                    changes: old.restart_reason.clone(),
                },
            }),
            ..run(200, RunState::Running)
        };
        app.apply_event(EngineEvent::Run(Arc::new(replacement.clone())));
        assert_eq!(
            why_line(&app, &replacement).as_deref(),
            Some("restarted from 100: learningRate 0.0002 → 0.0001")
        );

        app.handle_action(Action::Quit);
        let stopping = RunInfo {
            state: RunState::EarlyStopping,
            ..replacement
        };
        app.apply_event(EngineEvent::Run(Arc::new(stopping.clone())));
        let why = why_line(&app, &stopping).unwrap_or_default();
        assert!(why.ends_with(" · quitting"), "{why}");
        assert!(!why.contains("learningRate"), "{why}");
        let last = app.timeline.entries().back().map(|e| e.text.clone());
        assert_eq!(last.as_deref(), Some("200 early-stopping (quitting)"));
    }

    #[test]
    fn a_manual_restart_of_a_restarted_run_is_labelled_manual_not_with_the_old_change() {
        let mut app = app();
        let lr = vec![ConfigChange {
            key: "learningRate".into(),
            old: Some("0.0002".into()),
            new: Some("0.0001".into()),
        }];
        // 100 stops for a config change, 200 replaces it, the user restarts 200 by hand.
        app.apply_event(EngineEvent::Run(Arc::new(RunInfo {
            restart_reason: lr.clone(),
            ..run(100, RunState::EarlyStopping)
        })));
        app.apply_event(EngineEvent::Run(Arc::new(RunInfo {
            restarted_from: Some(Restart {
                from: 100,
                cause: RestartCause::ConfigChanged { changes: lr },
            }),
            ..run(200, RunState::Running)
        })));
        let stopping = run(200, RunState::EarlyStopping);
        app.apply_event(EngineEvent::Run(Arc::new(stopping.clone())));
        assert!(
            !why_line(&app, &stopping)
                .unwrap_or_default()
                .contains("learningRate"),
            "a manual stop blames no config change"
        );
        let third = RunInfo {
            restarted_from: Some(Restart {
                from: 200,
                cause: RestartCause::Manual,
            }),
            ..run(300, RunState::Running)
        };
        app.apply_event(EngineEvent::Run(Arc::new(third.clone())));
        assert_eq!(
            why_line(&app, &third).as_deref(),
            Some("restarted from 200: manual restart")
        );
        // A change reverted before the restart says so instead of naming it.
        let reverted = RunInfo {
            restarted_from: Some(Restart {
                from: 300,
                cause: RestartCause::ConfigChanged {
                    changes: Vec::new(),
                },
            }),
            ..run(400, RunState::Running)
        };
        assert_eq!(
            why_line(&app, &reverted).as_deref(),
            Some("restarted from 300: config changed and changed back")
        );
    }
}
