//! What happened, newest at the bottom, with wall-clock times.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::tui::app::App;
use crate::tui::format;
use crate::tui::timeline::TimelineKind;
use crate::tui::ui::fit;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let side = area.height > 6;
    let block = Block::default()
        .borders(if side {
            Borders::TOP | Borders::LEFT
        } else {
            Borders::TOP
        })
        .border_style(theme.border(false))
        .title(Span::styled(" timeline ", theme.title()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let rows = usize::from(inner.height);
    let entries = app.timeline.entries();
    let skip = entries.len().saturating_sub(rows);
    let width = usize::from(inner.width);
    let lines: Vec<Line> = entries
        .iter()
        .skip(skip)
        .map(|e| {
            let style = match e.kind {
                TimelineKind::Build | TimelineKind::RunStarted => theme.ok(),
                TimelineKind::BuildError | TimelineKind::RunFailed => theme.error(),
                TimelineKind::HotSwap => theme.info(),
                TimelineKind::EarlyStop | TimelineKind::Warn => theme.warn(),
                TimelineKind::Restart => theme.accent(),
                TimelineKind::RunExited | TimelineKind::Info => theme.dim(),
            };
            let time = format::clock_time(e.at, app.options.utc_offset_secs);
            let text = fit(
                &format!("{} {}", e.kind.symbol(), e.text),
                width.saturating_sub(9),
            );
            Line::from(vec![
                Span::styled(format!("{time} "), theme.dim()),
                Span::styled(text, style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
