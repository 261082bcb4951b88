//! The selected run's log: only the visible window is copied out of the store and parsed.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::core::logs::LogStream;
use crate::tui::app::App;
use crate::tui::keymap::Focus;
use crate::tui::logview::{LogBounds, layout_rows};
use crate::tui::ui::{MIN_FRAME_INTERVAL, Part, animate_within, fit_parts, printable};
use crate::tui::{ansi, format};

/// Lines a frame searches at most; a flood is searched over several frames so keys stay fast.
const SEARCH_SCAN_PER_FRAME: usize = 5_000;

pub fn render(app: &mut App, frame: &mut Frame, area: Rect) {
    app.hit_map.logs_area = area;
    if area.height == 0 {
        return;
    }
    let theme = app.theme;
    let inner = Block::default().borders(Borders::TOP).inner(area);
    app.log_view.rows = inner.height.max(1);

    let (bounds, raw) = match app.selected {
        Some(pid) => {
            let logs = app.logs().clone();
            let view = &mut app.log_view;
            logs.with(pid, |log| {
                view.search.refresh(log, Some(SEARCH_SCAN_PER_FRAME));
                view.window(log)
            })
        }
        None => (LogBounds::default(), Vec::new()),
    };

    // On a narrow pane the counts go before the state (follow / paused, search position).
    let mut title = vec![Part::new(0, vec![Span::styled(" logs ", theme.title())])];
    if let Some(run) = app.selected_run() {
        let name = run.trainer_name.as_deref().unwrap_or("(unnamed)");
        title.push(Part::new(0, vec![Span::raw(format!("· {} ", run.pid))]));
        title.push(Part::new(
            3,
            vec![Span::raw(format!("{} ", printable(name)))],
        ));
    }
    let search_behind = app.log_view.search.is_behind(bounds);
    let view = &app.log_view;
    if view.follow {
        title.push(Part::new(1, vec![Span::styled("· follow ", theme.ok())]));
    } else {
        let bottom = view.effective_top(bounds) + u64::from(inner.height);
        let newer = bounds.next.saturating_sub(bottom);
        title.push(Part::new(1, vec![Span::styled("· paused ", theme.warn())]));
        if newer > 0 {
            title.push(Part::new(
                2,
                vec![Span::styled(format!("↓ {newer} newer "), theme.warn())],
            ));
        }
    }
    title.push(Part::new(
        4,
        vec![Span::styled(
            if view.wrap { "· wrap " } else { "· trunc " },
            theme.dim(),
        )],
    ));
    if !view.wrap && view.hscroll > 0 {
        title.push(Part::new(
            2,
            vec![Span::styled(format!("→{} ", view.hscroll), theme.warn())],
        ));
    }
    if !bounds.is_empty() {
        title.push(Part::new(
            5,
            vec![Span::styled(
                format!(
                    "· {} line{} ",
                    bounds.len(),
                    if bounds.len() == 1 { "" } else { "s" }
                ),
                theme.dim(),
            )],
        ));
    }
    if let Some(selection) = app.log_view.selection {
        let count = selection.range().count();
        title.push(Part::new(
            0,
            vec![Span::styled(
                format!("· {count} selected (y copies, Esc cancels) "),
                theme.info(),
            )],
        ));
    }
    if bounds.cleared > 0 {
        title.push(Part::new(2, vec![Span::styled("· cleared ", theme.info())]));
    }
    let evicted = bounds.dropped - bounds.cleared;
    if evicted > 0 {
        title.push(Part::new(
            5,
            vec![Span::styled(format!("({evicted} dropped) "), theme.dim())],
        ));
    }
    if let Some(file) = app.selected_run().and_then(|r| r.log_file.as_deref()) {
        // Relative to the project, which the header names.
        let file = file.to_string_lossy();
        let shown = file.rfind(".arkor/").map_or(&*file, |i| &file[i..]);
        title.push(Part::new(
            6,
            vec![Span::styled(
                format!("· {} ", printable(shown)),
                theme.dim(),
            )],
        ));
    }
    if view.search.is_active() && !view.search.editing {
        let position = view
            .search
            .current_index()
            .map(|i| format!("{i}/"))
            .unwrap_or_default();
        let more = if search_behind { "+" } else { "" };
        title.push(Part::new(
            1,
            vec![Span::styled(
                format!(
                    "· /{} {position}{}{more} hits ",
                    printable(&view.search.query),
                    view.search.hit_count()
                ),
                theme.info(),
            )],
        ));
    }
    // A few columns of border stay visible after the title.
    let title = fit_parts(title, usize::from(area.width).saturating_sub(3));
    if search_behind {
        // Keep scanning on the next frames even when no new line arrives.
        animate_within(app, MIN_FRAME_INTERVAL);
    }
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border(app.focus == Focus::Logs))
        .title(Line::from(title));
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }

    if raw.is_empty() {
        let hint = match app.selected {
            None => "select a run to see its output",
            Some(_) if bounds.cleared > 0 => "log cleared · new output appears here",
            Some(_) => "no output yet",
        };
        frame.render_widget(Paragraph::new(Span::styled(hint, theme.dim())), inner);
        return;
    }
    // A 10 MB line without a newline is kept by the store; only what can show is parsed.
    let parse_limit = usize::from(inner.width) * usize::from(inner.height) * 8 + 256;
    let offset = app.options.utc_offset_secs;
    let selected = app.log_view.selection.map(|s| s.range());
    let parsed: Vec<_> = raw
        .iter()
        .map(|line| {
            let text = visible_prefix(&line.text, parse_limit);
            let mut parsed = if app.log_view.timestamps {
                let stamped = format!("{} {text}", format::clock_time(line.at, offset));
                ansi::parse(&stamped, theme.colors)
            } else {
                ansi::parse(text, theme.colors)
            };
            if selected.as_ref().is_some_and(|r| r.contains(&line.seq)) {
                // Lines picked for copying (`v`) stand out whole.
                parsed.runs = vec![(0, theme.selected())];
            } else if line.stream == LogStream::System {
                // arkor's own lines (spawned, signalled, exited) read apart from the child's.
                parsed.runs = vec![(0, theme.system_line())];
            }
            (line.seq, parsed)
        })
        .collect();
    let rows = layout_rows(&parsed, inner.width, inner.height, &app.log_view, theme);
    frame.render_widget(Paragraph::new(rows), inner);
}

/// The head of `text` that can possibly be on screen (cut at a char boundary).
fn visible_prefix(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    &text[..text.floor_char_boundary(limit)]
}
