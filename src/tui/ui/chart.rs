//! The training panel of the selected run: a progress line (ratatui's `LineGauge` when the
//! config says how many steps there are) and the loss chart (ratatui's `Chart`, braille):
//! training loss, eval loss, checkpoints as dots on the loss curve, vertical lines at the
//! hot-swaps and early-stop requests, and after a restart the predecessor's curve with the
//! config change in the legend.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Chart, Dataset, GraphType, LegendPosition, LineGauge, Paragraph,
};

use crate::core::cloud::job_events::StreamHealth;
use crate::core::events::RunInfo;
use crate::core::training::{MarkerKind, OutcomeKind};
use crate::tui::app::App;
use crate::tui::chart_data::PlotData;
use crate::tui::format;
use crate::tui::ui::fit;

/// Rows the panel takes at most, and the fewest worth drawing a chart in.
const MAX_ROWS: u16 = 16;
const MIN_CHART_ROWS: u16 = 6;

/// The selected run, when it has training progress to show.
fn selected_run(app: &App) -> Option<&RunInfo> {
    let pid = app.selected?;
    let run = app.runs.iter().find(|r| r.pid == pid)?;
    run.metrics
        .read(|m| m.progress().step.is_some())
        .then_some(&**run)
}

/// The rows the panel would like out of a body of `body_rows`: none when the selected run has
/// no training progress; a progress line alone on a short body.
pub fn wanted_rows(app: &App, body_rows: u16) -> u16 {
    if selected_run(app).is_none() {
        return 0;
    }
    let chart_rows = (body_rows / 2).min(MAX_ROWS - 1);
    if chart_rows >= MIN_CHART_ROWS && body_rows >= chart_rows + 1 + 4 {
        chart_rows + 1
    } else {
        u16::from(body_rows >= 4)
    }
}

