//! Turn one raw log line into plain text plus style runs that are safe to draw.
//!
//! A child's output goes straight into terminal cells, so anything other than printable text
//! must go: SGR colour codes become ratatui styles, every other escape sequence (cursor moves,
//! screen clears, OSC titles and clipboard writes) and control character is dropped, and tabs
//! are expanded. An unterminated sequence swallows the rest of the line and nothing more.

use ratatui::style::{Color, Modifier, Style};
use unicode_width::UnicodeWidthChar;

const TAB_WIDTH: usize = 8;
const ESC: char = '\u{1b}';
const BEL: char = '\u{7}';

/// A parsed line: printable text and where each style starts (byte offsets into `text`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StyledLine {
    pub text: String,
    /// Sorted by offset; the first run (if any) starts at 0. Text before the first run is unstyled.
    pub runs: Vec<(usize, Style)>,
}

impl StyledLine {
    /// The style in effect at byte offset `at`.
    pub fn style_at(&self, at: usize) -> Style {
        match self.runs.binary_search_by(|(start, _)| start.cmp(&at)) {
            Ok(i) => self.runs[i].1,
            Err(0) => Style::default(),
            Err(i) => self.runs[i - 1].1,
        }
    }

    /// Display width in terminal columns.
    pub fn width(&self) -> usize {
        self.text.chars().map(char_width).sum()
    }
}

/// Columns a printable char takes (control chars never reach here).
pub fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// Parse `raw`. With `colors` false (NO_COLOR) colours are dropped but bold, underline and the
/// like are kept.
pub fn parse(raw: &str, colors: bool) -> StyledLine {
    let mut out = StyledLine::default();
    parse_into(raw, Some(colors), &mut out);
    out
}

/// The printable text of `raw` only (what search looks at), reusing `out`'s buffer. Lines
/// without escapes or control characters are returned as they are, without copying.
pub fn plain_text<'a>(raw: &'a str, out: &'a mut StyledLine) -> &'a str {
    if !raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return raw;
    }
    out.text.clear();
    out.runs.clear();
    parse_into(raw, None, out);
    &out.text
}

/// `styles`: `Some(colors)` to compute style runs, `None` for text only.
fn parse_into(raw: &str, styles: Option<bool>, out: &mut StyledLine) {
    let mut style = Style::default();
    let mut column = 0usize;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ESC => match chars.next() {
                Some('[') => {
                    let mut params = String::new();
                    let mut final_byte = None;
                    for p in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&p) {
                            final_byte = Some(p);
                            break;
                        }
                        params.push(p);
                    }
                    if let (Some('m'), Some(colors)) = (final_byte, styles) {
                        let next = apply_sgr(style, &params, colors);
                        if next != style {
                            style = next;
                            push_run(out, style);
                        }
                    }
                }
                Some(']') => {
                    // OSC: up to BEL or ST (ESC \).
                    while let Some(p) = chars.next() {
                        if p == BEL {
                            break;
                        }
                        if p == ESC {
                            chars.next();
                            break;
                        }
                    }
                }
                // Two-char escapes (ESC c, ESC 7, ...) and a trailing lone ESC.
                _ => {}
            },
            '\t' => {
                let spaces = TAB_WIDTH - column % TAB_WIDTH;
                out.text.extend(std::iter::repeat_n(' ', spaces));
                column += spaces;
            }
            c if c.is_control() => {}
            c => {
                out.text.push(c);
                column += char_width(c);
            }
        }
    }
}

fn push_run(line: &mut StyledLine, style: Style) {
    let at = line.text.len();
    match line.runs.last_mut() {
        Some((start, s)) if *start == at => *s = style,
        _ => line.runs.push((at, style)),
    }
}

