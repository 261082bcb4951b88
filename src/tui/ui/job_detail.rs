//! One cloud job (Enter in the Jobs view): what it is and how it ended, its progress and
//! checkpoints, its config, the loss chart (the Runs view's chart, fed by the job's replayed
//! event stream) and its event log, newest at the bottom.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::core::cloud::job_events::{JobEvent, JobEventKind};
use crate::tui::app::App;
use crate::tui::format;
use crate::tui::ui::chart::{format_value, render_chart};
use crate::tui::ui::jobs::status_style;
use crate::tui::ui::{fit, printable, wrap};
use crate::tui::views::job_detail::{JobDetail, StreamState};

/// Config lines shown at most (the rest is cut with `…`).
const CONFIG_ROWS: usize = 3;
/// The chart's rows: about half the space, within these bounds.
const CHART_MIN_ROWS: u16 = 6;
const CHART_MAX_ROWS: u16 = 16;
/// Checkpoint steps named in the summary line (the newest).
const CHECKPOINTS_NAMED: usize = 8;

pub fn render(app: &mut App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let offset = app.options.utc_offset_secs;
    let now = app.now;
    let local = app
        .jobs
        .detail
        .as_ref()
        .and_then(|d| app.local_run_of(&d.job.id));
    let Some(detail) = app.jobs.detail.as_mut() else {
        return;
    };
    let width = usize::from(area.width);
    let job = &detail.job;

    let mut head = vec![
        Span::styled(format!(" {} ", printable(&job.name)), theme.title()),
        Span::styled(format!("{} ", printable(&job.id)), theme.dim()),
        Span::styled(
            job.status.as_str().to_owned(),
            status_style(theme, &job.status),
        ),
    ];
    if let Some(created) = job.created_at {
        head.push(Span::raw(format!(
            " · created {}",
            format::date_time(created, offset)
        )));
    }
    if let Some(duration) = job.duration(now) {
        head.push(Span::raw(format!(
            " · {}",
            format::clock_duration(duration)
        )));
    }
    if let Some(pid) = local {
        head.push(Span::styled(format!(" · local run {pid}"), theme.accent()));
    }
    let (stream_text, stream_style) = match &detail.stream {
        StreamState::Opening => ("opening the event stream…".to_owned(), theme.dim()),
        StreamState::Live => ("stream live".to_owned(), theme.ok()),
        StreamState::Down(why) => (format!("stream down, retrying: {why}"), theme.warn()),
        StreamState::Ended(why) => (format!("stream over: {why}"), theme.dim()),
        StreamState::Failed(problem) => (
            format!("no stream: {} {}", problem.what(), problem.advice()),
            theme.warn(),
        ),
    };
    head.push(Span::styled(format!(" · {stream_text}"), stream_style));

    let mut lines = vec![Line::from(head)];
    if let Some(error) = &job.error {
        lines.push(Line::from(Span::styled(
            fit(&format!(" error: {error}"), width),
            theme.error(),
        )));
    }
    lines.push(Line::from(Span::raw(fit(&progress_text(detail), width))));
    let config_lines = wrap(
        &config_text(&job.config),
        width.saturating_sub(1),
        width.saturating_sub(3),
        CONFIG_ROWS,
    );
    for (i, part) in config_lines.into_iter().enumerate() {
        let indent = if i == 0 { " " } else { "   " };
        lines.push(Line::from(Span::styled(
            format!("{indent}{part}"),
            theme.dim(),
        )));
    }

    let summary_rows = u16::try_from(lines.len()).unwrap_or(u16::MAX);
    let rest = area.height.saturating_sub(summary_rows);
    let chart_rows = (rest / 2).clamp(0, CHART_MAX_ROWS);
    let chart_rows = if chart_rows >= CHART_MIN_ROWS {
        chart_rows
    } else {
        0
    };
    let [summary_area, chart_area, log_area] = Layout::vertical([
        Constraint::Length(summary_rows),
        Constraint::Length(chart_rows),
        Constraint::Fill(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(lines), summary_area);
    if chart_rows > 0 {
        let data = detail.plot();
        render_chart(app, frame, chart_area, &data);
    }
    let Some(detail) = app.jobs.detail.as_ref() else {
        return;
    };
    render_log(app, detail, frame, log_area);
}

/// `config model=unsloth/gemma maxSteps=200 datasetSource={"type":"huggingface",…}`: one
/// `key=value` per top-level key, so the text wraps between settings.
fn config_text(config: &serde_json::Value) -> String {
    match config {
        serde_json::Value::Object(map) if !map.is_empty() => {
            let pairs: Vec<String> = map
                .iter()
                .map(|(key, value)| match value {
                    serde_json::Value::String(text) => format!("{key}={text}"),
                    other => format!("{key}={other}"),
                })
                .collect();
            format!("config {}", pairs.join(" "))
        }
        serde_json::Value::Null => "config not reported by the cloud".to_owned(),
        other => format!("config {other}"),
    }
}

/// `step 150/200 · loss 0.4213 · eval 0.46 · checkpoints 50 100 150`.
fn progress_text(detail: &JobDetail) -> String {
    let progress = detail.metrics.progress();
    let mut text = match (progress.step, progress.max_steps) {
        (Some(step), Some(max)) => format!(" step {step}/{max}"),
        (Some(step), None) => format!(" step {step}"),
        (None, Some(max)) => format!(" no step yet (of {max})"),
        (None, None) => " no step yet".to_owned(),
    };
    for (label, value) in [("loss", progress.loss), ("eval", progress.eval_loss)] {
        if let Some(value) = value {
            text.push_str(&format!(" · {label} {}", format_value(value)));
        }
    }
    let checkpoints: Vec<u64> = detail.metrics.checkpoints().steps().collect();
    if checkpoints.is_empty() {
        text.push_str(" · no checkpoint");
    } else {
        let skip = checkpoints.len().saturating_sub(CHECKPOINTS_NAMED);
        let named: Vec<String> = checkpoints[skip..].iter().map(u64::to_string).collect();
        let more = if skip > 0 { "… " } else { "" };
        text.push_str(&format!(" · checkpoints {more}{}", named.join(" ")));
    }
    text
}

fn render_log(app: &App, detail: &JobDetail, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let total = detail.events.len();
    let scrolled = if detail.scroll > 0 {
        format!("· {} newer below (End) ", detail.scroll)
    } else {
        String::new()
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border(true))
        .title(Span::styled(
            format!(" events · {total} {scrolled}· Esc back "),
            theme.title(),
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = usize::from(inner.height);
    if total == 0 {
        let text = match &detail.stream {
            StreamState::Opening | StreamState::Live => " waiting for the job's events…",
            _ => " no events",
        };
        frame.render_widget(Paragraph::new(Span::styled(text, theme.dim())), inner);
        return;
    }
    let end = total.saturating_sub(detail.scroll);
    let start = end.saturating_sub(rows);
    let width = usize::from(inner.width);
    let lines: Vec<Line> = detail
        .events
        .range(start..end)
        .map(|event| {
            let (text, style) = match &event.kind {
                JobEventKind::Failed { .. } => (event_text(event), theme.error()),
                JobEventKind::Completed => (event_text(event), theme.ok()),
                JobEventKind::CheckpointSaved { .. } => (event_text(event), theme.ok()),
                _ => (event_text(event), theme.info()),
            };
            Line::from(vec![
                Span::styled(
                    format!(
                        " {} ",
                        format::clock_time(event.at, app.options.utc_offset_secs)
                    ),
                    theme.dim(),
                ),
                Span::styled(fit(&text, width.saturating_sub(10)), style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// One event as the log shows it.
fn event_text(event: &JobEvent) -> String {
    match &event.kind {
        JobEventKind::Started => "training started".to_owned(),
        JobEventKind::Log(log) => {
            let mut text = format!("step {}", log.step);
            for (label, value) in [
                ("loss", log.loss),
                ("eval", log.eval_loss),
                ("lr", log.learning_rate),
                ("epoch", log.epoch),
            ] {
                if let Some(value) = value {
                    text.push_str(&format!("  {label} {}", format_value(value)));
                }
            }
            text
        }
        JobEventKind::CheckpointSaved { step } => format!("checkpoint saved at step {step}"),
        JobEventKind::Completed => "training completed".to_owned(),
        JobEventKind::Failed { error, step } => match step {
            Some(step) => format!("training failed at step {step}: {error}"),
            None => format!("training failed: {error}"),
        },
    }
}
