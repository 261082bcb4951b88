//! Everything a run's record knows about its training: the loss and eval-loss series, the
//! latest values, checkpoints, engine markers, speed and ETA, the stream's health, and the
//! outcome. Fed by the run's job follower; read by the dashboard, the Studio and the
//! headless printer. Memory is bounded whatever the run's length.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::marks::{Checkpoints, Marker, MarkerKind, Markers};
use super::outcome::{CloudVerdict, FinalMetrics, OutcomeKind, RunOutcome};
use super::rate::StepRate;
use super::series::{MinMaxSeries, Point};
use crate::core::cloud::job_events::{
    FollowEnd, FollowerUpdate, JobEvent, JobEventKind, StreamHealth,
};

/// The job config's `maxSteps` when it is a positive whole number.
pub fn max_steps_in_config(config: &Value) -> Option<u64> {
    let value = config.get("maxSteps")?;
    value
        .as_u64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.is_finite() && *f >= 1.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        })
        .filter(|&n| n > 0)
}

/// The numbers a runs table shows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    pub step: Option<u64>,
    pub max_steps: Option<u64>,
    pub loss: Option<f64>,
    pub eval_loss: Option<f64>,
    pub learning_rate: Option<f64>,
    pub epoch: Option<f64>,
    pub samples_per_second: Option<f64>,
    pub last_checkpoint: Option<u64>,
    /// Smoothed over the last half minute of the cloud's clock.
    pub steps_per_second: Option<f64>,
    /// Until `max_steps` at the current speed; `None` once the job is over.
    pub eta: Option<Duration>,
}

impl Progress {
    /// `step / max_steps` in `[0, 1]`, when both are known.
    pub fn fraction(&self) -> Option<f64> {
        let (step, max) = (self.step?, self.max_steps?);
        Some((step as f64 / max as f64).clamp(0.0, 1.0))
    }
}

/// What one follower update changed, for the engine to publish.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// The events that were new, in order (replays of steps already recorded are left
    /// out), and the malformed frames the batch reported.
    Events { new: Vec<JobEvent>, malformed: u32 },
    /// The stream's health changed.
    Health(StreamHealth),
    /// The follower is done.
    Ended(FollowEnd),
}

#[derive(Clone, Debug, Default)]
pub struct RunMetrics {
    loss: MinMaxSeries,
    eval_loss: MinMaxSeries,
    checkpoints: Checkpoints,
    markers: Markers,
    rate: StepRate,
    max_steps: Option<u64>,
    latest_step: Option<u64>,
    learning_rate: Option<f64>,
    epoch: Option<f64>,
    samples_per_second: Option<f64>,
    started_at: Option<SystemTime>,
    last_event_at: Option<SystemTime>,
    verdict: Option<CloudVerdict>,
    malformed_frames: u64,
    health: Option<StreamHealth>,
    stream_end: Option<FollowEnd>,
    outcome: Option<RunOutcome>,
    /// Counts every change a chart or a table would show, so a reader can tell that what it
    /// drew last is still current without comparing series.
    revision: u64,
}

impl RunMetrics {
    /// `max_steps` from the run's job config ([`max_steps_in_config`]), when it says.
    pub fn new(max_steps: Option<u64>) -> Self {
        Self {
            max_steps,
            ..Self::default()
        }
    }

    pub fn set_max_steps(&mut self, max_steps: Option<u64>) {
        self.max_steps = max_steps;
        self.revision += 1;
    }

    /// Changes so far (see the field): equal revisions of one run's metrics draw the same.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Take in one update of the run's follower.
    pub fn apply(&mut self, update: FollowerUpdate) -> Applied {
        match update {
            FollowerUpdate::Events(batch) => {
                self.malformed_frames += u64::from(batch.malformed);
                if batch.malformed > 0 {
                    self.revision += 1;
                }
                let new = batch
                    .events
                    .into_iter()
                    .filter(|event| self.apply_event(event))
                    .collect();
                Applied::Events {
                    new,
                    malformed: batch.malformed,
                }
            }
            FollowerUpdate::Health(health) => {
                self.health = Some(health.clone());
                Applied::Health(health)
            }
            FollowerUpdate::Ended(end) => {
                self.stream_end = Some(end.clone());
                Applied::Ended(end)
            }
        }
    }

