//! The npm packages (npm/): the launcher's own JavaScript suite under `node --test`, and the
//! tarballs `npm/pack.sh` writes, installed offline into a project and run through `npx`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::support::*;

/// Packing copies and compresses a debug binary of some 40 MB: only a hang should fail this.
const PACK_WAIT: Duration = Duration::from_secs(300);

fn npm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("npm")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// npm comes with Node, but a machine may have Node alone: then the packaging tests say so.
fn npm_available() -> bool {
    let found = Command::new("npm")
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        eprintln!(
            "SKIPPED: npm is not on PATH, so the npm packages cannot be packed and installed \
             (install npm, which comes with Node.js, to run this test)"
        );
    }
    found
}

#[test]
fn launcher_javascript_suite_passes() {
    let tests = npm_dir().join("arkor-tui").join("test");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&tests)
        .expect("npm/arkor-tui/test is readable")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".test.js"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "the launcher's test files: {files:?}");
    let mut cmd = Command::new("node");
    cmd.arg("--test").args(&files).current_dir(npm_dir());
    let out = output_within(cmd, PACK_WAIT);
    assert_success("node --test npm/arkor-tui/test", &out);
    let stdout = text(&out.stdout);
    let count = |label: &str| -> usize {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("# {label} ")))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `# {label}` line in node's output:\n{stdout}"))
    };
    assert!(count("pass") >= 19, "{stdout}");
    assert_eq!(count("fail"), 0, "{stdout}");
}

/// npm with a throw-away cache and config, offline, quiet.
fn npm_env(cmd: &mut Command, scratch: &Path) {
    cmd.env("HOME", scratch.join("home"))
        .env("npm_config_cache", scratch.join("npm-cache"))
        .env("npm_config_offline", "true")
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_update_notifier", "false")
        .env_remove("ARKOR_LOG")
        .stdin(std::process::Stdio::null());
}

/// The tarballs of `npm/pack.sh`, installed into a project with the simulated SDK and an entry.
struct Installed {
    scratch: tempfile::TempDir,
    project: TestProject,
    version: &'static str,
}

impl Installed {
    fn pack_and_install() -> Installed {
        let scratch = tempfile::tempdir().expect("scratch dir");
        let dist = scratch.path().join("dist");
        std::fs::create_dir_all(scratch.path().join("home")).expect("home");

        // The debug binary keeps this test fast; `npm/pack.sh dist` builds the `dist` profile.
        let mut pack = Command::new("bash");
        pack.arg(npm_dir().join("pack.sh"))
            .arg("--binary")
            .arg(env!("CARGO_BIN_EXE_arkor"))
            .arg(&dist);
        npm_env(&mut pack, scratch.path());
        let packed = output_within(pack, PACK_WAIT);
        assert_success("npm/pack.sh", &packed);
        let version = env!("CARGO_PKG_VERSION");
        let launcher = dist.join(format!("arkor-tui-{version}.tgz"));
        let platform_tarballs: Vec<PathBuf> = std::fs::read_dir(&dist)
            .expect("dist")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path != &launcher)
            .collect();
        assert!(launcher.is_file(), "{}", text(&packed.stdout));
        assert_eq!(platform_tarballs.len(), 1, "{platform_tarballs:?}");
        let platform_tarball = &platform_tarballs[0];
        let platform_package = platform_tarball
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(&format!("-{version}.tgz")))
            .expect("<package>-<version>.tgz")
            .to_owned();
        assert!(
            platform_package.starts_with("arkor-tui-"),
            "{platform_package}"
        );

        let project = TestProject::empty();
        project.write("package.json", r#"{ "name": "npm-e2e", "private": true }"#);
        let mut install = Command::new("npm");
        install
            .args(["install", "--save-dev"])
            .arg(&launcher)
            .arg(platform_tarball)
            .current_dir(project.root());
        npm_env(&mut install, scratch.path());
        assert_success("npm install", &output_within(install, PACK_WAIT));
        // npm removes packages its manifest does not list: the simulated SDK goes in
        // afterwards, as a real project would list `arkor` among its dependencies.
        arkor_tui::assets::install_sdk(project.root()).expect("simulated SDK");
        project.write(ENTRY, &entry_source("2e-4", "npm"));
        let binary = project
            .path("node_modules")
            .join(&platform_package)
            .join("bin/arkor-tui");
        assert!(binary.is_file(), "{} is installed", binary.display());
        Installed {
            scratch,
            project,
            version,
        }
    }

    fn npx(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("npx");
        cmd.arg("--no-install")
            .arg("arkor-tui")
            .args(args)
            .current_dir(self.project.root());
        npm_env(&mut cmd, self.scratch.path());
        output_within(cmd, PACK_WAIT)
    }

    /// `node_modules/.bin/arkor-tui --headless --json --run --port 0`, without a terminal,
    /// checkpoints every half second.
    fn launcher_headless(&self) -> Headless {
        let home = tempfile::tempdir().expect("temp home");
        let mut cmd = Command::new("node");
        cmd.arg(self.project.path("node_modules/.bin/arkor-tui"))
            .args(["--headless", "--json", "--run", "--port", "0"])
            .current_dir(self.project.root())
            .env("HOME", home.path())
            .env_remove("ARKOR_LOG")
            .envs(sim_env(25))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Headless::from_command(cmd, home)
    }
}

