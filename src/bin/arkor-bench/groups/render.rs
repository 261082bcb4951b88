//! render: drawing the dashboard with a 10,000-line log pane (a full frame, and the diffed
//! frame after one new line), with a 10,000-point loss chart, in this process on ratatui's
//! TestBackend.

use crate::bench::Bench;
use crate::micro;
use crate::report::{Report, at_most};

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    report.progress("render with a 10k-line pane");
    match micro::render(10_000, bench.plan.render_frames) {
        Ok((full, step)) => {
            report.latency(
                "render: full 200×50 frame, 10k-line pane (fresh buffer, TestBackend)",
                &full,
                "—".into(),
                None,
                "",
                "≤ 1 ms",
                at_most(full.median(), 1.0),
            );
            report.info(
                "render: following frame after one new line (diffed)",
                &step,
                "—".into(),
            );
        }
        Err(e) => report.failed("render with a 10k-line pane", "≤ 1 ms", e),
    }
    report.progress("render with a 10k-point loss chart");
    match micro::render_chart(10_000, bench.plan.render_frames) {
        Ok(frames) => report.latency(
            "render: full 200×50 frame, selected run with a 10k-point loss chart (+ eval, checkpoints, markers; new step each frame)",
            &frames,
            "—".into(),
            None,
            "",
            "≤ 1 ms",
            at_most(frames.median(), 1.0),
        ),
        Err(e) => report.failed("render with a 10k-point loss chart", "≤ 1 ms", e),
    }
    match micro::render_long_line(bench.plan.render_frames) {
        Ok(frames) => report.latency(
            "render: 120×40 frame of one 10 MB log line, truncated / wrapped",
            &frames,
            "—".into(),
            None,
            "",
            "≤ 100 ms",
            at_most(frames.median(), 100.0),
        ),
        Err(e) => report.failed("render of a 10 MB log line", "≤ 100 ms", e),
    }
    Ok(())
}