    /// Record one event; `false` when it brought nothing new (a replayed step).
    pub fn apply_event(&mut self, event: &JobEvent) -> bool {
        let new = match &event.kind {
            JobEventKind::Started => self.started_at.replace(event.at).is_none(),
            JobEventKind::Log(log) => {
                let step_is_new = self.latest_step.is_none_or(|latest| log.step > latest);
                let new_loss = log.loss.is_some_and(|v| self.loss.push(log.step, v));
                let new_eval = log
                    .eval_loss
                    .is_some_and(|v| self.eval_loss.push(log.step, v));
                let new = new_loss || new_eval || step_is_new;
                if new {
                    self.learning_rate = log.learning_rate.or(self.learning_rate);
                    self.epoch = log.epoch.or(self.epoch);
                    self.samples_per_second = log.samples_per_second.or(self.samples_per_second);
                    self.rate.record(event.at, log.step);
                }
                new
            }
            JobEventKind::CheckpointSaved { step } => self.checkpoints.push(*step),
            JobEventKind::Completed => self.set_verdict(CloudVerdict::Completed),
            JobEventKind::Failed { error, step } => self.set_verdict(CloudVerdict::Failed {
                error: error.clone(),
                step: *step,
            }),
        };
        if new {
            if let Some(step) = event.step() {
                self.latest_step = Some(self.latest_step.map_or(step, |s| s.max(step)));
            }
            self.last_event_at = Some(event.at);
            self.revision += 1;
        }
        new
    }

    fn set_verdict(&mut self, verdict: CloudVerdict) -> bool {
        if self.verdict.is_some() {
            return false;
        }
        self.verdict = Some(verdict);
        true
    }

    /// Mark a moment the engine caused (at the latest known step).
    pub fn mark(&mut self, kind: MarkerKind, at: SystemTime) {
        self.markers.push(Marker {
            kind,
            step: self.latest_step,
            at,
        });
        self.revision += 1;
    }

    pub fn progress(&self) -> Progress {
        // A run with an outcome trains no more: no speed, no ETA.
        let over = self.verdict.is_some() || self.outcome.is_some();
        Progress {
            step: self.latest_step,
            max_steps: self.max_steps,
            loss: self.loss.last().map(|p| p.value),
            eval_loss: self.eval_loss.last().map(|p| p.value),
            learning_rate: self.learning_rate,
            epoch: self.epoch,
            samples_per_second: self.samples_per_second,
            last_checkpoint: self.checkpoints.latest(),
            steps_per_second: self.rate.per_second().filter(|_| self.outcome.is_none()),
            eta: self
                .max_steps
                .filter(|_| !over)
                .and_then(|max| self.rate.eta(max)),
        }
    }

    pub fn loss(&self) -> &MinMaxSeries {
        &self.loss
    }

    pub fn eval_loss(&self) -> &MinMaxSeries {
        &self.eval_loss
    }

    pub fn checkpoints(&self) -> &Checkpoints {
        &self.checkpoints
    }

    pub fn markers(&self) -> &[Marker] {
        self.markers.all()
    }

    /// When the cloud said training started (its clock).
    pub fn started_at(&self) -> Option<SystemTime> {
        self.started_at
    }

    /// When the latest new event happened (its clock).
    pub fn last_event_at(&self) -> Option<SystemTime> {
        self.last_event_at
    }

    /// `training.completed` / `training.failed`, once received.
    pub fn verdict(&self) -> Option<&CloudVerdict> {
        self.verdict.as_ref()
    }

    pub fn health(&self) -> Option<&StreamHealth> {
        self.health.as_ref()
    }

    pub fn stream_end(&self) -> Option<&FollowEnd> {
        self.stream_end.as_ref()
    }

    /// Frames skipped because they could not be read.
    pub fn malformed_frames(&self) -> u64 {
        self.malformed_frames
    }

    pub fn final_metrics(&self) -> FinalMetrics {
        FinalMetrics {
            step: self.latest_step,
            loss: self.loss.last().map(|p| p.value),
            eval_loss: self.eval_loss.last().map(|p| p.value),
        }
    }

