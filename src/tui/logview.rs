//! The log pane's state: follow / scroll position, wrap mode and search, and the row layout
//! of the visible window. Only the lines that fit on screen are ever copied out of the
//! [`LogStore`] or parsed, so a frame costs the same with 10 lines or 50,000.

use std::collections::VecDeque;
use std::ops::Range;

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::core::logs::{LogLine, LogStore, RunLog};
use crate::tui::ansi::{self, StyledLine, char_width};
use crate::tui::theme::Theme;

/// Sequence numbers of the lines a run's log holds right now: `front..next`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogBounds {
    pub front: u64,
    pub next: u64,
    /// Lines evicted or cleared so far.
    pub dropped: u64,
    /// Of those, the ones cleared by the user (`c`).
    pub cleared: u64,
}

impl LogBounds {
    pub fn of(log: Option<&RunLog>) -> Self {
        match log {
            None => Self::default(),
            Some(log) => {
                let next = log.next_seq();
                Self {
                    front: log.lines().front().map(|l| l.seq).unwrap_or(next),
                    next,
                    dropped: log.dropped,
                    cleared: log.cleared,
                }
            }
        }
    }

    pub fn len(&self) -> u64 {
        self.next - self.front
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn read(logs: &LogStore, pid: u32) -> Self {
        logs.with(pid, Self::of)
    }
}

/// Search state: the text being typed, the confirmed query and its hits (kept incrementally:
/// only lines appended since the last scan are searched).
#[derive(Clone, Debug, Default)]
pub struct Search {
    pub editing: bool,
    pub input: String,
    pub query: String,
    hits: VecDeque<u64>,
    scanned_to: u64,
    pub current: Option<u64>,
}

impl Search {
    pub fn is_active(&self) -> bool {
        !self.query.is_empty()
    }

    pub fn hit_count(&self) -> usize {
        self.hits.len()
    }

    /// 1-based index of the current hit among all hits.
    pub fn current_index(&self) -> Option<usize> {
        let current = self.current?;
        self.hits.binary_search(&current).ok().map(|i| i + 1)
    }

    /// Confirm a new query; hits are searched again from the oldest line.
    pub fn set_query(&mut self, query: String) {
        self.query = query;
        self.reset_hits();
    }

    fn reset_hits(&mut self) {
        self.hits.clear();
        self.scanned_to = 0;
        self.current = None;
    }

    /// Bring the hit list up to date with `log`: drop evicted hits and scan lines appended
    /// since the last call, at most `budget` of them (a frame during a flood scans a bounded
    /// slice and the rest on later frames; `None` scans everything, for n/N and Enter).
    pub fn refresh(&mut self, log: Option<&RunLog>, budget: Option<usize>) {
        if self.query.is_empty() {
            return;
        }
        let bounds = LogBounds::of(log);
        while self.hits.front().is_some_and(|&s| s < bounds.front) {
            self.hits.pop_front();
        }
        if self.current.is_some_and(|c| c < bounds.front) {
            self.current = None;
        }
        let Some(log) = log else { return };
        let start = self.scanned_to.max(bounds.front);
        let skip = (start - bounds.front) as usize;
        let query = Query::new(&self.query);
        let mut scratch = StyledLine::default();
        let mut folded = String::new();
        self.scanned_to = start;
        for line in log
            .lines()
            .range(skip.min(log.len())..)
            .take(budget.unwrap_or(usize::MAX))
        {
            if query.is_in(ansi::plain_text(&line.text, &mut scratch), &mut folded) {
                self.hits.push_back(line.seq);
            }
            self.scanned_to = line.seq + 1;
        }
    }

    /// Lines appended since the last scan are not searched yet (the count may grow).
    pub fn is_behind(&self, bounds: LogBounds) -> bool {
        self.is_active() && self.scanned_to.max(bounds.front) < bounds.next
    }

    /// The first hit after `seq`, wrapping around to the oldest.
    pub fn next_after(&self, seq: Option<u64>) -> Option<u64> {
        let found = match seq {
            Some(seq) => self.hits.iter().copied().find(|&h| h > seq),
            None => None,
        };
        found.or_else(|| self.hits.front().copied())
    }

