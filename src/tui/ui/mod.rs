//! Drawing: the screen layout and one module per panel. Everything here is a pure function of
//! the App (and its clock), so the same state always draws the same screen.

mod chart;
mod endpoints;
mod error;
mod footer;
mod header;
mod help;
mod job_detail;
mod jobs;
mod logs;
mod playground;
mod poll_status;
mod progress;
mod runs;
mod timeline;

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;

use crate::tui::ansi::{self, char_width};
use crate::tui::app::App;

/// Frames are at most this often (~60 fps); anything arriving in between joins the next frame.
pub const MIN_FRAME_INTERVAL: Duration = Duration::from_millis(16);

/// The timeline sits beside the logs only when there is room for both.
const SIDE_TIMELINE_FROM_WIDTH: u16 = 100;
const SIDE_TIMELINE_NARROWEST: u16 = 44;
const SIDE_TIMELINE_MAX_WIDTH: u16 = 72;
/// Below the logs on narrower but tall screens, with this many entries.
const BOTTOM_TIMELINE_ROWS: u16 = 4;
const BOTTOM_TIMELINE_FROM_BODY_HEIGHT: u16 = 14;

/// Draw the whole screen from the App's state and its clock (`app.now`).
pub fn render(app: &mut App, frame: &mut Frame) {
    let area = frame.area();
    app.next_change = None;
    app.hit_map = Default::default();
    if area.width == 0 || area.height == 0 {
        return;
    }
    let banner_rows = u16::from(footer::banner_visible(app));
    if app.view != crate::tui::views::View::Runs {
        render_cloud_view(app, frame, area, banner_rows);
        return;
    }
    let error_rows = error::wanted_rows(app, area);
    let search_rows = u16::from(app.log_view.search.editing);
    let fixed = 1 + banner_rows + error_rows + search_rows + 1;
    let rest = area.height.saturating_sub(fixed);
    // The runs table may take up to 3/5 of the space; the log pane keeps the rest.
    let runs_rows = if app.zoomed {
        0
    } else {
        runs::wanted_rows(app).min((rest * 3 / 5).max(2.min(rest)))
    };
    let [
        header_area,
        banner_area,
        error_area,
        runs_area,
        body_area,
        search_area,
        footer_area,
    ] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner_rows),
        Constraint::Length(error_rows),
        Constraint::Length(runs_rows),
        Constraint::Fill(1),
        Constraint::Length(search_rows),
        Constraint::Length(1),
    ])
    .areas(area);

    header::render(app, frame, header_area);
    if banner_rows > 0 {
        footer::render_banner(app, frame, banner_area);
    }
    if error_rows > 0 {
        error::render(app, frame, error_area);
    }
    if runs_rows > 0 {
        runs::render(app, frame, runs_area);
    }
    let training_rows = if app.zoomed {
        0
    } else {
        chart::wanted_rows(app, body_area.height)
    };
    let [training_area, body_area] =
        Layout::vertical([Constraint::Length(training_rows), Constraint::Fill(1)]).areas(body_area);
    if training_rows > 0 {
        chart::render(app, frame, training_area);
    }
    let pinned = u16::try_from(app.options.instructions.len()).unwrap_or(u16::MAX);
    let (logs_area, timeline_area) = split_body(
        body_area,
        (!app.timeline.is_empty() || pinned > 0) && !app.zoomed,
        pinned,
    );
    logs::render(app, frame, logs_area);
    if let Some(timeline_area) = timeline_area {
        timeline::render(app, frame, timeline_area);
    }
    if search_rows > 0 {
        footer::render_search(app, frame, search_area);
    }
    footer::render(app, frame, footer_area);
    render_overlays(app, frame, area);
}

/// The cloud views (Jobs, Playground, Endpoints): header, the banner when something needs saying, the view,
/// the footer.
fn render_cloud_view(app: &mut App, frame: &mut Frame, area: Rect, banner_rows: u16) {
    let [header_area, banner_area, body_area, footer_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner_rows),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    header::render(app, frame, header_area);
    if banner_rows > 0 {
        footer::render_banner(app, frame, banner_area);
    }
    match app.view {
        crate::tui::views::View::Playground => playground::render(app, frame, body_area),
        crate::tui::views::View::Endpoints => endpoints::render(app, frame, body_area),
        _ => jobs::render(app, frame, body_area),
    }
    footer::render(app, frame, footer_area);
    render_overlays(app, frame, area);
}

/// The help and any open question, over everything else.
fn render_overlays(app: &mut App, frame: &mut Frame, area: Rect) {
    if app.help_open {
        help::render(app, frame, area);
    }
    if let Some(confirm) = &app.confirm {
        crate::tui::popup::render(confirm, app.theme, frame, area);
    }
    if let Some(confirm) = &app.cloud_confirm {
        crate::tui::popup::render(confirm, app.theme, frame, area);
    }
}

/// `pinned`: lines the timeline shows above its entries (the bottom timeline grows by them).
fn split_body(body: Rect, has_timeline: bool, pinned: u16) -> (Rect, Option<Rect>) {
    if !has_timeline {
        return (body, None);
    }
    if body.width >= SIDE_TIMELINE_FROM_WIDTH {
        let width = (body.width * 2 / 5).clamp(SIDE_TIMELINE_NARROWEST, SIDE_TIMELINE_MAX_WIDTH);
        let [logs, timeline] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Length(width)]).areas(body);
        return (logs, Some(timeline));
    }
    if body.height >= BOTTOM_TIMELINE_FROM_BODY_HEIGHT {
        let [logs, timeline] = Layout::vertical([
            Constraint::Fill(1),
            Constraint::Length(BOTTOM_TIMELINE_ROWS + pinned + 1),
        ])
        .areas(body);
        return (logs, Some(timeline));
    }
    (body, None)
}

