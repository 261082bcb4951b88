//! Figures of the real `arkor tui` dashboard in a pseudo-terminal: start → first frame,
//! keys answered under a log flood, end-to-end ingest, idle CPU, RSS.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::e2e::ms;
use crate::fixture;
use crate::procs;
use crate::pty::PtyApp;
use crate::stats::Samples;

pub const COLS: u16 = 160;
pub const ROWS: u16 = 48;
/// Text of the first frame (the header's title span).
const FIRST_FRAME: &[u8] = b" arkor ";
/// Text only the help overlay draws.
pub const HELP_TEXT: &[u8] = b"Quit is deliberate";
/// The header once the first build is in.
const BUILD_OK: &[u8] = b"build ok";

/// What every dashboard session needs.
#[derive(Clone)]
pub struct TuiSetup {
    pub arkor: PathBuf,
    pub emitter: PathBuf,
    pub project: PathBuf,
    pub scratch: PathBuf,
}

impl TuiSetup {
    fn spawn(&self, env: Vec<(String, String)>) -> anyhow::Result<(PtyApp, PathBuf)> {
        let closed = format!("http://127.0.0.1:{}", fixture::free_port()?);
        self.spawn_with_cloud(env, closed)
    }

    /// A dashboard whose cloud (credentials and `ARKOR_CLOUD_API_URL`) is `cloud`.
    pub fn spawn_with_cloud(
        &self,
        env: Vec<(String, String)>,
        cloud: String,
    ) -> anyhow::Result<(PtyApp, PathBuf)> {
        let home = self.scratch.join(format!("home-{}", fixture::free_port()?));
        fixture::write_home(&home, &cloud)?;
        let port = fixture::free_port()?.to_string();
        let project = self.project.to_string_lossy().into_owned();
        let mut env = env;
        env.push(("HOME".into(), home.to_string_lossy().into_owned()));
        env.push(("ARKOR_CLOUD_API_URL".into(), cloud));
        env.push(("ARKOR_TELEMETRY_DISABLED".into(), "1".into()));
        env.push((
            "ARKOR_BENCH_EMITTER".into(),
            self.emitter.to_string_lossy().into_owned(),
        ));
        let app = PtyApp::spawn(
            &self.arkor,
            &["tui", "--cwd", &project, "--port", &port, "--no-notify"],
            &env,
            &self.scratch,
            COLS,
            ROWS,
        )?;
        Ok((app, home))
    }

    /// Quit deliberately: `q` (runs early-stop; the bench runner exits at once), then a
    /// second `q` if it is still up.
    pub fn quit(mut app: PtyApp) {
        let _ = app.send(b"q");
        std::thread::sleep(Duration::from_millis(300));
        if !app.exited() {
            let _ = app.send(b"q");
        }
        if !app.finish(Duration::from_secs(10)) {
            eprintln!("arkor-bench: the dashboard did not quit on q; killed it");
        }
    }
}

pub struct StartFigures {
    pub first_frame: Samples,
    pub first_build: Samples,
}

/// Spawn → first frame bytes on the terminal, and spawn → header says the build is ok.
pub fn start_to_first_frame(setup: &TuiSetup, runs: usize) -> anyhow::Result<StartFigures> {
    let mut first_frame = Samples::new();
    let mut first_build = Samples::new();
    for _ in 0..runs {
        let (app, _home) = setup.spawn(Vec::new())?;
        let frame = app
            .wait_for(FIRST_FRAME, 0, Duration::from_secs(10))
            .context("no first frame within 10 s")?;
        let built = app
            .wait_for(BUILD_OK, 0, Duration::from_secs(30))
            .context("the header never said the build is ok")?;
        first_frame.push(ms(frame.duration_since(app.spawned_at)));
        first_build.push(ms(built.duration_since(app.spawned_at)));
        TuiSetup::quit(app);
    }
    Ok(StartFigures {
        first_frame,
        first_build,
    })
}

/// Start `runs` engine-owned runs with the `s` key; wait for each to report its job.
pub fn start_runs(app: &mut PtyApp, runs: usize) -> anyhow::Result<()> {
    app.wait_for(BUILD_OK, 0, Duration::from_secs(30))
        .context("the first build never finished")?;
    for started in 0..runs {
        let from = app.mark();
        // With a run live, `s` asks first (another run is another cloud job): `y` confirms.
        app.send(if started == 0 { b"s" } else { b"sy" })?;
        app.wait_for(b"bench-", from, Duration::from_secs(20))
            .context("a started run never showed its job")?;
    }
    Ok(())
}

