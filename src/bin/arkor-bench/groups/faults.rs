//! "Under faults": the real binary while its readers misbehave.
//!
//! - A `/api/train` client that reads nothing while its run prints a flood: the peak RSS
//!   (VmHWM) of `arkor tui --headless`, against its RSS before the flood.
//! - `--headless` whose stdout is a pipe nobody reads: SIGTERM → process exit.
//!
//! Both also run against an older binary (`--arkor`), which is how BENCHMARKS.md gets its
//! before/after figures.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::bench::Bench;
use crate::fixture::{self, BenchProject};
use crate::procs::{Peer, ServerProc, ServerSpec, rss_mib};
use crate::report::Report;
use crate::report::{Row, Verdict, at_most};

/// The flood target: peak RSS with a stalled client during a 300 MiB flood.
const PEAK_RSS_TARGET_MIB: f64 = 120.0;
/// `--stop-timeout` of the blocked-stdout figure, and the slack the exit may take beyond it.
const STOP_TIMEOUT_SECS: u64 = 5;
const EXIT_SLACK: Duration = Duration::from_secs(2);
/// How long the harness waits for an exit before calling it a hang.
const EXIT_PATIENCE: Duration = Duration::from_secs(30);

/// Measure the group and add its rows.
pub async fn measure(bench: &mut Bench, s: &mut Report) -> anyhow::Result<()> {
    let (arkor, emitter, scratch) = (&bench.tools.arkor, &bench.tools.emitter, &bench.tools.root);
    let flood_mib = if bench.plan.quick { 20 } else { 300 };
    s.progress(&format!(
        "under faults: a /api/train client reading nothing during a {flood_mib} MiB flood"
    ));
    let (arkor_path, emitter_path, dir) = (
        arkor.to_path_buf(),
        emitter.to_path_buf(),
        scratch.to_path_buf(),
    );
    let flood = tokio::task::spawn_blocking(move || {
        stalled_client_flood(&arkor_path, &emitter_path, &dir, flood_mib)
    })
    .await
    .map_err(anyhow::Error::from)
    .and_then(|r| r);
    let figure = format!(
        "under faults: peak RSS of `arkor tui --headless` while a `/api/train` client reads nothing and its run prints {flood_mib} MiB"
    );
    match flood {
        Ok(f) => {
            s.rows.push(Row {
                figure,
                n: 1,
                median: format!("{:.1} MiB", f.peak_mib),
                p95: "—".into(),
                floor: format!("before the flood: {:.1} MiB", f.before_mib),
                peer: "—".into(),
                target: format!("≤ {PEAK_RSS_TARGET_MIB:.0} MiB"),
                verdict: at_most(Some(f.peak_mib), PEAK_RSS_TARGET_MIB),
            });
            s.notes.push(format!(
                "stalled client: the run printed {:.1} MiB; once the client read again it got {:.1} MiB, {} of it notice lines announcing {:.1} MiB dropped",
                f.flood_bytes as f64 / MIB,
                f.delivered as f64 / MIB,
                f.notices,
                f.dropped as f64 / MIB,
            ));
        }
        Err(e) => s.failed(&figure, &format!("≤ {PEAK_RSS_TARGET_MIB:.0} MiB"), e),
    }

    s.progress("under faults: --headless with a stdout nobody reads, SIGTERM → exit");
    let (arkor_path, emitter_path, dir) = (
        arkor.to_path_buf(),
        emitter.to_path_buf(),
        scratch.to_path_buf(),
    );
    let exit =
        tokio::task::spawn_blocking(move || blocked_stdout_exit(&arkor_path, &emitter_path, &dir))
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r);
    let figure = format!(
        "under faults: `--headless --logs`, stdout a pipe nobody reads, 1 run: SIGTERM → exit (`--stop-timeout {STOP_TIMEOUT_SECS}`)"
    );
    let target = format!("≤ {} s", STOP_TIMEOUT_SECS + EXIT_SLACK.as_secs());
    let limit_ms = (Duration::from_secs(STOP_TIMEOUT_SECS) + EXIT_SLACK).as_secs_f64() * 1e3;
    match exit {
        Ok(Some(took)) => s.rows.push(Row {
            figure,
            n: 1,
            median: format!("{:.0} ms", took.as_secs_f64() * 1e3),
            p95: "—".into(),
            floor: "—".into(),
            peer: "—".into(),
            target,
            verdict: at_most(Some(took.as_secs_f64() * 1e3), limit_ms),
        }),
        Ok(None) => s.rows.push(Row {
            figure,
            n: 1,
            median: format!("no exit within {} s", EXIT_PATIENCE.as_secs()),
            p95: "—".into(),
            floor: "—".into(),
            peer: "—".into(),
            target,
            verdict: Verdict::Miss(f64::INFINITY),
        }),
        Err(e) => s.failed(&figure, &target, e),
    }
    Ok(())
}