#[test]
fn packed_tarballs_install_offline_and_run_through_npx() {
    if !npm_available() {
        return;
    }
    let installed = Installed::pack_and_install();
    version_and_build_through_npx(&installed);
    signals_reach_the_binary_once_without_a_terminal(&installed);
    in_a_terminal_ctrl_c_counts_once_and_ctrl_z_stops_the_job(&installed);
}

fn version_and_build_through_npx(installed: &Installed) {
    let out = installed.npx(&["--version"]);
    assert_success("npx arkor-tui --version", &out);
    assert_eq!(
        text(&out.stdout),
        format!("arkor-tui {}\n", installed.version)
    );

    let out = installed.npx(&["build"]);
    assert_success("npx arkor-tui build", &out);
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("Node.js v"), "{stdout}");
    assert!(
        stdout.contains("Built src/arkor/index.ts → .arkor/build/index.mjs"),
        "{stdout}"
    );
    assert!(stdout.contains("Trainer: cli-e2e"), "{stdout}");
    assert!(installed.project.artifact().is_file());

    // The binary's exit code comes back through the launcher and npx.
    let out = installed.npx(&["build", "--cwd", "no-such-project"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no-such-project"),
        "{}",
        text(&out.stderr)
    );
}

/// Start `--run` under the launcher, wait for the run, send the launcher `signal`, and check
/// that the run early-stopped (exit 0): one shutdown signal reached arkor, not two.
fn signal_the_launcher_of_a_run(installed: &Installed, signal: i32) -> (Headless, u32) {
    let mut h = installed.launcher_headless();
    h.next_of_type("server");
    let running = h.run_state(None, "running");
    let pid = running["pid"].as_u64().expect("run pid") as u32;
    h.signal(signal);
    let exited = h.run_state(Some(pid.into()), "exited");
    assert_eq!(
        exited["state"]["status"],
        serde_json::json!({"code": 0}),
        "signal {signal}: an early stop, not a forced one\n{}\nstderr: {}",
        h.seen.join("\n"),
        h.stderr()
    );
    (h, pid)
}

fn signals_reach_the_binary_once_without_a_terminal(installed: &Installed) {
    // SIGTERM to the launcher: passed on once, and arkor's 143 comes back.
    let (mut h, _) = signal_the_launcher_of_a_run(installed, libc::SIGTERM);
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(143), "stderr: {}", h.stderr());

    // The launcher killed outright: the binary is told (one SIGTERM) and still early-stops.
    let (mut h, pid) = signal_the_launcher_of_a_run(installed, libc::SIGKILL);
    h.wait_exit();
    wait_until("the run to be gone", || !pid_alive(pid));
}

/// A bash in a tmux server of its own (socket in `dir`), started in `cwd`.
struct Terminal {
    socket: PathBuf,
}

