//! `Builder`: Rolldown options, atomic publish, error locations, the missing entry.

use arkor_tui::core::build::{BuildError, Builder};
use arkor_tui::core::hash;

use crate::common::TempProject;

const OUT: &str = ".arkor/build/index.mjs";

#[tokio::test]
async fn builds_one_esm_file_with_bare_imports_external_and_dynamic_imports_inlined() {
    let p = TempProject::from_fixture("basic");
    p.write(
        "src/arkor/index.ts",
        "import { createTrainer } from \"./brand\";\nimport { onLog } from \"./callbacks\";\n\
         import { readFileSync } from \"node:fs\";\nimport type { X } from \"arkor\";\nimport * as sdk from \"arkor\";\n\
         export const lazy = () => import(\"./lazy\");\nexport const keep = [readFileSync, sdk];\n\
         export const trainer = createTrainer({ name: \"basic\", model: \"m\", callbacks: { onLog } });\n",
    );
    p.write(
        "src/arkor/lazy.ts",
        "export const lazyValue = 'lazy-marker';\n",
    );
    let attempt = Builder::new(p.project.clone()).build().await;
    let out = attempt.outcome.expect("builds");
    let bytes = std::fs::read(p.path(OUT)).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();

    assert_eq!(out.out_file, p.path(OUT));
    assert_eq!(out.size, bytes.len() as u64);
    assert_eq!(out.content_hash, hash::content_hash(&bytes));
    assert_eq!(
        Some(out.fingerprint.clone()),
        hash::artifact_fingerprint(&out.out_file)
    );
    assert!(
        text.contains("from \"arkor\""),
        "arkor stays external:\n{text}"
    );
    assert!(
        text.contains("from \"node:fs\""),
        "node:fs stays external:\n{text}"
    );
    assert!(
        text.contains("lazy-marker"),
        "the dynamic import is inlined:\n{text}"
    );
    assert!(
        !text.contains("import(\""),
        "no chunk is loaded at run time:\n{text}"
    );
    let mut files: Vec<_> = std::fs::read_dir(p.path(".arkor/build"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    files.sort();
    assert_eq!(
        files,
        vec![
            std::ffi::OsString::from("index.mjs"),
            std::ffi::OsString::from("index.mjs.map")
        ],
        "one artifact and its hidden source map, no staging left"
    );
    assert!(
        !text.contains("sourceMappingURL"),
        "nothing in the artifact points at the map:\n{text}"
    );

    let mut watched = attempt.watch_files.clone();
    watched.sort();
    for name in ["brand.ts", "callbacks.ts", "index.ts", "lazy.ts"] {
        assert!(
            watched.contains(&p.path(&format!("src/arkor/{name}"))),
            "{name} in {watched:?}"
        );
    }
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
}

/// The build reads sources itself (a load plugin), so it must list what Rolldown would have:
/// every file read, the tsconfig.json governing them, and a file that failed to load (with
/// the cause of the failure in the message).
#[tokio::test]
async fn watch_list_has_the_tsconfig_and_a_file_that_failed_to_load() {
    let p = TempProject::with_entry("import { value } from \"./data\";\nexport default value;\n");
    p.write(
        "tsconfig.json",
        "{ \"compilerOptions\": { \"strict\": true } }\n",
    );
    p.write("src/arkor/data.ts", "export const value = 1;\n");
    let builder = Builder::new(p.project.clone());
    let attempt = builder.build().await;
    attempt.outcome.expect("builds");
    for file in ["tsconfig.json", "src/arkor/index.ts", "src/arkor/data.ts"] {
        assert!(
            attempt.watch_files.contains(&p.path(file)),
            "{file} in {:?}",
            attempt.watch_files
        );
    }
    let mut unique = attempt.watch_files.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), attempt.watch_files.len(), "no repeats");

    // Not UTF-8: the read fails, the build fails, and the file stays watched.
    std::fs::write(p.path("src/arkor/data.ts"), [0xff, 0xfe, 0x00, 0x41]).unwrap();
    let attempt = builder.build().await;
    let err = attempt
        .outcome
        .expect_err("an unreadable module fails the build");
    let message = err.to_string();
    assert!(
        message.contains("data.ts") && message.contains("valid UTF-8"),
        "the cause, in Rolldown's words: {message}"
    );
    assert!(!message.contains("threw"), "{message}");
    assert!(
        attempt.watch_files.contains(&p.path("src/arkor/data.ts")),
        "{:?}",
        attempt.watch_files
    );
}

#[tokio::test]
async fn syntax_error_points_at_file_line_column_and_keeps_the_old_artifact() {
    let p = TempProject::from_fixture("basic");
    let builder = Builder::new(p.project.clone());
    builder.build().await.outcome.expect("first build");
    let good = std::fs::read(p.path(OUT)).unwrap();

    p.write(
        "src/arkor/callbacks.ts",
        "export function onLog(ctx: unknown): void {\n  console.log(\"log\", ctx;\n}\n",
    );
    let attempt = builder.build().await;
    let err = attempt.outcome.expect_err("syntax error");
    let location = err.location().expect("a location").clone();
    assert_eq!(location.display_file, "src/arkor/callbacks.ts");
    assert_eq!(location.file, p.path("src/arkor/callbacks.ts"));
    assert_eq!((location.line, location.column), (2, 25));
    let message = err.to_string();
    assert!(
        message.starts_with("src/arkor/callbacks.ts:2:25: "),
        "{message}"
    );
    assert!(message.contains("[PARSE_ERROR]"), "{message}");
    assert!(
        message.contains("console.log(\"log\", ctx;"),
        "code frame: {message}"
    );
    assert!(!message.contains('\u{1b}'), "no colour codes: {message:?}");
    assert!(
        attempt
            .watch_files
            .contains(&p.path("src/arkor/callbacks.ts")),
        "the broken file stays watched"
    );
    assert_eq!(
        std::fs::read(p.path(OUT)).unwrap(),
        good,
        "previous artifact intact"
    );
    assert!(!p.path(".arkor/build/index.mjs.hmr-staging").exists());
}

