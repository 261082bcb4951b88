//! The `?` overlay: every key, from the same table the keymap uses.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::tui::app::App;
use crate::tui::keymap::BINDINGS;
use crate::tui::ui::fit;

const KEYS_WIDTH: usize = 14;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let width = area.width.min(72);
    let height = area.height.min(BINDINGS.len() as u16 + 4);
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(row);
    let block = Block::bordered()
        .border_style(theme.border(true))
        .title(Span::styled(" keys · ? or Esc closes ", theme.title()));
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
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