    /// The last hit before `seq`, wrapping around to the newest.
    pub fn prev_before(&self, seq: Option<u64>) -> Option<u64> {
        let found = match seq {
            Some(seq) => self.hits.iter().rev().copied().find(|&h| h < seq),
            None => None,
        };
        found.or_else(|| self.hits.back().copied())
    }
}

/// A search query prepared once per scan: smart case, ASCII folding, no allocation per line.
struct Query<'a> {
    needle: std::borrow::Cow<'a, str>,
    sensitive: bool,
}

impl<'a> Query<'a> {
    fn new(query: &'a str) -> Self {
        let sensitive = query.chars().any(|c| c.is_uppercase());
        Self {
            needle: if sensitive {
                query.into()
            } else {
                query.to_ascii_lowercase().into()
            },
            sensitive,
        }
    }

    /// `folded` is scratch space for the lower-cased text (kept across lines).
    fn is_in(&self, text: &str, folded: &mut String) -> bool {
        if self.needle.is_empty() || self.needle.len() > text.len() {
            return false;
        }
        if self.sensitive {
            return text.contains(self.needle.as_ref());
        }
        folded.clear();
        folded.push_str(text);
        folded.make_ascii_lowercase();
        folded.contains(self.needle.as_ref())
    }
}

/// Byte ranges of `query` in `text`: case-insensitive (ASCII) unless the query has an
/// uppercase letter ("smart case"). ASCII folding keeps byte offsets valid.
pub fn match_ranges(text: &str, query: &str) -> Vec<Range<usize>> {
    if query.is_empty() || query.len() > text.len() {
        return Vec::new();
    }
    let sensitive = query.chars().any(|c| c.is_uppercase());
    let hay: std::borrow::Cow<str> = if sensitive {
        text.into()
    } else {
        text.to_ascii_lowercase().into()
    };
    let needle: std::borrow::Cow<str> = if sensitive {
        query.into()
    } else {
        query.to_ascii_lowercase().into()
    };
    hay.match_indices(needle.as_ref())
        .map(|(at, m)| at..at + m.len())
        .collect()
}

#[derive(Clone, Debug)]
pub struct LogView {
    pub follow: bool,
    pub wrap: bool,
    /// Columns scrolled to the right (truncate mode only).
    pub hscroll: u16,
    /// First visible line while not following.
    pub top: u64,
    pub search: Search,
    /// Text rows of the pane at the last render (page size for PageUp/PageDown).
    pub rows: u16,
    /// Each line starts with the time arkor read it (`t`).
    pub timestamps: bool,
    /// Lines being selected for copying (`v`): from `anchor` to `cursor` (sequence numbers).
    pub selection: Option<Selection>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selection {
    pub anchor: u64,
    pub cursor: u64,
}

impl Selection {
    /// The selected sequence numbers, first to last.
    pub fn range(self) -> std::ops::RangeInclusive<u64> {
        self.anchor.min(self.cursor)..=self.anchor.max(self.cursor)
    }
}

impl Default for LogView {
    fn default() -> Self {
        Self {
            follow: true,
            wrap: false,
            hscroll: 0,
            top: 0,
            search: Search::default(),
            rows: 10,
            timestamps: false,
            selection: None,
        }
    }
}

impl LogView {
    /// Forget position and hits (another run was selected or its log was cleared).
    pub fn reset_position(&mut self) {
        self.follow = true;
        self.top = 0;
        self.search.reset_hits();
    }

    fn page(&self) -> u64 {
        u64::from(self.rows.saturating_sub(1).max(1))
    }

    /// The top line of the tail view (what follow mode shows).
    fn tail_top(&self, b: LogBounds) -> u64 {
        b.next.saturating_sub(u64::from(self.rows)).max(b.front)
    }

    /// The first line to show, clamped into what the log still holds.
    pub fn effective_top(&self, b: LogBounds) -> u64 {
        if self.follow {
            self.tail_top(b)
        } else {
            self.top
                .clamp(b.front, b.next.saturating_sub(1).max(b.front))
        }
    }

