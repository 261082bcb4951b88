//! In-process figures through the library: per-stage breakdown of save → rebuild, floors
//! (bare Rolldown, raw inotify, process spawn, raw pipe), log ingest, full-frame render.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use arkor_tui::core::build::{self, Builder};
use arkor_tui::core::engine::{
    self, BuildStatus, Command as EngineCommand, EngineConfig, EngineSnapshot,
};
use arkor_tui::core::events::{DevEvent, RunInfo, RunOrigin, RunState};
use arkor_tui::core::hash;
use arkor_tui::core::inspect::{Inspector, InspectorOptions};
use arkor_tui::core::logs::{LogStore, LogStream};
use arkor_tui::core::project::Project;
use arkor_tui::core::stackmap::{SourceMaps, StackMapper};
use arkor_tui::core::supervisor::{ChildEvent, SpawnSpec, Supervisor};
use arkor_tui::server::{self, ServerConfig, TokenFile};
use arkor_tui::tui::{Action, App, AppOptions};
use notify::Watcher;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rolldown::{
    Bundler, BundlerOptions, BundlerTransformOptions, CodeSplittingMode, Either, InputItem,
    IsExternal, LogLevel, OutputFormat, Platform,
};

use crate::e2e::{connect_ready, ms};
use crate::fixture::BenchProject;
use crate::stats::Samples;

/// Per-stage timings of one save, all in ms.
#[derive(Default)]
pub struct StageFigures {
    /// Write → a separate inotify watcher on the same folder sees the event.
    pub watcher: Samples,
    /// Engine's build loop: first file event → artifact published and inspected, minus the
    /// inspection (Rolldown bundle + atomic write + contentHash + fingerprint).
    pub build_write_hash: Samples,
    /// Node inspector round trip (import + trainer inspect + configHash).
    pub inspect: Samples,
    /// Everything between the stages: raw inotify event → dev bus, minus the build loop's
    /// own duration (notify thread → build loop hop, build loop → engine hop, dispatch,
    /// publish on the bus).
    pub plumbing: Samples,
    /// Dev bus → SSE frame read by a loopback client.
    pub sse: Samples,
    /// Write → SSE frame, same runs.
    pub total: Samples,
}

/// Run the library engine + server in this process and time each stage of every save.
pub async fn stages(
    project: &mut BenchProject,
    node: &Path,
    warmup: usize,
    runs: usize,
) -> anyhow::Result<StageFigures> {
    let lib_project = Project::at(&project.root)?;
    let (engine, engine_done) = engine::start(EngineConfig {
        project: lib_project,
        on_config_change: Default::default(),
        node: node.to_path_buf(),
        stop_timeout: Duration::from_secs(5),
        run_on_ready: false,
        run_env: Vec::new(),
        cloud: None,
    });
    let server = server::start(
        engine.clone(),
        ServerConfig {
            port: Some(0),
            token_file: TokenFile::Disabled,
            ..Default::default()
        },
    )
    .await?;
    let result = stage_loop(
        project,
        &engine,
        server.port(),
        server.token(),
        warmup,
        runs,
    )
    .await;
    engine.send(EngineCommand::Shutdown { force: true });
    let _ = engine_done.await;
    server.shutdown().await;
    result
}

