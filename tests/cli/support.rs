//! Harness: the real `arkor` binary in a temp project with a temp HOME, its stdout read line
//! by line on a thread, every process it (or its runs) started killed on drop.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
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
        let mut cmd = arkor_command(home.path());
        cmd.args(["tui", "--headless", "--json", "--port", "0"])
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
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
