//! growth: how save → `rebuild` grows with the module graph. For the 3-module project and
//! 10 / 100 / 1,000 generated modules more, end to end against `arkor tui --headless` as
//! shipped (the kept module graph), the same binary with every save built in full
//! (`ARKOR_TUI_INCREMENTAL=off`, the A/B), and the reference `arkor dev` when given, all in one
//! session; the RSS each server holds after its saves; and, in process, where one build's time
//! goes: scan (read, parse, transform every module) against link + generate, for a full build
//! and for a partial one, with the AST copy a partial build makes of Rolldown's snapshot; the
//! same partial build with the product's hidden source map, and without Rolldown's default
//! dead-code-elimination pass over the chunk (what each costs). `--growth-modules` picks the
//! sizes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use arkor_tui::core::build::{self, Builder, Changes, FullReason, Scan};
use arkor_tui::core::project::Project;
use arkor_tui::core::watch::INCREMENTAL_ENV;
use rolldown::{Bundler, ExperimentalOptions, SourceMapType};
use rolldown_common::{BundleMode, RawMinifyOptions, ScanMode};

use crate::bench::Bench;
use crate::e2e::{self, ms};
use crate::fixture::BenchProject;
use crate::micro::{self, IDLE_BEFORE_SAVE};
use crate::procs::{self, Peer};
use crate::report::{Report, Row, Verdict, f2, floor_ms, ms_pair};
use crate::stats::Samples;

/// Targets on the kept graph's p50 against the reference's, by extra modules.
fn target_ratio(extra_modules: usize) -> Option<f64> {
    match extra_modules {
        1000 => Some(0.35),
        100 => Some(0.5),
        _ => None,
    }
}

pub async fn measure(bench: &mut Bench, report: &mut Report) -> anyhow::Result<()> {
    let runs = bench.plan.runs;
    // The 3-module project first (extra 0): the A/B there shows what the kept graph costs a
    // small one.
    for extra in bench.plan.growth_modules.clone() {
        let modules = extra + 3 + usize::from(extra > 0);
        report.progress(&format!("growth: {modules} modules"));
        let root = bench.tools.root.clone();
        let mut project = BenchProject::create(&root.join(format!("growth-{extra}")), extra)?;
        project.install_bench_sdk()?;
        let bare = micro::floors(&project.root, &bench.tools.node, runs.min(10))
            .await
            .ok()
            .as_ref()
            .and_then(micro::best_bare);
        match split(&project.root, runs.clamp(3, 20)).await {
            Ok(split) => split.rows(report, modules),
            Err(e) => report.failed(&format!("growth split, {modules} modules"), "—", e),
        }
        if extra > 0 {
            stages_row(bench, report, &mut project, modules).await;
        }
        let kept = server_run(
            bench,
            report,
            Peer::Arkor,
            &mut project,
            &format!("kept-{extra}"),
            Vec::new(),
        )
        .await;
        let full = server_run(
            bench,
            report,
            Peer::Arkor,
            &mut project,
            &format!("full-{extra}"),
            vec![(INCREMENTAL_ENV.to_owned(), "off".to_owned())],
        )
        .await;
        let reference = match bench.peers.reference.clone() {
            Some(sdk) if extra > 0 => {
                let mut p = BenchProject::create(&root.join(format!("growth-{extra}-ref")), extra)?;
                p.link_reference_sdk(&sdk)?;
                server_run(
                    bench,
                    report,
                    Peer::Reference,
                    &mut p,
                    &format!("ref-{extra}"),
                    Vec::new(),
                )
                .await
            }
            _ => None,
        };
        let figure = format!("growth: save → `rebuild`, {modules} modules (kept module graph)");
        match &kept {
            Some(ours) => {
                let ratio = reference
                    .as_ref()
                    .and_then(|r| Some(ours.latency.median()? / r.latency.median()?));
                let (target, verdict) = match (target_ratio(extra), ratio) {
                    (Some(limit), Some(ratio)) => (
                        format!("≤ {limit}× reference"),
                        if ratio <= limit {
                            Verdict::Pass
                        } else {
                            Verdict::Miss(ratio / limit)
                        },
                    ),
                    (Some(limit), None) => (format!("≤ {limit}× reference"), Verdict::Info),
                    (None, _) => ("—".into(), Verdict::Info),
                };
                report.latency(
                    &figure,
                    &ours.latency,
                    floor_ms(bare),
                    reference.as_ref().map(|r| &r.latency),
                    "reference",
                    &target,
                    verdict,
                );
            }
            None => report.failed(&figure, "—", anyhow::anyhow!("see the notes")),
        }
        if let Some(full) = &full {
            report.latency(
                &format!("growth A/B: the same, every save built in full ({INCREMENTAL_ENV}=off)"),
                &full.latency,
                floor_ms(bare),
                kept.as_ref().map(|k| &k.latency),
                "kept graph",
                "—",
                Verdict::Info,
            );
        }
        let rss = |run: &Option<ServerRun>| {
            run.as_ref()
                .and_then(|r| r.rss)
                .map(|(rss, hwm)| format!("{rss:.1} MiB ({hwm:.1})"))
                .unwrap_or("—".into())
        };
        report.rows.push(Row {
            figure: format!(
                "growth: RSS of the dev server after its saves, {modules} modules (peak in parentheses)"
            ),
            n: 1,
            median: rss(&kept),
            p95: "—".into(),
            floor: "—".into(),
            peer: format!("full builds {}; reference {}", rss(&full), rss(&reference)),
            target: "(reported)".into(),
            verdict: Verdict::Info,
        });
    }
    Ok(())
}

