//! The simulated arkor SDK and the demo project: the SDK's own JavaScript suite under
//! `node --test`, installing the embedded assets, and the demo project driven the way the
//! console drives a run (bundle, start, SIGUSR2 hot-swap, SIGTERM early stop).

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use arkor_tui::assets;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Generous: only there to turn a hang into a failure.
const WAIT_TIMEOUT: Duration = Duration::from_secs(20);
const NONCE: &str = "f00dfeedf00dfeedf00dfeedf00dfeed";

/// Environment the simulated SDK reads; cleared so the caller's shell cannot change a test.
const SIM_ENV: &[&str] = &[
    "ARKOR_JOB_ID_MARKER_NONCE",
    "ARKOR_SIM_STEP_MS",
    "ARKOR_SIM_START_MS",
    "ARKOR_SIM_CANCEL_MS",
    "ARKOR_SIM_CHECKPOINT_EVERY",
    "ARKOR_SIM_MAX_STEPS",
    "ARKOR_SIM_FAIL_AT_STEP",
    "ARKOR_SIM_CANCEL_FAIL",
    "ARKOR_SIM_EARLY_STOP_TIMEOUT_MS",
];

fn sdk_source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join("sdk")
}

/// `node` from PATH, checked once per test with a message that says what is missing.
fn node() -> &'static str {
    match Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => {
            let version = String::from_utf8_lossy(&output.stdout);
            let major: u32 = version
                .trim()
                .trim_start_matches('v')
                .split('.')
                .next()
                .and_then(|major| major.parse().ok())
                .unwrap_or(0);
            assert!(
                major >= 20,
                "these tests need Node >= 20 on PATH, found {}",
                version.trim()
            );
            "node"
        }
        Ok(output) => panic!(
            "`node --version` failed ({}); these tests need Node >= 20 on PATH",
            output.status
        ),
        Err(err) => {
            panic!("`node` was not found on PATH ({err}); these tests need Node >= 20 installed")
        }
    }
}

fn node_command() -> Command {
    let mut command = Command::new(node());
    for name in SIM_ENV {
        command.env_remove(name);
    }
    command
}