pub fn render(app: &mut App, frame: &mut Frame, area: Rect) {
    let Some(run) = selected_run(app).cloned() else {
        return;
    };
    if area.height == 0 {
        return;
    }
    let [progress_area, chart_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    render_progress(app, frame, progress_area, &run);
    if chart_area.height < MIN_CHART_ROWS {
        return;
    }
    let predecessor = run
        .restarted_from
        .as_ref()
        .and_then(|r| app.runs.iter().find(|p| p.pid == r.from))
        .cloned();
    let data = app.chart.get(&run, predecessor.as_deref());
    render_chart(app, frame, chart_area, &data);
}

/// `step 150/200 75% · loss 0.4213 · eval 0.4600 · ckpt 140 · 3.2 steps/s · ETA 0:16`, with a
/// gauge filling the rest of the line when the number of steps is known. An ended run says
/// how it ended instead (`completed at step 200, loss 0.1705`).
fn render_progress(app: &App, frame: &mut Frame, area: Rect, run: &RunInfo) {
    let theme = app.theme;
    let progress = &run.metrics.progress();
    if let Some(outcome) = &run.outcome {
        let style = match outcome.kind {
            _ if outcome.is_success() => theme.ok(),
            OutcomeKind::Replaced { .. } => theme.accent(),
            _ => theme.error(),
        };
        let text = format!(" {} ", outcome.describe());
        frame.render_widget(
            Paragraph::new(Span::styled(fit(&text, usize::from(area.width)), style)),
            area,
        );
        return;
    }
    let mut text = match (progress.step, progress.max_steps) {
        (Some(step), Some(max)) => format!(
            " step {step}/{max} {:.0}%",
            progress.fraction().unwrap_or(0.0) * 100.0
        ),
        (Some(step), None) => format!(" step {step}"),
        _ => " waiting for the first step".into(),
    };
    for (label, value) in [("loss", progress.loss), ("eval", progress.eval_loss)] {
        if let Some(value) = value {
            text.push_str(&format!(" · {label} {}", format_value(value)));
        }
    }
    if let Some(step) = progress.last_checkpoint {
        text.push_str(&format!(" · ckpt {step}"));
    }
    if let Some(rate) = progress.steps_per_second {
        text.push_str(&format!(" · {} steps/s", format_rate(rate)));
    }
    if let Some(eta) = progress.eta {
        text.push_str(&format!(" · ETA {}", format::clock_duration(eta)));
    }
    let stream_down = run
        .metrics
        .read(|m| matches!(m.health(), Some(StreamHealth::Down { .. })));
    if stream_down {
        text.push_str(" · cloud unreachable, retrying");
    }
    text.push(' ');
    match progress.fraction() {
        Some(ratio) => {
            // The gauge gets what the numbers leave, and the numbers at least half the line.
            let width = usize::from(area.width);
            let text = fit(&text, text.chars().count().min(width.max(1)));
            let gauge = LineGauge::default()
                .ratio(ratio)
                .label(Span::styled(text, theme.title()))
                .filled_style(theme.ok())
                .unfilled_style(theme.dim());
            frame.render_widget(gauge, area);
        }
        None => frame.render_widget(
            Paragraph::new(Span::styled(
                fit(&text, usize::from(area.width)),
                theme.title(),
            )),
            area,
        ),
    }
}

pub(crate) fn render_chart(app: &App, frame: &mut Frame, area: Rect, data: &PlotData) {
    let theme = app.theme;
    let mut title = format!(" loss · {} ", data.label);
    if data.malformed > 0 {
        title.push_str(&format!("· {} unreadable frames skipped ", data.malformed));
    }
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border(false))
        .title(Span::styled(title, theme.title()));
    if data.is_empty() {
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(
            Paragraph::new(Span::styled(" no loss reported yet", theme.dim())),
            inner,
        );
        return;
    }

    let [y_low, y_high] = data.y_bounds;
    // One vertical line per marker, from the floor to the ceiling of the plot.
    let marker_lines: Vec<(MarkerKind, [(f64, f64); 2])> = data
        .markers
        .iter()
        .map(|&(kind, x)| (kind, [(x, y_low), (x, y_high)]))
        .collect();

    let mut datasets = Vec::new();
    if let Some(previous) = &data.predecessor {
        let name = if previous.change.is_empty() {
            format!("before: run {}", previous.pid)
        } else {
            format!("before: {} (run {})", previous.change, previous.pid)
        };
        datasets.push(line(name, &previous.loss, theme.dim()));
    }
    let mut named = [false; 2];
    for (kind, points) in &marker_lines {
        let (index, name, style) = match kind {
            MarkerKind::HotSwap => (0, "hot-swap", theme.system_line()),
            MarkerKind::EarlyStopRequested => (1, "stop requested", theme.warn()),
        };
        let mut dataset = Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(style)
            .data(points);
        if !std::mem::replace(&mut named[index], true) {
            dataset = dataset.name(name);
        }
        datasets.push(dataset);
    }
    if !data.eval_loss.is_empty() {
        datasets.push(line("eval loss".into(), &data.eval_loss, theme.accent()));
    }
    datasets.push(line("loss".into(), &data.loss, theme.info()));
    if !data.checkpoints.is_empty() {
        datasets.push(
            Dataset::default()
                .name("checkpoint")
                .marker(Marker::Dot)
                .graph_type(GraphType::Scatter)
                .style(theme.ok())
                .data(&data.checkpoints),
        );
    }

    let [x_low, x_high] = data.x_bounds;
    let x_labels = [x_low, (x_low + x_high) / 2.0, x_high].map(|x| Span::raw(format!("{x:.0}")));
    let y_labels = [y_low, y_high].map(|y| Span::raw(format_value(y)));
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(
            Axis::default()
                .title(Span::styled("step", theme.dim()))
                .style(theme.dim())
                .bounds(data.x_bounds)
                .labels(x_labels),
        )
        .y_axis(
            Axis::default()
                .style(theme.dim())
                .bounds(data.y_bounds)
                .labels(y_labels),
        )
        .legend_position(Some(LegendPosition::TopRight))
        .hidden_legend_constraints((Constraint::Percentage(60), Constraint::Percentage(80)));
    frame.render_widget(chart, area);
}

fn line(name: String, points: &[(f64, f64)], style: Style) -> Dataset<'_> {
    Dataset::default()
        .name(Line::from(name))
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(style)
        .data(points)
}

/// A loss: four significant digits, whatever its size (`2.348`, `0.04213`, `1.2e-5`).
pub(crate) fn format_value(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-3..1e5).contains(&magnitude) {
        return format!("{value:.2e}");
    }
    let decimals = if magnitude >= 1.0 {
        3usize.saturating_sub(magnitude.log10().floor() as usize)
    } else if magnitude == 0.0 {
        1
    } else {
        (3 - magnitude.log10().floor() as i32).max(0) as usize
    };
    format!("{value:.decimals$}")
}

/// Steps per second: one decimal when slow, none when fast.
pub(crate) fn format_rate(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}")
    } else if rate >= 1.0 {
        format!("{rate:.1}")
    } else {
        format!("{rate:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::{format_rate, format_value};

    #[test]
    fn values_keep_four_significant_digits() {
        assert_eq!(format_value(2.3479), "2.348");
        assert_eq!(format_value(0.042131), "0.04213");
        assert_eq!(format_value(12.5), "12.50");
        assert_eq!(format_value(0.0), "0.0");
        assert_eq!(format_value(0.00001234), "1.23e-5");
        assert_eq!(format_rate(3.26), "3.3");
        assert_eq!(format_rate(0.5), "0.50");
        assert_eq!(format_rate(1000.4), "1000");
    }
}