    /// The last line on screen (what a new selection starts at).
    pub fn last_visible(&self, b: LogBounds) -> Option<u64> {
        if b.is_empty() {
            return None;
        }
        let bottom = self.effective_top(b) + u64::from(self.rows.max(1)) - 1;
        Some(bottom.min(b.next - 1))
    }

    /// Move the selection's cursor by `delta` lines and scroll so that it stays on screen.
    pub fn move_selection(&mut self, delta: i64, b: LogBounds) {
        let Some(mut selection) = self.selection else {
            return;
        };
        if b.is_empty() {
            self.selection = None;
            return;
        }
        let cursor = selection.cursor.saturating_add_signed(delta);
        selection.cursor = cursor.clamp(b.front, b.next - 1);
        selection.anchor = selection.anchor.clamp(b.front, b.next - 1);
        self.selection = Some(selection);
        let top = self.effective_top(b);
        let rows = u64::from(self.rows.max(1));
        if selection.cursor < top {
            self.follow = false;
            self.top = selection.cursor;
        } else if selection.cursor >= top + rows {
            self.follow = false;
            self.top = selection.cursor + 1 - rows;
        }
    }

    pub fn scroll_up(&mut self, n: u64, b: LogBounds) {
        let top = self.effective_top(b);
        self.follow = false;
        self.top = top.saturating_sub(n).max(b.front);
    }

    pub fn scroll_down(&mut self, n: u64, b: LogBounds) {
        if self.follow {
            return;
        }
        self.top = self.effective_top(b) + n;
        if self.top >= self.tail_top(b) {
            self.follow = true;
        }
    }

    pub fn page_up(&mut self, b: LogBounds) {
        self.scroll_up(self.page(), b);
    }

    pub fn page_down(&mut self, b: LogBounds) {
        self.scroll_down(self.page(), b);
    }

    pub fn scroll_to_oldest(&mut self, b: LogBounds) {
        self.follow = false;
        self.top = b.front;
    }

    pub fn scroll_to_newest(&mut self) {
        self.follow = true;
    }

    pub fn toggle_follow(&mut self, b: LogBounds) {
        if self.follow {
            self.top = self.tail_top(b);
            self.follow = false;
        } else {
            self.follow = true;
        }
    }

    /// Show `seq` near the middle of the pane.
    pub fn jump_to(&mut self, seq: u64, b: LogBounds) {
        self.follow = false;
        self.top = seq.saturating_sub(u64::from(self.rows / 2)).max(b.front);
        if self.top > self.tail_top(b) {
            self.top = self.tail_top(b);
        }
    }

    /// Copy the raw lines that can be visible (at most `rows` of them) out of the store.
    pub fn window(&self, log: Option<&RunLog>) -> (LogBounds, Vec<LogLine>) {
        let b = LogBounds::of(log);
        let Some(log) = log else {
            return (b, Vec::new());
        };
        let top = self.effective_top(b);
        let skip = (top - b.front) as usize;
        let lines = log
            .lines()
            .range(skip.min(log.len())..)
            .take(usize::from(self.rows))
            .cloned()
            .collect();
        (b, lines)
    }
}

/// Lay out parsed lines into screen rows of `width` columns: wrapped, or truncated with a `…`.
/// In follow mode the bottom rows are kept (the newest line is always fully visible), else
/// the top ones. Search hits are overlaid on the line's own colours.
pub fn layout_rows(
    lines: &[(u64, StyledLine)],
    width: u16,
    height: u16,
    view: &LogView,
    theme: Theme,
) -> Vec<Line<'static>> {
    let width = usize::from(width);
    let height = usize::from(height);
    if width == 0 || height == 0 {
        return Vec::new();
    }
    let query = if view.search.editing {
        view.search.input.as_str()
    } else {
        view.search.query.as_str()
    };
    let mut rows = Vec::new();
    for (seq, line) in lines {
        let hit_style = if view.search.current == Some(*seq) {
            theme.search_current()
        } else {
            theme.search_hit()
        };
        let hits = match_ranges(&line.text, query);
        let layout = RowLayout {
            width,
            wrap: view.wrap,
            skip_columns: if view.wrap {
                0
            } else {
                usize::from(view.hscroll)
            },
            hit_style,
            theme,
        };
        line_rows(line, &hits, &layout, &mut rows);
        if !view.follow && rows.len() >= height {
            break;
        }
    }
    if view.follow && rows.len() > height {
        rows.drain(..rows.len() - height);
    }
    rows.truncate(height);
    rows
}

