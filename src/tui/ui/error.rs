//! The build error: where (file:line:col) in the title, the message and code frame below,
//! with the compiler's own colours.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::tui::ansi;
use crate::tui::app::App;

const MAX_ROWS: u16 = 14;

/// Rows the error pane wants (0 when there is no error): the message plus a title line,
/// at most a third of the screen.
pub fn wanted_rows(app: &App, area: Rect) -> u16 {
    let Some(message) = &app.last_error else {
        return 0;
    };
    let lines = message.lines().count().max(1) as u16;
    (lines + 1).min(MAX_ROWS).min((area.height / 3).max(2))
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(message) = &app.last_error else {
        return;
    };
    let theme = app.theme;
    let mut title = vec![Span::styled(" build error ", theme.error())];
    if let Some(at) = error_location(message) {
        title.push(Span::styled(format!("at {at} "), theme.title()));
    }
    // Only claim a fallback when there is one: before the first good build, runs wait.
    let consequence = if app.last_good.is_some() {
        "(last good build still serves new runs) "
    } else {
        "(no good build yet: runs start once it builds) "
    };
    title.push(Span::styled(consequence, theme.dim()));
    let lines: Vec<Line> = message
        .lines()
        .map(|raw| {
            let parsed = ansi::parse(raw, theme.colors);
            let mut spans = Vec::new();
            let mut starts: Vec<(usize, ratatui::style::Style)> = parsed.runs.clone();
            if starts.first().is_none_or(|(s, _)| *s != 0) {
                starts.insert(0, (0, ratatui::style::Style::default()));
            }
            for (i, (start, style)) in starts.iter().enumerate() {
                let end = starts.get(i + 1).map_or(parsed.text.len(), |(s, _)| *s);
                if end > *start {
                    spans.push(Span::styled(parsed.text[*start..end].to_string(), *style));
                }
            }
            Line::from(spans)
        })
        .collect();
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.error())
        .title(Line::from(title));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The first `path:line[:col]` in a compiler message (`src/arkor/index.ts:3:27`).
pub fn error_location(message: &str) -> Option<String> {
    let plain = ansi::parse(message, false).text;
    plain
        .split(|c: char| c.is_whitespace() || "[](){}\"'`,".contains(c))
        .find_map(|token| {
            let token = token.trim_end_matches(['.', ':']);
            let mut parts = token.rsplitn(3, ':');
            let last = parts.next()?;
            let middle = parts.next()?;
            let (path, line, col) = match parts.next() {
                Some(path) if is_number(middle) => (path, middle, Some(last)),
                _ => (middle, last, None),
            };
            let looks_like_file = path.rsplit_once('.').is_some_and(|(stem, ext)| {
                !stem.is_empty()
                    && (1..=5).contains(&ext.len())
                    && ext.chars().all(|c| c.is_ascii_alphanumeric())
            });
            if !is_number(line) || !looks_like_file || col.is_some_and(|c| !is_number(c)) {
                return None;
            }
            Some(match col {
                Some(col) => format!("{path}:{line}:{col}"),
                None => format!("{path}:{line}"),
            })
        })
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::error_location;

    #[test]
    fn finds_the_location_in_an_ariadne_frame() {
        let msg = "[PARSE_ERROR] Error: Unexpected token\n   ╭─[ src/arkor/trainer.ts:3:27 ]\n   │\n 3 │ x";
        assert_eq!(
            error_location(msg).as_deref(),
            Some("src/arkor/trainer.ts:3:27")
        );
    }

    #[test]
    fn finds_path_line_without_column_and_ignores_times() {
        assert_eq!(
            error_location("Could not resolve './later' in src/arkor/index.ts:1").as_deref(),
            Some("src/arkor/index.ts:1")
        );
        assert_eq!(error_location("at 12:30:01 nothing"), None);
        assert_eq!(error_location("no location"), None);
    }
}
