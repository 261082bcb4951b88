//! What happened, newest at the bottom, with wall-clock times. Entries wrap (a restart reason
//! or a demo hint is the point of the entry, so it is not cut); continuation lines are
//! indented under the entry's text.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::tui::ansi::char_width;
use crate::tui::app::App;
use crate::tui::format;
use crate::tui::timeline::TimelineKind;
use crate::tui::ui::{fit, printable};

/// `HH:MM:SS ` before each entry.
const TIME_COLUMNS: usize = 9;
/// Continuation lines start under the entry's text, past the time and the symbol.
const INDENT: usize = TIME_COLUMNS + 2;
/// One entry never takes more than this many lines (the last one ends in `…`).
const MAX_LINES_PER_ENTRY: usize = 4;

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
    let width = usize::from(inner.width);
    // Newest first, until the panel is full; only whole entries, except that the newest is
    // cut to the panel when even it does not fit.
    let mut blocks: Vec<Vec<Line>> = Vec::new();
    let mut used = 0;
    for entry in app.timeline.entries().iter().rev() {
        let style = match entry.kind {
            TimelineKind::Build | TimelineKind::RunStarted => theme.ok(),
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
        if used + wrapped.len() > rows && !blocks.is_empty() {
            break;
        }
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
    let lines: Vec<Line> = blocks.into_iter().rev().flatten().collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `text` in lines of at most `first` columns, then `rest` columns, broken at spaces (a word
/// longer than a line is split), at most `max_lines` lines; a cut ends in `…`.
fn wrap(text: &str, first: usize, rest: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_width = 0;
    let limit = |lines: &Vec<String>| if lines.is_empty() { first } else { rest };
    for word in text.split(' ') {
        let word_width: usize = word.chars().map(char_width).sum();
        let space = usize::from(!current.is_empty());
        if current_width + space + word_width <= limit(&lines) {
            if space == 1 {
                current.push(' ');
            }
            current.push_str(word);
            current_width += space + word_width;
            continue;
        }
        // The word goes on the next line; split it when no line could hold it.
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
            current_width = 0;
        }
        for c in word.chars() {
            let w = char_width(c);
            if current_width + w > limit(&lines) && !current.is_empty() {
                lines.push(std::mem::take(&mut current));
                current_width = 0;
            }
            current.push(c);
            current_width += w;
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines.max(1));
        let last_limit = if lines.len() == 1 { first } else { rest };
        if let Some(last) = lines.last_mut() {
            // `fit` keeps the mark when there is room and cuts into the text when not.
            *last = fit(&format!("{last} …"), last_limit).trim_end().to_string();
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_at_spaces_and_splits_long_words() {
        assert_eq!(wrap("a bb ccc", 4, 4, 9), ["a bb", "ccc"]);
        assert_eq!(wrap("abcdefgh", 3, 5, 9), ["abc", "defgh"]);
        assert_eq!(
            wrap("x /tmp/long/path y", 6, 6, 9),
            ["x", "/tmp/l", "ong/pa", "th y"]
        );
        assert_eq!(wrap("", 5, 5, 2), [""]);
        assert_eq!(wrap("日本語 ok", 4, 4, 9), ["日本", "語", "ok"]);
    }

    #[test]
    fn caps_the_lines_of_an_entry() {
        let lines = wrap("one two three four five", 5, 5, 2);
        assert_eq!(lines, ["one", "two …"]);
        assert!(lines.iter().all(|l| l.chars().count() <= 5));
        assert_eq!(wrap("abcdefghij", 4, 4, 1), ["abc…"]);
    }
}
