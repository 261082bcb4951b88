//! What a full-screen program's terminal shows, rebuilt from the bytes it wrote: enough of a
//! terminal for ratatui's output (cursor moves, erases, text; colours and modes are skipped).
//!
//! Matching raw output is not enough for a screen that changes in place: ratatui writes only
//! the cells that differ from the last frame, so a text on screen is often not a run of bytes
//! in the output (moving a selection by one row rewrites a few characters of two rows).
//! Every ratatui frame ends by hiding or showing the cursor (`ESC [ ?25l` / `h`): the screen
//! is whole there, and [`Screen::feed`] stops there.

use unicode_width::UnicodeWidthChar;

/// Where the parser is within an escape sequence.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parse {
    Text,
    /// After ESC.
    Escape,
    /// In `ESC [ …`: its parameter bytes are collected until the final byte.
    Csi,
    /// In a string sequence (OSC `ESC ] …`, DCS `ESC P …`), up to BEL or ESC `\`.
    StringSequence,
    /// ESC inside a string sequence (the start of its terminator).
    StringEscape,
}

pub struct Screen {
    cols: usize,
    rows: usize,
    /// Row-major; a wide character's second cell holds `'\0'`.
    cells: Vec<char>,
    row: usize,
    col: usize,
    parse: Parse,
    csi: Vec<u8>,
    /// The bytes of a UTF-8 character not complete yet.
    pending: Vec<u8>,
    /// How many bytes of the program's output this screen has seen (an absolute offset).
    pub fed: usize,
    /// The last bytes fed ended a frame.
    frame_end: bool,
}

impl Screen {
    pub fn new(cols: u16, rows: u16) -> Self {
        let (cols, rows) = (usize::from(cols), usize::from(rows));
        Self {
            cols,
            rows,
            cells: vec![' '; cols * rows],
            row: 0,
            col: 0,
            parse: Parse::Text,
            csi: Vec::new(),
            pending: Vec::new(),
            fed: 0,
            frame_end: false,
        }
    }

