//! ingest: log lines per second from one child into the log store through the real
//! supervisor, in this process, next to the raw pipe floor.

use crate::bench::Bench;
use crate::micro;
use crate::report::{Report, Row, at_least};

const TARGET: &str = "≥ 1 M lines/s";

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    report.progress("log ingest through the supervisor (library)");
    match micro::ingest(
        &bench.tools.emitter,
        &bench.tools.root,
        bench.plan.ingest_lines,
    )
    .await
    {
        Ok(f) => report.rows.push(Row {
            figure: format!(
                "log ingest, one child, {} lines → log store (supervisor, in-process)",
                f.lines
            ),
            n: 1,
            median: format!("{:.2} M lines/s", f.store_rate / 1e6),
            p95: "—".into(),
            floor: format!("raw pipe {:.2} M lines/s", f.pipe_rate / 1e6),
            peer: "—".into(),
            target: TARGET.into(),
            verdict: at_least(Some(f.store_rate), 1e6),
        }),
        Err(e) => report.failed("log ingest (library)", TARGET, e),
    }
    Ok(())
}
