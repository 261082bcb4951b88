//! The Playground view (`3`): who answers (base model or a job's adapter), the conversation
//! with the reply growing as it streams, and the prompt with its cursor.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::core::cloud::inference::ChatRole;
use crate::tui::app::App;
use crate::tui::ui::{fit, printable, wrap};
use crate::tui::views::playground::{ReplyState, model_label};

/// `you › ` and `model › ` take this many columns.
const WHO_WIDTH: usize = 8;

pub fn render(app: &mut App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let [model_area, chat_area, input_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(3),
    ])
    .areas(area);
    let chat = &app.playground;
    let width = usize::from(area.width);
    let state = if chat.is_streaming() {
        " · replying… (x stops it)"
    } else {
        ""
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" chat with ", theme.dim()),
            Span::styled(
                fit(
                    &model_label(&chat.model),
                    width.saturating_sub(12 + state.len()).max(1),
                )
                .trim_end()
                .to_owned(),
                theme.title(),
            ),
            Span::styled(state, theme.info()),
        ])),
        model_area,
    );

    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border(!chat.editing))
        .title(Span::styled(" conversation ", theme.title()));
    let inner = block.inner(chat_area);
    frame.render_widget(block, chat_area);
    let text_width = usize::from(inner.width).saturating_sub(WHO_WIDTH).max(1);
    let mut lines: Vec<Line> = Vec::new();
    if chat.turns.is_empty() {
        lines.push(Line::from(Span::styled(
            " No messages yet: i (or Enter) to type a prompt, Enter to send it.",
            theme.dim(),
        )));
    }
    for turn in &chat.turns {
        let (who, who_style) = match turn.role {
            ChatRole::User => ("you ›", theme.accent()),
            _ => ("model ›", theme.info()),
        };
        let style = match turn.state {
            ReplyState::Failed => theme.error(),
            _ => ratatui::style::Style::default(),
        };
        let mut text = printable(&turn.text);
        match turn.state {
            ReplyState::Streaming => text.push('▌'),
            ReplyState::Stopped => text.push_str(" [stopped]"),
            ReplyState::Done | ReplyState::Failed => {}
        }
        for (i, part) in wrap(&text, text_width, text_width, usize::MAX)
            .into_iter()
            .enumerate()
        {
            let who = if i == 0 { who } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!("{who:>w$} ", w = WHO_WIDTH - 1), who_style),
                Span::styled(part, style),
            ]));
        }
        lines.push(Line::default());
    }
    let rows = usize::from(inner.height);
    let max_scroll = lines.len().saturating_sub(rows);
    let scroll = app.playground.scroll.min(max_scroll);
    app.playground.scroll = scroll;
    let end = lines.len() - scroll;
    let start = end.saturating_sub(rows);
    let shown: Vec<Line> = lines.drain(start..end).collect();
    frame.render_widget(Paragraph::new(shown), inner);

    let chat = &app.playground;
    let title = if chat.editing {
        " prompt · Enter sends · Esc leaves "
    } else {
        " prompt · i to type "
    };
    let block = Block::bordered()
        .border_style(theme.border(chat.editing))
        .title(Span::styled(title, theme.title()));
    let field = block.inner(input_area);
    frame.render_widget(block, input_area);
    let (shown, cursor) = chat.input.window(usize::from(field.width));
    frame.render_widget(Paragraph::new(printable(&shown)), field);
    if chat.editing && field.width > 0 && field.height > 0 {
        let x = field.x
            + u16::try_from(cursor)
                .unwrap_or(u16::MAX)
                .min(field.width - 1);
        frame.set_cursor_position(Position::new(x, field.y));
    }
}
