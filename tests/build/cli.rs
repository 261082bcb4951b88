//! `arkor build` through its library function.

use std::process::ExitCode;

use arkor_tui::cli::build::run_with_output;

use crate::common::TempProject;

/// `arkor build` in `p`, with an SDK installed (without one it refuses before building).
async fn arkor_build(p: &TempProject) -> (ExitCode, String, String) {
    if !p.path("node_modules/arkor").exists() {
        arkor_tui::assets::install_sdk(&p.project.root).expect("simulated SDK installed");
    }
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = run_with_output(Some(p.project.root.clone()), &mut out, &mut err)
        .await
        .expect("no I/O error");
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[tokio::test]
async fn builds_and_prints_artifact_trainer_and_config_hash() {
    let p = TempProject::from_fixture("basic");
    let (code, out, err) = arkor_build(&p).await;
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    let expected_hash =
        arkor_tui::core::hash::config_hash_from_wire(r#"{"model":"m","learningRate":0.0002}"#)
            .unwrap();
    // Which Node inspects the trainer comes first, then the build.
    let node = arkor_tui::core::project::find_node().expect("node >= 20");
    let (node_line, rest) = out.split_once('\n').expect("two lines at least");
    assert_eq!(node_line, node.to_string());
    assert!(
        rest.starts_with("Built src/arkor/index.ts → .arkor/build/index.mjs ("),
        "{out}"
    );
    assert!(out.contains("Trainer: basic\n"), "{out}");
    assert!(
        out.contains(&format!("configHash: {expected_hash}\n")),
        "{out}"
    );
    assert!(p.path(".arkor/build/index.mjs").is_file());
    assert!(err.is_empty(), "{err}");
}

#[tokio::test]
async fn missing_entry_exits_1_with_the_expected_path() {
    let p = TempProject::empty();
    let (code, out, err) = arkor_build(&p).await;
    assert_eq!(code, ExitCode::FAILURE);
    assert!(
        out.starts_with("Node.js v") && out.lines().count() == 1,
        "only the Node line: {out}"
    );
    assert!(
        err.starts_with(&format!(
            "error: Build entry not found: {}.",
            p.path("src/arkor/index.ts").display()
        )),
        "{err}"
    );
    assert!(err.contains("Create src/arkor/index.ts"), "{err}");
}

#[tokio::test]
async fn build_error_exits_1_with_location_and_keeps_the_artifact() {
    let p = TempProject::from_fixture("basic");
    assert_eq!(arkor_build(&p).await.0, ExitCode::SUCCESS);
    let artifact = std::fs::read(p.path(".arkor/build/index.mjs")).unwrap();
    p.write(
        "src/arkor/callbacks.ts",
        "export function onLog(ctx: unknown): void {\n  console.log(\"log\", ctx;\n}\n",
    );
    let (code, _, err) = arkor_build(&p).await;
    assert_eq!(code, ExitCode::FAILURE);
    assert!(err.contains("src/arkor/callbacks.ts:2:25: "), "{err}");
    assert!(err.contains("console.log(\"log\", ctx;"), "{err}");
    assert!(err.contains("was left untouched"), "{err}");
    assert_eq!(
        std::fs::read(p.path(".arkor/build/index.mjs")).unwrap(),
        artifact
    );
}

#[tokio::test]
async fn import_failure_exits_1_with_the_reference_wording() {
    let p =
        TempProject::with_entry("if (process.pid > 0) throw new Error('top-level');\nexport {};\n");
    let (code, _, err) = arkor_build(&p).await;
    assert_eq!(code, ExitCode::FAILURE);
    assert_eq!(err, "error: Failed to import built bundle: top-level\n");
}