/// The stages method on a bigger project: Rolldown build + write, Node inspection, and the
/// whole save → SSE frame, in process.
async fn stages_row(
    bench: &Bench,
    report: &mut Report,
    project: &mut BenchProject,
    modules: usize,
) {
    let figure = format!(
        "growth stages, {modules} modules, kept graph, in process: Rolldown build + write | Node inspection | save → SSE frame"
    );
    match micro::stages(project, &bench.tools.node, 2, bench.plan.runs.clamp(3, 20)).await {
        Ok(st) => {
            let three = |p95: bool| {
                let pick = |x: &Samples| if p95 { x.p95() } else { x.median() };
                format!(
                    "{} \\| {} \\| {} ms",
                    f2(pick(&st.build_write_hash)),
                    f2(pick(&st.inspect)),
                    f2(pick(&st.total))
                )
            };
            report
                .rows
                .push(info_row(figure, st.total.len(), three(false), three(true)));
        }
        Err(e) => report.failed(&figure, "—", e),
    }
}

struct ServerRun {
    latency: Samples,
    /// (VmRSS, VmHWM) in MiB after the last save.
    rss: Option<(f64, f64)>,
}

/// Start a dev server on `project`, measure save → `rebuild`, read its RSS, stop it.
async fn server_run(
    bench: &Bench,
    report: &mut Report,
    peer: Peer,
    project: &mut BenchProject,
    home: &str,
    env: Vec<(String, String)>,
) -> Option<ServerRun> {
    let mut spec = bench.server(peer, &project.root, &format!("home-growth-{home}"));
    spec.env.extend(env);
    let (warmup, runs) = (bench.plan.warmup, bench.plan.runs);
    let measured = procs::with_server(&spec, |srv| async move {
        let figures = e2e::save_to_rebuild(srv.0, &srv.1, project, warmup, runs).await?;
        Ok((figures, procs::rss_mib(srv.2)))
    })
    .await;
    match measured {
        Ok((figures, rss)) => {
            report.note_errors(&format!("growth {home}"), &figures.transient_errors);
            Some(ServerRun {
                latency: figures.latency,
                rss,
            })
        }
        Err(e) => {
            report
                .notes
                .push(format!("growth {home}: not measured: {e:#}"));
            None
        }
    }
}

