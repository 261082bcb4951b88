//! A one-key confirmation drawn over any view: a question, what saying yes costs, and the
//! keys. `y` or Enter confirms; any other key cancels, so a stray key never does the costly
//! thing. Generic over what a confirmed answer carries (`T`: an engine command, a cloud call),
//! so every view asks the same way.
//!
//! ```text
//! // on the costly key:
//! app.confirm = Some(Confirm::new("force-stop run 1234?", "kill it", Command::StopRun { .. })
//!     .cost("SIGKILL now: the checkpoint since the last save is lost"));
//! // on the next key press, while a confirmation is open:
//! if let Some(answer) = Answer::from_key(&key) {
//!     if let Some(command) = app.confirm.take().and_then(|c| c.answer(answer)) { send(command) }
//! }
//! // when drawing, last, over everything else:
//! if let Some(confirm) = &app.confirm { popup::render(confirm, theme, frame, frame.area()) }
//! ```

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::tui::theme::Theme;
use crate::tui::ui::wrap;

/// Widest a confirmation box grows (narrower screens get the whole width).
const MAX_WIDTH: u16 = 64;

/// A pending yes/no question whose yes does `on_yes`.
#[derive(Clone, Debug, PartialEq)]
pub struct Confirm<T> {
    /// The question, in the box's title: `force-stop run 1234?`.
    pub question: String,
    /// What saying yes costs, one statement per entry (wrapped to the box).
    pub cost: Vec<String>,
    /// What yes does, in two or three words: `kill it`, `start another`.
    pub yes: String,
    pub on_yes: T,
}

/// How the user answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
}

impl Answer {
    /// `y`, `Y` or Enter: yes; any other key press: no. Key releases and lone modifier keys
    /// (reported by terminals with enhanced keyboard reporting) are no answer yet.
    pub fn from_key(key: &KeyEvent) -> Option<Answer> {
        if key.kind == KeyEventKind::Release || matches!(key.code, KeyCode::Modifier(_)) {
            return None;
        }
        let plain = !key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        Some(match key.code {
            KeyCode::Char('y' | 'Y') | KeyCode::Enter if plain => Answer::Yes,
            _ => Answer::No,
        })
    }
}

impl<T> Confirm<T> {
    pub fn new(question: impl Into<String>, yes: impl Into<String>, on_yes: T) -> Self {
        Self {
            question: question.into(),
            cost: Vec::new(),
            yes: yes.into(),
            on_yes,
        }
    }

    /// Add one line saying what yes costs.
    pub fn cost(mut self, line: impl Into<String>) -> Self {
        self.cost.push(line.into());
        self
    }

    /// What to do for `answer`: the payload on yes, nothing on no.
    pub fn answer(self, answer: Answer) -> Option<T> {
        (answer == Answer::Yes).then_some(self.on_yes)
    }
}

/// `width` × `height` (each at most the area's) in the middle of `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}

