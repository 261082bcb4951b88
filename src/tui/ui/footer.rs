//! Bottom lines: the key hints (or the answer to the last key), the search box, and the
//! quit banner with its countdown.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::core::events::{NoticeLevel, RunState};
use crate::tui::app::{App, QuitState};
use crate::tui::format;
use crate::tui::keymap::footer_bindings;
use crate::tui::ui::{Part, animate_within, fit_parts, printable};
use crate::tui::views::View;

/// Below this width the footer names the views by their number only.
const NAMED_VIEWS_FROM_WIDTH: u16 = 70;
/// From this width the footer names every view, not only the shown one.
const ALL_VIEWS_NAMED_FROM_WIDTH: u16 = 120;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let mut spans = Vec::new();
    if let Some((level, text)) = &app.message {
        let style = match level {
            NoticeLevel::Info => theme.info(),
            NoticeLevel::Warn => theme.warn(),
            NoticeLevel::Error => theme.error(),
        };
        spans.push(Span::styled(format!(" {} ", printable(text)), style));
        spans.push(Span::styled("│", theme.dim()));
    }
    // The views, the shown one marked: `[1 runs] 2 jobs …`; on a medium screen only the
    // shown one is named (`[1 runs] 2 3 4`), on a narrow one none (`[1] 2 3 4`), so the keys
    // keep their room.
    let named = |view: View| {
        area.width >= ALL_VIEWS_NAMED_FROM_WIDTH
            || (view == app.view && area.width >= NAMED_VIEWS_FROM_WIDTH)
    };
    for view in View::ALL {
        let text = if named(view) {
            format!("{} {}", view.key(), view.label())
        } else {
            view.key().to_string()
        };
        if view == app.view {
            spans.push(Span::styled(format!("[{text}]"), theme.title()));
        } else {
            spans.push(Span::styled(format!(" {text} "), theme.dim()));
        }
    }
    spans.push(Span::styled("│", theme.dim()));
    let hints: Vec<(&str, &str)> = footer_bindings(app.key_context())
        .iter()
        .filter_map(|b| {
            Some((
                b.keys.split_whitespace().next().unwrap_or(b.keys),
                b.footer?,
            ))
        })
        .collect();
    let wanted = spans.iter().map(Span::width).sum::<usize>()
        + hints
            .iter()
            .map(|(key, label)| key.chars().count() + label.chars().count() + 2)
            .sum::<usize>();
    // On a narrow screen, the way out and the way to every other key come first.
    let essential = |key: &str| key == "?" || key == "q";
    let ordered: Vec<(&str, &str)> = if wanted > usize::from(area.width) {
        let (first, rest): (Vec<_>, Vec<_>) = hints.into_iter().partition(|(k, _)| essential(k));
        first.into_iter().chain(rest).collect()
    } else {
        hints
    };
    // Whole hints only: `w wra` at the edge helps nobody (`?` lists every key).
    let mut left = usize::from(area.width).saturating_sub(spans.iter().map(Span::width).sum());
    for (key, label) in ordered {
        let key = Span::styled(format!(" {key}"), theme.key());
        let label = Span::styled(format!(" {label}"), theme.dim());
        let width = key.width() + label.width();
        if width > left {
            break;
        }
        left -= width;
        spans.push(key);
        spans.push(label);
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

pub fn render_search(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let line = Line::from(vec![
        Span::styled("/", theme.key()),
        Span::raw(app.log_view.search.input.clone()),
        Span::styled("▏", theme.key()),
        Span::styled("  Enter: find · Esc: close · n/N: next/prev", theme.dim()),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

pub fn banner_visible(app: &App) -> bool {
    quitting(app) || app.alert.is_some()
}

fn quitting(app: &App) -> bool {
    app.quit != QuitState::Running || app.shutting_down
}

/// What went wrong on its own (a failed run, a cloud cancel), until the next key.
fn render_alert(app: &App, frame: &mut Frame, area: Rect) {
    let Some((level, text)) = &app.alert else {
        return;
    };
    let style = match level {
        NoticeLevel::Error => app.theme.error(),
        _ => app.theme.warn(),
    };
    let text = crate::tui::ui::fit(
        &format!(" ! {} · any key dismisses", printable(text)),
        usize::from(area.width),
    );
    frame.render_widget(Paragraph::new(Span::styled(text, style)), area);
}

/// The quit countdown, so nobody wonders what happens to their jobs.
pub fn render_banner(app: &mut App, frame: &mut Frame, area: Rect) {
    if !quitting(app) {
        return render_alert(app, frame, area);
    }
    let theme = app.theme;
    let live = app.live_runs();
    let stopping = app
        .runs
        .iter()
        .filter(|r| r.state == RunState::EarlyStopping)
        .collect::<Vec<_>>();
    let soonest_kill = stopping
        .iter()
        .filter_map(|r| r.kill_deadline)
        .min()
        .map(|d| format::ceil_secs(d.duration_since(app.now).unwrap_or_default()));
    let (text, style) = match app.quit {
        QuitState::Graceful { .. } if live == 0 => (
            " ✓ every run stopped · finishing (closing the engine, cancelling cloud jobs)…"
                .to_string(),
            theme.ok(),
        ),
        QuitState::Graceful { since } => {
            // On a narrow screen the way to force it outranks the clocks.
            let waited = app.elapsed_since(since);
            let mut parts = vec![
                Part::new(
                    0,
                    vec![Span::raw(format!(
                        " ◐ quitting: {live} run{} early-stopping at next checkpoint",
                        if live == 1 { "" } else { "s" },
                    ))],
                ),
                Part::new(
                    3,
                    vec![Span::raw(format!(" · {}", format::clock_duration(waited)))],
                ),
            ];
            if let Some(left) = soonest_kill {
                parts.push(Part::new(
                    2,
                    vec![Span::raw(format!(
                        " · killed in {}",
                        format::clock_duration(left)
                    ))],
                ));
            }
            parts.push(Part::new(1, vec![Span::raw(" · q again: force-stop")]));
            parts.push(Part::new(4, vec![Span::raw(" (loses checkpoint)")]));
            let text = fit_parts(parts, usize::from(area.width))
                .iter()
                .map(|span| span.content.as_ref())
                .collect();
            (text, theme.warn())
        }
        QuitState::Forced { since } => (
            format!(
                " ✗ force-stopping {live} run{} · {}",
                if live == 1 { "" } else { "s" },
                format::clock_duration(app.elapsed_since(since))
            ),
            theme.error(),
        ),
        QuitState::Leave => (" leaving…".to_string(), theme.dim()),
        QuitState::Running => (
            format!(
                " shutting down · {live} run{} still stopping",
                if live == 1 { "" } else { "s" }
            ),
            theme.warn(),
        ),
    };
    if let QuitState::Graceful { since } | QuitState::Forced { since } = app.quit {
        animate_within(
            app,
            format::clock_duration_next_change(app.elapsed_since(since)),
        );
    }
    frame.render_widget(Paragraph::new(Span::styled(text, style)), area);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use crate::core::engine::{BuildStatus, EngineSnapshot};
    use crate::core::events::{RunInfo, RunOrigin, RunState};
    use crate::core::logs::LogStore;
    use crate::tui::action::Action;
    use crate::tui::app::{App, AppOptions};

    fn banner_at_width(width: u16) -> String {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let run = RunInfo {
            state: RunState::EarlyStopping,
            kill_deadline: Some(t0 + Duration::from_secs(30)),
            ..RunInfo::new(7, RunOrigin::Engine, t0)
        };
        let snapshot = EngineSnapshot {
            status: BuildStatus::Ok,
            runs: vec![Arc::new(run)],
            ..EngineSnapshot::default()
        };
        let mut app = App::new("demo", LogStore::new(), snapshot, AppOptions::default(), t0);
        app.handle_action(Action::Quit);
        let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, 12))
            .expect("test backend");
        terminal
            .draw(|f| crate::tui::render(&mut app, f))
            .expect("draw");
        let buffer = terminal.backend().buffer();
        (0..width)
            .map(|x| buffer[(x, 1)].symbol().to_string())
            .collect()
    }

    #[test]
    fn a_narrow_quit_banner_keeps_the_way_to_force_it() {
        let narrow = banner_at_width(80);
        assert!(
            narrow.contains("early-stopping at next checkpoint"),
            "{narrow}"
        );
        assert!(narrow.contains(" · q again: force-stop"), "{narrow}");
        assert!(!narrow.contains('…'), "whole parts only: {narrow}");
        let wide = banner_at_width(140);
        assert!(
            wide.contains(
                "checkpoint · 0s · killed in 30s · q again: force-stop (loses checkpoint)"
            ),
            "{wide}"
        );
    }
}