/// Where one build's time goes, ms per build, on the product's build thread.
#[derive(Default)]
struct Split {
    /// One-shot full build: scan of every module.
    full_scan: Samples,
    /// One-shot full build: link + generate.
    full_link_generate: Samples,
    /// Partial build of one changed file on a kept bundler: its scan, the merge into the
    /// snapshot, and the copy of every module's AST the build works on.
    partial_scan: Samples,
    /// The AST copy alone (the same copy made once more, outside the timed stages).
    ast_copy: Samples,
    /// Partial build: link + generate (the whole graph).
    partial_link_generate: Samples,
    /// The same partial build on the caller's multi-thread runtime and rayon's global pool
    /// (every core) instead of the build thread: scan & merge & copy, link + generate.
    parallel_scan: Samples,
    parallel_link_generate: Samples,
    /// The same partial build on the build thread with the product's hidden source map
    /// (the rows above build without one): scan & merge & copy, link + generate.
    mapped_scan: Samples,
    mapped_link_generate: Samples,
    /// The mapped partial build once more without Rolldown's default dead-code-elimination
    /// pass over the whole chunk (`minify: false`): what that pass costs. Not an option for
    /// the product: it changes the artifact's bytes.
    no_dce_scan: Samples,
    no_dce_link_generate: Samples,
    /// The product's `Builder::rebuild` after a one-file save: the partial build plus
    /// everything around it (plan, graph walk, publish, hashes).
    product_rebuild: Samples,
}

impl Split {
    fn rows(&self, report: &mut Report, modules: usize) {
        let pair = |a: &Samples, b: &Samples, p95: bool| {
            let pick = |x: &Samples| if p95 { x.p95() } else { x.median() };
            format!("{} + {} ms", f2(pick(a)), f2(pick(b)))
        };
        report.rows.push(info_row(
            format!(
                "growth split, {modules} modules: full build = scan (every module) + link & generate"
            ),
            self.full_scan.len(),
            pair(&self.full_scan, &self.full_link_generate, false),
            pair(&self.full_scan, &self.full_link_generate, true),
        ));
        report.rows.push(info_row(
            format!(
                "growth split, {modules} modules: partial build (1 file) = scan & merge & AST copy + link & generate; the AST copy alone"
            ),
            self.partial_scan.len(),
            format!(
                "{}; {} ms",
                pair(&self.partial_scan, &self.partial_link_generate, false),
                f2(self.ast_copy.median())
            ),
            format!(
                "{}; {} ms",
                pair(&self.partial_scan, &self.partial_link_generate, true),
                f2(self.ast_copy.p95())
            ),
        ));
        report.rows.push(info_row(
            format!(
                "growth split, {modules} modules: the same partial build on every core (multi-thread runtime + rayon pool)"
            ),
            self.parallel_scan.len(),
            pair(&self.parallel_scan, &self.parallel_link_generate, false),
            pair(&self.parallel_scan, &self.parallel_link_generate, true),
        ));
        report.rows.push(info_row(
            format!(
                "growth split, {modules} modules: the same partial build with the product's hidden source map"
            ),
            self.mapped_scan.len(),
            pair(&self.mapped_scan, &self.mapped_link_generate, false),
            pair(&self.mapped_scan, &self.mapped_link_generate, true),
        ));
        report.rows.push(info_row(
            format!(
                "growth split, {modules} modules: the same mapped partial build without the dead-code-elimination pass over the chunk (changes the bytes: not shippable)"
            ),
            self.no_dce_scan.len(),
            pair(&self.no_dce_scan, &self.no_dce_link_generate, false),
            pair(&self.no_dce_scan, &self.no_dce_link_generate, true),
        ));
        let (median, p95) = ms_pair(&self.product_rebuild);
        report.rows.push(info_row(
            format!(
                "growth split, {modules} modules: the product's `Builder::rebuild` after a one-file save (partial build, graph walk, publish, hashes)"
            ),
            self.product_rebuild.len(),
            median,
            p95,
        ));
    }
}

