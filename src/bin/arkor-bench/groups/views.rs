//! views: the dashboard's cloud views in a pty, its cloud a loopback stand-in listing 1,000
//! jobs: a number key → the view drawn, the Jobs view's loading state before its first list,
//! `j` held over the 1,000 jobs.

use crate::bench::Bench;
use crate::report::{Report, Row, Verdict, at_most};
use crate::tui_views::{self, VIEW_KEYS};

/// A view on screen within one frame interval of its key.
const SWITCH_TARGET_MS: f64 = 16.0;

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    let mut setup = bench.dashboard();
    setup.project = crate::fixture::scoped_project(&bench.tools.root.join("views"))?;
    let rounds = bench.plan.runs;
    let sessions = if bench.plan.quick { 1 } else { 5 };
    report.progress("dashboard: cloud views, 1,000 jobs");
    let figures =
        tokio::task::spawn_blocking(move || tui_views::measure(&setup, rounds, sessions)).await?;
    let f = match figures {
        Ok(f) => f,
        Err(e) => {
            report.failed(
                "cloud views: view switches and the 1,000-job scroll",
                "≤ 16 ms; no key dropped",
                e,
            );
            return Ok(());
        }
    };
    report.latency(
        "Jobs view: the first `2`, its list not arrived yet → loading state drawn (pty)",
        &f.loading,
        "—".into(),
        None,
        "",
        "≤ 16 ms",
        at_most(f.loading.median(), SWITCH_TARGET_MS),
    );
    report.info(
        "Jobs view: the held list of 1,000 jobs let through by the stand-in → drawn",
        &f.listed,
        "—".into(),
    );
    for (view, samples) in VIEW_KEYS.iter().zip(&f.switches) {
        let verdict = if f.unanswered > 0 {
            Verdict::Miss(f64::INFINITY)
        } else {
            at_most(samples.median(), SWITCH_TARGET_MS)
        };
        report.latency(
            &format!(
                "view switch: key `{}` → first frame of {} drawn (pty; {} unanswered in all)",
                char::from(view.key),
                view.name,
                f.unanswered
            ),
            samples,
            "—".into(),
            None,
            "",
            "≤ 16 ms",
            verdict,
        );
    }
    let scroll = &f.scroll;
    let (median, p95) = crate::report::ms_pair(&scroll.latency);
    let settled = scroll
        .settled_ms
        .map(|ms| {
            format!(
                "last press → last row drawn {} ms",
                crate::report::f2(Some(ms))
            )
        })
        .unwrap_or("the last row was never drawn selected".into());
    report.rows.push(Row {
        figure: format!(
            "Jobs view, 1,000 jobs: `j` × {} at {:.0}/s → the selection moved {} rows (per key: press → first frame at or past it)",
            scroll.presses, scroll.sent_per_second, scroll.moved
        ),
        n: scroll.latency.len(),
        median,
        p95,
        floor: settled,
        peer: "—".into(),
        target: "no key dropped".into(),
        verdict: if scroll.moved == scroll.presses {
            Verdict::Pass
        } else {
            Verdict::Miss(scroll.presses as f64 / scroll.moved.max(1) as f64)
        },
    });
    Ok(())
}
