//! Finds the runner's job-id marker in a child's stdout (docs/protocol.md §9, D12–D14, §12).
//!
//! The runner prints `[arkor:<nonce>] Started job <id>` once the cloud job exists. The
//! parent matches `\[arkor:<nonce>\] Started job (\S+)$` per line: not anchored at the line
//! start (unterminated progress output may precede it), one trailing `\r` stripped, and
//! stops at the first match. Only stdout is scanned: a decoy on stderr never counts.

/// Bytes of an unterminated line kept for scanning. The marker line is < 100 bytes, so
/// keeping the tail is enough and a 10 MB line without a newline costs at most this much.
pub const MARKER_SCAN_WINDOW: usize = 4096;

/// Incremental, allocation-bounded matcher for one child's stdout.
#[derive(Debug)]
pub struct MarkerScanner {
    /// `[arkor:<nonce>] Started job `
    prefix: Vec<u8>,
    /// The tail (≤ `MARKER_SCAN_WINDOW` bytes) of the current unterminated line.
    partial: Vec<u8>,
    done: bool,
}

impl MarkerScanner {
    pub fn new(nonce: &str) -> Self {
        Self {
            prefix: format!("[arkor:{nonce}] Started job ").into_bytes(),
            partial: Vec::new(),
            done: false,
        }
    }

    /// The whole marker text for job `id`, as it stood in the output.
    pub fn marker_for(&self, id: &str) -> String {
        format!("{}{id}", String::from_utf8_lossy(&self.prefix))
    }

    /// True once the marker was found (later input is ignored).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Bytes currently held for an unterminated line.
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// Feed the next stdout chunk. Returns the job id the first time a line matches.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Option<String> {
        if self.done {
            return None;
        }
        while let Some(newline) = chunk.iter().position(|&b| b == b'\n') {
            self.append_bounded(&chunk[..newline]);
            chunk = &chunk[newline + 1..];
            let line = std::mem::take(&mut self.partial);
            if let Some(id) = self.match_line(&line) {
                self.done = true;
                self.partial = Vec::new();
                return Some(id);
            }
            // Reuse the allocation for the next line.
            self.partial = line;
            self.partial.clear();
        }
        self.append_bounded(chunk);
        None
    }

    /// Append to the partial line, keeping only its last `MARKER_SCAN_WINDOW` bytes.
    fn append_bounded(&mut self, bytes: &[u8]) {
        if bytes.len() >= MARKER_SCAN_WINDOW {
            self.partial.clear();
            self.partial
                .extend_from_slice(&bytes[bytes.len() - MARKER_SCAN_WINDOW..]);
            return;
        }
        let overflow = (self.partial.len() + bytes.len()).saturating_sub(MARKER_SCAN_WINDOW);
        if overflow > 0 {
            self.partial.drain(..overflow);
        }
        self.partial.extend_from_slice(bytes);
    }

    fn match_line(&self, line: &[u8]) -> Option<String> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // The prefix contains spaces and the id may not, so only the last occurrence of
        // the prefix can be followed by a whitespace-free tail: it is the regex's match.
        let start = rfind(line, &self.prefix)?;
        let id = String::from_utf8_lossy(&line[start + self.prefix.len()..]);
        if id.is_empty() || id.chars().any(is_js_whitespace) {
            return None;
        }
        Some(id.into_owned())
    }
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    (0..=haystack.len() - needle.len())
        .rev()
        .find(|&i| haystack[i..].starts_with(needle))
}

