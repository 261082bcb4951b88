//! flood: one run prints a log flood into the dashboard (lines per second end to end, with
//! mprocs beside it when found) while `?` is pressed; how fast the help overlay answers.

use crate::bench::Bench;
use crate::report::{Report, Row, at_least};
use crate::tui;

/// mprocs absorbs about 0.3 M lines/s here: a smaller flood keeps its column to seconds.
const MPROCS_FLOOD_LINES: u64 = 3_000_000;

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    report.progress("dashboard: flood + keys");
    let flood_lines = bench.plan.flood_lines;
    let flood = super::on_dashboard(bench, move |setup| tui::flood_keys(setup, flood_lines)).await;
    let mprocs_rate = match &bench.peers.mprocs {
        Some(m) => {
            report.progress("mprocs: the same flood");
            let (m, e, dir) = (
                m.clone(),
                bench.tools.emitter.clone(),
                bench.tools.root.clone(),
            );
            tokio::task::spawn_blocking(move || {
                tui::mprocs_flood(&m, &e, &dir, flood_lines.min(MPROCS_FLOOD_LINES))
            })
            .await?
            .map_err(|e| report.notes.push(format!("mprocs flood: {e:#}")))
            .ok()
        }
        None => None,
    };
    match flood {
        Ok(f) => {
            let peer = mprocs_rate
                .map(|m| format!("mprocs {:.2} M lines/s ({:.2}×)", m / 1e6, f.rate / m))
                .unwrap_or("—".into());
            report.rows.push(Row {
                figure: format!(
                    "log ingest end to end: 1 run prints {} lines into the dashboard (pty)",
                    f.lines
                ),
                n: 1,
                median: format!("{:.2} M lines/s", f.rate / 1e6),
                p95: "—".into(),
                floor: "see raw pipe above".into(),
                peer,
                target: "≥ 1 M lines/s".into(),
                verdict: at_least(Some(f.rate), 1e6),
            });
            report.key_latency("during that flood", &f.key_latency, f.unanswered);
        }
        Err(e) => report.failed(
            "log ingest end to end + keys under flood",
            "≥ 1 M lines/s; keys ≤ 50 ms",
            e,
        ),
    }
    Ok(())
}
