//! Dashboard figures with training progress: the real `arkor tui` in a pseudo-terminal, its
//! runs' job streams served by a loopback [`TrainingCloud`]: CPU and key latency while one
//! run streams 1,000 training events per second (against the same run on a silent stream),
//! RSS once five runs have each received 100,000 steps, and idle CPU with three runs whose
//! streams are open and silent.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::e2e::ms;
use crate::procs;
use crate::pty::PtyApp;
use crate::stats::Samples;
use crate::training_cloud::{StreamMode, TrainingCloud};
use crate::tui::{HELP_TEXT, TuiSetup, start_runs};

/// Percent of a core `pid` used over `window`.
fn cpu_over(pid: u32, window: Duration) -> anyhow::Result<f64> {
    let before = procs::cpu_ns(pid).context("schedstat")?;
    let started = Instant::now();
    std::thread::sleep(window);
    let after = procs::cpu_ns(pid).context("schedstat")?;
    Ok(after.saturating_sub(before) as f64 / started.elapsed().as_nanos() as f64 * 100.0)
}

pub struct StreamingFigures {
    /// Dashboard CPU, % of a core, with the run's stream at 1,000 events/s and silent.
    pub busy: f64,
    pub silent: f64,
    /// `?` pressed → help overlay drawn, while the events stream in.
    pub key_latency: Samples,
    pub unanswered: usize,
}

/// One run, its stream `mode`; dashboard CPU over `window` after a 2 s warm-up, then
/// `presses` presses of `?` 100 ms apart.
fn one_run(
    setup: &TuiSetup,
    mode: StreamMode,
    window: Duration,
    presses: usize,
) -> anyhow::Result<(f64, Samples, usize)> {
    let cloud = TrainingCloud::start(mode)?;
    let (mut app, _home) = setup.spawn_with_cloud(Vec::new(), cloud.url.clone())?;
    start_runs(&mut app, 1)?;
    std::thread::sleep(Duration::from_secs(2));
    let cpu = cpu_over(app.pid(), window)?;
    let (latency, unanswered) = press_help(&mut app, presses)?;
    TuiSetup::quit(app);
    Ok((cpu, latency, unanswered))
}

fn press_help(app: &mut PtyApp, presses: usize) -> anyhow::Result<(Samples, usize)> {
    let mut latency = Samples::new();
    let mut unanswered = 0;
    for _ in 0..presses {
        let from = app.mark();
        let sent = app.send(b"?")?;
        match app.wait_for(HELP_TEXT, from, Duration::from_secs(2)) {
            Some(at) => latency.push(ms(at.saturating_duration_since(sent))),
            None => unanswered += 1,
        }
        app.send(b"?")?;
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((latency, unanswered))
}

/// CPU with 1,000 events/s against a silent stream (A/B, alternated `rounds` times; the
/// medians), and key latency during the events.
pub fn streaming(
    setup: &TuiSetup,
    window: Duration,
    rounds: usize,
    presses: usize,
) -> anyhow::Result<StreamingFigures> {
    let mut busy = Samples::new();
    let mut silent = Samples::new();
    let mut key_latency = Samples::new();
    let mut unanswered = 0;
    for _ in 0..rounds {
        let paced = StreamMode::Paced {
            events_per_second: 1000,
        };
        let (cpu, keys, missed) = one_run(setup, paced, window, presses)?;
        busy.push(cpu);
        key_latency.extend(&keys);
        unanswered += missed;
        silent.push(one_run(setup, StreamMode::Silent, window, 0)?.0);
    }
    Ok(StreamingFigures {
        busy: busy.median().context("no sample")?,
        silent: silent.median().context("no sample")?,
        key_latency,
        unanswered,
    })
}

/// `runs` runs each receive `steps` steps at once; RSS (and its peak) once all are in and
/// the dashboard has gone quiet.
pub fn memory(setup: &TuiSetup, runs: usize, steps: u64) -> anyhow::Result<(f64, f64)> {
    let cloud = TrainingCloud::start(StreamMode::Replay { steps })?;
    let (mut app, _home) = setup.spawn_with_cloud(Vec::new(), cloud.url.clone())?;
    start_runs(&mut app, runs)?;
    let deadline = Instant::now() + Duration::from_secs(600);
    while cloud.replays_done() < runs as u64 {
        if Instant::now() > deadline {
            bail!("the streams were not all read within 600 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Absorbed once the dashboard idles again.
    while cpu_over(app.pid(), Duration::from_secs(1))? > 5.0 {
        if Instant::now() > deadline {
            bail!("the dashboard never went quiet");
        }
    }
    let rss = procs::rss_mib(app.pid()).context("reading /proc status")?;
    TuiSetup::quit(app);
    Ok(rss)
}

/// Idle CPU with `runs` runs whose job streams are open and silent.
pub fn idle(setup: &TuiSetup, runs: usize, window: Duration) -> anyhow::Result<f64> {
    let cloud = TrainingCloud::start(StreamMode::Silent)?;
    let (mut app, _home) = setup.spawn_with_cloud(Vec::new(), cloud.url.clone())?;
    start_runs(&mut app, runs)?;
    std::thread::sleep(Duration::from_secs(2));
    let cpu = cpu_over(app.pid(), window)?;
    TuiSetup::quit(app);
    Ok(cpu)
}