async fn stage_loop(
    project: &mut BenchProject,
    engine: &engine::EngineHandle,
    port: u16,
    token: &str,
    warmup: usize,
    runs: usize,
) -> anyhow::Result<StageFigures> {
    let (fs_tx, fs_rx) = std::sync::mpsc::channel::<Instant>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = fs_tx.send(Instant::now());
        }
    })?;
    watcher.watch(
        &project.root.join("src/arkor"),
        notify::RecursiveMode::NonRecursive,
    )?;
    let mut sse = connect_ready(port, token).await?;
    let (_, mut bus) = engine.subscribe_dev();
    let (bus_tx, mut bus_rx) = tokio::sync::mpsc::unbounded_channel();
    let bus_task = tokio::spawn(async move {
        while let Ok(event) = bus.recv().await {
            let at = Instant::now();
            if let DevEvent::Built {
                first: false,
                artifact,
                ..
            } = &*event
                && bus_tx
                    .send((at, artifact.build_duration, artifact.inspect_duration))
                    .is_err()
            {
                break;
            }
        }
    });
    let mut figures = StageFigures::default();
    let settle = IDLE_BEFORE_SAVE;
    for i in 0..warmup + runs {
        tokio::time::sleep(settle).await;
        while fs_rx.try_recv().is_ok() {}
        while bus_rx.try_recv().is_ok() {}
        while sse.next(Duration::from_millis(1)).await.is_some() {}
        let (path, source) = project.next_callbacks();
        let started = Instant::now();
        std::fs::write(&path, source)?;
        let frame = loop {
            let event = sse
                .next(Duration::from_secs(30))
                .await
                .context("no rebuild frame")?;
            if event.kind == "rebuild" {
                break event.received;
            }
        };
        let (bus_at, build, inspect) = tokio::time::timeout(Duration::from_secs(5), bus_rx.recv())
            .await
            .ok()
            .flatten()
            .context("the dev bus did not carry the rebuild")?;
        let watched = fs_rx
            .recv_timeout(Duration::from_secs(5))
            .context("the raw watcher saw no event")?;
        if i < warmup {
            continue;
        }
        let watcher_ms = ms(watched.saturating_duration_since(started));
        figures.watcher.push(watcher_ms);
        figures
            .build_write_hash
            .push(ms(build.saturating_sub(inspect)));
        figures.inspect.push(ms(inspect));
        figures
            .plumbing
            .push(ms(bus_at.saturating_duration_since(watched)) - ms(build));
        figures
            .sse
            .push(ms(frame.saturating_duration_since(bus_at)));
        figures
            .total
            .push(ms(frame.saturating_duration_since(started)));
    }
    bus_task.abort();
    Ok(figures)
}

/// Floors and isolated stage costs on the same project, in ms.
#[derive(Default)]
pub struct Floors {
    /// Rolldown `generate()` alone (no write), same options as the product, started after
    /// the same 60 ms idle pause a save gets (threads parked, as in the product).
    pub bare_rolldown: Samples,
    /// The same, back to back (threads still spinning): the best case.
    pub bare_rolldown_warm: Samples,
    /// The same after idle, on the product's build thread (a one-thread rayon pool running a
    /// current-thread tokio runtime): no hand-offs between parked threads.
    pub bare_rolldown_one_thread: Samples,
    /// The product's `Builder::build` (bundle + staging write + rename + hashes).
    pub builder: Samples,
    /// sha256 content hash + fingerprint of the artifact.
    pub hash: Samples,
    /// One inspection through the persistent Node helper.
    pub inspect: Samples,
    /// write → inotify event readable (a bare notify watcher).
    pub notify: Samples,
    /// fork/exec + wait of `node -e 0`.
    pub node_spawn: Samples,
    /// fork/exec + wait of `/bin/true`.
    pub spawn_true: Samples,
}

fn is_external(
    id: &str,
    _importer: Option<&str>,
    is_resolved: bool,
) -> Pin<Box<dyn Future<Output = anyhow::Result<bool>> + Send + 'static>> {
    let external = !is_resolved && !id.starts_with('.') && !Path::new(id).is_absolute();
    Box::pin(std::future::ready(Ok(external)))
}

pub fn bare_options(root: &Path) -> BundlerOptions {
    BundlerOptions {
        input: Some(vec![InputItem {
            name: Some("index".into()),
            import: root
                .join("src/arkor/index.ts")
                .to_string_lossy()
                .into_owned(),
        }]),
        cwd: Some(root.to_path_buf()),
        platform: Some(Platform::Node),
        format: Some(OutputFormat::Esm),
        file: Some(".arkor/build/index.mjs".into()),
        code_splitting: Some(CodeSplittingMode::Bool(false)),
        transform: Some(BundlerTransformOptions {
            target: Some(Either::Left("node22.22".to_owned())),
            ..Default::default()
        }),
        log_level: Some(LogLevel::Warn),
        external: Some(IsExternal::Fn(Some(Arc::new(is_external)))),
        ..Default::default()
    }
}

/// The pause before each measured save (and before each cold floor build).
pub const IDLE_BEFORE_SAVE: Duration = Duration::from_millis(60);

async fn bare_build(root: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut bundler =
        Bundler::new(bare_options(root)).map_err(|e| anyhow::anyhow!("rolldown options: {e:?}"))?;
    let generated = bundler.generate().await;
    let _ = bundler.close().await;
    if generated.is_err() {
        bail!("bare rolldown build failed");
    }
    Ok(started.elapsed())
}