/// Measure [`Split`] on `root` (a bench project) with Rolldown's own stage entry points, on
/// the dedicated build thread the product uses, after the same idle pause as a save. One build
/// per job there, as in the product (Rolldown waits at the start of a build for the previous
/// one's deferred frees, which run on that thread after the job).
async fn split(root: &Path, runs: usize) -> anyhow::Result<Split> {
    let changed = root.join("src/arkor/callbacks.ts");
    let original = std::fs::read_to_string(&changed)?;
    let result = split_stages(root, &changed, &original, runs).await;
    // Leave the project as the end-to-end runs expect it.
    std::fs::write(&changed, original)?;
    result
}

async fn split_stages(
    root: &Path,
    changed: &Path,
    original: &str,
    runs: usize,
) -> anyhow::Result<Split> {
    let mut split = Split::default();
    let builder = Builder::new(Project::at(root)?).keep_graph_above(Some(0));
    builder
        .rebuild(Changes::full(FullReason::NoKeptGraph))
        .await
        .outcome
        .map_err(|e| anyhow::anyhow!("first Builder::rebuild: {e}"))?;
    let mut kept = kept_bundler(incremental_options(root)).await?;
    let mut mapped = kept_bundler(mapped_options(root)).await?;
    let mut no_dce_options = mapped_options(root);
    no_dce_options.minify = Some(RawMinifyOptions::Bool(false));
    let mut no_dce = kept_bundler(no_dce_options).await?;
    for i in 0..runs + 2 {
        let warm = i >= 2;
        // A one-shot full build, stage by stage.
        tokio::time::sleep(IDLE_BEFORE_SAVE).await;
        let options = micro::bare_options(root);
        let (scan, link_generate, _) = on_build_thread(move || async move {
            let mut one_shot =
                Bundler::new(options).map_err(|e| anyhow::anyhow!("rolldown options: {e:?}"))?;
            let timed = timed_build(&mut one_shot, BundleMode::FullBuild, None).await;
            let _ = one_shot.close().await;
            timed
        })
        .await?;
        if warm {
            split.full_scan.push(ms(scan));
            split.full_link_generate.push(ms(link_generate));
        }
        // A save, then a partial build on the kept bundler.
        std::fs::write(changed, format!("{original}\n// split {i}\n"))?;
        tokio::time::sleep(IDLE_BEFORE_SAVE).await;
        let partial = Some(changed.to_path_buf());
        let (back, timed) = on_build_thread(move || async move {
            let timed = timed_build(&mut kept, BundleMode::IncrementalBuild, partial).await;
            Ok((kept, timed))
        })
        .await?;
        kept = back;
        let (scan, link_generate, copy) = timed?;
        if warm {
            split.partial_scan.push(ms(scan));
            split.partial_link_generate.push(ms(link_generate));
            split.ast_copy.push(ms(copy));
        }
        // Another save, built on every core.
        std::fs::write(changed, format!("{original}\n// split {i} parallel\n"))?;
        tokio::time::sleep(IDLE_BEFORE_SAVE).await;
        let file = changed.to_path_buf();
        let (back, timed) = tokio::spawn(async move {
            let timed = timed_build(&mut kept, BundleMode::IncrementalBuild, Some(file)).await;
            (kept, timed)
        })
        .await?;
        kept = back;
        let (scan, link_generate, _) = timed?;
        if warm {
            split.parallel_scan.push(ms(scan));
            split.parallel_link_generate.push(ms(link_generate));
        }
        // Another, on the bundler that also makes the product's source map.
        std::fs::write(changed, format!("{original}\n// split {i} mapped\n"))?;
        tokio::time::sleep(IDLE_BEFORE_SAVE).await;
        let partial = Some(changed.to_path_buf());
        let (back, timed) = on_build_thread(move || async move {
            let timed = timed_build(&mut mapped, BundleMode::IncrementalBuild, partial).await;
            Ok((mapped, timed))
        })
        .await?;
        mapped = back;
        let (scan, link_generate, _) = timed?;
        if warm {
            split.mapped_scan.push(ms(scan));
            split.mapped_link_generate.push(ms(link_generate));
        }
        // And on the one without the dead-code-elimination pass.
        std::fs::write(changed, format!("{original}\n// split {i} no dce\n"))?;
        tokio::time::sleep(IDLE_BEFORE_SAVE).await;
        let partial = Some(changed.to_path_buf());
        let (back, timed) = on_build_thread(move || async move {
            let timed = timed_build(&mut no_dce, BundleMode::IncrementalBuild, partial).await;
            Ok((no_dce, timed))
        })
        .await?;
        no_dce = back;
        let (scan, link_generate, _) = timed?;
        if warm {
            split.no_dce_scan.push(ms(scan));
            split.no_dce_link_generate.push(ms(link_generate));
        }
        // And the product's own rebuild of a save.
        std::fs::write(changed, format!("{original}\n// split {i} product\n"))?;
        tokio::time::sleep(IDLE_BEFORE_SAVE).await;
        let mut changes = Changes::default();
        changes.modified(changed);
        let started = Instant::now();
        let attempt = builder.rebuild(changes).await;
        let elapsed = started.elapsed();
        attempt
            .outcome
            .map_err(|e| anyhow::anyhow!("Builder::rebuild: {e}"))?;
        if attempt.scan != Scan::Partial {
            anyhow::bail!("Builder::rebuild was not partial: {:?}", attempt.scan);
        }
        if warm {
            split.product_rebuild.push(ms(elapsed));
        }
    }
    Ok(split)
}

