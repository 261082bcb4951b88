//! The simulated Arkor cloud behind a project on the simulated SDK (the demo, the tests): a
//! `node node_modules/arkor/bin.mjs sim-cloud` helper that speaks the real cloud API on
//! loopback. arkor tui points the engine's cloud cancel, the Studio's cloud routes and the
//! runs (`ARKOR_CLOUD_API_URL`) at it, so simulated jobs reach every view through the same
//! client code as real ones, and nothing of the simulation touches the real cloud or `~/.arkor`.
//!
//! Its records (identity, projects, jobs, endpoints) live in `<project>/.arkor/sim-cloud/`, and
//! the credentials the cloud clients use in `<project>/.arkor/sim-cloud/home/.arkor/`. arkor
//! writes those credentials (an anonymous identity, in the real file format) before the cloud
//! starts, and the cloud adopts them: no client waits for a sign-in, and none can race another
//! into minting a second identity.
//!
//! Nothing waits for the helper either: arkor binds its port first and hands it the listening
//! socket, so the URL is known at once and early requests wait in the socket's backlog; the
//! helper itself is started once the first build is in (or after [`LAUNCH_AT_THE_LATEST`]), so
//! its Node start-up never competes with that build for the CPU.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;

use crate::core::cloud::credentials::{
    AnonymousCredentials, Credentials, read_credentials, write_credentials,
};
use crate::core::cloud::{CLOUD_API_URL_ENV, CloudEnv};
use crate::core::engine::EngineHandle;
use crate::core::events::NoticeLevel;
use crate::core::project::Project;

/// Where a simulated runner keeps its credentials (the real SDK's `HOME`).
const SIM_HOME_ENV: &str = "ARKOR_SIM_HOME";
/// The helper starts after the first build, or this long after arkor did, whichever is first.
pub const LAUNCH_AT_THE_LATEST: Duration = Duration::from_secs(3);
/// How long a stop waits for the helper to save its records and exit (it takes a few ms; the
/// bound keeps a wedged helper from stretching arkor's exit past its stop timeout + 2 s).
const STOP_GRACE: Duration = Duration::from_secs(1);
const STDERR_TAIL_LINES: usize = 20;

/// The session's simulated cloud: its address and identity exist from [`SimCloud::prepare`]
/// on; the helper process from [`SimCloud::launch_after_first_build`] on. Stop it with
/// [`SimCloud::stop`] after the runs are gone (their early stop cancels jobs on it).
pub struct SimCloud {
    url: String,
    home: PathBuf,
    /// Until launched: the bound socket and the command that will accept on it.
    pending: Option<(TcpListener, Command)>,
    /// Once launched: the helper, shared with the task that launched it.
    helper: Arc<Mutex<Option<Helper>>>,
    launcher: Option<tokio::task::JoinHandle<()>>,
}

impl SimCloud {
    /// Reserve the project's simulated cloud: bind a loopback port and make sure an identity
    /// is on file. `seed_history`: its project gets two finished earlier jobs before the first
    /// one (the demo's job list).
    pub fn prepare(project: &Project, node: &Path, seed_history: bool) -> anyhow::Result<Self> {
        let data = project.root.join(".arkor").join("sim-cloud");
        let home = data.join("home");
        create_private_dir(&home).with_context(|| format!("cannot create {}", home.display()))?;
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .and_then(above_stdio)
            .context("cannot bind a loopback port")?;
        let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        ensure_identity(&home, &url)?;
        let mut command = Command::new(node);
        command
            .arg(crate::assets::installed_sdk_bin(&project.root))
            .arg("sim-cloud")
            .arg("--listen-fd")
            .arg(listener.as_raw_fd().to_string())
            .arg("--data")
            .arg(&data)
            .arg("--home")
            .arg(&home)
            .arg("--project")
            .arg(&project.root)
            .current_dir(&project.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if seed_history {
            command.arg("--seed-history");
        }
        prepare_child(&mut command, listener.as_raw_fd());
        Ok(SimCloud {
            url,
            home,
            pending: Some((listener, command)),
            helper: Arc::new(Mutex::new(None)),
            launcher: None,
        })
    }

    /// The cloud API base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
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

    /// Start the helper once the engine's first build is in (or after
    /// [`LAUNCH_AT_THE_LATEST`]). A helper that fails to start, or dies before [`SimCloud::stop`],
    /// is reported once as an error notice, with what it said.
    pub fn launch_after_first_build(&mut self, engine: &EngineHandle) {
        let Some((listener, command)) = self.pending.take() else {
            return;
        };
        let (built, mut dev_events) = engine.subscribe_dev();
        let helper_slot = self.helper.clone();
        let engine = engine.clone();
        self.launcher = Some(tokio::spawn(async move {
            if built.is_none() {
                let _ = tokio::time::timeout(LAUNCH_AT_THE_LATEST, dev_events.recv()).await;
            }
            // Spawned from a runtime worker thread, which lives as long as arkor: the
            // parent-death signal is tied to the thread that forks.
            let helper = match Helper::spawn(command) {
                Ok(helper) => helper,
                Err(e) => {
                    engine.notice(
                        NoticeLevel::Error,
                        format!("cannot start the simulated Arkor cloud: {e:#}"),
                    );
                    return;
                }
            };
            // The helper holds the socket now.
            drop(listener);
            let mut helper = helper;
            let exit = helper.unexpected_exit();
            *helper_slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(helper);
            engine.notice(NoticeLevel::Error, exit.await);
        }));
    }

    /// The helper's pid, once it runs.
    pub fn pid(&self) -> Option<u32> {
        self.helper
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|h| h.child.id())
    }

