//! Stack traces in a run's output name the TypeScript source, not the bundled artifact: a
//! callback that throws, seen through `--logs`, reads `src/arkor/callbacks.ts:<line>`, both from
//! the artifact the run started on and from callbacks hot-swapped in later.

use serde_json::Value;

use super::support::*;

const ENTRY_WITH_CALLBACKS: &str = r#"import { createArkor, createTrainer } from "arkor";
import { onLog } from "./callbacks";

export const trainer = createTrainer({
  name: "stack-traces",
  model: "unsloth/gemma-4-E4B-it",
  dataset: { type: "huggingface", name: "arkorlab/triage-demo" },
  callbacks: { onLog },
});

export const arkor = createArkor({ trainer });
"#;

/// Callbacks whose `onLog` throws from line `4 + padding` of callbacks.ts once `step >= from`.
fn callbacks(padding: usize, from: u32) -> String {
    format!(
        "{}type Log = {{ step: number }};\nexport function onLog({{ step }}: Log): void {{\n  if (step >= {from}) {{\n    throw new Error(`callback failed at step ${{step}}`);\n  }}\n  console.log(`callback saw step ${{step}}`);\n}}\n",
        "// padding\n".repeat(padding)
    )
}

fn log_text(v: &Value) -> Option<&str> {
    (v["type"] == "log").then(|| v["text"].as_str()).flatten()
}

/// Read log lines until a frame of the thrown error's stack appears; returns it.
fn stack_frame(h: &mut Headless) -> String {
    h.next_json("a stack frame of the thrown error", |v| {
        log_text(v).is_some_and(|t| t.trim_start().starts_with("at ") && t.contains("onLog"))
    })["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn assert_no_artifact_positions(h: &Headless) {
    for v in h.seen_json() {
        if let Some(text) = log_text(&v) {
            assert!(
                !text.contains(".arkor/build/index.mjs:") && !text.contains("index.mjs?t="),
                "an unmapped artifact position: {text}"
            );
        }
    }
}

/// A project with these callbacks, under `arkor tui --headless --json --logs --run`.
fn run_with_callbacks(callbacks_ts: &str) -> (TestProject, Headless) {
    let p = TestProject::empty();
    p.write("src/arkor/callbacks.ts", callbacks_ts);
    p.write(ENTRY, ENTRY_WITH_CALLBACKS);
    let h = Headless::start(&p, &["--logs", "--run"], &sim_env(1000));
    (p, h)
}

#[test]
fn a_throwing_callback_names_its_typescript_line_in_the_logs() {
    let (p, mut h) = run_with_callbacks(&callbacks(3, 2));

    let frame = stack_frame(&mut h);
    // `throw new Error(…)` on line 7, `new` at column 11 (Node names the frame
    // `onLog` or `Object.onLog`, by version).
    assert!(frame.ends_with(" (src/arkor/callbacks.ts:7:11)"), "{frame}");
    h.next_json("the run's exit", |v| {
        v["type"] == "run" && v["state"]["state"] == "exited"
    });
    assert_no_artifact_positions(&h);
    // The map sits beside the artifact; the artifact does not point at it.
    assert!(p.path(".arkor/build/index.mjs.map").is_file());
    let artifact = std::fs::read_to_string(p.artifact()).expect("artifact");
    assert!(!artifact.contains("sourceMappingURL"), "{artifact}");
}

#[test]
fn hot_swapped_callbacks_are_mapped_with_their_own_build() {
    let (p, mut h) = run_with_callbacks(&callbacks(0, 1_000_000));
    h.next_json("the first callbacks running", |v| {
        log_text(v).is_some_and(|t| t.starts_with("callback saw step"))
    });

    // Same config, new callbacks: a hot swap, after which the throw is on line 9.
    p.write_by_rename("src/arkor/callbacks.ts", &callbacks(5, 0));
    h.next_json("the hot swap", |v| {
        log_text(v).is_some_and(|t| t.contains("Callbacks hot-reloaded"))
    });
    let frame = stack_frame(&mut h);
    assert!(frame.ends_with(" (src/arkor/callbacks.ts:9:11)"), "{frame}");
    assert_no_artifact_positions(&h);
}