struct RowLayout {
    width: usize,
    wrap: bool,
    /// Columns hidden on the left (horizontal scroll of truncated lines).
    skip_columns: usize,
    hit_style: Style,
    theme: Theme,
}

fn line_rows(
    line: &StyledLine,
    hits: &[Range<usize>],
    layout: &RowLayout,
    out: &mut Vec<Line<'static>>,
) {
    let RowLayout {
        width,
        wrap,
        skip_columns,
        hit_style,
        theme,
    } = *layout;
    let mut skipped = 0usize;
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut current = String::new();
    let mut current_style = Style::default();
    let mut column = 0usize;
    let mut run_index = 0usize;
    let total_width = if wrap {
        0
    } else {
        line.width().saturating_sub(skip_columns)
    };
    let flush = |spans: &mut Vec<Span<'static>>, text: &mut String, style: Style| {
        if !text.is_empty() {
            spans.push(Span::styled(std::mem::take(text), style));
        }
    };
    for (at, c) in line.text.char_indices() {
        if skipped < skip_columns {
            skipped += char_width(c);
            continue;
        }
        while run_index + 1 < line.runs.len() && line.runs[run_index + 1].0 <= at {
            run_index += 1;
        }
        let mut style = match line.runs.get(run_index) {
            Some((start, s)) if *start <= at => *s,
            _ => Style::default(),
        };
        if hits.iter().any(|r| r.contains(&at)) {
            style = style.patch(hit_style);
        }
        let w = char_width(c);
        if column + w > width {
            if !wrap {
                break;
            }
            flush(&mut spans, &mut current, current_style);
            out.push(Line::from(std::mem::take(&mut spans)));
            column = 0;
        } else if !wrap && total_width > width && column + w > width - 1 {
            // Leave the last column for the truncation mark.
            break;
        }
        if style != current_style {
            flush(&mut spans, &mut current, current_style);
            current_style = style;
        }
        current.push(c);
        column += w;
    }
    flush(&mut spans, &mut current, current_style);
    if !wrap && total_width > width {
        spans.push(Span::styled("…", theme.dim()));
    }
    out.push(Line::from(spans));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::logs::LogStream;

    fn log_with(n: u64) -> RunLog {
        let mut log = RunLog::default();
        for i in 0..n {
            log.push(LogStream::Stdout, format!("line {i}"));
        }
        log
    }

    #[test]
    fn follow_window_is_the_tail() {
        let log = log_with(100);
        let view = LogView {
            rows: 5,
            ..LogView::default()
        };
        let (_, lines) = view.window(Some(&log));
        let seqs: Vec<u64> = lines.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, vec![95, 96, 97, 98, 99]);
    }

    #[test]
    fn scrolling_up_leaves_follow_and_down_to_the_end_returns() {
        let log = log_with(100);
        let b = LogBounds::of(Some(&log));
        let mut view = LogView {
            rows: 10,
            ..LogView::default()
        };
        view.page_up(b);
        assert!(!view.follow);
        assert_eq!(view.top, 81);
        view.scroll_to_oldest(b);
        assert_eq!(view.effective_top(b), 0);
        view.scroll_down(5, b);
        assert_eq!(view.top, 5);
        view.scroll_down(1000, b);
        assert!(view.follow);
    }

    #[test]
    fn scroll_position_survives_eviction_by_clamping() {
        let mut log = log_with(10);
        let mut view = LogView {
            rows: 3,
            follow: false,
            top: 2,
            ..LogView::default()
        };
        log.clear();
        log.push(LogStream::Stdout, "after".into());
        let (b, lines) = view.window(Some(&log));
        assert_eq!(b.front, 10);
        let got: Vec<(u64, &str)> = lines.iter().map(|l| (l.seq, l.text.as_str())).collect();
        assert_eq!(got, vec![(10, "after")]);
        view.scroll_up(1, b);
        assert_eq!(view.top, 10);
    }

    #[test]
    fn search_is_incremental_and_drops_evicted_hits() {
        let mut log = RunLog::default();
        let mut search = Search {
            query: "loss".into(),
            ..Search::default()
        };
        log.push(LogStream::Stdout, "step 1 loss=2.0".into());
        log.push(LogStream::Stdout, "step 1 acc".into());
        search.refresh(Some(&log), None);
        assert_eq!(search.hit_count(), 1);
        log.push(LogStream::Stdout, "\u{1b}[32mLOSS\u{1b}[0m=1.0".into());
        search.refresh(Some(&log), None);
        assert_eq!(
            search.hit_count(),
            2,
            "smart case: lowercase query matches LOSS"
        );
        log.clear();
        search.refresh(Some(&log), None);
        assert_eq!(search.hit_count(), 0);
    }

    #[test]
    fn a_budget_spreads_the_scan_over_several_calls() {
        let mut log = RunLog::default();
        for i in 0..10 {
            log.push(LogStream::Stdout, format!("hit {i}"));
        }
        let mut search = Search::default();
        search.set_query("hit".into());
        search.refresh(Some(&log), Some(4));
        assert_eq!(search.hit_count(), 4);
        assert!(search.is_behind(LogBounds::of(Some(&log))));
        search.refresh(Some(&log), Some(4));
        search.refresh(Some(&log), Some(4));
        assert_eq!(search.hit_count(), 10);
        assert!(!search.is_behind(LogBounds::of(Some(&log))));
    }

    #[test]
    fn next_and_prev_wrap_around() {
        let search = Search {
            hits: VecDeque::from(vec![3, 7, 9]),
            ..Search::default()
        };
        assert_eq!(search.next_after(Some(7)), Some(9));
        assert_eq!(search.next_after(Some(9)), Some(3));
        assert_eq!(search.prev_before(Some(3)), Some(9));
        assert_eq!(search.prev_before(None), Some(9));
    }

    #[test]
    fn smart_case_ranges() {
        assert_eq!(match_ranges("Loss loss", "loss"), vec![0..4, 5..9]);
        assert_eq!(match_ranges("Loss loss", "Loss"), vec![0..4]);
        assert!(match_ranges("abc", "").is_empty());
    }

    #[test]
    fn wrap_and_truncate_rows() {
        let line = ansi::parse("abcdefghij", true);
        let theme = Theme::new(true);
        let wrapped = LogView {
            wrap: true,
            ..LogView::default()
        };
        let rows = layout_rows(&[(0, line.clone())], 4, 10, &wrapped, theme);
        let text: Vec<String> = rows.iter().map(|l| l.to_string()).collect();
        assert_eq!(text, vec!["abcd", "efgh", "ij"]);
        let rows = layout_rows(&[(0, line)], 4, 10, &LogView::default(), theme);
        assert_eq!(rows[0].to_string(), "abc…");
    }

    #[test]
    fn horizontal_scroll_hides_leading_columns_of_truncated_lines() {
        let line = ansi::parse("abcdefghij", true);
        let view = LogView {
            hscroll: 3,
            ..LogView::default()
        };
        let rows = layout_rows(&[(0, line.clone())], 4, 10, &view, Theme::new(true));
        assert_eq!(rows[0].to_string(), "def…");
        let view = LogView {
            hscroll: 6,
            ..LogView::default()
        };
        let rows = layout_rows(&[(0, line)], 4, 10, &view, Theme::new(true));
        assert_eq!(rows[0].to_string(), "ghij");
    }

    #[test]
    fn follow_keeps_the_newest_rows_when_wrapping_overflows() {
        let theme = Theme::new(true);
        let lines = vec![
            (0, ansi::parse("aaaaaaaa", true)),
            (1, ansi::parse("bb", true)),
        ];
        let view = LogView {
            wrap: true,
            ..LogView::default()
        };
        let rows = layout_rows(&lines, 4, 2, &view, theme);
        let text: Vec<String> = rows.iter().map(|l| l.to_string()).collect();
        assert_eq!(text, vec!["aaaa", "bb"]);
    }
}
