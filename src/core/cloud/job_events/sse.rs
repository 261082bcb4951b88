//! An incremental `text/event-stream` parser: bytes in (any chunking), frames out.
//!
//! Follows the WHATWG event-stream rules: lines end with LF, CRLF or a lone CR (a CRLF
//! split across two chunks is one line end); `:` starts a comment; `field: value` drops
//! one leading space; `data` lines join with `\n`; a blank line dispatches the frame,
//! unless it carried no `data`; a leading byte-order mark is skipped; an unfinished
//! frame at the end of the stream is discarded. `retry:` is ignored (the follower owns
//! its reconnect policy).
//!
//! Memory is bounded: a frame whose lines add up to more than [`MAX_FRAME_BYTES`] is
//! still dispatched (so it can be counted), but marked oversized and without its data.

/// The most bytes one frame may hold (all its lines together).
pub const MAX_FRAME_BYTES: usize = 1 << 20;

const BOM: &[u8] = "\u{feff}".as_bytes();

/// One dispatched frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseFrame {
    /// This frame's own `id:` value, when it had one.
    pub id: Option<String>,
    /// The `event:` name, when given.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The frame went past [`MAX_FRAME_BYTES`]; its data was dropped.
    pub oversized: bool,
}

#[derive(Debug)]
pub struct SseParser {
    /// The current line's bytes (not kept once the frame is oversized).
    line: Vec<u8>,
    /// The current line's length, counted even when its bytes are dropped.
    line_len: usize,
    /// The previous chunk ended in CR: a leading LF of the next chunk belongs to it.
    after_cr: bool,
    /// Bytes held back while the stream might still start with a byte-order mark.
    start: Option<Vec<u8>>,
    frame: SseFrame,
    has_data: bool,
    frame_bytes: usize,
    /// The spec's "last event ID buffer": set by each `id:` line, kept across frames.
    id_buffer: Option<String>,
    /// The stream's resume point: the buffer as it was at the last frame boundary, so an
    /// `id:` of a frame that never completed is not claimed as received.
    last_event_id: Option<String>,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    pub fn new() -> Self {
        Self::resuming(None)
    }

    /// A parser for a reconnection: the resume point carries over until the stream
    /// sends a new `id:`.
    pub fn resuming(last_event_id: Option<String>) -> Self {
        Self {
            line: Vec::new(),
            line_len: 0,
            after_cr: false,
            start: Some(Vec::new()),
            frame: SseFrame::default(),
            has_data: false,
            frame_bytes: 0,
            id_buffer: last_event_id.clone(),
            last_event_id,
        }
    }

