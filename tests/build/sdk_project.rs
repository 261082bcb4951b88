//! The pipeline against the embedded simulated SDK (a real `node_modules/arkor`): discovery,
//! the demo project's build and inspection, and configHash parity with the SDK's own hash.

use std::time::Duration;

use arkor_tui::core::build::Builder;
use arkor_tui::core::inspect::Inspection;

use crate::common::{TempProject, inspector_for};

/// The SDK's own `hashJobConfig` of the trainer the runner would execute, computed in Node.
fn sdk_config_hash(p: &TempProject) -> String {
    let script = r#"
        import { hashJobConfig } from "./node_modules/arkor/lib/configHash.mjs";
        const mod = await import("./.arkor/build/index.mjs");
        const candidates = [mod.arkor?.trainer, mod.arkor, mod.trainer, mod.default?.trainer, mod.default];
        const trainer = candidates.find((t) => t && typeof t.start === "function");
        const inspection = trainer[Symbol.for("arkor.trainer.inspect")]();
        process.stdout.write(hashJobConfig(inspection.config));
    "#;
    let output = std::process::Command::new("node")
        .args(["--input-type=module", "-e", script])
        .current_dir(&p.project.root)
        .output()
        .expect("run node");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

async fn build_and_inspect(p: &TempProject) -> Inspection {
    let out = Builder::new(p.project.clone())
        .build()
        .await
        .outcome
        .expect("builds");
    let inspector = inspector_for(&p.project, Duration::from_secs(20), 200);
    inspector
        .inspect(&out.out_file, &out.content_hash)
        .await
        .expect("inspects")
}

#[tokio::test]
async fn demo_project_builds_and_hashes_like_the_sdk() {
    let p = TempProject::empty();
    arkor_tui::assets::write_demo_project(&p.project.root).unwrap();

    let sdk = p.project.sdk().expect("simulated SDK discovered");
    assert_eq!(sdk.version, arkor_tui::assets::sdk_version());
    assert_eq!(
        sdk.bin,
        arkor_tui::assets::installed_sdk_bin(&p.project.root)
    );

    let inspection = build_and_inspect(&p).await;
    assert_eq!(inspection.trainer_name.as_deref(), Some("demo-triage"));
    assert!(inspection.branded);
    let artifact = p.read(".arkor/build/index.mjs");
    assert!(
        artifact.contains("from \"arkor\""),
        "the SDK stays external"
    );
    assert_eq!(
        inspection.config_hash.as_deref(),
        Some(sdk_config_hash(&p).as_str())
    );
}

#[tokio::test]
async fn every_export_shape_made_with_the_sdk_hashes_like_the_sdk() {
    let p = TempProject::empty();
    arkor_tui::assets::install_sdk(&p.project.root).unwrap();
    let trainer = "createTrainer({ name: \"shaped\", model: \"m\", dataset: { type: \"huggingface\", name: \"d\" }, \
                   maxSteps: 10, learningRate: 1e-4, lora: { r: 8, alpha: 16 }, callbacks: { onLog() {} } })";
    let shapes = [
        format!("export const arkor = createArkor({{ trainer: {trainer} }});"),
        format!("export const arkor = {trainer};"),
        format!("export const trainer = {trainer};"),
        format!("export default createArkor({{ trainer: {trainer} }});"),
        format!("export default {trainer};"),
        format!("export default {{ trainer: {trainer} }};"),
    ];
    for (i, shape) in shapes.iter().enumerate() {
        p.write(
            "src/arkor/index.ts",
            &format!("import {{ createArkor, createTrainer }} from \"arkor\";\n{shape}\n"),
        );
        let inspection = build_and_inspect(&p).await;
        assert_eq!(
            inspection.trainer_name.as_deref(),
            Some("shaped"),
            "shape #{}",
            i + 1
        );
        assert_eq!(
            inspection.config_hash.as_deref(),
            Some(sdk_config_hash(&p).as_str()),
            "shape #{}",
            i + 1
        );
    }
}
