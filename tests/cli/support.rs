//! Harness: the real `arkor` binary in a temp project with a temp HOME, its stdout read line
//! by line on a thread, every process it (or its runs) started killed on drop.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use crate::shared::WAIT;

pub const ENTRY: &str = "src/arkor/index.ts";

/// A small single-file project: trainer config and callbacks in the entry itself.
pub fn entry_source(learning_rate: &str, label: &str) -> String {
    format!(
        r#"import {{ createArkor, createTrainer }} from "arkor";

export const trainer = createTrainer({{
  name: "cli-e2e",
  model: "unsloth/gemma-4-E4B-it",
  dataset: {{ type: "huggingface", name: "arkorlab/triage-demo" }},
  learningRate: {learning_rate},
  callbacks: {{
    onLog: ({{ step }}) => console.log("[{label}] step=" + step),
  }},
}});

export const arkor = createArkor({{ trainer }});
"#
    )
}

/// A temp project with the simulated SDK installed (and, optionally, an entry).
pub struct TestProject {
    pub dir: tempfile::TempDir,
}

impl TestProject {
    pub fn empty() -> TestProject {
        let dir = tempfile::tempdir().expect("temp project");
        arkor_tui::assets::install_sdk(dir.path()).expect("simulated SDK installed");
        TestProject { dir }
    }

    pub fn with_entry() -> TestProject {
        let p = TestProject::empty();
        p.write(ENTRY, &entry_source("2e-4", "v1"));
        p
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// An in-place write.
    pub fn write(&self, rel: &str, contents: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }

    /// A rename-style save, as editors that write a temp file and rename it over do.
    pub fn write_by_rename(&self, rel: &str, contents: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let tmp = path.with_extension("ts.swp-tmp");
        std::fs::write(&tmp, contents).expect("write temp");
        std::fs::rename(&tmp, &path).expect("rename over");
    }

    pub fn artifact(&self) -> PathBuf {
        self.path(".arkor/build/index.mjs")
    }
}

/// Simulated-cloud timings for runs started by the binary (they inherit its environment).
pub fn sim_env(checkpoint_every: u32) -> Vec<(&'static str, String)> {
    vec![
        ("ARKOR_SIM_STEP_MS", "20".into()),
        ("ARKOR_SIM_START_MS", "50".into()),
        ("ARKOR_SIM_CANCEL_MS", "10".into()),
        ("ARKOR_SIM_CHECKPOINT_EVERY", checkpoint_every.to_string()),
        ("ARKOR_SIM_MAX_STEPS", "1000000".into()),
    ]
}

pub fn arkor_command(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arkor"));
    cmd.env("HOME", home)
        .env_remove("ARKOR_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// `arkor tui --headless --json --port 0 <args>` with `home` as HOME, not yet started.
pub fn headless_command(home: &Path, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut cmd = arkor_command(home);
    cmd.args(["tui", "--headless", "--json", "--port", "0"])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A running `arkor tui --headless --json`.
pub struct Headless {
    pub child: Child,
    pub home: tempfile::TempDir,
    lines: mpsc::Receiver<String>,
    /// Every stdout line read so far.
    pub seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    /// Pids of runs announced on stdout, to clean up after a failed test.
    run_pids: Vec<u32>,
}

impl Headless {
    pub fn start(project: &TestProject, extra: &[&str], env: &[(&str, String)]) -> Headless {
        let root = project.root().to_str().expect("utf-8 path");
        let mut args = vec!["--cwd", root];
        args.extend_from_slice(extra);
        Headless::spawn(&args, env)
    }

    /// `arkor tui --headless --json --port 0 <args>` with a temp HOME.
    pub fn spawn(args: &[&str], env: &[(&str, String)]) -> Headless {
        let home = tempfile::tempdir().expect("temp home");
        let cmd = headless_command(home.path(), args, env);
        Headless::from_command(cmd, home)
    }

    /// Spawn a prepared [`headless_command`] (tests adjust it first) and read its stdout.
    pub fn from_command(mut cmd: Command, home: tempfile::TempDir) -> Headless {
        let mut child = cmd.spawn().expect("arkor starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().expect("stderr");
        let sink = stderr_text.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        Headless {
            child,
            home,
            lines,
            seen: Vec::new(),
            stderr: stderr_text,
            run_pids: Vec::new(),
        }
    }

    pub fn token_file(&self) -> PathBuf {
        self.home.path().join(".arkor").join("studio-token")
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The next stdout line, or `None` at EOF.
    fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["type"] == "run"
                    && let Some(pid) = v["pid"].as_u64()
                    && !self.run_pids.contains(&(pid as u32))
                {
                    self.run_pids.push(pid as u32);
                }
                self.seen.push(line.clone());
                Some(line)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "timed out waiting for output; lines so far:\n{}\nstderr:\n{}",
                self.seen.join("\n"),
                self.stderr()
            ),
        }
    }

    /// Read JSON lines until one matches `pick`.
    pub fn next_json(&mut self, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let Some(line) = self.next_line(deadline) else {
                panic!(
                    "stdout ended before {what}; lines:\n{}\nstderr:\n{}",
                    self.seen.join("\n"),
                    self.stderr()
                );
            };
            let value: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
            if pick(&value) {
                return value;
            }
        }
    }

    pub fn next_of_type(&mut self, ty: &str) -> Value {
        self.next_json(ty, |v| v["type"] == ty)
    }

    /// The run's JSON line once it reached `state`.
    pub fn run_state(&mut self, pid: Option<u64>, state: &str) -> Value {
        self.next_json(&format!("run {pid:?} {state}"), |v| {
            v["type"] == "run"
                && v["state"]["state"] == state
                && pid.is_none_or(|p| v["pid"].as_u64() == Some(p))
        })
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: plain syscall on the child this harness spawned (not yet reaped).
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Wait for the process to exit and read the rest of its stdout.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        while self.next_line(deadline).is_some() {}
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "arkor did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// All JSON lines read so far.
    pub fn seen_json(&self) -> Vec<Value> {
        self.seen
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Headless {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for &pid in &self.run_pids {
            if pid_alive(pid) {
                // SAFETY: plain syscall on a run's process group (its pid) this test started.
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGKILL);
                }
            }
        }
    }
}

pub use crate::shared::{pid_alive, wait_until_blocking};

/// [`wait_until_blocking`] for a plain condition.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    wait_until_blocking(what, || cond().then_some(()));
}

/// Keys of a JSON object, in order.
pub fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect()
}