/// Draw `confirm` in the middle of `area`, over whatever is there.
pub fn render<T>(confirm: &Confirm<T>, theme: Theme, frame: &mut Frame, area: Rect) {
    if area.width < 3 || area.height < 3 {
        return;
    }
    let keys = format!("y/Enter: {} · any other key: cancel", confirm.yes);
    let longest = confirm
        .cost
        .iter()
        .map(String::as_str)
        .chain([keys.as_str(), confirm.question.as_str()])
        .map(|s| s.chars().count() + 4)
        .max()
        .unwrap_or(0);
    let width = area
        .width
        .min(MAX_WIDTH)
        .min(u16::try_from(longest).unwrap_or(u16::MAX))
        .max(area.width.min(24));
    let inner = usize::from(width.saturating_sub(4)).max(1);
    let mut lines: Vec<Line> = Vec::new();
    for statement in &confirm.cost {
        for part in wrap(statement, inner, inner, usize::MAX) {
            lines.push(Line::from(Span::styled(format!(" {part}"), theme.warn())));
        }
    }
    if !lines.is_empty() {
        lines.push(Line::default());
    }
    let mut key_lines = wrap(&keys, inner, inner, usize::MAX).into_iter();
    if let Some(first) = key_lines.next() {
        // The confirming keys stand out; the rest of the hint is quiet.
        let (lead, rest) = first.split_at(first.find(':').unwrap_or(0));
        lines.push(Line::from(vec![
            Span::raw(" "),
            Span::styled(lead.to_string(), theme.key()),
            Span::styled(rest.to_string(), theme.dim()),
        ]));
    }
    lines.extend(key_lines.map(|part| Line::from(Span::styled(format!(" {part}"), theme.dim()))));
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let popup = centered(area, width, height);
    let title = crate::tui::ui::fit(
        &format!(" {} ", confirm.question),
        usize::from(width.saturating_sub(2)),
    );
    let block = Block::bordered()
        .border_style(theme.warn())
        .title(Span::styled(title.trim_end().to_string(), theme.title()));
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> Option<Answer> {
        Answer::from_key(&KeyEvent::new(code, modifiers))
    }

    #[test]
    fn only_y_or_enter_confirms() {
        assert_eq!(
            press(KeyCode::Char('y'), KeyModifiers::NONE),
            Some(Answer::Yes)
        );
        assert_eq!(
            press(KeyCode::Char('Y'), KeyModifiers::SHIFT),
            Some(Answer::Yes)
        );
        assert_eq!(press(KeyCode::Enter, KeyModifiers::NONE), Some(Answer::Yes));
        for code in [
            KeyCode::Char('n'),
            KeyCode::Char('X'),
            KeyCode::Char('q'),
            KeyCode::Esc,
            KeyCode::Char(' '),
            KeyCode::Tab,
        ] {
            assert_eq!(
                press(code, KeyModifiers::NONE),
                Some(Answer::No),
                "{code:?}"
            );
        }
        assert_eq!(
            press(KeyCode::Char('y'), KeyModifiers::CONTROL),
            Some(Answer::No),
            "Ctrl-Y is not a yes"
        );
        let release = KeyEvent {
            kind: KeyEventKind::Release,
            ..KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE)
        };
        assert_eq!(Answer::from_key(&release), None);
    }

    #[test]
    fn yes_hands_back_the_payload_and_no_drops_it() {
        let confirm = Confirm::new("kill?", "kill it", 7).cost("the checkpoint is lost");
        assert_eq!(confirm.clone().answer(Answer::Yes), Some(7));
        assert_eq!(confirm.answer(Answer::No), None);
    }

    #[test]
    fn the_box_names_the_question_the_cost_and_the_keys() {
        let confirm = Confirm::new("force-stop run 1234?", "kill it", ())
            .cost("SIGKILL now: everything since the last checkpoint is lost");
        let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(50, 12))
            .expect("test backend");
        terminal
            .draw(|f| render(&confirm, Theme::new(false), f, f.area()))
            .expect("draw");
        let buffer = terminal.backend().buffer();
        let text: String = (0..12)
            .map(|y| {
                let row: String = (0..50).map(|x| buffer[(x, y)].symbol()).collect();
                format!("{}\n", row.trim_end())
            })
            .collect();
        assert!(text.contains("force-stop run 1234?"), "{text}");
        assert!(text.contains("SIGKILL now: everything since"), "{text}");
        assert!(
            text.contains("checkpoint is lost"),
            "wrapped, not cut:\n{text}"
        );
        assert!(text.contains("y/Enter: kill it"), "{text}");
        assert!(text.contains("any other key: cancel"), "{text}");
    }

    #[test]
    fn tiny_areas_never_panic() {
        let confirm = Confirm::new("a very long question that cannot fit?", "yes", ());
        for (w, h) in [(0, 0), (2, 2), (3, 3), (10, 4), (200, 3)] {
            let mut terminal =
                ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).expect("backend");
            terminal
                .draw(|f| render(&confirm, Theme::new(true), f, f.area()))
                .expect("draw");
        }
    }
}
