//! The simulated Arkor cloud behind a project on the simulated SDK (the demo, the tests): a
//! `node node_modules/arkor/bin.mjs sim-cloud` helper that speaks the real cloud API on
//! loopback. arkor tui points the engine's cloud cancel, the Studio's cloud routes and the
//! runs (`ARKOR_CLOUD_API_URL`) at it, so simulated jobs reach every view through the same
//! client code as real ones, and nothing of the simulation touches the real cloud or `~/.arkor`.
//!
//! Its records (identity, projects, jobs, endpoints) live in `<project>/.arkor/sim-cloud/`, and
//! the credentials the cloud clients use in `<project>/.arkor/sim-cloud/home/.arkor/`.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::core::cloud::{CLOUD_API_URL_ENV, CloudEnv};
use crate::core::project::Project;

/// Where a simulated runner keeps its credentials (the real SDK's `HOME`).
const SIM_HOME_ENV: &str = "ARKOR_SIM_HOME";
/// Node starting up on a busy machine; only there to turn a hang into an error.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stop waits for the helper to save its records and exit.
const STOP_GRACE: Duration = Duration::from_secs(5);
const STDERR_TAIL_LINES: usize = 20;

/// A running simulated cloud. Stop it with [`SimCloud::stop`] after the runs are gone (their
/// early stop cancels jobs on it); dropping it kills it.
pub struct SimCloud {
    child: Option<Child>,
    url: String,
    home: PathBuf,
}

impl SimCloud {
    /// Start the project's simulated cloud and wait until it listens. `seed_history`: its
    /// project gets two finished earlier jobs before the first one (the demo's job list).
    ///
    /// Call it from the thread that lives as long as arkor (`arkor tui` runs on the main
    /// thread): the parent-death signal fires when the forking thread ends.
    pub async fn start(project: &Project, node: &Path, seed_history: bool) -> anyhow::Result<Self> {
        let data = project.root.join(".arkor").join("sim-cloud");
        let home = data.join("home");
        create_private_dir(&home).with_context(|| format!("cannot create {}", home.display()))?;
        let bin = crate::assets::installed_sdk_bin(&project.root);
        let mut command = Command::new(node);
        command
            .arg(&bin)
            .arg("sim-cloud")
            .arg("--port")
            .arg("0")
            .arg("--data")
            .arg(&data)
            .current_dir(&project.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if seed_history {
            command.arg("--seed-history");
        }
        in_own_group_dying_with_us(&mut command);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot run {} {}", node.display(), bin.display()))?;
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        if let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) {
            read_stdout(stdout, ready_tx);
            read_stderr(stderr, stderr_tail.clone());
        }
        let mut cloud = SimCloud {
            child: Some(child),
            url: String::new(),
            home,
        };
        let line = match tokio::time::timeout(READY_TIMEOUT, ready_rx).await {
            Ok(Ok(line)) => line,
            Ok(Err(_)) => {
                let status = cloud.reap_after_exit();
                let tail = tail_text(&stderr_tail);
                bail!("the simulated Arkor cloud exited before it was ready ({status}){tail}");
            }
            Err(_) => bail!(
                "the simulated Arkor cloud did not start within {} s",
                READY_TIMEOUT.as_secs()
            ),
        };
        cloud.url = listening_url(&line)
            .with_context(|| format!("unexpected first line from the simulated cloud: {line}"))?;
        Ok(cloud)
    }

    /// The cloud API base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The environment the cloud clients of this session use: the simulated cloud, with the
    /// credentials in the project's private simulated home.
    pub fn cloud_env(&self) -> CloudEnv {
        CloudEnv {
            home: self.home.clone(),
            cloud_api_url_override: Some(self.url.clone()),
        }
    }

    /// Added to every run's environment (overriding a URL the user's shell may set).
    pub fn run_env(&self) -> Vec<(String, String)> {
        vec![
            (CLOUD_API_URL_ENV.to_owned(), self.url.clone()),
            (SIM_HOME_ENV.to_owned(), self.home.display().to_string()),
        ]
    }

