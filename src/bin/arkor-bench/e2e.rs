//! End-to-end figures against a dev server process over loopback: save → `rebuild` frame,
//! save → SIGUSR2 at the child, SSE fan-out, idle CPU.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use tokio::sync::mpsc;

use crate::fixture::BenchProject;
use crate::http::{self, SseClient};
use crate::procs;
use crate::stats::Samples;

/// How long any single awaited event may take before the harness calls it a hang.
const HANG: Duration = Duration::from_secs(30);
/// Quiet time after each measured save, so late duplicate builds show up (and are counted)
/// before the next save.
const SETTLE: Duration = Duration::from_millis(60);

pub struct RebuildFigures {
    pub latency: Samples,
    /// Frames beyond the one rebuild each save should cause.
    pub extra_frames: usize,
    /// `error` frames seen before a save's `rebuild` (a half-written file reported).
    pub transient_errors: Vec<String>,
}

/// Connect to the SSE route and wait for the replayed (or first) successful build.
pub async fn connect_ready(port: u16, token: &str) -> anyhow::Result<SseClient> {
    let mut sse = SseClient::connect(port, token).await?;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = sse
            .next(left)
            .await
            .context("no ready/rebuild frame from the first build")?;
        if event.kind == "ready" || event.kind == "rebuild" {
            return Ok(sse);
        }
    }
}

/// Drain frames that arrive within `quiet`; returns how many.
async fn drain(sse: &mut SseClient, quiet: Duration) -> usize {
    let mut n = 0;
    while sse.next(quiet).await.is_some() {
        n += 1;
    }
    n
}

/// [`save_to_rebuild`] against a server started from `spec` (stopped afterwards).
pub async fn save_to_rebuild_on(
    spec: &procs::ServerSpec,
    project: &mut BenchProject,
    warmup: usize,
    runs: usize,
) -> anyhow::Result<RebuildFigures> {
    procs::with_server(spec, |srv| async move {
        save_to_rebuild(srv.0, &srv.1, project, warmup, runs).await
    })
    .await
}

/// Save callbacks.ts `warmup + runs` times; each time stamp the write and the arrival of the
/// `rebuild` frame at this client.
pub async fn save_to_rebuild(
    port: u16,
    token: &str,
    project: &mut BenchProject,
    warmup: usize,
    runs: usize,
) -> anyhow::Result<RebuildFigures> {
    let mut sse = connect_ready(port, token).await?;
    drain(&mut sse, SETTLE).await;
    let mut latency = Samples::new();
    let mut extra_frames = 0;
    let mut transient_errors = Vec::new();
    for i in 0..warmup + runs {
        let (path, source) = project.next_callbacks();
        let started = Instant::now();
        std::fs::write(&path, source)?;
        let errors_before = transient_errors.len();
        let frame = wait_for_rebuild(&mut sse, &mut transient_errors).await?;
        for error in &mut transient_errors[errors_before..] {
            *error = format!("save #{i} (warm-up {warmup}): {error}");
        }
        if i >= warmup {
            latency.push(ms(frame.duration_since(started)));
        }
        extra_frames += drain(&mut sse, SETTLE).await;
    }
    Ok(RebuildFigures {
        latency,
        extra_frames,
        transient_errors,
    })
}

/// Like [`wait_for_kind`] for `rebuild`, but an `error` frame before it is recorded instead
/// of failing the figure (the build loop should never report a superseded failure).
async fn wait_for_rebuild(
    sse: &mut SseClient,
    errors: &mut Vec<String>,
) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + HANG;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = sse
            .next(left)
            .await
            .with_context(|| format!("no rebuild frame within {HANG:?}"))?;
        match event.kind.as_str() {
            "rebuild" => return Ok(event.received),
            "error" => errors.push(event.data),
            _ => {}
        }
    }
}

async fn wait_for_kind(sse: &mut SseClient, kind: &str) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + HANG;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = sse
            .next(left)
            .await
            .with_context(|| format!("no {kind} frame within {HANG:?}"))?;
        if event.kind == kind {
            return Ok(event.received);
        }
        if event.kind == "error" {
            bail!("the build failed: {}", event.data);
        }
    }
}

/// A run started over `POST /api/train`; its body lines arrive on `lines`.
pub struct TrainRun {
    pub pid: u32,
    lines: mpsc::UnboundedReceiver<String>,
    reader: tokio::task::JoinHandle<()>,
}

impl TrainRun {
    pub async fn start(port: u16, token: &str) -> anyhow::Result<Self> {
        let mut response = http::post_json(port, "/api/train", token, "{}").await?;
        if response.status != 200 {
            bail!("/api/train answered {}", response.status);
        }
        let pid: u32 = response
            .header("x-arkor-train-pid")
            .and_then(|p| p.parse().ok())
            .context("no x-arkor-train-pid header")?;
        let (tx, lines) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut pending = Vec::new();
            while response.fill(Duration::from_secs(3600)).await || !response.is_eof() {
                pending.extend(response.take_body());
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                    if tx.send(text).is_err() {
                        return;
                    }
                }
            }
        });
        let mut run = Self { pid, lines, reader };
        run.wait_line("Started job").await?;
        Ok(run)
    }

    /// The next body line containing `needle`.
    pub async fn wait_line(&mut self, needle: &str) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + HANG;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) if line.contains(needle) => return Ok(line),
                Ok(Some(_)) => {}
                Ok(None) => bail!("run {} ended before printing {needle:?}", self.pid),
                Err(_) => bail!("run {} did not print {needle:?} within {HANG:?}", self.pid),
            }
        }
    }

    /// Lines already received that contain `needle`, without waiting.
    pub fn count_ready(&mut self, needle: &str) -> usize {
        let mut n = 0;
        while let Ok(line) = self.lines.try_recv() {
            n += usize::from(line.contains(needle));
        }
        n
    }
}