    /// Apply the next `bytes` of the program's output, up to the end of a frame if one ends
    /// in them; how many bytes were applied.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        for (i, &byte) in bytes.iter().enumerate() {
            self.frame_end = false;
            match self.parse {
                Parse::Text => self.text_byte(byte),
                Parse::Escape => {
                    self.parse = match byte {
                        b'[' => {
                            self.csi.clear();
                            Parse::Csi
                        }
                        b']' | b'P' => Parse::StringSequence,
                        // Two-byte sequences (charset, keypad, save/restore cursor): no cell.
                        _ => Parse::Text,
                    }
                }
                Parse::Csi => {
                    if (0x40..=0x7e).contains(&byte) {
                        self.csi_final(byte);
                        self.parse = Parse::Text;
                    } else {
                        self.csi.push(byte);
                    }
                }
                Parse::StringSequence => match byte {
                    0x07 => self.parse = Parse::Text,
                    0x1b => self.parse = Parse::StringEscape,
                    _ => {}
                },
                Parse::StringEscape => {
                    self.parse = if byte == b'\\' {
                        Parse::Text
                    } else {
                        Parse::StringSequence
                    }
                }
            }
            if self.frame_end {
                self.fed += i + 1;
                return i + 1;
            }
        }
        self.fed += bytes.len();
        bytes.len()
    }

    /// The bytes fed so far end with a whole frame.
    pub fn at_frame_end(&self) -> bool {
        self.frame_end
    }

    fn text_byte(&mut self, byte: u8) {
        match byte {
            0x1b => {
                self.pending.clear();
                self.parse = Parse::Escape;
            }
            b'\r' => self.col = 0,
            b'\n' => self.row = (self.row + 1).min(self.rows.saturating_sub(1)),
            0x08 => self.col = self.col.saturating_sub(1),
            0x00..=0x1f | 0x7f => {}
            _ => {
                self.pending.push(byte);
                match std::str::from_utf8(&self.pending) {
                    Ok(text) => {
                        let c = text.chars().next().unwrap_or(' ');
                        self.pending.clear();
                        self.print(c);
                    }
                    // Not complete yet, unless it can never be.
                    Err(e) if e.error_len().is_none() && self.pending.len() < 4 => {}
                    Err(_) => self.pending.clear(),
                }
            }
        }
    }

    fn print(&mut self, c: char) {
        let width = c.width().unwrap_or(0);
        if width == 0 {
            return;
        }
        if self.row < self.rows && self.col + width <= self.cols {
            let at = self.row * self.cols + self.col;
            self.cells[at] = c;
            if width == 2 {
                self.cells[at + 1] = '\0';
            }
        }
        self.col += width;
    }

    /// The numeric parameters of the CSI sequence just read (`None` for an empty one).
    fn params(&self) -> Vec<Option<usize>> {
        let text = String::from_utf8_lossy(&self.csi);
        text.trim_start_matches(['?', '>', '<', '='])
            .split(';')
            .map(|p| p.parse().ok())
            .collect()
    }

    fn csi_final(&mut self, last: u8) {
        // Private modes (`?1049h`, `?25l`, `>1u`) move nothing; the cursor's ends a frame.
        if self.csi.first().is_some_and(|b| b"?><=".contains(b)) {
            self.frame_end = self.csi == b"?25" && matches!(last, b'l' | b'h');
            return;
        }
        let params = self.params();
        let arg = |i: usize, default: usize| params.get(i).copied().flatten().unwrap_or(default);
        let last_row = self.rows.saturating_sub(1);
        let last_col = self.cols.saturating_sub(1);
        match last {
            b'H' | b'f' => {
                self.row = arg(0, 1).max(1).min(self.rows) - 1;
                self.col = arg(1, 1).max(1).min(self.cols) - 1;
            }
            b'A' => self.row = self.row.saturating_sub(arg(0, 1).max(1)),
            b'B' => self.row = (self.row + arg(0, 1).max(1)).min(last_row),
            b'C' => self.col = (self.col + arg(0, 1).max(1)).min(last_col),
            b'D' => self.col = self.col.saturating_sub(arg(0, 1).max(1)),
            b'G' => self.col = arg(0, 1).max(1).min(self.cols) - 1,
            b'd' => self.row = arg(0, 1).max(1).min(self.rows) - 1,
            b'J' => {
                let here = (self.row * self.cols + self.col).min(self.cells.len());
                match arg(0, 0) {
                    0 => self.blank(here, self.cells.len()),
                    1 => self.blank(0, (here + 1).min(self.cells.len())),
                    _ => self.blank(0, self.cells.len()),
                }
            }
            b'K' => {
                let start = self.row * self.cols;
                let here = start + self.col.min(self.cols);
                match arg(0, 0) {
                    0 => self.blank(here, start + self.cols),
                    1 => self.blank(start, (here + 1).min(start + self.cols)),
                    _ => self.blank(start, start + self.cols),
                }
            }
            _ => {}
        }
    }

    fn blank(&mut self, from: usize, to: usize) {
        if let Some(cells) = self.cells.get_mut(from..to) {
            cells.fill(' ');
        }
    }

    /// One row's text (a wide character once).
    pub fn row_text(&self, row: usize) -> String {
        self.cells[row * self.cols..(row + 1) * self.cols]
            .iter()
            .filter(|c| **c != '\0')
            .collect()
    }

    /// The first row that contains `text`.
    pub fn find_row(&self, text: &str) -> Option<String> {
        (0..self.rows)
            .map(|row| self.row_text(row))
            .find(|line| line.contains(text))
    }

    pub fn contains(&self, text: &str) -> bool {
        self.find_row(text).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_written_in_place_read_back_as_rows() {
        let mut screen = Screen::new(20, 3);
        let first = b"\x1b[?1049h\x1b[2J\x1b[1;1H\x1b[38;5;3mjob-0001 \xe2\x96\xb6 x\x1b[?25l";
        assert_eq!(screen.feed(first), first.len());
        assert!(screen.at_frame_end());
        assert_eq!(screen.row_text(0).trim_end(), "job-0001 ▶ x");
        // A diffed frame rewrites one character, split across two reads; the next frame's
        // bytes in the same read wait for the next call.
        assert_eq!(screen.feed(b"\x1b[1;8"), 5);
        assert!(!screen.at_frame_end());
        let rest = b"H2\x1b]52;c;Zm9v\x07\x1b[2;3Hnext\x1b[K\x1b[?25l";
        let mut read = rest.to_vec();
        read.extend_from_slice(b"\x1b[1;1H\x1b[2K\x1b[?25h");
        assert_eq!(screen.feed(&read), rest.len());
        assert_eq!(screen.row_text(0).trim_end(), "job-0002 ▶ x");
        assert_eq!(
            screen.find_row("next").as_deref(),
            Some("  next              ")
        );
        screen.feed(&read[rest.len()..]);
        assert!(screen.at_frame_end());
        assert!(!screen.contains("job"));
        assert_eq!(screen.fed, first.len() + 5 + read.len());
    }
}