impl Terminal {
    fn start(dir: &Path, cwd: &Path, env: &[(&str, String)]) -> Terminal {
        let terminal = Terminal {
            socket: dir.join("tmux.sock"),
        };
        let mut cmd = terminal.tmux();
        cmd.args(["new-session", "-d", "-x", "160", "-y", "50", "-c"])
            .arg(cwd)
            .args(["bash", "--norc", "--noprofile"])
            .env("PS1", "pane$ ")
            .envs(env.iter().map(|(k, v)| (k, v)));
        let status = cmd
            .status()
            .expect("tmux is installed (needed by the end-to-end tests)");
        assert!(status.success(), "tmux new-session failed");
        terminal
    }

    fn tmux(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(&self.socket).stdin(Stdio::null());
        cmd
    }

    fn keys(&self, keys: &[&str]) {
        let status = self
            .tmux()
            .args(["send-keys", "-t", "0"])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", "0"])
            .output()
            .expect("tmux capture-pane");
        text(&out.stdout)
    }

    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // The pane's shell and whatever still runs in it get SIGHUP.
        let _ = self.tmux().arg("kill-server").status();
    }
}

fn in_a_terminal_ctrl_c_counts_once_and_ctrl_z_stops_the_job(installed: &Installed) {
    let home = installed.scratch.path().join("home");
    let mut env = sim_env(25);
    env.extend([
        ("HOME", home.display().to_string()),
        (
            "npm_config_cache",
            installed
                .scratch
                .path()
                .join("npm-cache")
                .display()
                .to_string(),
        ),
        ("npm_config_offline", "true".into()),
        ("npm_config_update_notifier", "false".into()),
    ]);
    let terminal = Terminal::start(installed.scratch.path(), installed.project.root(), &env);
    let events = installed.scratch.path().join("events.jsonl");
    let events_text = || std::fs::read_to_string(&events).unwrap_or_default();

    // Ctrl-C reaches the whole foreground job (npm, the launcher, the binary) and npm relays
    // it to the launcher again: the binary must see one SIGINT, an early stop, not a force.
    terminal.keys(&[
        &format!(
            "npx --no-install arkor-tui --headless --json --run --port 0 > {}",
            events.display()
        ),
        "Enter",
    ]);
    wait_until("the run to be running", || {
        events_text().contains(r#""state":"running""#)
    });
    terminal.keys(&["C-c"]);
    wait_until("the run to exit", || {
        events_text().contains(r#""state":"exited""#)
    });
    terminal.wait_for("the prompt", |screen| screen.trim_end().ends_with("pane$"));
    let exited: serde_json::Value = events_text()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .find(|v: &serde_json::Value| v["state"]["state"] == "exited")
        .expect("an exited line");
    assert_eq!(
        exited["state"]["status"],
        serde_json::json!({"code": 0}),
        "one Ctrl-C early-stops the run; a second one would have killed it:\n{}",
        events_text()
    );

    // Ctrl-Z in the dashboard stops the whole job, so the shell gets its prompt back; `fg`
    // brings the dashboard back and `q` quits it.
    terminal.keys(&[
        "clear",
        "Enter",
        "npx --no-install arkor-tui --port 0",
        "Enter",
    ]);
    terminal.wait_for("the dashboard", |screen| screen.contains("build ok"));
    terminal.keys(&["C-z"]);
    terminal.wait_for("the job to stop", |screen| {
        screen.contains("Stopped") && screen.trim_end().ends_with("pane$")
    });
    terminal.keys(&["clear", "Enter", "fg", "Enter"]);
    terminal.wait_for("the dashboard again", |screen| screen.contains("build ok"));
    terminal.keys(&["q"]);
    // Typed before the dashboard is gone, the command would reach it as keys.
    terminal.wait_for("the prompt after the dashboard", |screen| {
        screen.trim_end().ends_with("pane$")
    });
    terminal.keys(&["echo status=$?", "Enter"]);
    terminal.wait_for("the dashboard to quit with 0", |screen| {
        screen.contains("status=0")
    });
}