    /// One line for the user.
    pub fn describe(&self) -> String {
        format!(
            "Simulated Arkor Cloud on {}: jobs, playground and endpoints run on this machine; nothing reaches the real cloud",
            self.url
        )
    }

    /// SIGTERM (it ends running jobs and saves its records), then SIGKILL after a grace period.
    pub async fn stop(mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        signal_group(child, libc::SIGTERM);
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        while matches!(child.try_wait(), Ok(None)) {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    "the simulated cloud did not stop within {STOP_GRACE:?}; killing it"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill();
    }

    /// SIGKILL the group (if still there) and reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                signal_group(&child, libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }

    /// The helper closed its stdout without a ready line: how it ended.
    fn reap_after_exit(&mut self) -> String {
        let Some(mut child) = self.child.take() else {
            return "gone".to_owned();
        };
        // Its output closes a moment before its exit is reapable.
        for _ in 0..100 {
            if let Ok(Some(status)) = child.try_wait() {
                return status.to_string();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        signal_group(&child, libc::SIGKILL);
        let _ = child.wait();
        "closed its output".to_owned()
    }
}

impl Drop for SimCloud {
    /// Every exit path (an early `?`, a panic unwinding) takes the helper down.
    fn drop(&mut self) {
        self.kill();
    }
}

/// Own process group (a terminal's Ctrl-C reaches only arkor, which stops it deliberately),
/// and SIGTERM when arkor dies without stopping it, so it still saves its records.
fn in_own_group_dying_with_us(command: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe system calls between fork and exec; nothing allocates.
    unsafe {
        command.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGTERM as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // arkor may have died before prctl took effect.
            if libc::getppid() != parent {
                libc::raise(libc::SIGTERM);
            }
            Ok(())
        });
    }
}

fn signal_group(child: &Child, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: plain syscall on the group this helper leads (setpgid in pre_exec).
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

/// `<home>` with mode 0700: simulated credentials are secrets like real ones.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The first stdout line goes to `ready`; later ones (there should be none) to the log.
fn read_stdout(stdout: impl Read + Send + 'static, ready: tokio::sync::oneshot::Sender<String>) {
    let spawned = std::thread::Builder::new()
        .name("arkor-sim-cloud-out".into())
        .spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = ready.send(line);
            }
            for line in lines.map_while(Result::ok) {
                tracing::debug!(target: "sim_cloud", "{line}");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot read the simulated cloud's output: {e}");
    }
}

/// Its stderr (save failures, crashes) goes to the log; the last lines explain a failed start.
fn read_stderr(stderr: impl Read + Send + 'static, tail: Arc<Mutex<VecDeque<String>>>) {
    let spawned = std::thread::Builder::new()
        .name("arkor-sim-cloud-err".into())
        .spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                tracing::warn!(target: "sim_cloud", "{line}");
                let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == STDERR_TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot read the simulated cloud's errors: {e}");
    }
}

fn tail_text(tail: &Mutex<VecDeque<String>>) -> String {
    let tail = tail.lock().unwrap_or_else(|e| e.into_inner());
    if tail.is_empty() {
        String::new()
    } else {
        format!(":\n{}", tail.iter().cloned().collect::<Vec<_>>().join("\n"))
    }
}

/// `{"type":"listening","url":"http://127.0.0.1:<port>",…}` → the URL.
fn listening_url(line: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    if value["type"] != "listening" {
        return None;
    }
    let url = value["url"].as_str()?;
    url.starts_with("http://127.0.0.1:").then(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_loopback_listening_line_gives_a_url() {
        assert_eq!(
            listening_url(r#"{"type":"listening","url":"http://127.0.0.1:4321","pid":7}"#)
                .as_deref(),
            Some("http://127.0.0.1:4321")
        );
        for line in [
            "",
            "listening on http://127.0.0.1:4321",
            r#"{"type":"error","url":"http://127.0.0.1:4321"}"#,
            r#"{"type":"listening","url":"https://api.arkor.ai"}"#,
            r#"{"type":"listening"}"#,
        ] {
            assert_eq!(listening_url(line), None, "{line}");
        }
    }
}
