//! The Node inspector: trainer discovery, hashes, import errors, timeouts, crashes, recycling.

use std::time::Duration;

use arkor_tui::core::build::Builder;
use arkor_tui::core::inspect::{InspectError, Inspection};

use crate::common::{TempProject, inspector_for, pid_alive};

const LONG: Duration = Duration::from_secs(20);

async fn build_and_inspect(
    project: &TempProject,
    inspector: &arkor_tui::core::inspect::Inspector,
) -> Result<Inspection, InspectError> {
    let out = Builder::new(project.project.clone())
        .build()
        .await
        .outcome
        .expect("fixture builds");
    inspector.inspect(&out.out_file, &out.content_hash).await
}

const TRAINER: &str = r#"createTrainer({ name: "shape", model: "m", learningRate: 0.0002 })"#;

/// configHash of {model:"m", learningRate:0.0002} as the reference computes it.
fn expected_hash() -> String {
    arkor_tui::core::hash::config_hash_from_wire(r#"{"model":"m","learningRate":0.0002}"#).unwrap()
}

#[tokio::test]
async fn finds_the_trainer_under_each_of_the_six_shapes() {
    let shapes = [
        format!("export const arkor = Object.freeze({{ _kind: \"arkor\", trainer: {TRAINER} }});"),
        format!("export const arkor = {TRAINER};"),
        format!("export const trainer = {TRAINER};"),
        format!("export default Object.freeze({{ _kind: \"arkor\", trainer: {TRAINER} }});"),
        format!("export default {TRAINER};"),
        format!("export default {{ trainer: {TRAINER} }};"),
    ];
    let project = TempProject::with_entry("");
    let inspector = inspector_for(&project.project, LONG, 200);
    for (i, shape) in shapes.iter().enumerate() {
        project.write(
            "src/arkor/index.ts",
            &format!("import {{ createTrainer }} from \"./brand\";\n{shape}\n"),
        );
        let inspection = build_and_inspect(&project, &inspector).await.unwrap();
        assert_eq!(
            inspection.trainer_name.as_deref(),
            Some("shape"),
            "shape #{}",
            i + 1
        );
        assert!(inspection.branded, "shape #{}", i + 1);
        assert_eq!(
            inspection.config_hash,
            Some(expected_hash()),
            "shape #{}",
            i + 1
        );
        assert_eq!(
            inspection.config,
            Some(serde_json::json!({"model": "m", "learningRate": 0.0002}))
        );
    }
}

#[tokio::test]
async fn runner_precedence_wins_over_a_competing_trainer_export() {
    // Shape #2 (`arkor` is a trainer) beats a named `trainer` export, as in the runner.
    let project = TempProject::with_entry(
        "import { createTrainer } from \"./brand\";\n\
         export const arkor = createTrainer({ name: \"first\", model: \"a\" });\n\
         export const trainer = createTrainer({ name: \"second\", model: \"b\" });\n",
    );
    let inspector = inspector_for(&project.project, LONG, 200);
    let inspection = build_and_inspect(&project, &inspector).await.unwrap();
    assert_eq!(inspection.trainer_name.as_deref(), Some("first"));
}

#[tokio::test]
async fn unbranded_trainer_has_a_name_but_no_config_hash() {
    let project = TempProject::with_entry(
        "export const trainer = { name: \"plain\", async start() {}, async wait() {}, async cancel() {} };\n",
    );
    let inspector = inspector_for(&project.project, LONG, 200);
    let inspection = build_and_inspect(&project, &inspector).await.unwrap();
    assert_eq!(inspection.trainer_name.as_deref(), Some("plain"));
    assert!(!inspection.branded);
    assert_eq!(inspection.config_hash, None);

    project.write(
        "src/arkor/index.ts",
        "export default { trainer: { async start() {}, async wait() {}, async cancel() {} } };\n",
    );
    let inspection = build_and_inspect(&project, &inspector).await.unwrap();
    assert_eq!(
        inspection.trainer_name.as_deref(),
        Some("(unnamed trainer)")
    );
}

#[tokio::test]
async fn module_without_a_trainer_inspects_to_nothing() {
    let project =
        TempProject::with_entry("export const answer = 42;\nexport default { trainer: 1 };\n");
    let inspector = inspector_for(&project.project, LONG, 200);
    let inspection = build_and_inspect(&project, &inspector).await.unwrap();
    assert_eq!(inspection.trainer_name, None);
    assert_eq!(inspection.config_hash, None);
}

#[tokio::test]
async fn circular_config_has_no_hash() {
    let project = TempProject::with_entry(
        "const INSPECT = Symbol.for(\"arkor.trainer.inspect\");\n\
         const config: any = { model: \"m\" }; config.self = config;\n\
         export const trainer = { name: \"loop\", async start() {}, async wait() {}, async cancel() {},\n\
           [INSPECT]: () => ({ name: \"loop\", config, callbacks: {} }) };\n",
    );
    let inspector = inspector_for(&project.project, LONG, 200);
    let inspection = build_and_inspect(&project, &inspector).await.unwrap();
    assert_eq!(inspection.trainer_name.as_deref(), Some("loop"));
    assert!(inspection.branded);
    assert_eq!(inspection.config_hash, None);
    assert!(
        inspection
            .config_error
            .as_deref()
            .unwrap_or("")
            .contains("circular"),
        "{:?}",
        inspection.config_error
    );
}

#[tokio::test]
async fn output_printed_by_the_module_does_not_confuse_the_protocol() {
    let project = TempProject::with_entry(
        "import { createTrainer } from \"./brand\";\n\
         console.log('{\"id\":1,\"ok\":false,\"error\":\"fake\"}');\n\
         process.stdout.write('no newline at the end');\n\
         console.error('noise on stderr');\n\
         export const trainer = createTrainer({ name: \"loud\", model: \"m\" });\n",
    );
    let inspector = inspector_for(&project.project, LONG, 200);
    let inspection = build_and_inspect(&project, &inspector).await.unwrap();
    assert_eq!(inspection.trainer_name.as_deref(), Some("loud"));
}

#[tokio::test]
async fn import_time_throw_is_reported_with_the_reference_wording() {
    let project = TempProject::with_entry("throw new Error(\"boom at import\");\nexport {};\n");
    let inspector = inspector_for(&project.project, LONG, 200);
    let err = build_and_inspect(&project, &inspector).await.unwrap_err();
    assert_eq!(err, InspectError::Import("boom at import".into()));
    assert_eq!(
        err.to_string(),
        "Failed to import built bundle: boom at import"
    );
}

#[tokio::test]
async fn a_failed_import_of_the_same_bytes_is_retried_fresh() {
    // The module throws until a flag file exists; Node caches the failure per URL, so the
    // retry must use a new URL for identical bytes.
    let project = TempProject::with_entry(
        "import { createTrainer } from \"./brand\";\nimport { existsSync } from \"node:fs\";\n\
         if (!existsSync(\"flag\")) throw new Error(\"flag missing\");\n\
         export const trainer = createTrainer({ name: \"flagged\", model: \"m\" });\n",
    );
    let inspector = inspector_for(&project.project, LONG, 200);
    let err = build_and_inspect(&project, &inspector).await.unwrap_err();
    assert_eq!(err, InspectError::Import("flag missing".into()));
    project.write("flag", "");
    let inspection = build_and_inspect(&project, &inspector).await.unwrap();
    assert_eq!(inspection.trainer_name.as_deref(), Some("flagged"));
}

#[tokio::test]
async fn a_hanging_import_times_out_kills_the_helper_and_recovers() {
    let project = TempProject::with_entry(
        "import { writeFileSync } from \"node:fs\";\n\
         writeFileSync(\"helper.pid\", String(process.pid));\n\
         await new Promise(() => {});\nexport {};\n",
    );
    let inspector = inspector_for(&project.project, Duration::from_millis(1500), 200);
    let err = build_and_inspect(&project, &inspector).await.unwrap_err();
    assert_eq!(err, InspectError::Timeout(Duration::from_millis(1500)));
    let pid: u32 = project.read("helper.pid").trim().parse().unwrap();
    assert!(!pid_alive(pid), "the hung helper {pid} must be killed");

    project.write("src/arkor/index.ts", "import { createTrainer } from \"./brand\";\nexport const trainer = createTrainer({ name: \"after\", model: \"m\" });\n");
    let inspection = build_and_inspect(&project, &inspector).await.unwrap();
    assert_eq!(inspection.trainer_name.as_deref(), Some("after"));
}

#[tokio::test]
async fn a_helper_killed_by_the_module_is_reported_and_replaced() {
    for killer in [
        "process.exit(3);",
        "process.kill(process.pid, \"SIGKILL\");",
    ] {
        let project = TempProject::with_entry(&format!("{killer}\nexport {{}};\n"));
        let inspector = inspector_for(&project.project, LONG, 200);
        let err = build_and_inspect(&project, &inspector).await.unwrap_err();
        assert!(
            matches!(err, InspectError::HelperExited { .. }),
            "{killer}: {err}"
        );
        assert!(
            err.to_string()
                .starts_with("Failed to import built bundle: the Node inspector exited")
        );

        project.write("src/arkor/index.ts", "import { createTrainer } from \"./brand\";\nexport const trainer = createTrainer({ name: \"back\", model: \"m\" });\n");
        let inspection = build_and_inspect(&project, &inspector).await.unwrap();
        assert_eq!(inspection.trainer_name.as_deref(), Some("back"), "{killer}");
    }
}

/// An entry (new bytes each round) whose trainer is named after the pid of the helper that
/// imports it.
fn write_pid_trainer(project: &TempProject, round: usize) {
    project.write(
        "src/arkor/index.ts",
        &format!("import {{ createTrainer }} from \"./brand\";\n// round {round}\nexport const trainer = createTrainer({{ name: String(process.pid), model: \"m\" }});\n"),
    );
}

#[tokio::test]
async fn the_helper_is_recycled_after_n_inspections() {
    let project = TempProject::with_entry("");
    let inspector = inspector_for(&project.project, LONG, 2);
    let mut pids = Vec::new();
    for round in 0..5 {
        write_pid_trainer(&project, round);
        let inspection = build_and_inspect(&project, &inspector).await.unwrap();
        pids.push(inspection.trainer_name.unwrap());
    }
    assert_eq!(pids[0], pids[1]);
    assert_ne!(pids[1], pids[2]);
    assert_eq!(pids[2], pids[3]);
    assert_ne!(pids[3], pids[4]);
    for pid in &pids[..4] {
        assert!(
            !pid_alive(pid.parse().unwrap()),
            "recycled helper {pid} still runs"
        );
    }
}

#[tokio::test]
async fn wake_ups_are_not_imports() {
    let project = TempProject::with_entry("");
    let inspector = inspector_for(&project.project, LONG, 2);
    let mut pids = Vec::new();
    for round in 0..2 {
        write_pid_trainer(&project, round);
        // What the build loop does when a build starts, here many times over.
        for _ in 0..5 {
            inspector.wake();
        }
        let inspection = build_and_inspect(&project, &inspector).await.unwrap();
        assert!(inspection.branded);
        pids.push(inspection.trainer_name.unwrap());
        // The module it warms up on; without it (deleted) the wake-ups still do no harm.
        let warmup = project
            .project
            .root
            .join(".arkor")
            .join(arkor_tui::core::inspect::WARMUP_FILE);
        assert_eq!(warmup.exists(), round == 0, "round {round}");
        let _ = std::fs::remove_file(&warmup);
    }
    // Recycling after 2 imports: had the wake-ups counted, the second import would have
    // gone to a new helper.
    assert_eq!(pids[0], pids[1]);
}

#[tokio::test]
async fn dropping_the_inspector_stops_its_helper() {
    let project = TempProject::with_entry(
        "import { createTrainer } from \"./brand\";\nexport const trainer = createTrainer({ name: String(process.pid), model: \"m\" });\n",
    );
    let inspector = inspector_for(&project.project, LONG, 200);
    let pid: u32 = build_and_inspect(&project, &inspector)
        .await
        .unwrap()
        .trainer_name
        .unwrap()
        .parse()
        .unwrap();
    assert!(pid_alive(pid));
    // A short command line for `ps`, not the whole script.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmdline.len() < 400, "{}", String::from_utf8_lossy(&cmdline));
    drop(inspector);
    crate::common::wait_until("the helper to exit", || (!pid_alive(pid)).then_some(())).await;
}

#[tokio::test]
async fn config_key_order_does_not_change_the_config_hash() {
    let trainer = |config: &str| {
        format!(
            "const INSPECT = Symbol.for(\"arkor.trainer.inspect\");\n\
             export const trainer = {{ name: \"order\", async start() {{}}, async wait() {{}}, async cancel() {{}},\n\
               [INSPECT]: () => ({{ name: \"order\", config: {config}, callbacks: {{}} }}) }};\n"
        )
    };
    let project = TempProject::with_entry(&trainer(
        "{ model: \"m\", lora: { r: 16, alpha: 32 }, learningRate: 0.0002 }",
    ));
    let inspector = inspector_for(&project.project, LONG, 200);
    let first = build_and_inspect(&project, &inspector).await.unwrap();
    project.write(
        "src/arkor/index.ts",
        &trainer("{ learningRate: 0.0002, lora: { alpha: 32, r: 16 }, model: \"m\" }"),
    );
    let reordered = build_and_inspect(&project, &inspector).await.unwrap();
    assert_ne!(
        first.config_wire, reordered.config_wire,
        "the wire text differs"
    );
    assert_eq!(first.config_hash, reordered.config_hash);
    project.write(
        "src/arkor/index.ts",
        &trainer("{ learningRate: 0.0001, lora: { alpha: 32, r: 16 }, model: \"m\" }"),
    );
    let changed = build_and_inspect(&project, &inspector).await.unwrap();
    assert_ne!(changed.config_hash, first.config_hash);
}
