//! memory: the dashboard's RSS once every run has printed its lines, at a few log sizes.

use crate::bench::Bench;
use crate::report::{Report, Row, Verdict, at_most};
use crate::tui;

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    let memory_runs = bench.plan.memory_runs;
    for &lines in &bench.plan.memory_lines {
        report.progress(&format!(
            "dashboard: RSS with {memory_runs} runs × {lines} lines"
        ));
        // The target applies to the 200,000-line size (and to the one size a quick run has).
        let target_row = lines == 200_000 || bench.plan.quick;
        match super::on_dashboard(bench, move |setup| tui::memory(setup, memory_runs, lines)).await
        {
            Ok(m) => report.rows.push(Row {
                figure: format!(
                    "RSS of the dashboard, {} runs × {} lines (peak in parentheses)",
                    m.runs, m.lines_per_run
                ),
                n: 1,
                median: format!("{:.1} MiB ({:.1})", m.rss_mib, m.hwm_mib),
                p95: "—".into(),
                floor: "—".into(),
                peer: "—".into(),
                target: if target_row {
                    "≤ 60 MB".into()
                } else {
                    "(growth)".into()
                },
                verdict: if target_row {
                    at_most(Some(m.hwm_mib * 1.048_576), 60.0)
                } else {
                    Verdict::Info
                },
            }),
            Err(e) => report.failed(
                &format!("RSS, {memory_runs} runs × {lines} lines"),
                "≤ 60 MB",
                e,
            ),
        }
    }
    Ok(())
}
