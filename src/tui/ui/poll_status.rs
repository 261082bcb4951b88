//! What a polled cloud list (Jobs, Endpoints) says above and instead of its table: how many,
//! when updated, whether a fetch is under way; and, with nothing to list, why and what to do.

use ratatui::text::{Line, Span};

use crate::tui::app::App;
use crate::tui::cloud_tasks::CloudProblem;
use crate::tui::format;
use crate::tui::theme::Theme;
use crate::tui::ui::fit;
use crate::tui::views::poll::Poll;

/// How a list names its items and its states.
pub(crate) struct ListWords {
    /// `("job", "jobs")`.
    pub noun: (&'static str, &'static str),
    /// The status line while the first fetch is under way.
    pub fetching: &'static str,
    /// The empty table while the first fetch is under way.
    pub loading: &'static str,
    /// An empty answer: what it means, what to do.
    pub empty: (&'static str, &'static str),
    /// No `.arkor/state.json` yet: what it means for this list, what to do.
    pub no_state: (&'static str, &'static str),
}

/// ` 12 jobs · updated 10:04:31 · refreshing…`, or the problem of the last fetch.
pub(crate) fn status_line(
    app: &App,
    poll: &Poll,
    count: usize,
    words: &ListWords,
    width: usize,
) -> Line<'static> {
    let theme = app.theme;
    let mut text = match poll.fetched_at {
        None if poll.loading => format!(" {}", words.fetching),
        None => " not loaded yet".to_owned(),
        Some(at) => {
            let noun = if count == 1 {
                words.noun.0
            } else {
                words.noun.1
            };
            format!(
                " {count} {noun} · updated {}",
                format::clock_time(at, app.options.utc_offset_secs)
            )
        }
    };
    if poll.fetched_at.is_some() && poll.loading {
        text.push_str(" · refreshing…");
    }
    match &poll.problem {
        // With a list on screen, an outage is one line above it (the list is the last one).
        Some(problem) if count > 0 => Line::from(Span::styled(
            fit(
                &format!(
                    " {} · showing the list from before · r retries",
                    problem.what()
                ),
                width,
            ),
            theme.warn(),
        )),
        _ => Line::from(Span::styled(fit(&text, width), theme.dim())),
    }
}

/// What an empty table says: why there is nothing, and what to do.
pub(crate) fn empty_text(theme: Theme, poll: &Poll, words: &ListWords) -> Vec<Line<'static>> {
    let (what, advice, style) = match &poll.problem {
        Some(CloudProblem::NoProjectState) => {
            (words.no_state.0.to_owned(), words.no_state.1, theme.info())
        }
        Some(problem) => (problem.what(), problem.advice(), theme.warn()),
        None if poll.fetched_at.is_none() => (words.loading.to_owned(), "", theme.dim()),
        None => (words.empty.0.to_owned(), words.empty.1, theme.dim()),
    };
    let mut lines = vec![Line::from(Span::styled(format!(" {what}"), style))];
    if !advice.is_empty() {
        lines.push(Line::from(Span::raw(format!(" {advice}"))));
    }
    lines
}