    /// The resume point: the last `id:` of a complete frame (an empty `id:` clears it).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// Feed one chunk; complete frames are appended to `out` in order.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseFrame>) {
        if let Some(mut held) = self.start.take() {
            held.extend_from_slice(chunk);
            if held.len() < BOM.len() && BOM.starts_with(&held) {
                self.start = Some(held); // could still be a BOM: wait for more bytes
                return;
            }
            let body = held.strip_prefix(BOM).unwrap_or(&held);
            self.feed_lines(body, out);
            return;
        }
        self.feed_lines(chunk, out);
    }

    fn feed_lines(&mut self, mut rest: &[u8], out: &mut Vec<SseFrame>) {
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if let Some(tail) = rest.strip_prefix(b"\n") {
                rest = tail;
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.append_to_line(&rest[..end]);
            let terminator = rest[end];
            rest = &rest[end + 1..];
            if terminator == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            self.end_line(out);
        }
        self.append_to_line(rest);
    }

    fn append_to_line(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.line_len += bytes.len();
        self.frame_bytes += bytes.len();
        if self.frame_bytes > MAX_FRAME_BYTES {
            self.frame.oversized = true;
            self.line = Vec::new();
        } else {
            self.line.extend_from_slice(bytes);
        }
    }

    fn end_line(&mut self, out: &mut Vec<SseFrame>) {
        let blank = self.line_len == 0;
        self.line_len = 0;
        if blank {
            self.dispatch(out);
            return;
        }
        let line = std::mem::take(&mut self.line);
        if !self.frame.oversized {
            self.process_field(&line);
        }
        self.line = line;
        self.line.clear();
    }

    fn process_field(&mut self, line: &[u8]) {
        if line.first() == Some(&b':') {
            return; // a comment
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        let value = String::from_utf8_lossy(value);
        match name {
            b"data" => {
                self.frame.data.push_str(&value);
                self.frame.data.push('\n');
                self.has_data = true;
            }
            b"event" => self.frame.event = Some(value.into_owned()),
            // The spec ignores an id that contains NUL.
            b"id" if !value.contains('\0') => {
                self.id_buffer = (!value.is_empty()).then(|| value.to_string());
                self.frame.id = Some(value.into_owned());
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseFrame>) {
        let mut frame = std::mem::take(&mut self.frame);
        let has_data = std::mem::take(&mut self.has_data);
        self.frame_bytes = 0;
        self.last_event_id.clone_from(&self.id_buffer);
        if frame.oversized {
            frame.data.clear();
            out.push(frame);
        } else if has_data {
            frame.data.pop(); // the `\n` after the last data line
            out.push(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> (Vec<SseFrame>, SseParser) {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out);
        }
        (out, parser)
    }

    fn frame(id: Option<&str>, event: Option<&str>, data: &str) -> SseFrame {
        SseFrame {
            id: id.map(str::to_owned),
            event: event.map(str::to_owned),
            data: data.to_owned(),
            oversized: false,
        }
    }

    #[test]
    fn id_event_and_data_lines_make_one_frame() {
        let (frames, parser) =
            parse_chunks(&[b"id: j-1\nevent: training.log\ndata: {\"step\":1}\n\n"]);
        assert_eq!(
            frames,
            vec![frame(Some("j-1"), Some("training.log"), "{\"step\":1}")]
        );
        assert_eq!(parser.last_event_id(), Some("j-1"));
    }

    #[test]
    fn multi_line_data_joins_with_newlines() {
        let (frames, _) = parse_chunks(&[b"data: first\ndata:second\ndata\ndata:  two spaces\n\n"]);
        assert_eq!(
            frames,
            vec![frame(None, None, "first\nsecond\n\n two spaces")]
        );
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        let (frames, _) = parse_chunks(&[b": keep-alive\nretry: 10\nfoo: bar\ndata: x\n\n:\n\n"]);
        assert_eq!(frames, vec![frame(None, None, "x")]);
    }

    #[test]
    fn crlf_and_lone_cr_end_lines_even_across_chunks() {
        let (frames, _) = parse_chunks(&[
            b"id: 1\r\ndata: a\r",
            b"\n\r",
            b"\nid: 2\rdata: b\r\r",
            b"data: c\r",
            b"\r",
        ]);
        assert_eq!(
            frames,
            vec![
                frame(Some("1"), None, "a"),
                frame(Some("2"), None, "b"),
                frame(None, None, "c"),
            ]
        );
    }

    #[test]
    fn byte_at_a_time_gives_the_same_frames() {
        let text = "\u{feff}id: é-1\r\nevent: training.log\r\ndata: {\"v\":\"ü\"}\r\n\r\n: c\n\nid: 2\ndata: x\n\n";
        let whole = parse_chunks(&[text.as_bytes()]).0;
        let mut parser = SseParser::new();
        let mut bytewise = Vec::new();
        for b in text.as_bytes() {
            parser.feed(std::slice::from_ref(b), &mut bytewise);
        }
        assert_eq!(whole, bytewise);
        assert_eq!(
            whole,
            vec![
                frame(Some("é-1"), Some("training.log"), "{\"v\":\"ü\"}"),
                frame(Some("2"), None, "x"),
            ]
        );
    }

    #[test]
    fn a_frame_without_data_is_not_dispatched_but_its_id_counts() {
        let (frames, parser) = parse_chunks(&[b"id: 7\nevent: nothing\n\n"]);
        assert!(frames.is_empty());
        assert_eq!(parser.last_event_id(), Some("7"));
        let (_, parser) = parse_chunks(&[b"id: 7\ndata: a\n\nid\ndata: b\n\n"]);
        assert_eq!(parser.last_event_id(), None, "an empty id clears it");
    }

    #[test]
    fn the_resume_point_moves_only_at_frame_boundaries() {
        let mut parser = SseParser::resuming(Some("j-4".into()));
        let mut out = Vec::new();
        assert_eq!(parser.last_event_id(), Some("j-4"));
        parser.feed(b"id: j-5\ndata: a\n\nid: j-6\ndata: b", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(parser.last_event_id(), Some("j-5"), "j-6 never completed");
        parser.feed(b"\n\n", &mut out);
        assert_eq!(parser.last_event_id(), Some("j-6"));
        parser.feed(b"data: no id\n\n", &mut out);
        assert_eq!(parser.last_event_id(), Some("j-6"), "kept across frames");
    }

    #[test]
    fn an_unfinished_frame_is_held_back() {
        let (frames, _) = parse_chunks(&[b"data: done\n\ndata: partial"]);
        assert_eq!(frames, vec![frame(None, None, "done")]);
        let (frames, _) = parse_chunks(&[b"data: done\n\ndata: partial\n"]);
        assert_eq!(frames.len(), 1, "no blank line yet");
    }

    #[test]
    fn the_event_name_does_not_leak_into_the_next_frame() {
        let (frames, _) = parse_chunks(&[b"event: ping\ndata: {}\n\ndata: x\n\n"]);
        assert_eq!(
            frames,
            vec![frame(None, Some("ping"), "{}"), frame(None, None, "x")]
        );
    }

    #[test]
    fn an_oversized_frame_is_dispatched_empty_and_parsing_recovers() {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        parser.feed(b"id: big\ndata: ", &mut out);
        let blob = vec![b'x'; 64 * 1024];
        for _ in 0..20 {
            parser.feed(&blob, &mut out);
        }
        parser.feed(b"\ndata: more\n\nid: next\ndata: ok\n\n", &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].oversized);
        assert!(out[0].data.is_empty());
        assert_eq!(out[0].id.as_deref(), Some("big"));
        assert_eq!(out[1], frame(Some("next"), None, "ok"));
        assert!(parser.line.capacity() <= MAX_FRAME_BYTES + 64 * 1024);
    }

    #[test]
    fn a_stream_that_only_starts_like_a_bom_is_not_eaten() {
        // EF BB then "data": not a BOM, so the first field name is garbage.
        let (frames, _) = parse_chunks(&[b"\xef", b"\xbbdata: x\n\n"]);
        assert!(frames.is_empty(), "{frames:?}");
        let (frames, _) = parse_chunks(&[b"\xef", b"\xbb\xbfdata: x\n\n"]);
        assert_eq!(
            frames,
            vec![frame(None, None, "x")],
            "a BOM split over chunks"
        );
        let (frames, _) = parse_chunks(&[b"d", b"ata: y\n\n"]);
        assert_eq!(frames, vec![frame(None, None, "y")]);
    }
}