/// JavaScript's `\s` (what `\S` in the reference pattern excludes).
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "0123456789abcdef0123456789abcdef";

    fn marker(id: &str) -> String {
        format!("[arkor:{NONCE}] Started job {id}")
    }

    #[test]
    fn finds_the_marker_on_its_own_line() {
        let mut s = MarkerScanner::new(NONCE);
        assert_eq!(s.feed(b"booting\n"), None);
        assert_eq!(
            s.feed(format!("{}\n", marker("job-1")).as_bytes()),
            Some("job-1".into())
        );
        assert!(s.is_done());
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn marker_split_across_chunks_is_found() {
        let text = format!("noise\n{}\n", marker("job-split"));
        let bytes = text.as_bytes();
        for cut in 0..bytes.len() {
            let mut s = MarkerScanner::new(NONCE);
            let first = s.feed(&bytes[..cut]);
            let second = s.feed(&bytes[cut..]);
            assert_eq!(first.or(second), Some("job-split".into()), "cut at {cut}");
        }
    }

    #[test]
    fn byte_by_byte_feed_is_found() {
        let text = format!("{}\r\n", marker("job-bytes"));
        let mut s = MarkerScanner::new(NONCE);
        let found: Vec<String> = text
            .as_bytes()
            .iter()
            .filter_map(|b| s.feed(&[*b]))
            .collect();
        assert_eq!(found, vec!["job-bytes".to_string()]);
    }

    #[test]
    fn crlf_line_end_is_accepted() {
        let mut s = MarkerScanner::new(NONCE);
        assert_eq!(
            s.feed(format!("{}\r\n", marker("job-crlf")).as_bytes()),
            Some("job-crlf".into())
        );
    }

    #[test]
    fn only_one_trailing_cr_is_stripped() {
        let mut s = MarkerScanner::new(NONCE);
        assert_eq!(s.feed(format!("{}\r\r\n", marker("job")).as_bytes()), None);
    }

    #[test]
    fn not_anchored_at_line_start() {
        let mut s = MarkerScanner::new(NONCE);
        let line = format!("progress 40%\rprogress 90%{}\n", marker("job-tail"));
        assert_eq!(s.feed(line.as_bytes()), Some("job-tail".into()));
    }

    #[test]
    fn wrong_nonce_or_no_nonce_is_ignored() {
        let mut s = MarkerScanner::new(NONCE);
        assert_eq!(s.feed(b"Started job attacker\n"), None);
        assert_eq!(
            s.feed(b"[arkor:ffffffffffffffffffffffffffffffff] Started job attacker\n"),
            None
        );
        assert_eq!(s.feed(b"[arkor:] Started job attacker\n"), None);
        assert!(!s.is_done());
        assert_eq!(
            s.feed(format!("{}\n", marker("real")).as_bytes()),
            Some("real".into())
        );
    }

    #[test]
    fn id_must_run_to_the_end_of_the_line_without_whitespace() {
        let mut s = MarkerScanner::new(NONCE);
        assert_eq!(
            s.feed(format!("{} trailing\n", marker("job")).as_bytes()),
            None
        );
        assert_eq!(s.feed(format!("{}\n", marker("")).as_bytes()), None);
        assert_eq!(
            s.feed(format!("{}\u{3000}\n", marker("job")).as_bytes()),
            None
        );
        assert!(!s.is_done());
    }

    #[test]
    fn first_match_wins_and_later_markers_are_ignored() {
        let mut s = MarkerScanner::new(NONCE);
        let text = format!("{}\n{}\n", marker("first"), marker("second"));
        assert_eq!(s.feed(text.as_bytes()), Some("first".into()));
        assert_eq!(s.feed(format!("{}\n", marker("third")).as_bytes()), None);
    }

    #[test]
    fn a_marker_without_newline_is_not_matched_yet() {
        let mut s = MarkerScanner::new(NONCE);
        assert_eq!(s.feed(marker("job").as_bytes()), None);
        assert_eq!(s.feed(b"\n"), Some("job".into()));
    }

    #[test]
    fn ten_megabyte_line_keeps_at_most_the_window() {
        let mut s = MarkerScanner::new(NONCE);
        let block = vec![b'x'; 64 * 1024];
        for _ in 0..160 {
            assert_eq!(s.feed(&block), None);
            assert!(s.buffered() <= MARKER_SCAN_WINDOW);
        }
        // One huge chunk as well.
        let huge = vec![b'y'; 10 * 1024 * 1024];
        assert_eq!(s.feed(&huge), None);
        assert_eq!(s.buffered(), MARKER_SCAN_WINDOW);
        // The marker at the tail of that same line is still found.
        assert_eq!(
            s.feed(format!("{}\n", marker("after-huge")).as_bytes()),
            Some("after-huge".into())
        );
    }

    #[test]
    fn non_utf8_noise_before_the_marker_is_harmless() {
        let mut s = MarkerScanner::new(NONCE);
        let mut bytes = vec![0xff, 0xfe, b'\n', 0xc3];
        bytes.extend_from_slice(format!("{}\n", marker("job-bin")).as_bytes());
        assert_eq!(s.feed(&bytes), Some("job-bin".into()));
    }
}
