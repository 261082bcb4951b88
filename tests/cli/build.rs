//! `arkor build` through the binary, and both subcommands without Node on PATH.

use std::process::Output;

use super::support::*;

fn arkor(home: &std::path::Path, args: &[&str], path_var: Option<&std::path::Path>) -> Output {
    let mut cmd = arkor_command(home);
    cmd.args(args);
    if let Some(dir) = path_var {
        cmd.env("PATH", dir);
    }
    output_within(cmd, WAIT)
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
    assert!(stderr.contains("found no `node` on PATH"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one message: {stderr}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    // Node is checked before anything else: nothing was built.
    assert!(!p.artifact().exists());

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