pub const BUILT_KEYS: [&str; 6] = [
    "type",
    "outFile",
    "hash",
    "contentHash",
    "configHash",
    "trainerName",
];

pub fn is_dev_event(v: &Value) -> bool {
    matches!(v["type"].as_str(), Some("ready" | "rebuild" | "error"))
}

/// The de-chunked body of a (possibly partial) chunked HTTP/1.1 response.
pub fn chunked_body(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let Some((_, mut rest)) = text.split_once("\r\n\r\n") else {
        return String::new();
    };
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].strip_prefix("\r\n").unwrap_or("");
    }
    body
}

/// The port of a `http://127.0.0.1:<port>[/]` URL.
pub fn loopback_port(url: &str) -> u16 {
    url.trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

/// `GET <path>` on a loopback server, reading the response until `done(body)` holds or the
/// server closes; returns the status line and the de-chunked body read so far.
pub fn http_get_until(
    url: &str,
    path: &str,
    headers: &[(&str, &str)],
    done: impl Fn(&str) -> bool,
) -> (String, String) {
    use std::io::{Read, Write};
    let port = loopback_port(url);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("request");
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf).expect("read the response");
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if done(&response_body(&raw)) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let status = text.lines().next().unwrap_or_default().to_owned();
    (status, response_body(&raw))
}

/// The body of a raw HTTP/1.1 response, chunked or not.
fn response_body(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return String::new();
    };
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        chunked_body(raw)
    } else {
        body.to_owned()
    }
}

/// Every file under `dir`, relative to it.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Run `cmd` to the end and collect its output, in a process group of its own that is killed
/// (and the test failed) after `limit`: `wait_with_output` alone would wait forever on a hang.
pub fn output_within(mut cmd: Command, limit: Duration) -> Output {
    use std::os::unix::process::CommandExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    cmd.process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pid = child.id() as i32;
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let watchdog = std::thread::spawn(move || {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if flag.load(Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: plain syscall on the group of the child spawned above, not yet reaped.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        true
    });
    let output = child.wait_with_output().expect("output");
    done.store(true, Ordering::SeqCst);
    let hung = watchdog.join().expect("watchdog");
    assert!(
        !hung,
        "{cmd:?} hung; output so far:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
