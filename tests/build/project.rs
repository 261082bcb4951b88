//! Discovery: Node on PATH (version check) and the installed SDK.

use std::os::unix::fs::PermissionsExt;

use arkor_tui::core::project::{NodeError, SdkError, find_node, find_node_in};

use crate::common::TempProject;

fn fake_node(dir: &std::path::Path, version_line: &str) {
    let path = dir.join("node");
    std::fs::write(&path, format!("#!/bin/sh\necho '{version_line}'\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn finds_the_real_node_on_path() {
    let node = find_node().expect("node >= 20 is installed on this machine");
    assert!(node.major >= 20);
    assert!(node.path.is_absolute());
    assert!(node.version.starts_with(&node.major.to_string()));
}

#[test]
fn missing_node_gives_one_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let err = find_node_in(Some(empty.path().as_os_str())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "arkor tui needs Node.js 20 or newer on PATH to run your trainer code, but found no `node` on PATH. \
         Install Node.js 20+ (https://nodejs.org, or a version manager: `nvm install 20`) and make sure \
         it is the `node` found first on PATH."
    );
    assert!(matches!(
        find_node_in(None),
        Err(NodeError::Unusable { .. })
    ));
}

#[test]
fn old_node_is_rejected_with_its_version() {
    let dir = tempfile::tempdir().unwrap();
    fake_node(dir.path(), "v18.19.0");
    let err = find_node_in(Some(dir.path().as_os_str())).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("found v18.19.0 at "), "{message}");
    assert!(
        message.contains(&dir.path().join("node").display().to_string()),
        "{message}"
    );

    // A non-executable `node` earlier on PATH is skipped; the next directory's one counts.
    let first = tempfile::tempdir().unwrap();
    std::fs::write(first.path().join("node"), "not executable").unwrap();
    let second = tempfile::tempdir().unwrap();
    fake_node(second.path(), "v22.1.0");
    let path = std::env::join_paths([first.path(), second.path()]).unwrap();
    let node = find_node_in(Some(&path)).unwrap();
    assert_eq!((node.major, node.version.as_str()), (22, "22.1.0"));
    assert_eq!(node.path, second.path().join("node"));
    assert_eq!(
        node.to_string(),
        format!("Node.js v22.1.0 ({})", second.path().join("node").display())
    );
}

#[test]
fn sdk_discovery_reads_version_bin_and_studio_assets() {
    let p = TempProject::empty();
    assert!(matches!(
        p.project.sdk(),
        Err(SdkError::NotInstalled { .. })
    ));

    p.write(
        "node_modules/arkor/package.json",
        r#"{"name":"arkor","version":"0.0.3-alpha.1","bin":{"arkor":"./dist/bin.mjs"}}"#,
    );
    p.write("node_modules/arkor/dist/bin.mjs", "");
    let sdk = p.project.sdk().unwrap();
    assert_eq!(sdk.version, "0.0.3-alpha.1");
    assert_eq!(sdk.bin, p.path("node_modules/arkor/dist/bin.mjs"));
    assert_eq!(sdk.studio_assets, None);

    p.write("node_modules/arkor/dist/assets/index.html", "<html></html>");
    let sdk = p.project.sdk().unwrap();
    assert_eq!(
        sdk.studio_assets,
        Some(p.path("node_modules/arkor/dist/assets"))
    );

    // The string form of `bin` names the package's own command.
    p.write(
        "node_modules/arkor/package.json",
        r#"{"version":"1.0.0","bin":"./cli.js"}"#,
    );
    assert_eq!(
        p.project.sdk().unwrap().bin,
        p.path("node_modules/arkor/cli.js")
    );

    p.write("node_modules/arkor/package.json", r#"{"version":"1.0.0"}"#);
    let err = p.project.sdk().unwrap_err();
    assert!(err.to_string().contains("bin.arkor"), "{err}");
    p.write("node_modules/arkor/package.json", "{not json");
    assert!(matches!(p.project.sdk(), Err(SdkError::Invalid { .. })));
}

#[test]
fn sdk_linked_by_pnpm_resolves_to_the_real_folder() {
    let p = TempProject::empty();
    p.write(
        "node_modules/.pnpm/arkor@1.0.0/node_modules/arkor/package.json",
        r#"{"version":"1.0.0","bin":{"arkor":"dist/bin.mjs"}}"#,
    );
    p.write(
        "node_modules/.pnpm/arkor@1.0.0/node_modules/arkor/dist/bin.mjs",
        "",
    );
    std::os::unix::fs::symlink(
        p.path("node_modules/.pnpm/arkor@1.0.0/node_modules/arkor"),
        p.path("node_modules/arkor"),
    )
    .unwrap();
    let sdk = p.project.sdk().unwrap();
    assert_eq!(
        sdk.bin,
        p.path("node_modules/.pnpm/arkor@1.0.0/node_modules/arkor/dist/bin.mjs")
    );
}
