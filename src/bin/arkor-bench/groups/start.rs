//! start: `arkor tui` in a pty, from spawn to its first frame (and to the first build shown).

use crate::bench::Bench;
use crate::report::{Report, Verdict, at_most, floor_ms};
use crate::tui;

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    report.progress("dashboard: start → first frame");
    let start_runs = bench.plan.start_runs;
    let spawn_floor = bench.floors.as_ref().and_then(|f| f.spawn_true.median());
    match super::on_dashboard(bench, move |setup| {
        tui::start_to_first_frame(setup, start_runs)
    })
    .await
    {
        Ok(f) => {
            report.latency(
                "`arkor tui` start → first frame on the terminal (pty)",
                &f.first_frame,
                floor_ms(spawn_floor),
                None,
                "",
                "≤ 100 ms",
                at_most(f.first_frame.median(), 100.0),
            );
            report.latency(
                "`arkor tui` start → header shows the first build ok",
                &f.first_build,
                "—".into(),
                None,
                "",
                "(reported separately)",
                Verdict::Info,
            );
        }
        Err(e) => report.failed("`arkor tui` start → first frame", "≤ 100 ms", e),
    }
    Ok(())
}
