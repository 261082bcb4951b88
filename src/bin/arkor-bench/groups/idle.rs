//! idle: the CPU arkor tui uses while nothing happens, with three silent runs, headless
//! (measured after the fan-out) and with the dashboard (after the start-up figures).

use crate::bench::Bench;
use crate::e2e;
use crate::procs::{Peer, with_server};
use crate::report::{Report, at_most, single};
use crate::tui;

const TARGET: &str = "< 0.5 %";

pub async fn headless(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    report.progress("idle CPU, headless, 3 silent runs");
    let window = bench.plan.idle_window;
    let spec = bench.server(Peer::Arkor, &bench.small.root, "home-idle");
    match with_server(&spec, |srv| async move {
        e2e::idle_cpu(srv.0, &srv.1, srv.2, 3, window).await
    })
    .await
    {
        Ok(p) => report.rows.push(single(
            &format!(
                "idle CPU, `--headless`, 3 silent runs ({:.0} s window)",
                window.as_secs_f64()
            ),
            p,
            "% of a core",
            TARGET,
            at_most(Some(p), 0.5),
        )),
        Err(e) => report.failed("idle CPU, headless", TARGET, e),
    }
    Ok(())
}

pub async fn dashboard(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    report.progress("dashboard: idle CPU with 3 silent runs");
    let window = bench.plan.idle_window;
    match super::on_dashboard(bench, move |setup| tui::idle_cpu(setup, 3, window)).await {
        Ok(p) => report.rows.push(single(
            &format!(
                "idle CPU, dashboard, 3 silent runs ({:.0} s window)",
                window.as_secs_f64()
            ),
            p,
            "% of a core",
            TARGET,
            at_most(Some(p), 0.5),
        )),
        Err(e) => report.failed("idle CPU, dashboard", TARGET, e),
    }
    Ok(())
}