impl Drop for TrainRun {
    fn drop(&mut self) {
        // Closing the body is the Studio's "Stop": the server kills the child.
        self.reader.abort();
    }
}

pub struct SignalFigures {
    pub save_to_signal: Samples,
    pub save_to_rebuild_with_run: Samples,
}

/// With one live run: save a callbacks-only change and read the child's SIGUSR2 wall-clock
/// stamp from its output; the harness stamps the write with the same clock.
pub async fn save_to_signal(
    port: u16,
    token: &str,
    project: &mut BenchProject,
    warmup: usize,
    runs: usize,
) -> anyhow::Result<SignalFigures> {
    let mut sse = connect_ready(port, token).await?;
    let mut run = TrainRun::start(port, token).await?;
    drain(&mut sse, SETTLE).await;
    let mut to_signal = Samples::new();
    let mut to_rebuild = Samples::new();
    for i in 0..warmup + runs {
        let (path, source) = project.next_callbacks();
        let wall = wall_ms();
        let started = Instant::now();
        std::fs::write(&path, source)?;
        let line = run.wait_line("bench-usr2").await?;
        let frame = wait_for_kind(&mut sse, "rebuild").await?;
        let child_ms: f64 = line
            .split_whitespace()
            .nth(2)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("bad runner line {line:?}"))?;
        if i >= warmup {
            to_signal.push(child_ms - wall);
            to_rebuild.push(ms(frame.duration_since(started)));
        }
        drain(&mut sse, SETTLE).await;
    }
    Ok(SignalFigures {
        save_to_signal: to_signal,
        save_to_rebuild_with_run: to_rebuild,
    })
}

pub struct FanoutFigures {
    pub subscribers: usize,
    pub rounds: usize,
    /// Per subscriber and round: save → frame at that subscriber.
    pub latency: Samples,
    /// Subscribers that got exactly one rebuild frame per round, summed over rounds.
    pub delivered: usize,
    /// SIGUSR2 received per child over all rounds (should equal `rounds` each).
    pub signals_per_child: Vec<usize>,
}

/// `subscribers` SSE clients and `children` live runs; each round is one save.
pub async fn fanout(
    port: u16,
    token: &str,
    project: &mut BenchProject,
    subscribers: usize,
    children: usize,
    rounds: usize,
) -> anyhow::Result<FanoutFigures> {
    let mut runs = Vec::new();
    for _ in 0..children {
        runs.push(TrainRun::start(port, token).await?);
    }
    let mut clients = Vec::new();
    for _ in 0..subscribers {
        let mut sse = connect_ready(port, token).await?;
        drain(&mut sse, Duration::from_millis(1)).await;
        clients.push(sse);
    }
    // Let the runs' job markers reach the engine before the first save.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut latency = Samples::new();
    let mut delivered = 0;
    for _ in 0..rounds {
        // Every subscriber is reading before the save, as a connected browser tab would be.
        let waits: Vec<_> = clients
            .drain(..)
            .map(|mut sse| {
                tokio::spawn(async move {
                    let got = wait_for_kind(&mut sse, "rebuild").await.ok();
                    let extra = drain(&mut sse, Duration::from_millis(300)).await;
                    (sse, got, extra)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (path, source) = project.next_callbacks();
        let started = Instant::now();
        std::fs::write(&path, source)?;
        for wait in waits {
            let (sse, got, extra) = wait.await?;
            if let Some(at) = got {
                latency.push(ms(at.duration_since(started)));
                delivered += usize::from(extra == 0);
            }
            clients.push(sse);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signals_per_child = runs
        .iter_mut()
        .map(|run| run.count_ready("bench-usr2"))
        .collect();
    Ok(FanoutFigures {
        subscribers,
        rounds,
        latency,
        delivered,
        signals_per_child,
    })
}

/// Percent of one core the server process used over `window` with `children` silent runs.
pub async fn idle_cpu(
    port: u16,
    token: &str,
    server_pid: u32,
    children: usize,
    window: Duration,
) -> anyhow::Result<f64> {
    let mut runs = Vec::new();
    for _ in 0..children {
        runs.push(TrainRun::start(port, token).await?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    cpu_percent(server_pid, window).await
}

pub async fn cpu_percent(pid: u32, window: Duration) -> anyhow::Result<f64> {
    let before = procs::cpu_ns(pid).context("reading schedstat")?;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let after = procs::cpu_ns(pid).context("reading schedstat")?;
    let wall = started.elapsed().as_nanos() as f64;
    Ok((after.saturating_sub(before)) as f64 / wall * 100.0)
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}