#[test]
fn sdk_javascript_suite_passes() {
    let sdk = sdk_source_dir();
    let mut test_files: Vec<PathBuf> = fs::read_dir(sdk.join("test"))
        .expect("assets/sdk/test is readable")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    test_files.sort();
    assert!(
        test_files.len() >= 4,
        "expected the SDK test files, found {test_files:?}"
    );

    let output = node_command()
        .arg("--test")
        .args(&test_files)
        .current_dir(&sdk)
        .output()
        .expect("spawn node --test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "node --test failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let passed = summary_count(&stdout, "pass");
    assert!(
        passed >= 60,
        "only {passed} JavaScript tests passed:\n{stdout}"
    );
    assert_eq!(summary_count(&stdout, "fail"), 0, "{stdout}");
}

/// The `# pass N` / `# fail N` totals of node's TAP output.
fn summary_count(tap: &str, label: &str) -> usize {
    let prefix = format!("# {label} ");
    tap.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{prefix}` line in node's output:\n{tap}"))
}

#[test]
fn install_sdk_writes_a_runnable_package() {
    let project = tempfile::tempdir().expect("temp dir");
    assets::install_sdk(project.path()).expect("install");

    let package = project.path().join("node_modules").join("arkor");
    for file in assets::SDK_FILES {
        let written = fs::read(package.join(file.path)).expect("installed file");
        assert_eq!(written, file.contents, "{}", file.path);
    }
    assert!(
        !package.join("test").exists(),
        "the SDK's tests are not installed"
    );
    let bin = assets::installed_sdk_bin(project.path());
    assert_eq!(bin, package.join("bin.mjs"));
    let mode = fs::metadata(&bin).expect("bin").permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o111,
        0o111,
        "bin.mjs is executable"
    );

    // Through the package-manager style link, like `npx arkor --version`.
    let output = node_command()
        .arg(
            project
                .path()
                .join("node_modules")
                .join(".bin")
                .join("arkor"),
        )
        .arg("--version")
        .output()
        .expect("run installed bin");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("{}\n", assets::sdk_version())
    );
    assert!(
        fs::read_dir(project.path().join("node_modules"))
            .expect("node_modules")
            .all(|entry| !entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .contains("staging")),
        "no staging folder is left behind"
    );
}

#[test]
fn install_sdk_replaces_a_simulated_sdk_but_never_a_real_one() {
    // An older simulated SDK (with a stale file) is replaced wholesale.
    let project = tempfile::tempdir().expect("temp dir");
    let package = project.path().join("node_modules").join("arkor");
    fs::create_dir_all(&package).expect("mkdir");
    fs::write(
        package.join("package.json"),
        r#"{"name":"arkor","version":"0.0.0-old-sim"}"#,
    )
    .expect("write");
    fs::write(package.join("stale.mjs"), "old").expect("write");
    assets::install_sdk(project.path()).expect("replace an older simulated SDK");
    assert!(!package.join("stale.mjs").exists());
    assert!(package.join("bin.mjs").exists());
    // Installing twice is fine.
    assets::install_sdk(project.path()).expect("reinstall");

    // A real SDK is left alone.
    let real = tempfile::tempdir().expect("temp dir");
    let real_package = real.path().join("node_modules").join("arkor");
    fs::create_dir_all(&real_package).expect("mkdir");
    let manifest = r#"{"name":"arkor","version":"0.0.3-alpha.1"}"#;
    fs::write(real_package.join("package.json"), manifest).expect("write");
    let err = assets::install_sdk(real.path()).expect_err("must not overwrite a real SDK");
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(
        fs::read_to_string(real_package.join("package.json")).expect("read"),
        manifest
    );
    assert!(!real_package.join("bin.mjs").exists());

    // A link to a simulated SDK is replaced by a copy; the link's target is not touched.
    let linked = tempfile::tempdir().expect("temp dir");
    let elsewhere = tempfile::tempdir().expect("temp dir");
    assets::install_sdk(elsewhere.path()).expect("install elsewhere");
    let target = elsewhere.path().join("node_modules").join("arkor");
    fs::create_dir_all(linked.path().join("node_modules")).expect("mkdir");
    std::os::unix::fs::symlink(&target, linked.path().join("node_modules").join("arkor"))
        .expect("symlink");
    assets::install_sdk(linked.path()).expect("replace the link");
    let installed = linked.path().join("node_modules").join("arkor");
    assert!(
        !fs::symlink_metadata(&installed)
            .expect("installed")
            .is_symlink()
    );
    assert!(target.join("bin.mjs").exists(), "the link target survives");
}

#[test]
fn write_demo_project_writes_the_demo_and_refuses_to_overwrite() {
    let dest = tempfile::tempdir().expect("temp dir");
    let root = dest.path().join("demo");
    assets::write_demo_project(&root).expect("write demo");
    for file in assets::DEMO_FILES {
        assert_eq!(
            fs::read(root.join(file.path)).expect("demo file"),
            file.contents,
            "{}",
            file.path
        );
    }
    assert!(assets::installed_sdk_bin(&root).exists());

    let callbacks = root.join("src/arkor/callbacks.ts");
    fs::write(&callbacks, "// the user's edit").expect("edit");
    let err =
        assets::write_demo_project(&root).expect_err("a second write must not clobber the demo");
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(
        fs::read_to_string(&callbacks).expect("read"),
        "// the user's edit"
    );
}

/// Bundle `src/arkor/index.ts` the way the console does (Rolldown, `arkor` external, one ES
/// module) and move it over `.arkor/build/index.mjs` with a staging file + rename.
fn build_project(root: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let bytes = runtime.block_on(async {
        let options = rolldown::BundlerOptions {
            input: Some(vec![rolldown::InputItem {
                name: Some("index".into()),
                import: "./src/arkor/index.ts".into(),
            }]),
            cwd: Some(root.to_path_buf()),
            platform: Some(rolldown::Platform::Node),
            format: Some(rolldown::OutputFormat::Esm),
            file: Some(".arkor/build/index.mjs".into()),
            code_splitting: Some(rolldown::CodeSplittingMode::Bool(false)),
            external: Some(rolldown::IsExternal::from(vec!["arkor".to_owned()])),
            ..Default::default()
        };
        let mut bundler =
            rolldown::Bundler::new(options).unwrap_or_else(|err| panic!("bundler: {err:?}"));
        let output = bundler
            .generate()
            .await
            .unwrap_or_else(|err| panic!("bundle: {err:?}"));
        let asset = output
            .assets
            .iter()
            .find(|asset| asset.filename() == "index.mjs")
            .expect("index.mjs in the bundle output");
        asset.content_as_bytes().to_vec()
    });
    let out_dir = root.join(".arkor").join("build");
    fs::create_dir_all(&out_dir).expect("out dir");
    let staging = out_dir.join("index.mjs.hmr-staging");
    fs::write(&staging, bytes).expect("write staging");
    fs::rename(&staging, out_dir.join("index.mjs")).expect("rename artifact");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// A runner child with its output collected line by line. Killed on drop if still running.
struct Runner {
    child: Child,
    lines: Receiver<(Stream, String)>,
    seen: Vec<(Stream, String)>,
    status: Option<ExitStatus>,
}

impl Runner {
    fn start(project: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = node_command()
            .arg(assets::installed_sdk_bin(project))
            .arg("start")
            .current_dir(project)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the runner");
        let (sender, lines) = mpsc::channel();
        for (stream, pipe) in [
            (
                Stream::Stdout,
                Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            ),
            (
                Stream::Stderr,
                Box::new(child.stderr.take().expect("stderr")),
            ),
        ] {
            let sender = sender.clone();
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if sender.send((stream, line)).is_err() {
                        break;
                    }
                }
            });
        }
        Self {
            child,
            lines,
            seen: Vec::new(),
            status: None,
        }
    }

    /// Waits for a line on `stream` satisfying `predicate`; returns it.
    fn wait_for(&mut self, stream: Stream, what: &str, predicate: impl Fn(&str) -> bool) -> String {
        if let Some((_, line)) = self
            .seen
            .iter()
            .find(|(s, line)| *s == stream && predicate(line))
        {
            return line.clone();
        }
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((s, line)) => {
                    self.seen.push((s, line.clone()));
                    if s == stream && predicate(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("timed out waiting for {what}\n{}", self.transcript())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("runner ended before {what}\n{}", self.transcript())
                }
            }
        }
    }

    fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits i32"));
        kill(pid, signal).expect("signal the runner");
    }

    /// Waits for the exit, draining the remaining output first.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(entry) => self.seen.push(entry),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("runner did not exit\n{}", self.transcript())
                }
            }
        }
        let status = self.child.wait().expect("wait for the runner");
        self.status = Some(status);
        status
    }

    fn stdout_lines(&self) -> Vec<&str> {
        self.seen
            .iter()
            .filter(|(stream, _)| *stream == Stream::Stdout)
            .map(|(_, line)| line.as_str())
            .collect()
    }

    fn transcript(&self) -> String {
        self.seen
            .iter()
            .map(|(stream, line)| format!("{stream:?}: {line}\n"))
            .collect()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if self.status.is_none() {
            // Best effort on a failing test: the child must not outlive it.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).expect("read source");
    assert!(
        text.contains(from),
        "{} does not contain {from:?}",
        path.display()
    );
    fs::write(path, text.replacen(from, to, 1)).expect("write source");
}

#[test]
fn demo_project_hot_swaps_callbacks_and_early_stops_on_config_change() {
    let dest = tempfile::tempdir().expect("temp dir");
    let root = dest.path();
    assets::write_demo_project(root).expect("write demo");
    build_project(root);

    let mut runner = Runner::start(
        root,
        &[
            ("ARKOR_JOB_ID_MARKER_NONCE", NONCE),
            ("ARKOR_SIM_STEP_MS", "20"),
            ("ARKOR_SIM_START_MS", "5"),
        ],
    );
    let marker = format!("[arkor:{NONCE}] Started job ");
    let started = runner.wait_for(Stream::Stdout, "the job id marker", |line| {
        line.starts_with(&marker)
    });
    let job_id = started.trim_start_matches(&marker);
    assert!(
        job_id.starts_with("sim-") && !job_id.contains(' '),
        "{started}"
    );
    runner.wait_for(Stream::Stdout, "a v1 log line", |line| {
        line.starts_with("[v1] step=") && line.contains(" loss=") && line.contains(" lr=")
    });

    // Callbacks edit: same config, so SIGUSR2 swaps the callbacks into the running job.
    edit(
        &root.join("src/arkor/callbacks.ts"),
        r#"const LABEL = "v1";"#,
        r#"const LABEL = "v2";"#,
    );
    build_project(root);
    runner.signal(Signal::SIGUSR2);
    runner.wait_for(Stream::Stdout, "the hot-reload line", |line| {
        line == "Callbacks hot-reloaded; training run continues."
    });
    runner.wait_for(Stream::Stdout, "a v2 log line", |line| {
        line.starts_with("[v2] step=")
    });

    // Config edit: a SIGUSR2 that races it is refused by the child-side configHash gate.
    edit(
        &root.join("src/arkor/trainer.ts"),
        "learningRate: 2e-4,",
        "learningRate: 1e-4,",
    );
    build_project(root);
    runner.signal(Signal::SIGUSR2);
    runner.wait_for(Stream::Stderr, "the config skip line", |line| {
        line == "Callback reload skipped: rebuilt bundle's config differs from the running job's; waiting for the restart signal."
    });

    // What the console sends for a config change: SIGTERM, early stop at the next checkpoint, exit 0.
    runner.signal(Signal::SIGTERM);
    let status = runner.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", runner.transcript());
    let lines = runner.stdout_lines();
    let received = lines
        .iter()
        .position(|line| *line == "Received SIGTERM; early-stopping at next checkpoint…")
        .unwrap_or_else(|| panic!("no early-stop line\n{}", runner.transcript()));
    assert!(
        lines[received..]
            .iter()
            .any(|line| line.starts_with("[v2] checkpoint saved at step ")),
        "the job stopped at a checkpoint\n{}",
        runner.transcript()
    );
    assert_eq!(
        lines
            .iter()
            .filter(|line| line.contains("Started job"))
            .count(),
        1
    );
    let swapped = lines
        .iter()
        .position(|line| *line == "Callbacks hot-reloaded; training run continues.")
        .expect("hot-reload line");
    assert!(
        !lines[swapped..].iter().any(|line| line.starts_with("[v1]")),
        "old callbacks ran after the swap\n{}",
        runner.transcript()
    );
}
