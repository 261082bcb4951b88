//! What `arkor tui` and `arkor build` check before they touch anything: the folder is a
//! project, its SDK is installed, and only one `arkor tui` runs on it.

use std::process::Output;

use super::support::*;

fn arkor(home: &std::path::Path, args: &[&str]) -> Output {
    let mut cmd = arkor_command(home);
    cmd.args(args);
    output_within(cmd, WAIT)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_folder_that_is_no_project_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("not a project");
    let home = tempfile::tempdir().expect("home");
    let root = dir.path().to_str().expect("utf-8 path");
    for args in [
        vec!["tui", "--headless", "--port", "0", "--cwd", root],
        vec!["build", "--cwd", root],
    ] {
        let out = arkor(home.path(), &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("is not an arkor project: there is no src/arkor/index.ts"),
            "{args:?}: {stderr}"
        );
        assert!(
            files_under(dir.path()).is_empty() && !dir.path().join(".arkor").exists(),
            "{args:?} left {:?}",
            files_under(dir.path())
        );
        assert!(
            files_under(home.path()).is_empty(),
            "{args:?}: no sign-in, no cloud state: {:?}",
            files_under(home.path())
        );
    }
}

#[test]
fn a_project_without_its_sdk_is_told_to_install_with_its_package_manager() {
    let dir = tempfile::tempdir().expect("project");
    std::fs::create_dir_all(dir.path().join("src/arkor")).expect("src");
    std::fs::write(dir.path().join(ENTRY), entry_source("2e-4", "v1")).expect("entry");
    let home = tempfile::tempdir().expect("home");
    let root = dir.path().to_str().expect("utf-8 path");

    let out = arkor(home.path(), &["build", "--cwd", root]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: the arkor SDK is not installed in {} (no node_modules/arkor): run `npm install` there",
            dir.path().canonicalize().expect("canonical").display()
        ),
        "that message only"
    );
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert!(!dir.path().join(".arkor").exists());

    std::fs::write(
        dir.path().join("pnpm-lock.yaml"),
        "lockfileVersion: '9.0'\n",
    )
    .expect("lock");
    let out = arkor(
        home.path(),
        &["tui", "--headless", "--port", "0", "--cwd", root],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("run `pnpm install` there"), "{stderr}");
    assert!(!stderr.contains("ERR_MODULE_NOT_FOUND"), "{stderr}");
    assert!(!dir.path().join(".arkor").exists());
}

#[test]
fn a_second_instance_on_one_project_names_the_first_and_refuses_unless_forced() {
    let project = TestProject::with_entry();
    let mut first = Headless::start(&project, &[], &sim_env(5));
    let url = first.next_of_type("server")["url"]
        .as_str()
        .expect("server url")
        .to_owned();
    let lock = project.path(".arkor/tui.lock");
    wait_until("the lock names the url", || {
        std::fs::read_to_string(&lock).is_ok_and(|t| t.contains(&url))
    });

    let home = tempfile::tempdir().expect("home");
    let root = project.root().to_str().expect("utf-8 path");
    let out = arkor(
        home.path(),
        &["tui", "--headless", "--port", "0", "--cwd", root],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another arkor tui is already running"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("pid {}", first.child.id())) && stderr.contains(&url),
        "names the first one: {stderr}"
    );
    assert!(stderr.contains("--force"), "{stderr}");

    // --force starts a second one anyway (and leaves the first one's lock alone).
    let mut second = Headless::start(&project, &["--force"], &sim_env(5));
    second.next_of_type("server");
    assert!(lock.exists());
    second.signal(libc::SIGTERM);
    second.wait_exit();
    assert!(lock.exists(), "the forced one does not own the lock");

    first.signal(libc::SIGTERM);
    first.wait_exit();
    assert!(!lock.exists(), "the lock goes with its owner");
}
