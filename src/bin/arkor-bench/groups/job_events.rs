//! job-events: what following a cloud training job costs (the follower and the run's metric
//! series, fed from an in-memory stream), and the series' memory for five long runs.

use crate::bench::Bench;
use crate::report::Report;

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    report.progress("cloud job events: follower + metric series");
    crate::job_events::measure(bench.plan.quick, report).await;
    Ok(())
}
