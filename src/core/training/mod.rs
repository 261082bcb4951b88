//! Training progress of one run, as the cloud's job event stream reports it: a bounded
//! metric series with derived progress (step of max steps, latest losses, checkpoints,
//! steps/s, ETA), engine markers, and the run's outcome.
//!
//! A run's record owns one [`RunMetrics`] and feeds it the updates of the run's
//! [`JobFollower`](crate::core::cloud::job_events::JobFollower) with
//! [`RunMetrics::apply`]. Pure state: no tasks, no I/O.

pub mod marks;
pub mod metrics;
pub mod outcome;
pub mod rate;
pub mod series;
pub mod shared;

pub use marks::{Marker, MarkerKind};
pub use metrics::{Applied, Progress, RunMetrics, max_steps_in_config};
pub use outcome::{CloudVerdict, FinalMetrics, OutcomeKind, RunOutcome};
pub use series::{Bucket, MinMaxSeries, Point};
pub use shared::SharedMetrics;
