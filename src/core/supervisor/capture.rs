//! Turns a child's raw output bytes into log lines, the way a terminal would show them.
//!
//! Lines end at `\n` (`\r\n` too). A `\r` inside a line is a progress redraw: only the
//! last non-empty segment survives (`"50%\r100%"` → `"100%"`). Bytes are decoded lossily
//! (invalid UTF-8 → U+FFFD), and a line longer than [`MAX_LINE_BYTES`] keeps its head plus
//! a note of how much was cut, so one runaway line never grows memory without bound.

/// Longest stored line, in bytes of raw output (excluding the truncation note).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One `\r`-separated piece of a line, capped at `MAX_LINE_BYTES`.
#[derive(Debug, Default)]
struct Segment {
    bytes: Vec<u8>,
    /// Bytes seen past the cap.
    dropped: usize,
}

impl Segment {
    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_LINE_BYTES.saturating_sub(self.bytes.len());
        let kept = bytes.len().min(room);
        self.bytes.extend_from_slice(&bytes[..kept]);
        self.dropped += bytes.len() - kept;
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.dropped == 0
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.dropped = 0;
    }

    fn to_line(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.dropped > 0 {
            text.push_str(&format!(" … [line truncated: {} more bytes]", self.dropped));
        }
        text
    }
}

/// Incremental splitter for one stream (stdout or stderr) of one child.
#[derive(Debug, Default)]
pub struct LineSplitter {
    current: Segment,
    /// The last non-empty segment before a `\r` (shown if nothing follows it).
    previous: Segment,
    /// A `\r` was seen; the next byte decides between a line end and a redraw.
    pending_cr: bool,
}

impl LineSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Split `chunk`, appending every completed line to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<String>) {
        while !chunk.is_empty() {
            let stop = chunk.iter().position(|&b| b == b'\n' || b == b'\r');
            let text = &chunk[..stop.unwrap_or(chunk.len())];
            if !text.is_empty() {
                self.start_redraw_if_pending();
                self.current.push(text);
            }
            match stop {
                None => return,
                Some(at) => {
                    if chunk[at] == b'\n' {
                        out.push(self.take_line());
                    } else {
                        self.pending_cr = true;
                    }
                    chunk = &chunk[at + 1..];
                }
            }
        }
    }

    /// Flush an unterminated last line (at EOF).
    pub fn finish(&mut self, out: &mut Vec<String>) {
        if !self.current.is_empty() || !self.previous.is_empty() || self.pending_cr {
            out.push(self.take_line());
        }
    }

    /// Bytes currently held for the unterminated line.
    pub fn buffered(&self) -> usize {
        self.current.bytes.len() + self.previous.bytes.len()
    }

    fn start_redraw_if_pending(&mut self) {
        if !self.pending_cr {
            return;
        }
        self.pending_cr = false;
        if !self.current.is_empty() {
            std::mem::swap(&mut self.previous, &mut self.current);
            self.current.clear();
        }
    }

    fn take_line(&mut self) -> String {
        let line = if self.current.is_empty() {
            self.previous.to_line()
        } else {
            self.current.to_line()
        };
        self.current.clear();
        self.previous.clear();
        self.pending_cr = false;
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(chunks: &[&[u8]]) -> Vec<String> {
        let mut s = LineSplitter::new();
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, &mut out);
        }
        s.finish(&mut out);
        out
    }

    #[test]
    fn splits_on_newline_and_crlf() {
        assert_eq!(split_all(&[b"a\nb\r\nc\n"]), vec!["a", "b", "c"]);
    }

    #[test]
    fn empty_lines_are_kept() {
        assert_eq!(split_all(&[b"\n\r\nx\n"]), vec!["", "", "x"]);
    }

    #[test]
    fn crlf_split_across_chunks() {
        assert_eq!(split_all(&[b"abc\r", b"\ndef\n"]), vec!["abc", "def"]);
    }

    #[test]
    fn progress_redraws_collapse_to_the_last_segment() {
        assert_eq!(split_all(&[b"10%\r50%\r100%\n"]), vec!["100%"]);
        assert_eq!(split_all(&[b"10%\r", b"50%\r", b"100%\r\n"]), vec!["100%"]);
        assert_eq!(split_all(&[b"done\r\r\n"]), vec!["done"]);
        assert_eq!(split_all(&[b"\rstart\n"]), vec!["start"]);
    }

    #[test]
    fn endless_progress_without_newline_stays_bounded() {
        let mut s = LineSplitter::new();
        let mut out = Vec::new();
        for i in 0..100_000 {
            s.feed(format!("\rstep {i}").as_bytes(), &mut out);
        }
        assert!(out.is_empty());
        assert!(s.buffered() < 64);
        s.finish(&mut out);
        assert_eq!(out, vec!["step 99999"]);
    }

    #[test]
    fn unterminated_last_line_is_flushed_at_eof() {
        assert_eq!(split_all(&[b"a\nno newline"]), vec!["a", "no newline"]);
        assert_eq!(split_all(&[b""]), Vec::<String>::new());
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily() {
        assert_eq!(
            split_all(&[b"ok \xff\xfe end\n"]),
            vec!["ok \u{FFFD}\u{FFFD} end"]
        );
        // A multi-byte character split across chunks still decodes.
        assert_eq!(split_all(&[b"caf\xc3", b"\xa9\n"]), vec!["café"]);
    }

    #[test]
    fn long_line_keeps_its_head_and_notes_the_cut() {
        let mut s = LineSplitter::new();
        let mut out = Vec::new();
        let block = vec![b'x'; 1024 * 1024];
        for _ in 0..10 {
            s.feed(&block, &mut out);
            assert!(s.buffered() <= MAX_LINE_BYTES);
        }
        s.feed(b"\nnext\n", &mut out);
        assert_eq!(out.len(), 2);
        let cut = 10 * 1024 * 1024 - MAX_LINE_BYTES;
        assert!(out[0].starts_with(&"x".repeat(MAX_LINE_BYTES)));
        assert!(out[0].ends_with(&format!("[line truncated: {cut} more bytes]")));
        assert_eq!(out[1], "next");
    }

    #[test]
    fn ansi_escapes_are_kept_raw() {
        assert_eq!(
            split_all(&[b"\x1b[32mgreen\x1b[0m\n"]),
            vec!["\x1b[32mgreen\x1b[0m"]
        );
    }
}
