//! `arkor build` through the binary, and both subcommands without Node on PATH.

use std::process::Output;

use super::support::*;

fn arkor(home: &std::path::Path, args: &[&str], path_var: Option<&std::path::Path>) -> Output {
    let mut cmd = arkor_command(home);
    cmd.args(args);
    if let Some(dir) = path_var {
        cmd.env("PATH", dir);
    }
    let child = cmd.spawn().expect("arkor starts");
    // `wait_with_output` has no timeout; a watchdog kills a hung binary instead.
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let watchdog = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + WAIT;
        while std::time::Instant::now() < deadline {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // SAFETY: plain syscall on the child spawned above, not yet reaped (we are waiting).
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
        true
    });
    let output = child.wait_with_output().expect("output");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(!watchdog.join().expect("watchdog"), "arkor {args:?} hung");
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn build_prints_the_artifact_trainer_and_config_hash() {
    let p = TestProject::with_entry();
    let home = tempfile::tempdir().expect("home");
    let root = p.root().to_str().expect("utf-8 path");
    let out = arkor(home.path(), &["build", "--cwd", root], None);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("Built src/arkor/index.ts → .arkor/build/index.mjs"),
        "{stdout}"
    );
    assert!(stdout.contains("Trainer: cli-e2e"), "{stdout}");
    let config_hash = stdout
        .lines()
        .find_map(|l| l.strip_prefix("configHash: "))
        .expect("configHash line");
    assert_eq!(config_hash.len(), 16, "{stdout}");
    assert!(config_hash.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(p.artifact().is_file());
}

#[test]
fn build_without_an_entry_exits_1_naming_the_expected_path() {
    let p = TestProject::empty();
    let home = tempfile::tempdir().expect("home");
    let root = p.root().to_str().expect("utf-8 path");
    let out = arkor(home.path(), &["build", "--cwd", root], None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("src/arkor/index.ts"), "{stderr}");
    assert!(!p.artifact().exists());
}

#[test]
fn build_syntax_error_exits_1_with_a_code_frame_and_keeps_the_artifact() {
    let p = TestProject::with_entry();
    let home = tempfile::tempdir().expect("home");
    let root = p.root().to_str().expect("utf-8 path");
    assert_eq!(
        arkor(home.path(), &["build", "--cwd", root], None)
            .status
            .code(),
        Some(0)
    );
    let before = std::fs::read(p.artifact()).expect("artifact");
    // Line 7 becomes `  learningRate: 2e-4 +,`.
    p.write(ENTRY, &entry_source("2e-4 +", "v1"));
    let out = arkor(home.path(), &["build", "--cwd", root], None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("src/arkor/index.ts:7:"), "{stderr}");
    assert!(
        stderr.contains("learningRate: 2e-4 +,"),
        "a code frame quoting the line: {stderr}"
    );
    assert!(stderr.contains("left untouched"), "{stderr}");
    assert_eq!(std::fs::read(p.artifact()).expect("artifact"), before);
}

#[test]
fn without_node_on_path_build_and_tui_fail_with_one_clear_message() {
    let p = TestProject::with_entry();
    let home = tempfile::tempdir().expect("home");
    let empty_path = tempfile::tempdir().expect("empty PATH dir");
    let root = p.root().to_str().expect("utf-8 path");

    let out = arkor(
        home.path(),
        &["build", "--cwd", root],
        Some(empty_path.path()),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("node"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one message: {stderr}");

    let out = arkor(
        home.path(),
        &["tui", "--headless", "--port", "0", "--cwd", root],
        Some(empty_path.path()),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("node"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one message: {stderr}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}