    /// Settle the run's outcome with the numbers it ended on. The engine decides the
    /// kind; a later call replaces an earlier one (a kill that turns out to be a restart).
    pub fn conclude(&mut self, kind: OutcomeKind) -> &RunOutcome {
        self.revision += 1;
        self.outcome.insert(RunOutcome {
            kind,
            last: self.final_metrics(),
        })
    }

    pub fn outcome(&self) -> Option<&RunOutcome> {
        self.outcome.as_ref()
    }

    /// The latest training-loss point (for a headline number with its step).
    pub fn latest_loss(&self) -> Option<Point> {
        self.loss.last()
    }

    /// Bytes held on the heap, for memory budgets.
    pub fn heap_bytes(&self) -> usize {
        self.loss.heap_bytes()
            + self.eval_loss.heap_bytes()
            + self.checkpoints.heap_bytes()
            + std::mem::size_of_val(self.markers.all())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::cloud::job_events::{EventBatch, TrainingLog};

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn log(step: u64, loss: Option<f64>, eval_loss: Option<f64>) -> JobEvent {
        JobEvent {
            kind: JobEventKind::Log(TrainingLog {
                loss,
                eval_loss,
                learning_rate: loss.map(|_| 2e-4),
                epoch: Some(step as f64 / 200.0),
                ..TrainingLog::at_step(step)
            }),
            at: at(step * 100),
        }
    }

    fn event(kind: JobEventKind, ms: u64) -> JobEvent {
        JobEvent { kind, at: at(ms) }
    }

    #[test]
    fn max_steps_comes_from_the_config_when_it_is_a_count() {
        assert_eq!(max_steps_in_config(&json!({"maxSteps": 200})), Some(200));
        assert_eq!(max_steps_in_config(&json!({"maxSteps": 50.0})), Some(50));
        for config in [
            json!({}),
            json!({"maxSteps": 0}),
            json!({"maxSteps": -5}),
            json!({"maxSteps": 2.5}),
            json!({"maxSteps": "100"}),
            json!(null),
        ] {
            assert_eq!(max_steps_in_config(&config), None, "{config}");
        }
    }

    #[test]
    fn a_training_run_yields_progress_series_and_outcome() {
        let mut metrics = RunMetrics::new(Some(200));
        assert_eq!(metrics.progress().fraction(), Some(0.0).filter(|_| false));
        metrics.apply_event(&event(JobEventKind::Started, 0));
        for step in 1..=100 {
            assert!(metrics.apply_event(&log(step, Some(2.0 / step as f64), None)));
            if step % 25 == 0 {
                assert!(metrics.apply_event(&log(step, None, Some(1.0 / step as f64))));
            }
            if step % 40 == 0 {
                assert!(
                    metrics.apply_event(&event(JobEventKind::CheckpointSaved { step }, step * 100))
                );
            }
        }
        let progress = metrics.progress();
        assert_eq!(progress.step, Some(100));
        assert_eq!(progress.max_steps, Some(200));
        assert_eq!(progress.fraction(), Some(0.5));
        assert_eq!(progress.loss, Some(0.02));
        assert_eq!(progress.eval_loss, Some(0.01));
        assert_eq!(
            progress.learning_rate,
            Some(2e-4),
            "an eval frame keeps the last rate"
        );
        assert_eq!(progress.epoch, Some(0.5));
        assert_eq!(progress.last_checkpoint, Some(80));
        let rate = progress.steps_per_second.unwrap();
        assert!((rate - 10.0).abs() < 1e-9, "{rate}");
        assert_eq!(progress.eta, Some(Duration::from_secs(10)));
        assert_eq!(metrics.loss().len(), 100);
        assert_eq!(metrics.eval_loss().len(), 4);
        assert_eq!(metrics.started_at(), Some(at(0)));

        assert!(metrics.apply_event(&event(JobEventKind::Completed, 10_100)));
        assert_eq!(metrics.verdict(), Some(&CloudVerdict::Completed));
        assert_eq!(metrics.progress().eta, None, "no ETA once the job is over");
        let outcome = metrics.conclude(OutcomeKind::Completed).clone();
        assert_eq!(
            outcome.last,
            FinalMetrics {
                step: Some(100),
                loss: Some(0.02),
                eval_loss: Some(0.01)
            }
        );
        assert_eq!(metrics.outcome(), Some(&outcome));
    }

    #[test]
    fn replays_and_non_finite_values_change_nothing() {
        let mut metrics = RunMetrics::new(None);
        assert!(metrics.apply_event(&log(1, Some(1.0), None)));
        assert!(metrics.apply_event(&log(2, Some(0.9), None)));
        assert!(!metrics.apply_event(&log(2, Some(0.9), None)));
        assert!(!metrics.apply_event(&log(1, Some(5.0), None)));
        assert!(
            metrics.apply_event(&log(3, Some(f64::NAN), Some(f64::INFINITY))),
            "a new step"
        );
        assert_eq!(metrics.loss().len(), 2);
        assert!(metrics.eval_loss().is_empty());
        assert_eq!(metrics.progress().step, Some(3));
        assert_eq!(metrics.progress().loss, Some(0.9));
        assert!(metrics.loss().points().all(|p| p.value.is_finite()));
        assert!(
            !metrics.apply_event(&event(JobEventKind::Started, 0))
                || metrics.started_at().is_some()
        );
        assert!(metrics.apply_event(&event(
            JobEventKind::Failed {
                error: "OOM".into(),
                step: Some(7)
            },
            500
        )));
        assert!(
            !metrics.apply_event(&event(JobEventKind::Completed, 600)),
            "one verdict"
        );
        assert_eq!(
            metrics.verdict(),
            Some(&CloudVerdict::Failed {
                error: "OOM".into(),
                step: Some(7)
            })
        );
        assert_eq!(metrics.progress().step, Some(7));
    }

    #[test]
    fn follower_updates_are_applied_and_reported() {
        let mut metrics = RunMetrics::new(None);
        let batch = EventBatch {
            events: vec![
                log(1, Some(1.0), None),
                log(1, Some(1.0), None),
                log(2, Some(0.5), None),
            ],
            malformed: 3,
        };
        let Applied::Events { new, malformed } = metrics.apply(FollowerUpdate::Events(batch))
        else {
            panic!()
        };
        assert_eq!(
            new.iter().filter_map(JobEvent::step).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(malformed, 3);
        assert_eq!(metrics.malformed_frames(), 3);
        assert_eq!(
            metrics.apply(FollowerUpdate::Health(StreamHealth::Live)),
            Applied::Health(StreamHealth::Live)
        );
        assert_eq!(metrics.health(), Some(&StreamHealth::Live));
        metrics.apply(FollowerUpdate::Ended(FollowEnd::JobEnded));
        assert_eq!(metrics.stream_end(), Some(&FollowEnd::JobEnded));
    }

    #[test]
    fn markers_sit_at_the_latest_step() {
        let mut metrics = RunMetrics::new(None);
        metrics.mark(MarkerKind::HotSwap, at(1));
        metrics.apply_event(&log(10, Some(1.0), None));
        metrics.mark(MarkerKind::EarlyStopRequested, at(2));
        let steps: Vec<_> = metrics.markers().iter().map(|m| (m.kind, m.step)).collect();
        assert_eq!(
            steps,
            vec![
                (MarkerKind::HotSwap, None),
                (MarkerKind::EarlyStopRequested, Some(10))
            ]
        );
    }

    #[test]
    fn five_long_runs_stay_within_a_few_megabytes() {
        let runs: Vec<RunMetrics> = (0..5)
            .map(|_| {
                let mut metrics = RunMetrics::new(Some(100_000));
                for step in 1..=100_000u64 {
                    let eval = (step % 10 == 0).then(|| 1.0 / step as f64);
                    metrics.apply_event(&log(step, Some((step as f64).cos()), eval));
                    if step % 100 == 0 {
                        metrics.apply_event(&event(
                            JobEventKind::CheckpointSaved { step },
                            step * 100,
                        ));
                    }
                }
                metrics
            })
            .collect();
        let total: usize = runs
            .iter()
            .map(|m| m.heap_bytes() + std::mem::size_of::<RunMetrics>())
            .sum();
        assert!(
            total < 2 * 1024 * 1024,
            "{total} bytes for 5 × 100,000 steps"
        );
        assert_eq!(runs[0].loss().len(), 100_000);
    }
}
