//! The selected run's loss chart as plot data: the points of its loss and eval-loss series,
//! its checkpoints and engine markers, and, after a restart, its predecessor's loss curve
//! with the config change that separates the two.
//!
//! The data is rebuilt only when one of the two runs' metrics changed (their revisions), so a
//! frame drawn for another reason (a log line, a key) reuses it instead of reading the series
//! again. Reading takes the run's metrics lock only while its points are copied out.

use std::sync::Arc;

use crate::core::events::{RestartCause, RunInfo};
use crate::core::training::{MarkerKind, RunMetrics};
use crate::tui::format;

/// Markers of one kind drawn at most (the newest); older ones would only blur the chart.
const MAX_MARKERS_DRAWN: usize = 16;

/// A curve of an earlier run of the same trainer, drawn behind the selected one.
#[derive(Clone, Debug, PartialEq)]
pub struct PredecessorCurve {
    pub pid: u32,
    /// What the restart changed, e.g. `learningRate 0.0002 → 0.0001` (or why it restarted).
    pub change: String,
    pub loss: Vec<(f64, f64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlotData {
    /// What the curve is of, in the chart's title: `run 700`, `job j-42`.
    pub label: String,
    /// `(step, loss)` in step order; only finite values ever get here.
    pub loss: Vec<(f64, f64)>,
    pub eval_loss: Vec<(f64, f64)>,
    /// Each checkpoint at its step, on the loss curve (or the axis floor without a loss yet).
    pub checkpoints: Vec<(f64, f64)>,
    /// Engine moments by step, oldest first.
    pub markers: Vec<(MarkerKind, f64)>,
    pub predecessor: Option<PredecessorCurve>,
    pub x_bounds: [f64; 2],
    pub y_bounds: [f64; 2],
    /// Unreadable frames the stream skipped (said under the chart).
    pub malformed: u64,
}

impl PlotData {
    /// Nothing to draw yet: no loss, no eval loss and no predecessor curve.
    pub fn is_empty(&self) -> bool {
        self.loss.is_empty()
            && self.eval_loss.is_empty()
            && self.predecessor.as_ref().is_none_or(|p| p.loss.is_empty())
    }
}

/// Which metrics the cached data was built from.
type CacheKey = (u32, u64, Option<(u32, u64)>);

/// The plot data of the last chart drawn, kept until its runs' metrics change.
#[derive(Default)]
pub struct ChartCache {
    key: Option<CacheKey>,
    data: Option<Arc<PlotData>>,
    builds: u64,
}

impl ChartCache {
    /// The plot data for `run` (with `predecessor`, the run it replaced, when still known).
    pub fn get(&mut self, run: &RunInfo, predecessor: Option<&RunInfo>) -> Arc<PlotData> {
        let key = (
            run.pid,
            run.metrics.read(RunMetrics::revision),
            predecessor.map(|p| (p.pid, p.metrics.read(RunMetrics::revision))),
        );
        match &self.data {
            Some(data) if self.key == Some(key) => data.clone(),
            _ => {
                let data = Arc::new(build(run, predecessor));
                self.key = Some(key);
                self.data = Some(data.clone());
                self.builds += 1;
                data
            }
        }
    }

    /// How often the data was built (to check that unchanged metrics are not read again).
    pub fn builds(&self) -> u64 {
        self.builds
    }
}

/// Read the plot data of `run` (and its predecessor's loss) out of their metrics.
pub fn build(run: &RunInfo, predecessor: Option<&RunInfo>) -> PlotData {
    let predecessor = predecessor.map(|p| PredecessorCurve {
        pid: p.pid,
        change: run
            .restarted_from
            .as_ref()
            .map(|r| match &r.cause {
                RestartCause::ConfigChanged { changes } if !changes.is_empty() => {
                    format::config_changes(changes)
                }
                other => other.to_string(),
            })
            .unwrap_or_default(),
        loss: p.metrics.read(|m| points(m.loss().points())),
    });
    run.metrics
        .read(|m| plot(format!("run {}", run.pid), m, predecessor))
}

/// The plot data of one set of metrics (a run's, or a cloud job's replayed stream), named
/// `label` in the chart's title.
pub fn plot(
    label: String,
    metrics: &RunMetrics,
    predecessor: Option<PredecessorCurve>,
) -> PlotData {
    let loss = points(metrics.loss().points());
    let eval_loss = points(metrics.eval_loss().points());
    let checkpoint_steps: Vec<u64> = metrics.checkpoints().steps().collect();
    let markers = newest_markers(metrics);
    let max_steps = metrics.progress().max_steps;
    let malformed = metrics.malformed_frames();
    let predecessor_loss = predecessor
        .as_ref()
        .map(|p| p.loss.as_slice())
        .unwrap_or(&[]);
    let all = || {
        loss.iter()
            .chain(&eval_loss)
            .chain(predecessor_loss)
            .copied()
    };
    let y_bounds = padded(all().map(|(_, y)| y));
    let last_step = all()
        .map(|(x, _)| x)
        .chain(checkpoint_steps.iter().map(|&s| s as f64))
        .chain(markers.iter().map(|&(_, x)| x))
        .fold(0.0_f64, f64::max);
    let right = max_steps.map_or(last_step, |max| (max as f64).max(last_step));
    let x_bounds = [0.0, right.max(1.0)];
    let checkpoints = checkpoint_steps
        .iter()
        .map(|&step| {
            (
                step as f64,
                value_at(&loss, step as f64).unwrap_or(y_bounds[0]),
            )
        })
        .collect();
    PlotData {
        label,
        loss,
        eval_loss,
        checkpoints,
        markers,
        predecessor,
        x_bounds,
        y_bounds,
        malformed,
    }
}

fn points(points: impl Iterator<Item = crate::core::training::Point>) -> Vec<(f64, f64)> {
    points
        .filter(|p| p.value.is_finite())
        .map(|p| (p.step as f64, p.value))
        .collect()
}

/// The newest markers of each kind that have a step (one before the first step has no place
/// on the axis), in step order.
fn newest_markers(metrics: &RunMetrics) -> Vec<(MarkerKind, f64)> {
    let mut kept: Vec<(MarkerKind, f64)> = Vec::new();
    for kind in [MarkerKind::HotSwap, MarkerKind::EarlyStopRequested] {
        let of_kind: Vec<f64> = metrics
            .markers()
            .iter()
            .filter(|m| m.kind == kind)
            .filter_map(|m| m.step)
            .map(|s| s as f64)
            .collect();
        let skip = of_kind.len().saturating_sub(MAX_MARKERS_DRAWN);
        kept.extend(of_kind.into_iter().skip(skip).map(|x| (kind, x)));
    }
    kept.sort_by(|a, b| a.1.total_cmp(&b.1));
    kept
}

/// The curve's value at `step`: the last point at or before it.
fn value_at(curve: &[(f64, f64)], step: f64) -> Option<f64> {
    let after = curve.partition_point(|&(x, _)| x <= step);
    curve.get(after.checked_sub(1)?).map(|&(_, y)| y)
}

/// The values' range with 5 % room above and below; a flat or empty curve gets a range of
/// its own, so the axis never collapses to a point.
fn padded(values: impl Iterator<Item = f64>) -> [f64; 2] {
    let (low, high) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !low.is_finite() {
        return [0.0, 1.0];
    }
    let span = high - low;
    if span <= f64::EPSILON * high.abs().max(1.0) {
        let room = (high.abs() * 0.1).max(0.05);
        return [low - room, high + room];
    }
    [low - span * 0.05, high + span * 0.05]
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::core::cloud::job_events::{JobEvent, JobEventKind};
    use crate::core::events::{ConfigChange, Restart, RunOrigin};
    use crate::core::training::SharedMetrics;

    fn log(step: u64, loss: Option<f64>, eval_loss: Option<f64>) -> JobEvent {
        JobEvent::loss_log(step, loss, eval_loss)
    }

    fn run(pid: u32, max_steps: Option<u64>) -> RunInfo {
        RunInfo {
            metrics: SharedMetrics::new(RunMetrics::new(max_steps)),
            ..RunInfo::new(pid, RunOrigin::Engine, SystemTime::UNIX_EPOCH)
        }
    }

    #[test]
    fn curves_checkpoints_and_markers_are_placed_on_the_step_axis() {
        let run = run(7, Some(100));
        run.metrics.write(|m| {
            for step in 1..=20 {
                m.apply_event(&log(step, Some(2.0 - step as f64 * 0.05), None));
            }
            m.apply_event(&log(20, None, Some(1.5)));
            m.apply_event(&JobEvent {
                kind: JobEventKind::CheckpointSaved { step: 10 },
                at: SystemTime::UNIX_EPOCH,
            });
            m.mark(MarkerKind::EarlyStopRequested, SystemTime::UNIX_EPOCH);
        });
        let data = build(&run, None);
        assert_eq!(data.loss.len(), 20);
        assert_eq!(data.eval_loss, vec![(20.0, 1.5)]);
        assert_eq!(data.checkpoints, vec![(10.0, 1.5)]);
        assert_eq!(data.markers, vec![(MarkerKind::EarlyStopRequested, 20.0)]);
        assert_eq!(data.x_bounds, [0.0, 100.0], "the axis runs to max steps");
        assert!(data.y_bounds[0] < 1.0 && data.y_bounds[1] > 1.95);
    }

    #[test]
    fn non_finite_and_missing_values_never_reach_the_chart() {
        let run = run(7, None);
        run.metrics.write(|m| {
            m.apply_event(&log(1, Some(f64::NAN), Some(f64::INFINITY)));
            m.apply_event(&log(2, None, None));
        });
        let data = build(&run, None);
        assert!(data.is_empty());
        assert_eq!(data.y_bounds, [0.0, 1.0]);
        assert_eq!(data.x_bounds, [0.0, 1.0]);
        run.metrics
            .write(|m| m.apply_event(&log(3, Some(0.7), None)));
        let flat = build(&run, None);
        assert!(
            flat.y_bounds[0] < 0.7 && flat.y_bounds[1] > 0.7,
            "{:?}",
            flat.y_bounds
        );
    }

    #[test]
    fn a_restart_brings_the_predecessors_curve_and_the_config_change() {
        let old = run(1, None);
        old.metrics.write(|m| {
            for step in 1..=5 {
                m.apply_event(&log(step, Some(3.0), None));
            }
        });
        let new = RunInfo {
            restarted_from: Some(Restart {
                from: 1,
                cause: RestartCause::ConfigChanged {
                    changes: vec![ConfigChange {
                        key: "learningRate".into(),
                        old: Some("0.0002".into()),
                        new: Some("0.0001".into()),
                    }],
                },
            }),
            ..run(2, None)
        };
        new.metrics
            .write(|m| m.apply_event(&log(1, Some(1.0), None)));
        let data = build(&new, Some(&old));
        let predecessor = data.predecessor.expect("the predecessor's curve");
        assert_eq!(predecessor.pid, 1);
        assert_eq!(predecessor.change, "learningRate 0.0002 → 0.0001");
        assert_eq!(predecessor.loss.len(), 5);
        assert_eq!(data.x_bounds, [0.0, 5.0], "both curves fit");
        assert!(data.y_bounds[1] > 3.0);
    }

    #[test]
    fn the_cache_reads_the_series_again_only_after_a_change() {
        let run = run(7, None);
        let mut cache = ChartCache::default();
        let first = cache.get(&run, None);
        assert!(Arc::ptr_eq(&first, &cache.get(&run, None)));
        assert_eq!(cache.builds(), 1);
        run.metrics
            .write(|m| m.apply_event(&log(1, Some(1.0), None)));
        assert_eq!(cache.get(&run, None).loss.len(), 1);
        assert_eq!(cache.builds(), 2);
    }
}