fn apply_sgr(mut style: Style, params: &str, colors: bool) -> Style {
    let mut codes = params.split([';', ':']).map(|p| {
        if p.is_empty() {
            Some(0)
        } else {
            p.parse::<u16>().ok()
        }
    });
    while let Some(code) = codes.next() {
        let Some(code) = code else { continue };
        style = match code {
            0 => Style::default(),
            1 => style.add_modifier(Modifier::BOLD),
            2 => style.add_modifier(Modifier::DIM),
            3 => style.add_modifier(Modifier::ITALIC),
            4 => style.add_modifier(Modifier::UNDERLINED),
            7 => style.add_modifier(Modifier::REVERSED),
            9 => style.add_modifier(Modifier::CROSSED_OUT),
            21 | 22 => style.remove_modifier(Modifier::BOLD | Modifier::DIM),
            23 => style.remove_modifier(Modifier::ITALIC),
            24 => style.remove_modifier(Modifier::UNDERLINED),
            27 => style.remove_modifier(Modifier::REVERSED),
            29 => style.remove_modifier(Modifier::CROSSED_OUT),
            30..=37 if colors => style.fg(Color::Indexed((code - 30) as u8)),
            40..=47 if colors => style.bg(Color::Indexed((code - 40) as u8)),
            90..=97 if colors => style.fg(Color::Indexed((code - 90 + 8) as u8)),
            100..=107 if colors => style.bg(Color::Indexed((code - 100 + 8) as u8)),
            39 => Style { fg: None, ..style },
            49 => Style { bg: None, ..style },
            38 | 48 => {
                // Consume the extended colour's arguments even when colours are off.
                let color = match codes.next().flatten() {
                    Some(5) => codes.next().flatten().map(|n| Color::Indexed(n as u8)),
                    Some(2) => {
                        let r = codes.next().flatten();
                        let g = codes.next().flatten();
                        let b = codes.next().flatten();
                        match (r, g, b) {
                            (Some(r), Some(g), Some(b)) => {
                                Some(Color::Rgb(r as u8, g as u8, b as u8))
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                };
                match color {
                    Some(c) if colors && code == 38 => style.fg(c),
                    Some(c) if colors => style.bg(c),
                    _ => style,
                }
            }
            _ => style,
        };
    }
    style
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_sgr_colours_as_runs() {
        let line = parse("plain \u{1b}[31mred\u{1b}[0m back", true);
        assert_eq!(line.text, "plain red back");
        assert_eq!(line.style_at(0), Style::default());
        assert_eq!(line.style_at(6), Style::default().fg(Color::Indexed(1)));
        assert_eq!(line.style_at(9), Style::default());
    }

    #[test]
    fn drops_cursor_moves_osc_and_controls() {
        let line = parse(
            "a\u{1b}[2J\u{1b}[Hb\u{1b}]0;title\u{7}c\u{1b}]52;c;Zm9v\u{1b}\\d\u{8}e\u{1b}",
            true,
        );
        assert_eq!(line.text, "abcde");
        assert!(line.runs.is_empty());
    }

    #[test]
    fn truecolor_and_256_colours() {
        let line = parse("\u{1b}[38;2;1;2;3;48;5;200mx", true);
        assert_eq!(
            line.style_at(0),
            Style::default()
                .fg(Color::Rgb(1, 2, 3))
                .bg(Color::Indexed(200))
        );
    }

    #[test]
    fn no_color_keeps_modifiers_only() {
        let line = parse("\u{1b}[1;38;5;9;31mbold\u{1b}[22mx", false);
        assert_eq!(line.text, "boldx");
        assert_eq!(
            line.style_at(0),
            Style::default().add_modifier(Modifier::BOLD)
        );
        assert_eq!(
            line.style_at(4),
            Style::default().remove_modifier(Modifier::BOLD | Modifier::DIM)
        );
    }

    #[test]
    fn expands_tabs_to_the_next_stop() {
        assert_eq!(parse("ab\tc", true).text, "ab      c");
        assert_eq!(parse("\t", true).text.len(), 8);
    }

    #[test]
    fn unterminated_csi_swallows_only_the_rest() {
        let line = parse("ok\u{1b}[12;34", true);
        assert_eq!(line.text, "ok");
    }

    #[test]
    fn wide_chars_count_two_columns() {
        assert_eq!(parse("日本", true).width(), 4);
    }
}
