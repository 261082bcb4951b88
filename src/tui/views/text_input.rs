//! A one-line text field with a cursor (the Playground's prompt, a new endpoint's slug, a
//! key's label). Pure state: the keymap turns keys into [`Edit`]s.

use crate::tui::ansi::char_width;

/// One change to a text field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    Insert(char),
    /// Text pasted at once (line breaks become spaces: the field is one line).
    Paste(String),
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    /// Ctrl-U: everything before the cursor.
    ClearToStart,
    /// Ctrl-W: the word before the cursor.
    DeleteWord,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextInput {
    text: String,
    /// Cursor position in chars (0 = before the first).
    cursor: usize,
}

impl TextInput {
    pub fn with_text(text: &str) -> Self {
        let text = one_line(text);
        Self {
            cursor: text.chars().count(),
            text,
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_blank(&self) -> bool {
        self.text.trim().is_empty()
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Empty the field and hand its text out.
    pub fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.text)
    }

    pub fn apply(&mut self, edit: Edit) {
        match edit {
            Edit::Insert(c) if !c.is_control() => {
                let at = self.byte_at(self.cursor);
                self.text.insert(at, c);
                self.cursor += 1;
            }
            Edit::Insert(_) => {}
            Edit::Paste(text) => {
                let text = one_line(&text);
                let at = self.byte_at(self.cursor);
                self.text.insert_str(at, &text);
                self.cursor += text.chars().count();
            }
            Edit::Backspace if self.cursor > 0 => {
                let at = self.byte_at(self.cursor - 1);
                self.text.remove(at);
                self.cursor -= 1;
            }
            Edit::Delete if self.cursor < self.len() => {
                let at = self.byte_at(self.cursor);
                self.text.remove(at);
            }
            Edit::Backspace | Edit::Delete => {}
            Edit::Left => self.cursor = self.cursor.saturating_sub(1),
            Edit::Right => self.cursor = (self.cursor + 1).min(self.len()),
            Edit::Home => self.cursor = 0,
            Edit::End => self.cursor = self.len(),
            Edit::ClearToStart => {
                let at = self.byte_at(self.cursor);
                self.text.replace_range(..at, "");
                self.cursor = 0;
            }
            Edit::DeleteWord => {
                let chars: Vec<char> = self.text.chars().collect();
                let mut start = self.cursor;
                while start > 0 && chars[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && chars[start - 1] != ' ' {
                    start -= 1;
                }
                let (from, to) = (self.byte_at(start), self.byte_at(self.cursor));
                self.text.replace_range(from..to, "");
                self.cursor = start;
            }
        }
    }

    fn len(&self) -> usize {
        self.text.chars().count()
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map_or(self.text.len(), |(i, _)| i)
    }

    /// The part of the text to show in `width` columns so the cursor stays visible, and the
    /// cursor's column within it.
    pub fn window(&self, width: usize) -> (String, usize) {
        if width == 0 {
            return (String::new(), 0);
        }
        let chars: Vec<char> = self.text.chars().collect();
        // Scroll so the cursor (and one cell for it) fits.
        let mut start = 0;
        let width_of = |from: usize, to: usize| -> usize {
            chars[from..to].iter().map(|c| char_width(*c)).sum()
        };
        while start < self.cursor && width_of(start, self.cursor) + 1 > width {
            start += 1;
        }
        let mut shown = String::new();
        let mut used = 0;
        for c in &chars[start..] {
            let w = char_width(*c);
            if used + w > width {
                break;
            }
            shown.push(*c);
            used += w;
        }
        (shown, width_of(start, self.cursor))
    }
}

fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .filter(|c| !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str) -> TextInput {
        let mut input = TextInput::default();
        for c in text.chars() {
            input.apply(Edit::Insert(c));
        }
        input
    }

    #[test]
    fn edits_at_the_cursor() {
        let mut input = typed("héllo");
        input.apply(Edit::Left);
        input.apply(Edit::Left);
        input.apply(Edit::Insert('X'));
        assert_eq!(input.text(), "hélXlo");
        input.apply(Edit::Backspace);
        input.apply(Edit::Delete);
        assert_eq!(input.text(), "hélo");
        input.apply(Edit::Home);
        input.apply(Edit::Backspace);
        input.apply(Edit::Delete);
        assert_eq!(input.text(), "élo");
        input.apply(Edit::End);
        input.apply(Edit::Paste("a\nb".into()));
        assert_eq!(input.text(), "éloa b");
        assert_eq!(input.take(), "éloa b");
        assert_eq!((input.text(), input.cursor()), ("", 0));
    }

    #[test]
    fn word_and_line_deletes() {
        let mut input = typed("one two  three");
        input.apply(Edit::DeleteWord);
        assert_eq!(input.text(), "one two  ");
        input.apply(Edit::DeleteWord);
        assert_eq!(input.text(), "one ");
        input.apply(Edit::Left);
        input.apply(Edit::ClearToStart);
        assert_eq!((input.text(), input.cursor()), (" ", 0));
    }

    #[test]
    fn the_window_keeps_the_cursor_in_view() {
        let input = typed("abcdefghij");
        assert_eq!(input.window(4), ("hij".to_owned(), 3));
        let mut input = input;
        input.apply(Edit::Home);
        assert_eq!(input.window(4), ("abcd".to_owned(), 0));
        assert_eq!(TextInput::default().window(4), (String::new(), 0));
        assert!(typed("   ").is_blank());
    }
}
