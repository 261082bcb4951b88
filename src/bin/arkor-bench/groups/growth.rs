//! growth: save → `rebuild` end to end on projects of 10 / 100 / 1,000 generated modules
//! (the reference beside it when given), each with its own bare Rolldown floor.

use crate::bench::Bench;
use crate::e2e;
use crate::fixture::BenchProject;
use crate::micro;
use crate::procs::Peer;
use crate::report::{Report, Verdict, floor_ms};

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    let (warmup, runs) = (bench.plan.warmup, bench.plan.runs);
    for &modules in &bench.plan.scale_modules {
        report.progress(&format!("save → rebuild with {modules} generated modules"));
        let root = &bench.tools.root;
        let mut project = BenchProject::create(&root.join(format!("scale-{modules}")), modules)?;
        project.install_bench_sdk()?;
        let bare = micro::floors(&project.root, &bench.tools.node, runs.min(10))
            .await
            .ok()
            .as_ref()
            .and_then(micro::best_bare);
        let spec = bench.server(Peer::Arkor, &project.root, &format!("home-scale-{modules}"));
        let ours = e2e::save_to_rebuild_on(&spec, &mut project, warmup, runs).await;
        let theirs = match &bench.peers.reference {
            Some(dir) => {
                let mut p =
                    BenchProject::create(&root.join(format!("scale-{modules}-ref")), modules)?;
                p.link_reference_sdk(dir)?;
                let spec = bench.server(
                    Peer::Reference,
                    &p.root,
                    &format!("home-scale-{modules}-ref"),
                );
                e2e::save_to_rebuild_on(&spec, &mut p, warmup, runs)
                    .await
                    .map_err(|e| {
                        report
                            .notes
                            .push(format!("reference, {modules} modules: {e:#}"))
                    })
                    .ok()
            }
            None => None,
        };
        let figure = format!("growth: save → `rebuild`, {} modules", modules + 4);
        match ours {
            Ok(f) => {
                report.note_errors(&format!("{} modules", modules + 4), &f.transient_errors);
                report.latency(
                    &figure,
                    &f.latency,
                    floor_ms(bare),
                    theirs.as_ref().map(|t| &t.latency),
                    "reference",
                    "—",
                    Verdict::Info,
                );
            }
            Err(e) => report.failed(&figure, "—", e),
        }
    }
    Ok(())
}
