//! The npm packages (npm/): the launcher's own JavaScript suite under `node --test`, and the
//! tarballs `npm/pack.sh` writes, installed offline into a project and run through `npx`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
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

#[test]
fn packed_tarballs_install_offline_and_run_through_npx() {
    if !npm_available() {
        return;
    }
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
    // npm removes packages its manifest does not list: the simulated SDK goes in afterwards,
    // as a real project would list `arkor` among its dependencies.
    arkor_tui::assets::install_sdk(project.root()).expect("simulated SDK");
    project.write(ENTRY, &entry_source("2e-4", "npm"));
    let binary = project
        .path("node_modules")
        .join(&platform_package)
        .join("bin/arkor-tui");
    assert!(binary.is_file(), "{} is installed", binary.display());

    let npx = |args: &[&str]| {
        let mut cmd = Command::new("npx");
        cmd.arg("--no-install")
            .arg("arkor-tui")
            .args(args)
            .current_dir(project.root());
        npm_env(&mut cmd, scratch.path());
        output_within(cmd, PACK_WAIT)
    };

    let out = npx(&["--version"]);
    assert_success("npx arkor-tui --version", &out);
    assert_eq!(text(&out.stdout), format!("arkor-tui {version}\n"));

    let out = npx(&["build"]);
    assert_success("npx arkor-tui build", &out);
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("Node.js v"), "{stdout}");
    assert!(
        stdout.contains("Built src/arkor/index.ts → .arkor/build/index.mjs"),
        "{stdout}"
    );
    assert!(stdout.contains("Trainer: cli-e2e"), "{stdout}");
    assert!(project.artifact().is_file());

    // The binary's exit code comes back through the launcher and npx.
    let out = npx(&["build", "--cwd", "no-such-project"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no-such-project"),
        "{}",
        text(&out.stderr)
    );
}