/// The fastest bare Rolldown after idle: one thread or the multi-thread runtime.
pub fn best_bare(f: &Floors) -> Option<f64> {
    match (
        f.bare_rolldown.median(),
        f.bare_rolldown_one_thread.median(),
    ) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub async fn floors(root: &Path, node: &Path, runs: usize) -> anyhow::Result<Floors> {
    let mut f = Floors::default();
    let project = Project::at(root)?;
    let builder = Builder::new(project.clone());
    let inspector = Inspector::start(InspectorOptions::new(
        node.to_path_buf(),
        root.to_path_buf(),
    ));
    for i in 0..runs + 2 {
        let warm = i >= 2;
        let back_to_back = bare_build(root).await?;
        tokio::time::sleep(IDLE_BEFORE_SAVE).await;
        let bare = bare_build(root).await?;
        tokio::time::sleep(IDLE_BEFORE_SAVE).await;
        let owned_root = root.to_path_buf();
        let bare_one_thread =
            build::on_build_thread(move || async move { bare_build(&owned_root).await })
                .await
                .map_err(|e| anyhow::anyhow!("build thread: {e}"))??;
        let started = Instant::now();
        let attempt = builder.build().await;
        let built = started.elapsed();
        let output = attempt
            .outcome
            .map_err(|e| anyhow::anyhow!("build failed: {e}"))?;
        let started = Instant::now();
        let content = hash::file_content_hash(&output.out_file);
        let fingerprint = hash::artifact_fingerprint(&output.out_file);
        let hashed = started.elapsed();
        if content.is_none() || fingerprint.is_none() {
            bail!("cannot hash the artifact");
        }
        let started = Instant::now();
        inspector
            .inspect(&output.out_file, &format!("{}-{i}", output.content_hash))
            .await
            .map_err(|e| anyhow::anyhow!("inspection failed: {e}"))?;
        let inspected = started.elapsed();
        if warm {
            f.bare_rolldown.push(ms(bare));
            f.bare_rolldown_warm.push(ms(back_to_back));
            f.bare_rolldown_one_thread.push(ms(bare_one_thread));
            f.builder.push(ms(built));
            f.hash.push(ms(hashed));
            f.inspect.push(ms(inspected));
        }
    }
    drop(inspector);
    f.notify = notify_latency(root, runs)?;
    for _ in 0..runs.min(20) {
        let started = Instant::now();
        Command::new(node)
            .args(["-e", "0"])
            .stdout(Stdio::null())
            .status()?;
        f.node_spawn.push(ms(started.elapsed()));
        let started = Instant::now();
        Command::new("/bin/true").status()?;
        f.spawn_true.push(ms(started.elapsed()));
    }
    Ok(f)
}

/// write → event for a bare notify watcher on a scratch folder.
fn notify_latency(root: &Path, runs: usize) -> anyhow::Result<Samples> {
    let dir = root.join(".bench-notify");
    std::fs::create_dir_all(&dir)?;
    let (tx, rx) = std::sync::mpsc::channel::<Instant>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = tx.send(Instant::now());
        }
    })?;
    watcher.watch(&dir, notify::RecursiveMode::NonRecursive)?;
    let file = dir.join("probe.ts");
    let mut samples = Samples::new();
    for i in 0..runs + 2 {
        std::thread::sleep(Duration::from_millis(5));
        while rx.try_recv().is_ok() {}
        let started = Instant::now();
        std::fs::write(&file, format!("export const x = {i};\n"))?;
        let seen = rx.recv_timeout(Duration::from_secs(5))?;
        if i >= 2 {
            samples.push(ms(seen.saturating_duration_since(started)));
        }
    }
    drop(watcher);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(samples)
}

pub struct IngestFigures {
    pub lines: u64,
    /// Child spawn → all lines in the log store, lines/s.
    pub store_rate: f64,
    /// The emitter into a pipe the harness drains and discards (the floor), lines/s.
    pub pipe_rate: f64,
}