/// Percent of one core the dashboard process used over `window` with `runs` silent runs.
pub fn idle_cpu(setup: &TuiSetup, runs: usize, window: Duration) -> anyhow::Result<f64> {
    let (mut app, _home) = setup.spawn(Vec::new())?;
    start_runs(&mut app, runs)?;
    std::thread::sleep(Duration::from_secs(2));
    let pid = app.pid();
    let before = procs::cpu_ns(pid).context("schedstat")?;
    let started = Instant::now();
    std::thread::sleep(window);
    let after = procs::cpu_ns(pid).context("schedstat")?;
    let percent = after.saturating_sub(before) as f64 / started.elapsed().as_nanos() as f64 * 100.0;
    TuiSetup::quit(app);
    Ok(percent)
}

pub struct FloodFigures {
    pub lines: u64,
    /// Lines per second the emitter managed while the dashboard absorbed them.
    pub rate: f64,
    /// `?` pressed → help overlay on screen, during the flood.
    pub key_latency: Samples,
    /// Presses not answered within 2 s.
    pub unanswered: usize,
}

fn flood_env(reports: &Path, lines: u64) -> Vec<(String, String)> {
    vec![
        ("ARKOR_BENCH_MODE".into(), "flood".into()),
        ("ARKOR_BENCH_LINES".into(), lines.to_string()),
        (
            "ARKOR_BENCH_REPORTS".into(),
            reports.to_string_lossy().into_owned(),
        ),
    ]
}

fn reports_in(dir: &Path) -> Vec<(u64, f64)> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "txt"))
                .filter_map(|e| crate::emit::read_report(&e.path()))
                .collect()
        })
        .unwrap_or_default()
}

/// One run floods `lines` lines; meanwhile `?` is pressed every 100 ms and the time until
/// the help overlay is drawn is recorded.
pub fn flood_keys(setup: &TuiSetup, lines: u64) -> anyhow::Result<FloodFigures> {
    let reports = setup.scratch.join(format!("reports-flood-{lines}"));
    std::fs::create_dir_all(&reports)?;
    let (mut app, _home) = setup.spawn(flood_env(&reports, lines))?;
    start_runs(&mut app, 1)?;
    let mut key_latency = Samples::new();
    let mut unanswered = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    while reports_in(&reports).is_empty() {
        if Instant::now() > deadline {
            bail!("the flood did not finish within 300 s");
        }
        let from = app.mark();
        let sent = app.send(b"?")?;
        match app.wait_for(HELP_TEXT, from, Duration::from_secs(2)) {
            Some(at) => key_latency.push(ms(at.saturating_duration_since(sent))),
            None => unanswered += 1,
        }
        app.send(b"?")?; // close the overlay again
        std::thread::sleep(Duration::from_millis(100));
    }
    let (done_lines, seconds) = reports_in(&reports)[0];
    TuiSetup::quit(app);
    Ok(FloodFigures {
        lines: done_lines,
        rate: done_lines as f64 / seconds,
        key_latency,
        unanswered,
    })
}

pub struct MemoryFigures {
    pub runs: usize,
    pub lines_per_run: u64,
    pub rss_mib: f64,
    pub hwm_mib: f64,
}

/// `runs` runs each print `lines` lines; RSS of the dashboard once all are absorbed.
pub fn memory(setup: &TuiSetup, runs: usize, lines: u64) -> anyhow::Result<MemoryFigures> {
    let reports = setup.scratch.join(format!("reports-mem-{runs}-{lines}"));
    std::fs::create_dir_all(&reports)?;
    let (mut app, _home) = setup.spawn(flood_env(&reports, lines))?;
    start_runs(&mut app, runs)?;
    let deadline = Instant::now() + Duration::from_secs(600);
    while reports_in(&reports).len() < runs {
        if Instant::now() > deadline {
            bail!("the runs did not finish printing within 600 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The last pipe buffers drain and a frame is drawn.
    std::thread::sleep(Duration::from_millis(500));
    let (rss, hwm) = procs::rss_mib(app.pid()).context("reading /proc status")?;
    TuiSetup::quit(app);
    Ok(MemoryFigures {
        runs,
        lines_per_run: lines,
        rss_mib: rss,
        hwm_mib: hwm,
    })
}

/// mprocs absorbing the same flood (its pane is a terminal emulator): lines/s.
pub fn mprocs_flood(
    mprocs: &Path,
    emitter: &Path,
    scratch: &Path,
    lines: u64,
) -> anyhow::Result<f64> {
    let dir = scratch.join("mprocs");
    std::fs::create_dir_all(&dir)?;
    let report = dir.join("report.txt");
    let cmd = format!(
        "{} emit --lines {lines} --report {}",
        emitter.display(),
        report.display()
    );
    let app = PtyApp::spawn(mprocs, &[&cmd], &[], &dir, COLS, ROWS)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let result = loop {
        if let Some((n, secs)) = crate::emit::read_report(&report) {
            break Ok(n as f64 / secs);
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!("mprocs flood did not finish within 300 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(app);
    result
}
