//! What happened, newest at the bottom, with wall-clock times. Entries wrap (a restart reason
//! or a demo hint is the point of the entry, so it is not cut); continuation lines are
//! indented under the entry's text.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::tui::app::App;
use crate::tui::format;
use crate::tui::keymap::Focus;
use crate::tui::timeline::TimelineKind;
use crate::tui::ui::{fit, printable, wrap};

/// `HH:MM:SS ` before each entry.
const TIME_COLUMNS: usize = 9;
/// Continuation lines start under the entry's text, past the time and the symbol.
const INDENT: usize = TIME_COLUMNS + 2;
/// One entry never takes more than this many lines (the last one ends in `…`).
const MAX_LINES_PER_ENTRY: usize = 4;

pub fn render(app: &mut App, frame: &mut Frame, area: Rect) {
    app.hit_map.timeline_area = area;
    let app = &*app;
    let theme = app.theme;
    // Beside the log pane (not below it): a left border separates the two.
    let side = area.x > 0;
    let focused = app.focus == Focus::Timeline;
    let hidden = app
        .timeline_scroll
        .min(app.timeline.len().saturating_sub(1));
    let title = if hidden > 0 {
        format!(" timeline · {hidden} newer below ")
    } else {
        " timeline ".to_string()
    };
    let block = Block::default()
        .borders(if side {
            Borders::TOP | Borders::LEFT
        } else {
            Borders::TOP
        })
        .border_style(theme.border(focused))
        .title(Span::styled(title, theme.title()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let width = usize::from(inner.width);
    // The instructions first, always (one line each, cut rather than wrapped).
    let pinned: Vec<Line> = app
        .options
        .instructions
        .iter()
        .take(usize::from(inner.height))
        .map(|text| {
            Line::from(Span::styled(
                fit(&format!("→ {text}"), width),
                theme.accent(),
            ))
        })
        .collect();
    let rows = usize::from(inner.height) - pinned.len();
    if rows == 0 {
        frame.render_widget(Paragraph::new(pinned), inner);
        return;
    }
    // Newest first, until the panel is full; the oldest one shown is cut to the rows left
    // (its last line ends in `…`).
    let mut blocks: Vec<Vec<Line>> = Vec::new();
    let mut used = 0;
    for entry in app.timeline.entries().iter().rev().skip(hidden) {
        let style = match entry.kind {
            TimelineKind::Build | TimelineKind::RunStarted | TimelineKind::RunCompleted => {
                theme.ok()
            }
            TimelineKind::BuildError | TimelineKind::RunFailed => theme.error(),
            TimelineKind::HotSwap => theme.info(),
            TimelineKind::EarlyStop | TimelineKind::Warn => theme.warn(),
            TimelineKind::Restart => theme.accent(),
            TimelineKind::RunExited | TimelineKind::Info => theme.dim(),
        };
        let time = format::clock_time(entry.at, app.options.utc_offset_secs);
        let text = format!("{} {}", entry.kind.symbol(), printable(&entry.text));
        let wrapped = wrap(
            &text,
            width.saturating_sub(TIME_COLUMNS),
            width.saturating_sub(INDENT),
            MAX_LINES_PER_ENTRY.min(rows - used),
        );
        used += wrapped.len();
        let lines = wrapped
            .into_iter()
            .enumerate()
            .map(|(i, part)| {
                let lead = if i == 0 {
                    Span::styled(format!("{time} "), theme.dim())
                } else {
                    Span::raw(" ".repeat(INDENT.min(width)))
                };
                Line::from(vec![lead, Span::styled(part, style)])
            })
            .collect();
        blocks.push(lines);
        if used >= rows {
            break;
        }
    }
    let lines: Vec<Line> = pinned
        .into_iter()
        .chain(blocks.into_iter().rev().flatten())
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
