//! `arkor-bench`: measures every target of DESIGN.md on this machine and writes BENCHMARKS.md.
//!
//! End-to-end figures drive the real `arkor` binary (headless over loopback HTTP/SSE, the
//! dashboard in a pseudo-terminal); stage breakdowns and floors use the library in-process.
//! Peers (the reference `arkor dev`, mprocs) run in the same session when available.
//! `--quick` is the CI smoke mode: tiny N, no peers, finishes in seconds.

mod e2e;
mod emit;
mod fixture;
mod http;
mod micro;
mod procs;
mod pty;
mod report;
mod stats;
mod tui;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};

use fixture::BenchProject;
use procs::{Peer, ServerProc, ServerSpec};
use report::{Row, Verdict, at_least, at_most, f2, ms_pair};
use stats::Samples;

#[derive(Parser, Debug)]
#[command(
    name = "arkor-bench",
    about = "Measure arkor tui against its targets; write BENCHMARKS.md"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Smoke mode for CI: tiny N, no peers, seconds.
    #[arg(long)]
    quick: bool,
    /// Measured saves per latency figure (default 60; 3 with --quick).
    #[arg(long)]
    runs: Option<usize>,
    /// Where to write the report (default BENCHMARKS.md).
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// The `arkor` binary under test (default: `arkor` next to this binary).
    #[arg(long)]
    arkor: Option<PathBuf>,
    /// The reference SDK package directory (holds dist/bin.mjs); its `arkor dev` becomes a
    /// peer column. Also read from ARKOR_BENCH_REFERENCE.
    #[arg(long)]
    reference: Option<PathBuf>,
    /// The mprocs binary for the log-throughput peer (default: `mprocs` on PATH or in
    /// ~/.cargo/bin). Also read from ARKOR_BENCH_MPROCS.
    #[arg(long)]
    mprocs: Option<PathBuf>,
    /// Measure only these groups (comma-separated): floors, stages, rebuild, signal, fanout,
    /// idle, growth, ingest, flood, render, start, memory.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// (internal) print log lines as fast as possible.
    #[command(hide = true)]
    Emit {
        #[arg(long)]
        lines: u64,
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

/// Sizes of one session.
struct Plan {
    quick: bool,
    runs: usize,
    warmup: usize,
    scale_modules: Vec<usize>,
    subscribers: usize,
    fanout_rounds: usize,
    idle_window: Duration,
    ingest_lines: u64,
    flood_lines: u64,
    memory_runs: usize,
    memory_lines: Vec<u64>,
    render_frames: usize,
    start_runs: usize,
}

impl Plan {
    fn new(args: &Args) -> Self {
        if args.quick {
            Plan {
                quick: true,
                runs: args.runs.unwrap_or(3),
                warmup: 1,
                scale_modules: vec![10],
                subscribers: 20,
                fanout_rounds: 1,
                idle_window: Duration::from_secs(1),
                ingest_lines: 20_000,
                flood_lines: 50_000,
                memory_runs: 2,
                memory_lines: vec![5_000],
                render_frames: 5,
                start_runs: 1,
            }
        } else {
            Plan {
                quick: false,
                runs: args.runs.unwrap_or(60),
                warmup: 5,
                scale_modules: vec![10, 100, 1000],
                subscribers: 200,
                fanout_rounds: 5,
                idle_window: Duration::from_secs(10),
                ingest_lines: 2_000_000,
                flood_lines: 20_000_000,
                memory_runs: 5,
                memory_lines: vec![20_000, 200_000, 2_000_000],
                render_frames: 200,
                start_runs: 10,
            }
        }
    }
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    // clap's `env` feature is not enabled in this crate; read the variables by hand.
    if args.reference.is_none() {
        args.reference = std::env::var_os("ARKOR_BENCH_REFERENCE").map(PathBuf::from);
    }
    if args.mprocs.is_none() {
        args.mprocs = std::env::var_os("ARKOR_BENCH_MPROCS").map(PathBuf::from);
    }
    if let Some(Sub::Emit { lines, report }) = &args.command {
        return match emit::run(*lines, report.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("arkor-bench emit: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("arkor-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arkor-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A scratch folder removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Collects rows and notes as figures come in.
struct Session {
    only: Vec<String>,
    rows: Vec<Row>,
    notes: Vec<String>,
    started: Instant,
}

impl Session {
    fn wants(&self, group: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|g| g == group)
    }

    fn progress(&self, what: &str) {
        eprintln!("[{:>6.1}s] {what}", self.started.elapsed().as_secs_f64());
    }

    fn failed(&mut self, figure: &str, target: &str, error: anyhow::Error) {
        eprintln!("arkor-bench: {figure}: {error:#}");
        self.notes
            .push(format!("{figure}: not measured: {error:#}"));
        self.rows.push(Row {
            figure: figure.into(),
            n: 0,
            median: "—".into(),
            p95: "—".into(),
            floor: "—".into(),
            peer: "—".into(),
            target: target.into(),
            verdict: Verdict::Failed,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn latency(
        &mut self,
        figure: &str,
        samples: &Samples,
        floor: String,
        peer: Option<&Samples>,
        peer_name: &str,
        target: &str,
        verdict: Verdict,
    ) {
        let (median, p95) = ms_pair(samples);
        let peer = match (peer, samples.median()) {
            (Some(p), Some(ours)) => match p.median() {
                Some(theirs) => format!(
                    "{peer_name} {} / {} ms ({:.2}×)",
                    f2(Some(theirs)),
                    f2(p.p95()),
                    ours / theirs
                ),
                None => "—".into(),
            },
            _ => "—".into(),
        };
        self.rows.push(Row {
            figure: figure.into(),
            n: samples.len(),
            median,
            p95,
            floor,
            peer,
            target: target.into(),
            verdict,
        });
    }
}

fn default_arkor() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me.parent().context("no parent folder of this binary")?;
    let candidate = dir.join("arkor");
    if candidate.is_file() {
        return Ok(candidate);
    }
    anyhow::bail!("no arkor binary next to {}; pass --arkor", me.display())
}

fn find_mprocs(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return p.is_file().then(|| p.to_path_buf());
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("mprocs"))
                .collect()
        })
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".cargo/bin/mprocs"));
    }
    candidates.into_iter().find(|p| p.is_file())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let plan = Plan::new(&args);
    let arkor = match &args.arkor {
        Some(p) => p.clone(),
        None => default_arkor()?,
    };
    let emitter = std::env::current_exe()?;
    let node = micro::node_path()?;
    let (reference, mprocs) = if plan.quick {
        (None, None)
    } else {
        (
            args.reference
                .clone()
                .filter(|d| d.join("dist/bin.mjs").is_file()),
            find_mprocs(args.mprocs.as_deref()),
        )
    };
    let scratch = Scratch(std::env::temp_dir().join(format!("arkor-bench-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)?;
    let root = scratch.0.clone();
    let load_before = load_average();
    let mut s = Session {
        only: args.only.clone(),
        rows: Vec::new(),
        notes: Vec::new(),
        started: Instant::now(),
    };
    if args.reference.is_some() && reference.is_none() && !plan.quick {
        s.notes.push(
            "the reference SDK directory has no dist/bin.mjs: reference column skipped".into(),
        );
    }
    if reference.is_none() && !plan.quick && args.reference.is_none() {
        s.notes.push("no reference SDK given (--reference / ARKOR_BENCH_REFERENCE): reference column skipped".into());
    }
    if mprocs.is_none() && !plan.quick {
        s.notes
            .push("mprocs not found: its log-throughput column is skipped".into());
    }

    // --- the small project (3 modules, like the demo) ----------------------------------------
    let mut small = BenchProject::create(&root.join("small"), 0)?;
    small.install_bench_sdk()?;
    let r = plan.runs;

    s.progress("floors (bare Rolldown, inotify, spawn)");
    let floors = micro::floors(&small.root, &node, r).await;
    let bare_small = floors.as_ref().ok().and_then(micro::best_bare);
    match &floors {
        Ok(f) => {
            s.latency(
                "floor: bare Rolldown build, back to back (warm threads), 3 modules",
                &f.bare_rolldown_warm,
                "—".into(),
                None,
                "",
                "—",
                Verdict::Info,
            );
            s.latency(
                "floor: bare Rolldown build (generate only) after 60 ms idle, 3 modules",
                &f.bare_rolldown,
                "—".into(),
                None,
                "",
                "—",
                Verdict::Info,
            );
            s.latency(
                "floor: the same on one thread (one-thread rayon pool + current-thread runtime)",
                &f.bare_rolldown_one_thread,
                "—".into(),
                None,
                "",
                "—",
                Verdict::Info,
            );
            s.latency(
                "floor: raw notify event (write → event)",
                &f.notify,
                "—".into(),
                None,
                "",
                "—",
                Verdict::Info,
            );
            s.latency(
                "floor: fork/exec + wait of `node -e 0`",
                &f.node_spawn,
                "—".into(),
                None,
                "",
                "—",
                Verdict::Info,
            );
            s.latency(
                "floor: fork/exec + wait of `/bin/true`",
                &f.spawn_true,
                "—".into(),
                None,
                "",
                "—",
                Verdict::Info,
            );
            s.latency(
                "stage alone: Builder::build (bundle + staging write + rename + hashes)",
                &f.builder,
                floor_ms(bare_small),
                None,
                "",
                "—",
                Verdict::Info,
            );
            s.latency(
                "stage alone: contentHash + fingerprint of the artifact",
                &f.hash,
                "—".into(),
                None,
                "",
                "—",
                Verdict::Info,
            );
            s.latency(
                "stage alone: inspection via the persistent Node helper",
                &f.inspect,
                // What a helper spawned per build would pay instead.
                format!("(`node` fork/exec: {})", floor_ms(f.node_spawn.median())),
                None,
                "",
                "—",
                Verdict::Info,
            );
        }
        Err(e) => s.notes.push(format!("floors: not measured: {e:#}")),
    }

    let spec = |peer: Peer, project: &Path, home: &str, env: Vec<(String, String)>| ServerSpec {
        peer,
        program: match peer {
            Peer::Arkor => arkor.clone(),
            Peer::Reference => reference.clone().unwrap_or_default().join("dist/bin.mjs"),
        },
        project: project.to_path_buf(),
        home: root.join(home),
        env,
    };

    let window = plan.idle_window;
    if s.wants("stages") {
        s.progress("save → rebuild, per stage (library engine + server in-process)");
        match micro::stages(&mut small, &node, plan.warmup, r).await {
            Ok(st) => {
                let notify_floor = floors.as_ref().ok().and_then(|f| f.notify.median());
                s.latency(
                    "stage: watcher event (write → inotify, separate watcher)",
                    &st.watcher,
                    floor_ms(notify_floor),
                    None,
                    "",
                    "—",
                    Verdict::Info,
                );
                s.latency(
                    "stage: Rolldown build + atomic write + hashes (engine's build loop)",
                    &st.build_write_hash,
                    floor_ms(bare_small),
                    None,
                    "",
                    "—",
                    Verdict::Info,
                );
                s.latency(
                    "stage: inspect (Node helper round trip)",
                    &st.inspect,
                    "—".into(),
                    None,
                    "",
                    "—",
                    Verdict::Info,
                );
                s.latency(
                    "stage: plumbing (notify → build loop → engine hops, dispatch, publish on the dev bus)",
                    &st.plumbing,
                    "—".into(),
                    None,
                    "",
                    "—",
                    Verdict::Info,
                );
                s.latency(
                    "stage: dev bus → SSE frame at a loopback client",
                    &st.sse,
                    "—".into(),
                    None,
                    "",
                    "—",
                    Verdict::Info,
                );
                s.latency(
                    "in-process total: save → SSE `rebuild` (same runs)",
                    &st.total,
                    "—".into(),
                    None,
                    "",
                    "—",
                    Verdict::Info,
                );
            }
            Err(e) => s.failed("save → rebuild per stage", "—", e),
        }
    }

    // --- end to end against the real binary ----------------------------------------------------
    if s.wants("rebuild") {
        s.progress("save → rebuild end to end (arkor tui --headless)");
        let ours_small = e2e_rebuild(
            &spec(Peer::Arkor, &small.root, "home-e2e", Vec::new()),
            &mut small,
            plan.warmup,
            r,
        )
        .await;
        let theirs_small = match &reference {
            Some(dir) => {
                s.progress("save → rebuild end to end (reference arkor dev)");
                let mut project = BenchProject::create(&root.join("small-ref"), 0)?;
                project.link_reference_sdk(dir)?;
                Some(
                    e2e_rebuild(
                        &spec(Peer::Reference, &project.root, "home-ref", Vec::new()),
                        &mut project,
                        plan.warmup,
                        r,
                    )
                    .await,
                )
            }
            None => None,
        };
        let peer_small = theirs_small
            .as_ref()
            .and_then(|t| t.as_ref().ok())
            .map(|f| &f.latency);
        if let Some(Err(e)) = &theirs_small {
            s.notes
                .push(format!("reference save → rebuild: not measured: {e:#}"));
        }
        match &ours_small {
            Ok(f) => {
                let v = match (
                    at_most(f.latency.median(), 5.0),
                    at_most(f.latency.p95(), 10.0),
                ) {
                    (Verdict::Pass, Verdict::Pass) => Verdict::Pass,
                    (Verdict::Miss(a), Verdict::Miss(b)) => Verdict::Miss(a.max(b)),
                    (Verdict::Miss(a), _) | (_, Verdict::Miss(a)) => Verdict::Miss(a),
                    (v, _) => v,
                };
                s.latency(
                    "save → SSE `rebuild` frame, 3 modules, no runs (end to end)",
                    &f.latency,
                    floor_ms(bare_small),
                    peer_small,
                    "reference",
                    "≤ 5 / ≤ 10 ms",
                    v,
                );
                note_errors(&mut s, "3 modules", &f.transient_errors);
                if f.extra_frames > 0 {
                    s.notes.push(format!(
                        "{} extra frames arrived after the measured rebuilds (duplicate builds)",
                        f.extra_frames
                    ));
                }
            }
            Err(e) => s.failed(
                "save → SSE `rebuild` frame, 3 modules (end to end)",
                "≤ 5 / ≤ 10 ms",
                anyhow::anyhow!("{e:#}"),
            ),
        }
    }

    if s.wants("signal") {
        s.progress("save → SIGUSR2 at the child");
        let hold = spec(Peer::Arkor, &small.root, "home-signal", Vec::new());
        match with_server(&hold, |srv| {
            let small = &mut small;
            async move { e2e::save_to_signal(srv.0, &srv.1, small, plan.warmup, r).await }
        })
        .await
        {
            Ok(f) => {
                s.latency(
                    "save → SIGUSR2 received by the child (wall clock, 1 run)",
                    &f.save_to_signal,
                    floor_ms(bare_small),
                    None,
                    "",
                    "p50 ≤ 8 ms",
                    at_most(f.save_to_signal.median(), 8.0),
                );
                s.latency(
                    "save → SSE `rebuild` frame with 1 live run (dispatch included)",
                    &f.save_to_rebuild_with_run,
                    floor_ms(bare_small),
                    None,
                    "",
                    "—",
                    Verdict::Info,
                );
            }
            Err(e) => s.failed("save → SIGUSR2 received by the child", "p50 ≤ 8 ms", e),
        }
    }

    if s.wants("fanout") {
        s.progress("SSE fan-out");
        let subs = plan.subscribers;
        let rounds = plan.fanout_rounds;
        let fan_spec = spec(Peer::Arkor, &small.root, "home-fanout", Vec::new());
        match with_server(&fan_spec, |srv| {
            let small = &mut small;
            async move { e2e::fanout(srv.0, &srv.1, small, subs, 2, rounds).await }
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
                s.latency(
                    &figure,
                    &f.latency,
                    "—".into(),
                    None,
                    "",
                    "all get it; each child signalled once",
                    if each_once && all {
                        Verdict::Pass
                    } else {
                        Verdict::Failed
                    },
                );
                if let Some(max) = f.latency.max() {
                    s.notes.push(format!("fan-out: the slowest of {} subscribers got the frame {:.2} ms after the save", f.subscribers, max));
                }
            }
            Err(e) => s.failed("SSE fan-out", "all get it; each child signalled once", e),
        }
    }

    if s.wants("idle") {
        s.progress("idle CPU, headless, 3 silent runs");
        let idle_spec = spec(Peer::Arkor, &small.root, "home-idle", Vec::new());
        match with_server(&idle_spec, |srv| async move {
            e2e::idle_cpu(srv.0, &srv.1, srv.2, 3, window).await
        })
        .await
        {
            Ok(p) => s.rows.push(single(
                &format!(
                    "idle CPU, `--headless`, 3 silent runs ({:.0} s window)",
                    window.as_secs_f64()
                ),
                p,
                "% of a core",
                "< 0.5 %",
                at_most(Some(p), 0.5),
            )),
            Err(e) => s.failed("idle CPU, headless", "< 0.5 %", e),
        }
    }

    // --- how cost grows with the module graph ---------------------------------------------------
    if s.wants("growth") {
        for &modules in &plan.scale_modules {
            s.progress(&format!("save → rebuild with {modules} generated modules"));
            let mut project =
                BenchProject::create(&root.join(format!("scale-{modules}")), modules)?;
            project.install_bench_sdk()?;
            let bare = micro::floors(&project.root, &node, r.min(10))
                .await
                .ok()
                .as_ref()
                .and_then(micro::best_bare);
            let ours = e2e_rebuild(
                &spec(
                    Peer::Arkor,
                    &project.root,
                    &format!("home-scale-{modules}"),
                    Vec::new(),
                ),
                &mut project,
                plan.warmup,
                r,
            )
            .await;
            let theirs = match &reference {
                Some(dir) => {
                    let mut p =
                        BenchProject::create(&root.join(format!("scale-{modules}-ref")), modules)?;
                    p.link_reference_sdk(dir)?;
                    e2e_rebuild(
                        &spec(
                            Peer::Reference,
                            &p.root,
                            &format!("home-scale-{modules}-ref"),
                            Vec::new(),
                        ),
                        &mut p,
                        plan.warmup,
                        r,
                    )
                    .await
                    .map_err(|e| s.notes.push(format!("reference, {modules} modules: {e:#}")))
                    .ok()
                }
                None => None,
            };
            if let Ok(f) = &ours {
                note_errors(
                    &mut s,
                    &format!("{} modules", modules + 4),
                    &f.transient_errors,
                );
            }
            match ours {
                Ok(f) => s.latency(
                    &format!("growth: save → `rebuild`, {} modules", modules + 4),
                    &f.latency,
                    floor_ms(bare),
                    theirs.as_ref().map(|t| &t.latency),
                    "reference",
                    "—",
                    Verdict::Info,
                ),
                Err(e) => s.failed(
                    &format!("growth: save → `rebuild`, {} modules", modules + 4),
                    "—",
                    e,
                ),
            }
        }
    }

    // --- logs ----------------------------------------------------------------------------------
    if s.wants("ingest") {
        s.progress("log ingest through the supervisor (library)");
        match micro::ingest(&emitter, &root, plan.ingest_lines).await {
            Ok(f) => s.rows.push(Row {
                figure: format!(
                    "log ingest, one child, {} lines → log store (supervisor, in-process)",
                    f.lines
                ),
                n: 1,
                median: format!("{:.2} M lines/s", f.store_rate / 1e6),
                p95: "—".into(),
                floor: format!("raw pipe {:.2} M lines/s", f.pipe_rate / 1e6),
                peer: "—".into(),
                target: "≥ 1 M lines/s".into(),
                verdict: at_least(Some(f.store_rate), 1e6),
            }),
            Err(e) => s.failed("log ingest (library)", "≥ 1 M lines/s", e),
        }
    }

    let tui_setup = tui::TuiSetup {
        arkor: arkor.clone(),
        emitter: emitter.clone(),
        project: small.root.clone(),
        scratch: root.clone(),
    };
    if s.wants("flood") {
        s.progress("dashboard: flood + keys");
        let flood_lines = plan.flood_lines;
        let flood = blocking(
            move |setup: &tui::TuiSetup| tui::flood_keys(setup, flood_lines),
            &tui_setup,
        )
        .await;
        let mprocs_rate = match &mprocs {
            Some(m) => {
                s.progress("mprocs: the same flood");
                let (m, e, dir) = (m.clone(), emitter.clone(), root.clone());
                tokio::task::spawn_blocking(move || {
                    tui::mprocs_flood(&m, &e, &dir, flood_lines.min(MPROCS_FLOOD_LINES))
                })
                .await?
                .map_err(|e| s.notes.push(format!("mprocs flood: {e:#}")))
                .ok()
            }
            None => None,
        };
        match flood {
            Ok(f) => {
                let peer = mprocs_rate
                    .map(|m| format!("mprocs {:.2} M lines/s ({:.2}×)", m / 1e6, f.rate / m))
                    .unwrap_or("—".into());
                s.rows.push(Row {
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
                let key_verdict = if f.unanswered > 0 {
                    Verdict::Miss(f64::INFINITY)
                } else {
                    at_most(f.key_latency.p95(), 50.0)
                };
                s.latency(
                    &format!(
                        "key `?` → help overlay drawn, during that flood ({} unanswered)",
                        f.unanswered
                    ),
                    &f.key_latency,
                    "—".into(),
                    None,
                    "",
                    "≤ 50 ms",
                    key_verdict,
                );
            }
            Err(e) => s.failed(
                "log ingest end to end + keys under flood",
                "≥ 1 M lines/s; keys ≤ 50 ms",
                e,
            ),
        }
    }

    if s.wants("render") {
        s.progress("render with a 10k-line pane");
        match micro::render(10_000, plan.render_frames) {
            Ok((full, step)) => {
                s.latency(
                    "render: full 200×50 frame, 10k-line pane (fresh buffer, TestBackend)",
                    &full,
                    "—".into(),
                    None,
                    "",
                    "≤ 1 ms",
                    at_most(full.median(), 1.0),
                );
                s.latency(
                    "render: following frame after one new line (diffed)",
                    &step,
                    "—".into(),
                    None,
                    "",
                    "—",
                    Verdict::Info,
                );
            }
            Err(e) => s.failed("render with a 10k-line pane", "≤ 1 ms", e),
        }
        match micro::render_long_line(plan.render_frames) {
            Ok(frames) => s.latency(
                "render: 120×40 frame of one 10 MB log line, truncated / wrapped",
                &frames,
                "—".into(),
                None,
                "",
                "≤ 100 ms",
                at_most(frames.median(), 100.0),
            ),
            Err(e) => s.failed("render of a 10 MB log line", "≤ 100 ms", e),
        }
    }

    if s.wants("start") {
        s.progress("dashboard: start → first frame");
        let start_runs = plan.start_runs;
        match blocking(
            move |setup: &tui::TuiSetup| tui::start_to_first_frame(setup, start_runs),
            &tui_setup,
        )
        .await
        {
            Ok(f) => {
                s.latency(
                    "`arkor tui` start → first frame on the terminal (pty)",
                    &f.first_frame,
                    floor_ms(floors.as_ref().ok().and_then(|f| f.spawn_true.median())),
                    None,
                    "",
                    "≤ 100 ms",
                    at_most(f.first_frame.median(), 100.0),
                );
                s.latency(
                    "`arkor tui` start → header shows the first build ok",
                    &f.first_build,
                    "—".into(),
                    None,
                    "",
                    "(reported separately)",
                    Verdict::Info,
                );
            }
            Err(e) => s.failed("`arkor tui` start → first frame", "≤ 100 ms", e),
        }
    }

    if s.wants("idle") {
        s.progress("dashboard: idle CPU with 3 silent runs");
        match blocking(
            move |setup: &tui::TuiSetup| tui::idle_cpu(setup, 3, window),
            &tui_setup,
        )
        .await
        {
            Ok(p) => s.rows.push(single(
                &format!(
                    "idle CPU, dashboard, 3 silent runs ({:.0} s window)",
                    window.as_secs_f64()
                ),
                p,
                "% of a core",
                "< 0.5 %",
                at_most(Some(p), 0.5),
            )),
            Err(e) => s.failed("idle CPU, dashboard", "< 0.5 %", e),
        }
    }

    if s.wants("memory") {
        let memory_runs = plan.memory_runs;
        for &lines in &plan.memory_lines {
            s.progress(&format!(
                "dashboard: RSS with {memory_runs} runs × {lines} lines"
            ));
            let target_row = lines == 200_000 || plan.quick;
            match blocking(
                move |setup: &tui::TuiSetup| tui::memory(setup, memory_runs, lines),
                &tui_setup,
            )
            .await
            {
                Ok(m) => s.rows.push(Row {
                    figure: format!(
                        "RSS of the dashboard, {} runs × {} lines (peak in parentheses)",
                        m.runs, m.lines_per_run
                    ),
                    n: 1,
                    median: format!("{:.1} MiB ({:.1})", m.rss_mib, m.hwm_mib),
                    p95: "—".into(),
                    floor: "—".into(),
                    peer: "—".into(),
                    target: if target_row {
                        "≤ 60 MB".into()
                    } else {
                        "(growth)".into()
                    },
                    verdict: if target_row {
                        at_most(Some(m.hwm_mib * 1.048_576), 60.0)
                    } else {
                        Verdict::Info
                    },
                }),
                Err(e) => s.failed(
                    &format!("RSS, {memory_runs} runs × {lines} lines"),
                    "≤ 60 MB",
                    e,
                ),
            }
        }
    }

    let load_after = load_average();
    // A hand-written analysis (everything from "## Analysis" on) survives re-runs.
    let kept_analysis = std::fs::read_to_string(&args.out)
        .ok()
        .and_then(|old| old.find(ANALYSIS_HEADING).map(|at| old[at..].to_owned()));
    let mut markdown = render_report(
        &plan,
        &s,
        &load_before,
        &load_after,
        reference.is_some(),
        mprocs.as_deref(),
    );
    if let Some(analysis) = kept_analysis {
        markdown.push('\n');
        markdown.push_str(&analysis);
    }
    std::fs::write(&args.out, markdown)
        .with_context(|| format!("writing {}", args.out.display()))?;
    s.progress(&format!("wrote {}", args.out.display()));
    if s.rows.iter().any(|r| r.verdict == Verdict::Failed) {
        anyhow::bail!(
            "some figures could not be measured (see the notes in {})",
            args.out.display()
        );
    }
    Ok(())
}

fn single(figure: &str, value: f64, unit: &str, target: &str, verdict: Verdict) -> Row {
    Row {
        figure: figure.into(),
        n: 1,
        median: format!("{value:.3} {unit}"),
        p95: "—".into(),
        floor: "—".into(),
        peer: "—".into(),
        target: target.into(),
        verdict,
    }
}

fn note_errors(s: &mut Session, what: &str, errors: &[String]) {
    if let Some(first) = errors.first() {
        let short: String = first.chars().take(300).collect();
        s.notes.push(format!(
            "{what}: {} `error` frame(s) arrived before a save's `rebuild` (a build that read a half-written file was reported); first: {short}",
            errors.len()
        ));
    }
}

fn floor_ms(v: Option<f64>) -> String {
    v.map(|v| format!("{} ms", f2(Some(v))))
        .unwrap_or("—".into())
}

/// Run a blocking dashboard measurement off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce(&tui::TuiSetup) -> anyhow::Result<T> + Send + 'static,
    setup: &tui::TuiSetup,
) -> anyhow::Result<T> {
    let setup = tui::TuiSetup {
        arkor: setup.arkor.clone(),
        emitter: setup.emitter.clone(),
        project: setup.project.clone(),
        scratch: setup.scratch.clone(),
    };
    tokio::task::spawn_blocking(move || f(&setup)).await?
}

/// Start a server, run `f` with (port, token, pid), stop the server.
async fn with_server<T, F, Fut>(spec: &ServerSpec, f: F) -> anyhow::Result<T>
where
    F: FnOnce((u16, String, u32)) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let server = ServerProc::start(spec)?;
    let result = f((server.port, server.token.clone(), server.pid)).await;
    let _ = tokio::task::spawn_blocking(move || server.stop()).await;
    result
}

async fn e2e_rebuild(
    spec: &ServerSpec,
    project: &mut BenchProject,
    warmup: usize,
    runs: usize,
) -> anyhow::Result<e2e::RebuildFigures> {
    with_server(spec, |srv| async move {
        e2e::save_to_rebuild(srv.0, &srv.1, project, warmup, runs).await
    })
    .await
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn render_report(
    plan: &Plan,
    s: &Session,
    load_before: &str,
    load_after: &str,
    reference: bool,
    mprocs: Option<&Path>,
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# arkor tui benchmarks\n");
    if plan.quick {
        let _ = writeln!(
            md,
            "**Quick smoke run (`--quick`): tiny N, no peers. These numbers are not results.**\n"
        );
    }
    let _ = writeln!(
        md,
        "Written by `arkor-bench` (`src/bin/arkor-bench/`). Reproduce: `cargo build --release --bins && target/release/arkor-bench [--reference DIR]`.\n"
    );
    let _ = writeln!(md, "## Machine\n");
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let _ = writeln!(md, "- CPU: {} ({} cores available)", cpu_model(), cores);
    let _ = writeln!(md, "- kernel: {}", command_line("uname", &["-sr"]));
    let _ = writeln!(md, "- rustc: {}", command_line("rustc", &["-V"]));
    let _ = writeln!(md, "- node: {}", command_line("node", &["-v"]));
    let _ = writeln!(
        md,
        "- load average (1/5/15 min) before: {load_before}; after: {load_after}"
    );
    let _ = writeln!(
        md,
        "- build profile of the harness: {}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let _ = writeln!(
        md,
        "- peers: reference `arkor dev` {}; mprocs {}",
        if reference {
            "measured"
        } else {
            "absent (column skipped)"
        },
        mprocs
            .map(|p| format!("{}", p.display()))
            .unwrap_or("absent (column skipped)".into())
    );
    let _ = writeln!(
        md,
        "- N = {} measured saves per latency figure after {} warm-up saves; session took {:.0} s\n",
        plan.runs,
        plan.warmup,
        s.started.elapsed().as_secs_f64()
    );
    let _ = writeln!(md, "## Results\n");
    md.push_str(&report::table(&s.rows));
    let _ = writeln!(md);
    if !s.notes.is_empty() {
        let _ = writeln!(md, "Notes:\n");
        for n in &s.notes {
            let _ = writeln!(md, "- {n}");
        }
        let _ = writeln!(md);
    }
    md.push_str(METHOD);
    md
}

/// mprocs absorbs about 0.3 M lines/s here: a smaller flood keeps its column to seconds.
const MPROCS_FLOOD_LINES: u64 = 3_000_000;

/// Where the hand-written part of BENCHMARKS.md begins.
const ANALYSIS_HEADING: &str = "## Analysis";

const METHOD: &str = r#"## Method

- **Project**: `src/arkor/{index,trainer,callbacks}.ts` against the simulated SDK, whose `bin.arkor` is
  replaced by a bench runner that prints the job marker at once, stamps every SIGUSR2 with
  `performance.timeOrigin + performance.now()` (wall clock, sub-ms) and exits 0 on SIGTERM. The growth
  figures add 10 / 100 / 1,000 generated modules (a class, a loop, a template string each) imported by
  callbacks.ts, so all are bundled.
- **Save** = `std::fs::write` of callbacks.ts with a new label (callbacks-only change: same configHash,
  new contentHash). After each save the harness waits 60 ms and counts late frames (duplicate builds).
- **save → `rebuild`** is end to end: the harness stamps the write with a monotonic clock and stamps the
  read that completes the `event: rebuild` frame on a plain HTTP/1.1 client on 127.0.0.1, with the
  server a separate process (`arkor tui --headless`, or the reference `arkor dev` with a HOME holding
  anonymous credentials, `ARKOR_CLOUD_API_URL` on a closed local port and `ARKOR_TELEMETRY_DISABLED=1`).
- **Stages** run the same engine and server in the harness process (library), with a second raw
  notify watcher stamping the inotify event, a dev-bus subscriber stamping the publish, and the
  engine's own `build_duration` (its first file event → artifact published and inspected) and
  `inspect_duration`. "Plumbing" is the rest: raw event → dev bus minus the build loop's duration
  (thread hops notify → build loop → engine, dispatch, publish). The stages add up to the total.
- **save → signal**: one run started over `POST /api/train`; the harness stamps the write with
  CLOCK_REALTIME and reads the runner's SIGUSR2 stamp from the streamed body.
- **Fan-out**: N SSE clients connected and past their replay, 2 live runs, one save per round; each
  subscriber must get exactly one `rebuild` per round and each child exactly one SIGUSR2 per round.
- **Idle CPU**: sum of `/proc/<pid>/task/*/schedstat` run time over the window, after 3 silent runs
  are up and 1–2 s of settling.
- **Ingest**: the harness's own `emit` subcommand prints training-log-like lines with ANSI colours in
  64 KiB writes. In-process: spawn → all lines in the log store through the real supervisor. End to end:
  the runner execs the emitter inside a dashboard run; the emitter's own elapsed time is the rate the
  dashboard absorbed (a pipe that is not drained blocks the writer). The floor is the emitter into a pipe
  the harness drains and discards. mprocs runs the same emitter command in its own pty pane.
- **Keys under flood**: `?` every ~100 ms while the flood runs; the time until the help overlay's text
  is written to the pty; then `?` closes it.
- **Render**: `tui::render` into a fresh 200×50 `TestBackend` (the diff writes every cell), selected run
  with 10,000 coloured lines; "following frame" reuses the terminal after one new line. The 10 MB line:
  one run whose log is a single coloured line of 5 M two-byte characters, 120×40, alternately
  truncated and wrapped.
- **Start → first frame**: spawn of `arkor tui` in a 160×48 pty → the read that carries the header's
  title; the first build is reported separately (the header turns to "build ok").
- **RSS**: VmRSS (VmHWM in parentheses) of the dashboard after every run has printed its lines. The
  60 MB target is checked against the peak, in MB (10^6 bytes).
- Median and p95 are nearest-rank over the measured samples; ratios are ours / peer on the median.
"#;