/// A bundler with `options` after its first (full) build, made on the build thread.
async fn kept_bundler(options: rolldown::BundlerOptions) -> anyhow::Result<Bundler> {
    on_build_thread(move || async move {
        let mut kept =
            Bundler::new(options).map_err(|e| anyhow::anyhow!("rolldown options: {e:?}"))?;
        kept.incremental_generate(ScanMode::Full)
            .await
            .map_err(|e| anyhow::anyhow!("first build: {e:?}"))?;
        Ok(kept)
    })
    .await
}

async fn on_build_thread<T: Send + 'static, Fut>(
    work: impl FnOnce() -> Fut + Send + 'static,
) -> anyhow::Result<T>
where
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    build::on_build_thread(work)
        .await
        .map_err(|e| anyhow::anyhow!("build thread: {e}"))?
}

/// (scan, link + generate, one more AST copy) of one build: full, or partial over `changed`.
async fn timed_build(
    bundler: &mut Bundler,
    mode: BundleMode,
    changed: Option<PathBuf>,
) -> anyhow::Result<(Duration, Duration, Duration)> {
    bundler
        .with_cached_bundle_experimental(mode, async |bundle| {
            let scan_mode = match changed {
                None => ScanMode::Full,
                Some(file) => ScanMode::Partial(vec![file.to_string_lossy().as_ref().into()]),
            };
            let started = Instant::now();
            let scanned = bundle.scan_modules(scan_mode).await?;
            let scan = started.elapsed();
            let started = Instant::now();
            drop(scanned.make_copy());
            let copy = started.elapsed();
            let started = Instant::now();
            bundle.bundle_generate(scanned).await?;
            Ok((scan, started.elapsed(), copy))
        })
        .await
        .map_err(|e| anyhow::anyhow!("build failed: {e:?}"))
        .context("stage split")
}

fn incremental_options(root: &Path) -> rolldown::BundlerOptions {
    let mut options = micro::bare_options(root);
    options.experimental = Some(ExperimentalOptions {
        incremental_build: Some(true),
        ..Default::default()
    });
    options
}

/// The kept bundler's options plus the product's hidden source map (the product's own
/// options, but for its load plugin).
fn mapped_options(root: &Path) -> rolldown::BundlerOptions {
    let mut options = incremental_options(root);
    options.sourcemap = Some(SourceMapType::Hidden);
    options.sourcemap_exclude_sources = Some(true);
    options
}

/// A row with no floor, peer or target: context for the figures that have one.
fn info_row(figure: String, n: usize, median: String, p95: String) -> Row {
    Row {
        figure,
        n,
        median,
        p95,
        floor: "—".into(),
        peer: "—".into(),
        target: "—".into(),
        verdict: Verdict::Info,
    }
}
