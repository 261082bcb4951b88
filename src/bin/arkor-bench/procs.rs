//! The dev servers under test as real processes: `arkor tui --headless` and the reference
//! `arkor dev`, each with its own HOME, port and studio token.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::fixture;

/// Which dev server a figure was measured on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Arkor,
    Reference,
}

/// Everything the harness needs to start a dev server process.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    pub peer: Peer,
    /// `arkor` binary, or the reference's `dist/bin.mjs`.
    pub program: PathBuf,
    pub project: PathBuf,
    pub home: PathBuf,
    /// Extra environment (bench runner mode, emitter path).
    pub env: Vec<(String, String)>,
}

pub struct ServerProc {
    child: Child,
    pub port: u16,
    pub token: String,
    pub pid: u32,
}

impl ServerProc {
    pub fn start(spec: &ServerSpec) -> anyhow::Result<Self> {
        let port = fixture::free_port()?;
        let cloud_port = fixture::free_port()?;
        let cloud_url = format!("http://127.0.0.1:{cloud_port}");
        fixture::write_home(&spec.home, &cloud_url)?;
        let mut command = match spec.peer {
            Peer::Arkor => {
                let mut c = Command::new(&spec.program);
                c.arg("tui")
                    .arg("--headless")
                    .arg("--cwd")
                    .arg(&spec.project)
                    .arg("--port")
                    .arg(port.to_string());
                c
            }
            Peer::Reference => {
                let mut c = Command::new("node");
                c.arg(&spec.program)
                    .arg("dev")
                    .arg("--port")
                    .arg(port.to_string())
                    .current_dir(&spec.project);
                c
            }
        };
        command
            .env("HOME", &spec.home)
            .env("ARKOR_CLOUD_API_URL", &cloud_url)
            .env("ARKOR_TELEMETRY_DISABLED", "1")
            .env("NO_COLOR", "1")
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", spec.program.display()))?;
        let pid = child.id();
        if let Some(out) = child.stdout.take() {
            // Drained so the server never blocks on a full stdout pipe; the lines are not needed.
            std::thread::spawn(
                move || {
                    for _line in BufReader::new(out).lines().map_while(Result::ok) {}
                },
            );
        }
        let mut server = Self {
            child,
            port,
            token: String::new(),
            pid,
        };
        server.token = server
            .wait_ready(&spec.home.join(".arkor/studio-token"))
            .with_context(|| format!("{:?} dev server did not come up", spec.peer))?;
        Ok(server)
    }

    /// Wait until the port accepts connections and the token file exists.
    fn wait_ready(&mut self, token_file: &Path) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!("exited during start-up with {status}");
            }
            let listening = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok();
            if listening && let Ok(token) = std::fs::read_to_string(token_file) {
                let token = token.trim().to_owned();
                if !token.is_empty() {
                    return Ok(token);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        bail!("not ready within 60 s")
    }

    /// SIGTERM the whole group, wait up to 10 s, then SIGKILL.
    pub fn stop(mut self) {
        self.stop_in_place();
    }

    fn stop_in_place(&mut self) {
        let group = Pid::from_raw(self.pid as i32);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // Children live in their own groups: arkor stops them itself on SIGTERM.
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop_in_place();
        }
    }
}

/// CPU time (ns) spent by every thread of `pid` so far, from /proc/<pid>/task/*/schedstat.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

/// (VmRSS, VmHWM) of `pid` in MiB.
pub fn rss_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Start a server, run `f` with its (port, token, pid), stop the server.
pub async fn with_server<T, F, Fut>(spec: &ServerSpec, f: F) -> anyhow::Result<T>
where
    F: FnOnce((u16, String, u32)) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let server = ServerProc::start(spec)?;
    let result = f((server.port, server.token.clone(), server.pid)).await;
    let _ = tokio::task::spawn_blocking(move || server.stop()).await;
    result
}