/// One child printing `lines` lines as fast as it can through the real supervisor.
pub async fn ingest(emitter: &Path, cwd: &Path, lines: u64) -> anyhow::Result<IngestFigures> {
    let logs = LogStore::new();
    let (supervisor, mut events) = Supervisor::with_events(logs.clone());
    // As for a real run: every line passes the stack mapper (these name no artifact, so each
    // costs the mapper's substring check).
    let mapper = StackMapper::new(&Project::at(cwd)?.out_file, None, SourceMaps::new());
    let spec = SpawnSpec::new(emitter, cwd)
        .arg("emit")
        .arg("--lines")
        .arg(lines.to_string())
        .stack_mapper(mapper);
    let started = Instant::now();
    let child = supervisor
        .spawn(spec, None)
        .map_err(|e| anyhow::anyhow!("spawning the emitter: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let event = tokio::time::timeout(Duration::from_secs(120), events.recv()).await;
        if let Ok(Some(ChildEvent::Exited { pid, .. })) = event
            && pid == child.pid
        {
            break;
        }
        if Instant::now() > deadline || matches!(event, Ok(None) | Err(_)) {
            bail!("the emitter did not finish");
        }
    }
    let elapsed = started.elapsed();
    let stored = logs.with(child.pid, |log| log.map(|l| l.next_seq()).unwrap_or(0));
    if stored < lines {
        bail!("the log store holds {stored} of {lines} lines");
    }
    let pipe_rate = pipe_floor(emitter, lines)?;
    Ok(IngestFigures {
        lines,
        store_rate: lines as f64 / elapsed.as_secs_f64(),
        pipe_rate,
    })
}

fn pipe_floor(emitter: &Path, lines: u64) -> anyhow::Result<f64> {
    use std::io::Read;
    let started = Instant::now();
    let mut child = Command::new(emitter)
        .args(["emit", "--lines", &lines.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = child.stdout.take().context("no stdout")?;
    let mut buf = vec![0u8; 64 * 1024];
    while out.read(&mut buf)? > 0 {}
    child.wait()?;
    Ok(lines as f64 / started.elapsed().as_secs_f64())
}

/// Full-frame render (fresh buffers, so the diff writes every cell) of a 200×50 dashboard
/// whose selected run holds `lines` log lines; ms per frame.
pub fn render(lines: usize, frames: usize) -> anyhow::Result<(Samples, Samples)> {
    let logs = LogStore::new();
    let pid = 4242;
    logs.push_many(
        pid,
        (0..lines).map(|i| (LogStream::Stdout, crate::emit::sample_line(i as u64))),
    );
    let now = SystemTime::now();
    let mut app = bench_app(logs.clone(), bench_run(pid, now), now);
    let mut full = Samples::new();
    let mut incremental = Samples::new();
    let mut steady = Terminal::new(TestBackend::new(200, 50))?;
    for i in 0..frames + 3 {
        let mut terminal = Terminal::new(TestBackend::new(200, 50))?;
        let started = Instant::now();
        terminal.draw(|f| arkor_tui::tui::render(&mut app, f))?;
        let took = started.elapsed();
        // One new line, then the frame a following log pane actually draws.
        logs.push(
            pid,
            LogStream::Stdout,
            crate::emit::sample_line((lines + i) as u64),
        );
        app.handle_action(Action::ScrollBottom);
        let started = Instant::now();
        steady.draw(|f| arkor_tui::tui::render(&mut app, f))?;
        let step = started.elapsed();
        if i >= 3 {
            full.push(ms(took));
            incremental.push(ms(step));
        }
    }
    Ok((full, incremental))
}

/// The running run the render figures draw.
fn bench_run(pid: u32, now: SystemTime) -> RunInfo {
    RunInfo {
        trainer_name: Some("bench-trainer".into()),
        job_id: Some("bench-job".into()),
        config_hash: Some("996c886df5bc8d78".into()),
        content_hash: Some("c0ffee1234567890".into()),
        state: RunState::Running,
        ..RunInfo::new(pid, RunOrigin::Engine, now)
    }
}

/// A dashboard state with `run`, after a good build, at `now`.
fn bench_app(logs: LogStore, run: RunInfo, now: SystemTime) -> App {
    let snapshot = EngineSnapshot {
        status: BuildStatus::Ok,
        runs: vec![Arc::new(run)],
        ..EngineSnapshot::default()
    };
    let options = AppOptions {
        server_url: Some("http://127.0.0.1:4000/".into()),
        notifications: false,
        colors: true,
        ..AppOptions::default()
    };
    App::new("~/bench", logs, snapshot, options, now)
}

/// A 200×50 frame whose selected run has a `steps`-step loss series (an eval loss every 25
/// steps, a checkpoint every 100, a hot-swap and a stop request marked) and a short log:
/// ms per fresh frame, which draws the runs table's training columns, the progress gauge and
/// the braille chart from the run's bounded series.
pub fn render_chart(steps: u64, frames: usize) -> anyhow::Result<Samples> {
    use arkor_tui::core::cloud::job_events::{JobEvent, JobEventKind, TrainingLog};
    use arkor_tui::core::training::{MarkerKind, RunMetrics, SharedMetrics};
    let logs = LogStore::new();
    let pid = 4242;
    logs.push_many(
        pid,
        (0..200).map(|i| (LogStream::Stdout, crate::emit::sample_line(i))),
    );
    let now = SystemTime::now();
    let metrics = SharedMetrics::new(RunMetrics::new(Some(steps * 2)));
    metrics.write(|m| {
        for step in 1..=steps {
            let at = now - Duration::from_millis((steps - step) * 10);
            let loss = 2.0 / (1.0 + step as f64 / 500.0) + 0.02 * (step as f64).sin();
            m.apply_event(&JobEvent {
                kind: JobEventKind::Log(TrainingLog {
                    loss: Some(loss),
                    eval_loss: (step % 25 == 0).then_some(loss + 0.1),
                    learning_rate: Some(2e-4),
                    ..TrainingLog::at_step(step)
                }),
                at,
            });
            if step % 100 == 0 {
                m.apply_event(&JobEvent {
                    kind: JobEventKind::CheckpointSaved { step },
                    at,
                });
            }
            if step == steps / 3 {
                m.mark(MarkerKind::HotSwap, at);
            }
        }
        m.mark(MarkerKind::EarlyStopRequested, now);
    });
    let run = RunInfo {
        metrics,
        ..bench_run(pid, now)
    };
    let mut app = bench_app(logs, run.clone(), now);
    app.selected = Some(pid);
    let mut full = Samples::new();
    for i in 0..frames + 3 {
        // A new step each frame: the chart's data is read again every time, as it is while
        // a run trains.
        run.metrics.write(|m| {
            m.apply_event(&JobEvent {
                kind: JobEventKind::Log(TrainingLog {
                    loss: Some(0.5),
                    ..TrainingLog::at_step(steps + 1 + i as u64)
                }),
                at: now,
            })
        });
        let mut terminal = Terminal::new(TestBackend::new(200, 50))?;
        let started = Instant::now();
        terminal.draw(|f| arkor_tui::tui::render(&mut app, f))?;
        let took = started.elapsed();
        if i >= 3 {
            full.push(ms(took));
        }
    }
    Ok(full)
}

/// A 120×40 frame whose log holds one 10 MB line (5 M two-byte characters, coloured),
/// alternately truncated and wrapped; ms per frame. The pane reads only what it shows.
pub fn render_long_line(frames: usize) -> anyhow::Result<Samples> {
    let logs = LogStore::new();
    let pid = 4242;
    logs.push(
        pid,
        LogStream::Stdout,
        format!("\u{1b}[31m{}\u{1b}[0m", "é".repeat(5_000_000)),
    );
    let now = SystemTime::now();
    let snapshot = EngineSnapshot {
        status: BuildStatus::Ok,
        runs: vec![Arc::new(RunInfo {
            state: RunState::Running,
            ..RunInfo::new(pid, RunOrigin::Engine, now)
        })],
        ..EngineSnapshot::default()
    };
    let mut app = App::new("~/bench", logs, snapshot, AppOptions::default(), now);
    let mut samples = Samples::new();
    for i in 0..frames + 2 {
        app.handle_action(Action::ToggleWrap);
        let mut terminal = Terminal::new(TestBackend::new(120, 40))?;
        let started = Instant::now();
        terminal.draw(|f| arkor_tui::tui::render(&mut app, f))?;
        if i >= 2 {
            samples.push(ms(started.elapsed()));
        }
    }
    Ok(samples)
}

/// `node` on PATH (the product's own lookup).
pub fn node_path() -> anyhow::Result<PathBuf> {
    Ok(arkor_tui::core::project::find_node()?.path)
}