    /// SIGTERM (it ends running jobs and saves its records), then SIGKILL after a grace
    /// period. A helper never launched is simply not started.
    pub async fn stop(mut self) {
        if let Some(launcher) = self.launcher.take() {
            launcher.abort();
        }
        let helper = self.helper.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(helper) = helper {
            helper.stop().await;
        }
    }
}

impl Drop for SimCloud {
    /// Every exit path (an early `?`, a panic unwinding) takes the helper down.
    fn drop(&mut self) {
        if let Some(launcher) = self.launcher.take() {
            launcher.abort();
        }
        if let Some(mut helper) = self.helper.lock().unwrap_or_else(|e| e.into_inner()).take() {
            helper.kill();
        }
    }
}

/// The running `sim-cloud` process.
struct Helper {
    child: Child,
    /// Fires when the helper's output closes: it exited.
    gone: Option<tokio::sync::oneshot::Receiver<()>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

impl Helper {
    fn spawn(mut command: Command) -> anyhow::Result<Helper> {
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot run {:?}", command.get_program()))?;
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let (gone_tx, gone) = tokio::sync::oneshot::channel();
        if let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) {
            read_stdout(stdout, gone_tx);
            read_stderr(stderr, stderr_tail.clone());
        }
        Ok(Helper {
            child,
            gone: Some(gone),
            stderr_tail,
        })
    }

    /// Resolves, with what it said on stderr, when the helper exits. Once per helper.
    fn unexpected_exit(&mut self) -> impl Future<Output = String> + Send + 'static {
        let gone = self.gone.take();
        let tail = self.stderr_tail.clone();
        async move {
            match gone {
                Some(gone) => {
                    let _ = gone.await;
                }
                None => std::future::pending::<()>().await,
            }
            // stderr may still be draining its last lines.
            tokio::time::sleep(Duration::from_millis(100)).await;
            format!(
                "the simulated Arkor cloud stopped unexpectedly{}",
                tail_text(&tail)
            )
        }
    }

    async fn stop(mut self) {
        signal_group(&self.child, libc::SIGTERM);
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        while matches!(self.child.try_wait(), Ok(None)) {
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
        if matches!(self.child.try_wait(), Ok(None)) {
            signal_group(&self.child, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// Credentials under the simulated home, written (a fresh anonymous identity) when there are
/// none or they are unreadable as credentials.
fn ensure_identity(home: &Path, url: &str) -> anyhow::Result<()> {
    let path = CloudEnv {
        home: home.to_path_buf(),
        cloud_api_url_override: None,
    }
    .credentials_path();
    if let Some(Credentials::Anonymous(_)) = read_credentials(&path)? {
        return Ok(());
    }
    let hex = |bytes: usize| -> String {
        (0..bytes)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect()
    };
    let credentials = Credentials::Anonymous(AnonymousCredentials {
        token: format!("sim_anon_{}", hex(24)),
        anonymous_id: format!("anon_{}", hex(8)),
        arkor_cloud_api_url: Some(url.to_owned()),
        org_slug: format!("anon-{}", hex(6)),
    });
    write_credentials(&path, &credentials)?;
    Ok(())
}

/// Own process group (a terminal's Ctrl-C reaches only arkor, which stops it deliberately),
/// SIGTERM when arkor dies without stopping it (so it still saves its records), and the
/// listening socket `listen_fd` kept open across exec.
fn prepare_child(command: &mut Command, listen_fd: libc::c_int) {
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
            // std opens every descriptor close-on-exec; this one must survive the exec.
            if libc::fcntl(listen_fd, libc::F_SETFD, 0) != 0 {
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

/// The same socket on a descriptor above 2: with a closed stdin or stdout, the bind may have
/// got 0, 1 or 2, which the child's own stdio would replace.
fn above_stdio(listener: TcpListener) -> std::io::Result<TcpListener> {
    use std::os::fd::{FromRawFd, OwnedFd};
    if listener.as_raw_fd() > 2 {
        return Ok(listener);
    }
    // SAFETY: duplicating a descriptor we own; the copy is owned by the OwnedFd below.
    let fd = unsafe { libc::fcntl(listener.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    Ok(TcpListener::from(unsafe { OwnedFd::from_raw_fd(fd) }))
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

/// Its stdout (the listening line) goes to the log; `gone` fires when it closes.
fn read_stdout(stdout: impl Read + Send + 'static, gone: tokio::sync::oneshot::Sender<()>) {
    let spawned = std::thread::Builder::new()
        .name("arkor-sim-cloud-out".into())
        .spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                tracing::debug!(target: "sim_cloud", "{line}");
            }
            let _ = gone.send(());
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
