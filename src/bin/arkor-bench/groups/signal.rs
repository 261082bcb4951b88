//! signal: save → SIGUSR2 received by a live run's child (the callbacks hot-swap), end to end.

use crate::bench::Bench;
use crate::e2e;
use crate::procs::{Peer, with_server};
use crate::report::{Report, at_most, floor_ms};

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    report.progress("save → SIGUSR2 at the child");
    let (warmup, runs) = (bench.plan.warmup, bench.plan.runs);
    let spec = bench.server(Peer::Arkor, &bench.small.root, "home-signal");
    let small = &mut bench.small;
    match with_server(&spec, |srv| async move {
        e2e::save_to_signal(srv.0, &srv.1, small, warmup, runs).await
    })
    .await
    {
        Ok(f) => {
            let floor = floor_ms(bench.bare_build_floor());
            report.latency(
                "save → SIGUSR2 received by the child (wall clock, 1 run)",
                &f.save_to_signal,
                floor.clone(),
                None,
                "",
                "p50 ≤ 8 ms",
                at_most(f.save_to_signal.median(), 8.0),
            );
            report.info(
                "save → SSE `rebuild` frame with 1 live run (dispatch included)",
                &f.save_to_rebuild_with_run,
                floor,
            );
        }
        Err(e) => report.failed("save → SIGUSR2 received by the child", "p50 ≤ 8 ms", e),
    }
    Ok(())
}
