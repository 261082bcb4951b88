//! training: the dashboard while its runs' cloud jobs stream training progress (a loopback
//! stand-in for the cloud's event stream): CPU and keys at 1,000 events/s, RSS for five runs
//! of 100,000 steps, idle CPU with three open silent streams.

use crate::bench::Bench;
use crate::report::{Report, Row, at_most, single};
use crate::tui_training;

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    let mut setup = bench.dashboard();
    setup.project = crate::fixture::scoped_project(&bench.tools.root.join("training"))?;
    let window = bench.plan.idle_window;
    let (rounds, presses) = if bench.plan.quick { (1, 10) } else { (3, 30) };

    report.progress("dashboard: 1 run streaming 1,000 training events/s");
    let streaming = {
        let setup = setup.clone();
        tokio::task::spawn_blocking(move || {
            tui_training::streaming(&setup, window, rounds, presses)
        })
        .await?
    };
    match streaming {
        Ok(f) => {
            let cost = (f.busy - f.silent).max(0.0);
            report.rows.push(Row {
                figure: format!(
                    "dashboard CPU for 1 run streaming 1,000 training events/s (with − without the events, {:.0} s windows, {rounds} alternated rounds)",
                    window.as_secs_f64()
                ),
                n: rounds,
                median: format!("{cost:.2} % of a core"),
                p95: "—".into(),
                floor: format!("with {:.2} %, silent stream {:.2} %", f.busy, f.silent),
                peer: "—".into(),
                target: "< 2 % of a core".into(),
                verdict: at_most(Some(cost), 2.0),
            });
            report.key_latency(
                "while 1,000 training events/s arrive",
                &f.key_latency,
                f.unanswered,
            );
        }
        Err(e) => report.failed(
            "dashboard with 1,000 training events/s",
            "< 2 % of a core; keys ≤ 50 ms",
            e,
        ),
    }

    let (runs, steps) = (5, if bench.plan.quick { 20_000 } else { 100_000 });
    report.progress(&format!("dashboard: RSS with {runs} runs × {steps} steps"));
    let memory = {
        let setup = setup.clone();
        tokio::task::spawn_blocking(move || tui_training::memory(&setup, runs, steps)).await?
    };
    match memory {
        Ok((rss, hwm)) => report.rows.push(Row {
            figure: format!(
                "RSS of the dashboard, {runs} runs × {steps} training steps each (peak in parentheses)"
            ),
            n: 1,
            median: format!("{rss:.1} MiB ({hwm:.1})"),
            p95: "—".into(),
            floor: "—".into(),
            peer: "—".into(),
            target: "≤ 60 MB".into(),
            verdict: at_most(Some(hwm * 1.048_576), 60.0),
        }),
        Err(e) => report.failed("RSS with 5 training runs", "≤ 60 MB", e),
    }

    report.progress("dashboard: idle CPU, 3 runs with open silent job streams");
    let idle = tokio::task::spawn_blocking(move || tui_training::idle(&setup, 3, window)).await?;
    match idle {
        Ok(p) => report.rows.push(single(
            &format!(
                "idle CPU, dashboard, 3 silent runs following their open job streams ({:.0} s window)",
                window.as_secs_f64()
            ),
            p,
            "% of a core",
            "< 0.5 %",
            at_most(Some(p), 0.5),
        )),
        Err(e) => report.failed("idle CPU with 3 followed runs", "< 0.5 %", e),
    }
    Ok(())
}
