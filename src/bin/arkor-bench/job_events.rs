//! What following a cloud training job costs the dashboard's process: the job event
//! follower (SSE parsing, decoding, replay filter, batching) and the run's metric series,
//! fed from an in-memory stream so only the client side is measured; and the memory of
//! five long runs' series.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use arkor_tui::core::cloud::client::CloudError;
use arkor_tui::core::cloud::job_events::{EventBody, EventTransport, FollowerOptions, JobFollower};
use arkor_tui::core::training::{Applied, RunMetrics};
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::report::{Report, Row, at_most, f2};
use crate::stats::Samples;

/// The frames of one job: `steps` training logs (an eval frame every 25 steps, a
/// checkpoint every 100), then `end`; grouped into chunks of `per_chunk` frames.
fn job_chunks(steps: u64, per_chunk: usize) -> Vec<Bytes> {
    let mut frames = Vec::new();
    let mut id = 0u64;
    let mut frame = |kind: &str, data: String| {
        id += 1;
        format!("id: job-{id}\nevent: {kind}\ndata: {data}\n\n")
    };
    for step in 1..=steps {
        let loss = 2.0 / (1.0 + step as f64 / 50.0) + 0.01 * (step as f64).sin();
        frames.push(frame(
            "training.log",
            format!(
                r#"{{"type":"training.log","jobId":"job","timestamp":"2026-05-01T00:{:02}:{:02}.{:03}Z","step":{step},"loss":{loss:.4},"evalLoss":null,"learningRate":0.0002,"epoch":{:.3}}}"#,
                step / 60_000 % 60,
                step / 1000 % 60,
                step % 1000,
                step as f64 / 200.0
            ),
        ));
        if step % 25 == 0 {
            frames.push(frame(
                "training.log",
                format!(
                    r#"{{"type":"training.log","jobId":"job","step":{step},"loss":null,"evalLoss":{:.4}}}"#,
                    2.2 / (1.0 + step as f64 / 60.0)
                ),
            ));
        }
        if step % 100 == 0 {
            frames.push(frame(
                "checkpoint.saved",
                format!(r#"{{"type":"checkpoint.saved","jobId":"job","step":{step}}}"#),
            ));
        }
    }
    frames.push("event: end\ndata: {}\n\n".to_owned());
    frames
        .chunks(per_chunk)
        .map(|c| Bytes::from(c.concat()))
        .collect()
}

/// One connection that delivers the prepared chunks, all at once or one per `tick`.
struct Replay {
    chunks: Option<Arc<Vec<Bytes>>>,
    tick: Option<Duration>,
}

impl EventTransport for Replay {
    async fn open(&mut self, _last_event_id: Option<&str>) -> Result<EventBody, CloudError> {
        let Some(chunks) = self.chunks.take() else {
            return Ok(futures::stream::pending().boxed()); // never twice in a benchmark
        };
        Ok(match self.tick {
            None => {
                futures::stream::iter((0..chunks.len()).map(move |i| Ok(chunks[i].clone()))).boxed()
            }
            Some(tick) => {
                let mut interval = tokio::time::interval(tick);
                // Keep the average rate when the machine is busy.
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                futures::stream::unfold((interval, 0usize), move |(mut interval, i)| {
                    let chunk = chunks.get(i).cloned();
                    async move {
                        let chunk = chunk?;
                        interval.tick().await;
                        Some((Ok(chunk), (interval, i + 1)))
                    }
                })
                .boxed()
            }
        })
    }
}

/// CPU time of this process so far.
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

struct Followed {
    cpu: Duration,
    wall: Duration,
    messages: u64,
}

/// Follow one prepared job to its end, applying every update to a run's metrics.
async fn follow(
    chunks: Arc<Vec<Bytes>>,
    tick: Option<Duration>,
    steps: u64,
) -> anyhow::Result<Followed> {
    let (tx, mut rx) = mpsc::channel(64);
    let cpu0 = process_cpu();
    let wall0 = Instant::now();
    let transport = Replay {
        chunks: Some(chunks),
        tick,
    };
    let follower = JobFollower::spawn_with(transport, 0u32, tx, FollowerOptions::default());
    let mut metrics = RunMetrics::new(Some(steps));
    let mut messages = 0u64;
    while let Some(message) = rx.recv().await {
        messages += 1;
        if let Applied::Ended(_) = metrics.apply(message.update) {
            break;
        }
    }
    follower.finished().await;
    let followed = Followed {
        cpu: process_cpu().saturating_sub(cpu0),
        wall: wall0.elapsed(),
        messages,
    };
    if metrics.loss().len() != steps || metrics.progress().step != Some(steps) {
        bail!("the series holds {} of {steps} steps", metrics.loss().len());
    }
    Ok(followed)
}

/// The rows of this group, added to `report`.
pub async fn measure(quick: bool, report: &mut Report) {
    let (steps, rounds) = if quick { (20_000, 2) } else { (100_000, 7) };
    match throughput(steps, rounds).await {
        Ok(per_event) => {
            let median = per_event.median();
            report.rows.push(Row {
                figure: format!(
                    "cloud job events: follower + series CPU per training event ({steps} events, in-memory stream, flat out)"
                ),
                n: per_event.len(),
                median: format!("{} µs", f2(median)),
                p95: format!("{} µs", f2(per_event.p95())),
                floor: median
                    .map(|m| format!("= {:.2} % of a core at 1,000 events/s", m / 10.0))
                    .unwrap_or("—".into()),
                peer: "—".into(),
                target: "≤ 20 µs (2 % of a core at 1,000/s)".into(),
                verdict: at_most(median, 20.0),
            });
        }
        Err(e) => report.failed(
            "cloud job events: per-event cost",
            "≤ 20 µs (2 % of a core at 1,000/s)",
            e,
        ),
    }
    let seconds = if quick { 2 } else { 10 };
    match paced(seconds).await {
        Ok(paced) => {
            let share = (paced.total - paced.stream_alone).max(0.0);
            report.rows.push(Row {
                figure: format!(
                    "cloud job events at 1,000 events/s for {seconds} s: follower + series CPU (total − the in-memory stream alone), {:.1} updates/s to the receiver",
                    paced.updates_per_second
                ),
                n: 1,
                median: format!("{share:.2} % of a core"),
                p95: "—".into(),
                floor: format!(
                    "total {:.2} %, stream alone {:.2} %",
                    paced.total, paced.stream_alone
                ),
                peer: "—".into(),
                target: "< 2 % of a core".into(),
                verdict: at_most(Some(share), 2.0),
            });
        }
        Err(e) => report.failed("cloud job events at 1,000 events/s", "< 2 % of a core", e),
    }
    let bytes = series_memory(5, 100_000);
    let mib = bytes as f64 / (1024.0 * 1024.0);
    report.rows.push(Row {
        figure: "metric series memory, 5 runs × 100,000 steps (loss, eval loss, checkpoints)"
            .into(),
        n: 1,
        median: format!("{:.0} KiB", bytes as f64 / 1024.0),
        p95: "—".into(),
        floor: "—".into(),
        peer: "—".into(),
        target: "≤ 4 MiB (inside the 60 MB RSS budget)".into(),
        verdict: at_most(Some(mib), 4.0),
    });
}

/// µs of process CPU per training event, one sample per round.
async fn throughput(steps: u64, rounds: usize) -> anyhow::Result<Samples> {
    let chunks = Arc::new(job_chunks(steps, 64));
    follow(chunks.clone(), None, steps).await?; // warm-up
    let mut samples = Samples::new();
    for _ in 0..rounds {
        let run = follow(chunks.clone(), None, steps).await?;
        samples.push(run.cpu.as_secs_f64() * 1e6 / steps as f64);
    }
    Ok(samples)
}

struct Paced {
    /// Process CPU, % of a core: following the stream, and reading it with nothing else.
    total: f64,
    stream_alone: f64,
    updates_per_second: f64,
}

/// 1,000 training events per second (ten every 10 ms, as TCP would bunch them), followed
/// to the end; then the same stream merely drained, for the share of the harness itself.
async fn paced(seconds: u64) -> anyhow::Result<Paced> {
    // 1.05 frames per step (an eval frame every 25 steps, a checkpoint every 100).
    let steps = seconds * 1000 * 100 / 105;
    let chunks = Arc::new(job_chunks(steps, 10));
    let tick = Some(Duration::from_millis(10));
    let run = follow(chunks.clone(), tick, steps).await?;
    let wall = run.wall.as_secs_f64();

    let cpu0 = process_cpu();
    let wall0 = Instant::now();
    let mut transport = Replay {
        chunks: Some(chunks),
        tick,
    };
    let mut body = transport.open(None).await?;
    let mut bytes = 0usize;
    while let Some(chunk) = body.next().await {
        bytes += chunk?.len();
    }
    std::hint::black_box(bytes);
    let alone = process_cpu().saturating_sub(cpu0).as_secs_f64() / wall0.elapsed().as_secs_f64();

    Ok(Paced {
        total: run.cpu.as_secs_f64() / wall * 100.0,
        stream_alone: alone * 100.0,
        updates_per_second: run.messages as f64 / wall,
    })
}

/// Heap bytes of `runs` runs' metrics after `steps` steps each.
fn series_memory(runs: usize, steps: u64) -> usize {
    use arkor_tui::core::cloud::job_events::{JobEvent, JobEventKind, TrainingLog};
    (0..runs)
        .map(|_| {
            let mut metrics = RunMetrics::new(Some(steps));
            for step in 1..=steps {
                let log = TrainingLog {
                    loss: Some((step as f64).cos()),
                    eval_loss: (step % 25 == 0).then_some(1.0 / step as f64),
                    learning_rate: Some(2e-4),
                    ..TrainingLog::at_step(step)
                };
                metrics.apply_event(&JobEvent {
                    kind: JobEventKind::Log(log),
                    at: std::time::SystemTime::UNIX_EPOCH + Duration::from_millis(step * 10),
                });
                if step % 100 == 0 {
                    metrics.apply_event(&JobEvent {
                        kind: JobEventKind::CheckpointSaved { step },
                        at: std::time::SystemTime::UNIX_EPOCH,
                    });
                }
            }
            metrics.heap_bytes() + std::mem::size_of::<RunMetrics>()
        })
        .sum()
}
