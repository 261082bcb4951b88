//! The `?` overlay: every key, from the same table the keymap uses.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::tui::app::App;
use crate::tui::keymap::BINDINGS;
use crate::tui::ui::fit;

const KEYS_WIDTH: usize = 14;

pub fn render(app: &mut App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let width = area.width.min(72);
    let height = area.height.min(BINDINGS.len() as u16 + 4);
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(row);
    let mut lines = vec![Line::from(Span::styled(
        "Quit is deliberate: runs early-stop at their next checkpoint first.",
        theme.dim(),
    ))];
    lines.extend(BINDINGS.iter().map(|b| {
        Line::from(vec![
            Span::styled(fit(b.keys, KEYS_WIDTH), theme.key()),
            Span::raw(b.help),
        ])
    }));
    // On a short screen the list scrolls (↑↓ j k); the title says when more is hidden.
    let visible = usize::from(popup.height.saturating_sub(2));
    let max_scroll = lines.len().saturating_sub(visible);
    app.help_scroll = app.help_scroll.min(max_scroll as u16);
    let scroll = usize::from(app.help_scroll);
    let more = if scroll < max_scroll {
        "↓ more · "
    } else {
        ""
    };
    let block = Block::bordered()
        .border_style(theme.border(true))
        .title(Span::styled(
            format!(" keys · {more}? or Esc closes "),
            theme.title(),
        ));
    let lines: Vec<Line> = lines.into_iter().skip(scroll).collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