#[tokio::test]
async fn unresolved_import_fails_then_builds_once_the_file_exists() {
    let p = TempProject::from_fixture("basic");
    let builder = Builder::new(p.project.clone());
    p.write("src/arkor/callbacks.ts", "import { extra } from './later';\nexport function onLog(ctx: unknown): void { console.log(extra, ctx); }\n");
    let err = builder.build().await.outcome.expect_err("unresolved");
    let location = err.location().expect("location");
    assert_eq!(
        (
            location.display_file.as_str(),
            location.line,
            location.column
        ),
        ("src/arkor/callbacks.ts", 1, 23)
    );
    assert!(err.to_string().contains("[UNRESOLVED_IMPORT]"), "{err}");
    assert_eq!(err.missing_imports(), [p.path("src/arkor/later")]);
    assert!(!p.path(OUT).exists());

    // Same builder: a cached failed resolution must not stick.
    p.write(
        "src/arkor/later.ts",
        "export const extra = 'later-marker';\n",
    );
    builder.build().await.outcome.expect("resolves now");
    assert!(p.read(OUT).contains("later-marker"));
}

#[tokio::test]
async fn missing_entry_names_the_expected_path() {
    let p = TempProject::empty();
    let attempt = Builder::new(p.project.clone()).build().await;
    let err = attempt.outcome.expect_err("no entry");
    assert!(matches!(err, BuildError::EntryNotFound { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "Build entry not found: {}. Create src/arkor/index.ts in the project to define your trainer.",
            p.path("src/arkor/index.ts").display()
        )
    );
    assert!(
        !p.path(".arkor").exists(),
        "nothing is created for a missing entry"
    );
}

#[tokio::test]
async fn a_failed_publish_is_a_write_error_and_leaves_no_staging_file() {
    let p = TempProject::from_fixture("basic");
    let builder = Builder::new(p.project.clone());
    builder.build().await.outcome.expect("first build");
    // The artifact replaced by a non-empty folder: the rename fails (works as root too,
    // where permissions would not).
    std::fs::remove_file(p.path(OUT)).unwrap();
    p.write(".arkor/build/index.mjs/keep", "");
    let err = builder.build().await.outcome.expect_err("cannot publish");
    assert!(matches!(err, BuildError::Write { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("Failed to write the build artifact"),
        "{err}"
    );
    assert!(
        p.path(".arkor/build/index.mjs/keep").exists(),
        "what was there stays"
    );
    let mut names: Vec<_> = std::fs::read_dir(p.path(".arkor/build"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    // The first build's map stays with the previous artifact, which a failed build leaves.
    assert_eq!(
        names,
        vec![
            std::ffi::OsString::from("index.mjs"),
            std::ffi::OsString::from("index.mjs.map")
        ],
        "no staging file left"
    );
}

#[tokio::test]
async fn fingerprint_matches_what_node_prints_for_the_same_file() {
    let p = TempProject::from_fixture("basic");
    let out = Builder::new(p.project.clone())
        .build()
        .await
        .outcome
        .expect("builds");
    let node = std::process::Command::new("node")
        .arg("-e")
        .arg("const s = require('fs').statSync(process.argv[1]); process.stdout.write(`${s.mtimeMs}-${s.ctimeMs}-${s.size}`)")
        .arg(&out.out_file)
        .output()
        .expect("run node");
    assert!(node.status.success());
    assert_eq!(String::from_utf8(node.stdout).unwrap(), out.fingerprint);
}

#[test]
fn number_formatting_matches_node_for_many_doubles() {
    // Deterministic pseudo-random bit patterns plus ranges around the notation switches.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut values: Vec<f64> = Vec::new();
    for _ in 0..3000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let v = f64::from_bits(state);
        if v.is_finite() {
            values.push(v);
        }
    }
    for exp in -330..=310 {
        values.push(10f64.powi(exp));
        values.push(1.2345678901234567 * 10f64.powi(exp));
    }
    values.extend([
        1732547123456.789,
        1732547123456.7893,
        0.1 + 0.2,
        1e21 - 65536.0,
        999999999999999900000.0,
    ]);
    let input: String = values
        .iter()
        .map(|v| format!("{:016x}\n", v.to_bits()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bits.txt");
    std::fs::write(&file, input).unwrap();
    let node = std::process::Command::new("node")
        .arg("-e")
        .arg("const b = Buffer.alloc(8); const out = []; for (const h of require('fs').readFileSync(process.argv[1], 'utf8').trim().split('\\n')) { b.writeBigUInt64BE(BigInt('0x' + h)); out.push(String(b.readDoubleBE(0))); } process.stdout.write(out.join('\\n'));")
        .arg(&file)
        .output()
        .expect("run node");
    assert!(
        node.status.success(),
        "{}",
        String::from_utf8_lossy(&node.stderr)
    );
    let expected = String::from_utf8(node.stdout).unwrap();
    for (value, js) in values.iter().zip(expected.lines()) {
        assert_eq!(
            hash::format_js_number(*value),
            js,
            "bits {:016x}",
            value.to_bits()
        );
    }
    assert_eq!(expected.lines().count(), values.len());
}