/// The rows of a long list that a table `fit` rows high shows: from `offset`, moved just
/// enough to keep `selected` in view (as ratatui's Table moves it). Only these rows are
/// built, so a frame costs the same for 20 items as for 1,000.
pub(crate) fn shown_rows(
    offset: usize,
    selected: usize,
    fit: usize,
    len: usize,
) -> std::ops::Range<usize> {
    let fit = fit.max(1);
    let start = if selected < offset {
        selected
    } else if selected >= offset + fit {
        selected + 1 - fit
    } else {
        offset
    }
    .min(len.saturating_sub(fit));
    start..(start + fit).min(len)
}

/// Note that the screen will change by itself in `after` (the loop sleeps until the soonest).
pub(crate) fn animate_within(app: &mut App, after: Duration) {
    app.next_change = Some(app.next_change.map_or(after, |d| d.min(after)));
}

/// `s` without escapes or control characters, cut or padded to exactly `width` columns (a
/// cut ends in `…`). Names and ids come from user code and must not reach the terminal raw.
pub(crate) fn fit(s: &str, width: usize) -> String {
    let clean;
    let s = if s.chars().any(char::is_control) {
        clean = ansi::parse(s, false).text;
        clean.as_str()
    } else {
        s
    };
    let mut out = String::new();
    let total: usize = s.chars().map(char_width).sum();
    let mut used = 0;
    if total <= width {
        out.push_str(s);
        used = total;
    } else if width > 0 {
        for c in s.chars() {
            let w = char_width(c);
            if used + w > width - 1 {
                break;
            }
            out.push(c);
            used += w;
        }
        out.push('…');
        used += 1;
    }
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

/// A piece of a one-line bar (header, panel title). When the bar is too narrow, parts are kept
/// by rank, lowest first, each whole or not at all (a cut URL or hash reads as a wrong one);
/// rank 0 parts always stay, cut with `…` if they must be.
pub(crate) struct Part {
    pub spans: Vec<Span<'static>>,
    pub rank: u8,
}

impl Part {
    pub fn new(rank: u8, spans: Vec<Span<'static>>) -> Self {
        Self { spans, rank }
    }
}

/// The spans of `parts` that fit in `width` columns, in their order (see [`Part`]).
pub(crate) fn fit_parts(parts: Vec<Part>, width: usize) -> Vec<Span<'static>> {
    let mut left = width;
    let mut shown = vec![false; parts.len()];
    let mut by_rank: Vec<usize> = (0..parts.len()).collect();
    by_rank.sort_by_key(|&i| (parts[i].rank, i));
    for i in by_rank {
        let w: usize = parts[i].spans.iter().map(Span::width).sum();
        if w <= left || parts[i].rank == 0 {
            shown[i] = true;
            left = left.saturating_sub(w);
        }
    }
    let mut spans = Vec::new();
    let mut left = width;
    for span in parts
        .into_iter()
        .zip(shown)
        .filter(|(_, shown)| *shown)
        .flat_map(|(part, _)| part.spans)
    {
        let w = span.width();
        if w <= left {
            left -= w;
            spans.push(span);
        } else if left > 0 {
            spans.push(Span::styled(fit(&span.content, left), span.style));
            left = 0;
        }
    }
    spans
}

/// `text` in lines of at most `first` columns, then `rest` columns, broken at spaces (a word
/// longer than a line is split), at most `max_lines` lines; a cut ends in `…`.
pub(crate) fn wrap(text: &str, first: usize, rest: usize, max_lines: usize) -> Vec<String> {
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

/// `s` with escapes and control characters removed.
pub(crate) fn printable(s: &str) -> String {
    ansi::parse(s, false).text
}

#[cfg(test)]
mod tests {
    #[test]
    fn shown_rows_follow_the_selection_and_stay_put_otherwise() {
        use super::shown_rows;
        assert_eq!(shown_rows(0, 0, 10, 1000), 0..10);
        assert_eq!(shown_rows(0, 9, 10, 1000), 0..10);
        assert_eq!(shown_rows(0, 10, 10, 1000), 1..11);
        assert_eq!(shown_rows(5, 7, 10, 1000), 5..15, "in view: no move");
        assert_eq!(shown_rows(50, 3, 10, 1000), 3..13);
        assert_eq!(
            shown_rows(995, 999, 10, 1000),
            990..1000,
            "no blank rows at the end"
        );
        assert_eq!(shown_rows(0, 0, 10, 4), 0..4);
        assert_eq!(shown_rows(0, 0, 10, 0), 0..0);
    }

    use ratatui::text::Span;

    use super::{Part, fit, fit_parts, wrap};

    fn text(spans: &[Span]) -> String {
        spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn parts_are_kept_whole_by_rank() {
        let parts = || {
            vec![
                Part::new(0, vec![Span::raw("head ")]),
                Part::new(2, vec![Span::raw("detail ")]),
                Part::new(1, vec![Span::raw("http://x:4000/")]),
            ]
        };
        assert_eq!(text(&fit_parts(parts(), 40)), "head detail http://x:4000/");
        assert_eq!(text(&fit_parts(parts(), 20)), "head http://x:4000/");
        assert_eq!(text(&fit_parts(parts(), 12)), "head detail ");
        assert_eq!(text(&fit_parts(parts(), 3)), "he…");
    }

    #[test]
    fn fit_pads_and_cuts() {
        assert_eq!(fit("abc", 5), "abc  ");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 0), "");
        assert_eq!(fit("日本語", 4), "日… ");
        assert_eq!(fit("a\u{1b}[2Jb\nc", 5), "abc  ");
    }

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
