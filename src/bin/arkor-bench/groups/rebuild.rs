//! rebuild: save → SSE `rebuild` frame end to end against `arkor tui --headless` (and the
//! reference `arkor dev` when given), on the small project with no runs.

use crate::bench::Bench;
use crate::e2e;
use crate::fixture::BenchProject;
use crate::procs::Peer;
use crate::report::{Report, Verdict, at_most, floor_ms};

const TARGET: &str = "≤ 5 / ≤ 10 ms";

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    report.progress("save → rebuild end to end (arkor tui --headless)");
    let (warmup, runs) = (bench.plan.warmup, bench.plan.runs);
    let ours_spec = bench.server(Peer::Arkor, &bench.small.root, "home-e2e");
    let ours = e2e::save_to_rebuild_on(&ours_spec, &mut bench.small, warmup, runs).await;
    let theirs = match &bench.peers.reference {
        Some(dir) => {
            report.progress("save → rebuild end to end (reference arkor dev)");
            let mut project = BenchProject::create(&bench.tools.root.join("small-ref"), 0)?;
            project.link_reference_sdk(dir)?;
            let spec = bench.server(Peer::Reference, &project.root, "home-ref");
            Some(e2e::save_to_rebuild_on(&spec, &mut project, warmup, runs).await)
        }
        None => None,
    };
    let peer = theirs
        .as_ref()
        .and_then(|t| t.as_ref().ok())
        .map(|f| &f.latency);
    if let Some(Err(e)) = &theirs {
        report
            .notes
            .push(format!("reference save → rebuild: not measured: {e:#}"));
    }
    match &ours {
        Ok(f) => {
            let verdict = match (
                at_most(f.latency.median(), 5.0),
                at_most(f.latency.p95(), 10.0),
            ) {
                (Verdict::Pass, Verdict::Pass) => Verdict::Pass,
                (Verdict::Miss(a), Verdict::Miss(b)) => Verdict::Miss(a.max(b)),
                (Verdict::Miss(a), _) | (_, Verdict::Miss(a)) => Verdict::Miss(a),
                (v, _) => v,
            };
            report.latency(
                "save → SSE `rebuild` frame, 3 modules, no runs (end to end)",
                &f.latency,
                floor_ms(bench.bare_build_floor()),
                peer,
                "reference",
                TARGET,
                verdict,
            );
            report.note_errors("3 modules", &f.transient_errors);
            if f.extra_frames > 0 {
                report.notes.push(format!(
                    "{} extra frames arrived after the measured rebuilds (duplicate builds)",
                    f.extra_frames
                ));
            }
        }
        Err(e) => report.failed(
            "save → SSE `rebuild` frame, 3 modules (end to end)",
            TARGET,
            anyhow::anyhow!("{e:#}"),
        ),
    }
    Ok(())
}
