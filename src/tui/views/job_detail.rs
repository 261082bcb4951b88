//! One cloud job opened from the Jobs view: its event stream replayed from the start and then
//! followed while the detail is open, folded into the same metrics a local run keeps (so the
//! loss chart is the Runs view's chart), and the log of its events.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::core::cloud::job_events::{FollowEnd, FollowerUpdate, JobEvent, StreamHealth};
use crate::core::cloud::jobs::CloudJob;
use crate::core::training::{Applied, RunMetrics, max_steps_in_config};
use crate::tui::chart_data::{self, PlotData};
use crate::tui::cloud_tasks::CloudProblem;

/// Events kept for the log (the chart keeps its own bounded series).
pub const MAX_LOG_EVENTS: usize = 5_000;

/// Where the job's event stream is.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamState {
    Opening,
    Live,
    /// Cannot be reached; the follower retries.
    Down(String),
    /// Over: the job ended, or the cloud refused the stream.
    Ended(String),
    /// The stream could not be asked for (no scope, no identity).
    Failed(CloudProblem),
}

#[derive(Debug)]
pub struct JobDetail {
    pub job: CloudJob,
    pub metrics: RunMetrics,
    /// The job's events, oldest first.
    pub events: VecDeque<JobEvent>,
    pub stream: StreamState,
    /// Log lines hidden below the pane (0: the newest are shown).
    pub scroll: usize,
    plot: Option<(u64, Arc<PlotData>)>,
}

impl JobDetail {
    pub fn new(job: CloudJob) -> Self {
        let metrics = RunMetrics::new(max_steps_in_config(&job.config));
        Self {
            job,
            metrics,
            events: VecDeque::new(),
            stream: StreamState::Opening,
            scroll: 0,
            plot: None,
        }
    }

    /// Fold in one update of the job's stream.
    pub fn apply(&mut self, update: FollowerUpdate) {
        match self.metrics.apply(update) {
            Applied::Events { new, .. } => {
                self.stream = StreamState::Live;
                let added = new.len();
                self.events.extend(new);
                while self.events.len() > MAX_LOG_EVENTS {
                    self.events.pop_front();
                }
                // A reader scrolled back keeps looking at the same lines.
                if self.scroll > 0 {
                    self.scroll = (self.scroll + added).min(self.events.len());
                }
            }
            Applied::Health(StreamHealth::Live) => self.stream = StreamState::Live,
            Applied::Health(StreamHealth::Down { error }) => {
                self.stream = StreamState::Down(error.to_string());
            }
            Applied::Ended(end) => {
                self.stream = StreamState::Ended(match end {
                    FollowEnd::JobEnded => "the job ended".into(),
                    FollowEnd::Rejected(e) => format!("the cloud refused the stream: {e}"),
                    FollowEnd::Unaddressable(why) => why,
                });
            }
        }
    }

    pub fn failed(&mut self, problem: CloudProblem) {
        self.stream = StreamState::Failed(problem);
    }

    /// The chart's data, rebuilt only when the metrics changed since the last frame.
    pub fn plot(&mut self) -> Arc<PlotData> {
        let revision = self.metrics.revision();
        match &self.plot {
            Some((built, data)) if *built == revision => data.clone(),
            _ => {
                let label = format!("job {}", self.job.id);
                let data = Arc::new(chart_data::plot(label, &self.metrics, None));
                self.plot = Some((revision, data.clone()));
                data
            }
        }
    }

    /// Scroll the log back (positive) or forward (negative) by `lines`.
    pub fn scroll_by(&mut self, lines: isize) {
        self.scroll = self
            .scroll
            .saturating_add_signed(lines)
            .min(self.events.len().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {

    use serde_json::json;

    use super::*;
    use crate::core::cloud::job_events::EventBatch;
    use crate::core::cloud::jobs::JobStatus;

    fn log(step: u64, loss: f64) -> JobEvent {
        JobEvent::loss_log(step, Some(loss), None)
    }

    fn batch(events: Vec<JobEvent>) -> FollowerUpdate {
        FollowerUpdate::Events(EventBatch {
            events,
            malformed: 0,
        })
    }

    #[test]
    fn a_replayed_stream_fills_the_log_and_the_chart_once() {
        let mut detail = JobDetail::new(CloudJob {
            id: "j1".into(),
            name: "n".into(),
            status: JobStatus::Completed,
            created_at: None,
            started_at: None,
            completed_at: None,
            error: None,
            config: json!({"maxSteps": 4}),
        });
        assert_eq!(detail.stream, StreamState::Opening);
        detail.apply(batch(vec![log(1, 2.0), log(2, 1.5)]));
        // A reconnect replays step 2: nothing is counted twice.
        detail.apply(batch(vec![log(2, 1.5), log(3, 1.0)]));
        assert_eq!(detail.events.len(), 3);
        assert_eq!(detail.stream, StreamState::Live);
        let plot = detail.plot();
        assert_eq!(plot.loss, vec![(1.0, 2.0), (2.0, 1.5), (3.0, 1.0)]);
        assert_eq!(plot.x_bounds, [0.0, 4.0], "maxSteps from the job's config");
        assert!(Arc::ptr_eq(&plot, &detail.plot()), "unchanged: not rebuilt");
        detail.scroll_by(1);
        detail.apply(batch(vec![log(4, 0.5)]));
        assert_eq!(
            detail.scroll, 2,
            "a reader scrolled back stays on the same lines"
        );
        detail.apply(FollowerUpdate::Ended(FollowEnd::JobEnded));
        assert_eq!(detail.stream, StreamState::Ended("the job ended".into()));
    }
}