const MIB: f64 = 1024.0 * 1024.0;

struct FloodFigures {
    /// Bytes the run printed.
    flood_bytes: u64,
    before_mib: f64,
    peak_mib: f64,
    delivered: u64,
    dropped: u64,
    notices: usize,
}

fn flood_env(emitter: &Path, reports: &Path, lines: u64) -> Vec<(String, String)> {
    vec![
        ("ARKOR_BENCH_MODE".into(), "flood".into()),
        ("ARKOR_BENCH_EMITTER".into(), emitter.display().to_string()),
        ("ARKOR_BENCH_REPORTS".into(), reports.display().to_string()),
        ("ARKOR_BENCH_LINES".into(), lines.to_string()),
    ]
}

fn stalled_client_flood(
    arkor: &Path,
    emitter: &Path,
    scratch: &Path,
    flood_mib: u64,
) -> anyhow::Result<FloodFigures> {
    let project = BenchProject::create(&scratch.join("faults-flood"), 0)?;
    project.install_bench_sdk()?;
    let reports = scratch.join("faults-flood-reports");
    std::fs::create_dir_all(&reports)?;
    let (lines, flood_bytes) = emitter_lines_for(flood_mib << 20);
    let server = ServerProc::start(&ServerSpec {
        peer: Peer::Arkor,
        program: arkor.to_path_buf(),
        project: project.root.clone(),
        home: scratch.join("home-faults-flood"),
        env: flood_env(emitter, &reports, lines),
    })?;
    // A run started before the first build is signalled by that build's dispatch (SIGUSR2
    // before the runner's handler exists kills it): start it once the build is ready.
    wait_first_build(server.port, &server.token)?;
    let before_mib = rss_mib(server.pid).context("reading RSS")?.1;

    let mut client = TcpStream::connect(("127.0.0.1", server.port))?;
    write!(
        client,
        "POST /api/train HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Arkor-Studio-Token: {}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}",
        server.port, server.token
    )?;
    // The run's emitter writes its report when every line went into the pipe.
    let deadline = Instant::now() + Duration::from_secs(600);
    while !has_report(&reports) {
        if Instant::now() > deadline {
            bail!("the flood did not finish within 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let arkor read the last pipe contents before the peak is read.
    std::thread::sleep(Duration::from_secs(1));
    let peak_mib = rss_mib(server.pid).context("reading RSS")?.1;

    // The client resumes: it gets what the queue kept, with the gap announced.
    client.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut received = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let quiet_until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < quiet_until {
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(_) => break, // quiet for 500 ms: everything queued has arrived
        }
    }
    drop(client); // the Studio's Stop: arkor kills the run
    let text = String::from_utf8_lossy(&received);
    let mut dropped = 0u64;
    let mut notices = 0;
    for line in text.lines() {
        if let Some(n) = line
            .strip_prefix("arkor: ")
            .and_then(|l| l.strip_suffix(" bytes of output dropped: the client fell behind"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            dropped += n;
            notices += 1;
        }
    }
    server.stop();
    Ok(FloodFigures {
        flood_bytes,
        before_mib,
        peak_mib,
        delivered: received.len() as u64,
        dropped,
        notices,
    })
}

/// Poll `/api/manifest` until it describes a built trainer.
fn wait_first_build(port: u16, token: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        write!(
            stream,
            "GET /api/manifest HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Arkor-Studio-Token: {token}\r\nConnection: close\r\n\r\n"
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        if answer.contains("\"trainer\":{") {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no build within 60 s: {answer}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How many emitter lines make at least `bytes` bytes, and their exact size.
fn emitter_lines_for(bytes: u64) -> (u64, u64) {
    let mut total = 0;
    let mut lines = 0;
    while total < bytes {
        total += crate::emit::sample_line(lines).len() as u64 + 1;
        lines += 1;
    }
    (lines, total)
}

fn has_report(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "txt"))
        })
        .unwrap_or(false)
}

/// Start `arkor tui --headless --logs --run` with stdout into a pipe the harness never
/// reads, wait until that pipe is full, send SIGTERM and time the exit (`None`: no exit
/// within [`EXIT_PATIENCE`]).
fn blocked_stdout_exit(
    arkor: &Path,
    emitter: &Path,
    scratch: &Path,
) -> anyhow::Result<Option<Duration>> {
    let project = BenchProject::create(&scratch.join("faults-stdout"), 0)?;
    project.install_bench_sdk()?;
    let reports = scratch.join("faults-stdout-reports");
    std::fs::create_dir_all(&reports)?;
    let home = scratch.join("home-faults-stdout");
    let port = fixture::free_port()?;
    let cloud_url = format!("http://127.0.0.1:{}", fixture::free_port()?);
    fixture::write_home(&home, &cloud_url)?;
    let (unread, write): (OwnedFd, OwnedFd) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let unread = File::from(unread);
    let mut child = Command::new(arkor)
        .args(["tui", "--headless", "--logs", "--run", "--cwd"])
        .arg(&project.root)
        .args(["--port", &port.to_string()])
        .args(["--stop-timeout", &STOP_TIMEOUT_SECS.to_string()])
        .env("HOME", &home)
        .env("ARKOR_CLOUD_API_URL", &cloud_url)
        .env("ARKOR_TELEMETRY_DISABLED", "1")
        .env("NO_COLOR", "1")
        .envs(flood_env(emitter, &reports, 200_000))
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", arkor.display()))?;
    let pid = Pid::from_raw(child.id() as i32);
    let token_file = home.join(".arkor/studio-token");
    let ready_by = Instant::now() + Duration::from_secs(60);
    while !(stdout_write_blocked(pid) && token_file.exists()) {
        if Instant::now() > ready_by {
            let _ = killpg(pid, Signal::SIGKILL);
            let _ = child.wait();
            bail!("stdout never filled up (no run output within 60 s)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let signalled = Instant::now();
    kill(pid, Signal::SIGTERM)?;
    let mut took = None;
    while signalled.elapsed() < EXIT_PATIENCE {
        if child.try_wait()?.is_some() {
            took = Some(signalled.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    if took.is_none() {
        // SIGKILL takes its runs with it (parent-death signal).
        let _ = killpg(pid, Signal::SIGKILL);
        let _ = child.wait();
    }
    drop(unread);
    Ok(took)
}

/// A thread of `pid` is asleep in `write(1, …)`: its stdout pipe is full and it is blocked
/// on it. (The bytes queued in the pipe cannot tell: the kernel counts a pipe's capacity in
/// pages, and a write that does not fit in the last page's free tail starts a new page, so
/// a full pipe may hold several KiB less than its nominal size.)
fn stdout_write_blocked(pid: Pid) -> bool {
    let blocked_in_write = format!("{} 0x1 ", libc::SYS_write);
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|task| {
            // The number and arguments of the system call a task sleeps in, or "running".
            std::fs::read_to_string(task.path().join("syscall"))
                .is_ok_and(|call| call.starts_with(&blocked_in_write))
        })
}
