//! The Jobs view (`2`): the project's cloud jobs in a table (name, id, status, created,
//! duration, the local run it belongs to), newest first, with a line saying where the list
//! stands (loading, refreshed at, why it could not be fetched). The open job's detail is
//! drawn by `job_detail.rs`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use crate::core::cloud::jobs::{CloudJob, JobStatus};
use crate::tui::app::App;
use crate::tui::format;
use crate::tui::theme::Theme;
use crate::tui::ui::poll_status::{ListWords, empty_text, status_line};
use crate::tui::ui::{animate_within, job_detail, printable, shown_rows};

const JOB_WORDS: ListWords = ListWords {
    noun: ("job", "jobs"),
    fetching: "loading the project's jobs…",
    loading: "Loading the project's jobs from the cloud…",
    empty: (
        "No cloud jobs in this project yet.",
        "Start a run (1, then s): its job shows up here, as do jobs started elsewhere.",
    ),
    no_state: (
        "No .arkor/state.json in this project yet: it has no cloud jobs.",
        "Start a run (1, then s): its job creates the project's state, and its jobs are listed here.",
    ),
};

pub fn render(app: &mut App, frame: &mut Frame, area: Rect) {
    if let Some(next) = app.jobs.next_refresh(app.now) {
        animate_within(app, next);
    }
    if app.jobs.detail.is_some() {
        job_detail::render(app, frame, area);
        return;
    }
    let theme = app.theme;
    let [status_area, table_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    let status = status_line(
        app,
        &app.jobs.poll,
        app.jobs.jobs.len(),
        &JOB_WORDS,
        usize::from(area.width),
    );
    frame.render_widget(Paragraph::new(status), status_area);
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border(true))
        .title(Span::styled(" cloud jobs · newest first ", theme.title()));
    let view = &app.jobs;
    if view.jobs.is_empty() {
        let inner = block.inner(table_area);
        frame.render_widget(block, table_area);
        frame.render_widget(
            Paragraph::new(empty_text(theme, &view.poll, &JOB_WORDS)).wrap(Wrap { trim: false }),
            inner,
        );
        return;
    }
    // The top border and the header take two rows.
    let fit = usize::from(table_area.height.saturating_sub(2));
    let shown = shown_rows(view.offset, view.selected, fit, view.jobs.len());
    let rows: Vec<Row> = view.jobs[shown.clone()]
        .iter()
        .map(|job| job_row(job, app.local_run_of(&job.id), app))
        .collect();
    let header =
        Row::new(["name", "id", "status", "created", "duration", "local"]).style(theme.dim());
    let table = Table::new(
        rows,
        [
            Constraint::Fill(2),
            Constraint::Fill(2),
            Constraint::Length(10),
            Constraint::Length(16),
            Constraint::Length(8),
            Constraint::Length(11),
        ],
    )
    .header(header)
    .block(block)
    .row_highlight_style(theme.selected())
    .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(Some(view.selected - shown.start));
    frame.render_stateful_widget(table, table_area, &mut state);
    app.jobs.offset = shown.start;
}

fn job_row<'a>(job: &'a CloudJob, local: Option<u32>, app: &App) -> Row<'a> {
    let theme = app.theme;
    let created = job
        .created_at
        .map(|t| format::date_time(t, app.options.utc_offset_secs))
        .unwrap_or_else(|| "—".into());
    let duration = job
        .duration(app.now)
        .map(format::clock_duration)
        .unwrap_or_else(|| "—".into());
    let local = local.map(|pid| format!("run {pid}")).unwrap_or_default();
    Row::new([
        Cell::from(printable(&job.name)),
        Cell::from(printable(&job.id)),
        Cell::from(Span::styled(
            job.status.as_str().to_owned(),
            status_style(theme, &job.status),
        )),
        Cell::from(created),
        Cell::from(duration),
        Cell::from(Span::styled(local, theme.accent())),
    ])
}

pub(crate) fn status_style(theme: Theme, status: &JobStatus) -> Style {
    match status {
        JobStatus::Running => theme.info(),
        JobStatus::Completed => theme.ok(),
        JobStatus::Failed => theme.error(),
        JobStatus::Cancelled => theme.warn(),
        JobStatus::Queued | JobStatus::Other(_) => theme.dim(),
    }
}
