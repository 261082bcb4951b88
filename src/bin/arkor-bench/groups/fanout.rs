//! fanout: many SSE subscribers and two live runs; every subscriber gets each `rebuild`
//! exactly once and each child exactly one SIGUSR2 per save.

use crate::bench::Bench;
use crate::e2e;
use crate::procs::{Peer, with_server};
use crate::report::{Report, Verdict};

const TARGET: &str = "all get it; each child signalled once";

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    report.progress("SSE fan-out");
    let subs = bench.plan.subscribers;
    let rounds = bench.plan.fanout_rounds;
    let spec = bench.server(Peer::Arkor, &bench.small.root, "home-fanout");
    let small = &mut bench.small;
    match with_server(&spec, |srv| async move {
        e2e::fanout(srv.0, &srv.1, small, subs, 2, rounds).await
    })
    .await
    {
        Ok(f) => {
            let each_once = f.signals_per_child.iter().all(|n| *n == f.rounds);
            let all = f.delivered == f.subscribers * f.rounds;
            let figure = format!(
                "SSE fan-out: {} subscribers × {} rebuilds, 2 runs: frames delivered exactly once {}/{}; SIGUSR2 per child {:?}",
                f.subscribers,
                f.rounds,
                f.delivered,
                f.subscribers * f.rounds,
                f.signals_per_child
            );
            report.latency(
                &figure,
                &f.latency,
                "—".into(),
                None,
                "",
                TARGET,
                if each_once && all {
                    Verdict::Pass
                } else {
                    Verdict::Failed
                },
            );
            if let Some(max) = f.latency.max() {
                report.notes.push(format!(
                    "fan-out: the slowest of {} subscribers got the frame {:.2} ms after the save",
                    f.subscribers, max
                ));
            }
        }
        Err(e) => report.failed("SSE fan-out", TARGET, e),
    }
    Ok(())
}
