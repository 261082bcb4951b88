//! The benchmark harness still works: `arkor-bench --quick` measures every figure against the
//! debug `arkor` binary and writes a complete report. Not a timed test: no figure is judged.

use std::process::Command;

/// Every figure BENCHMARKS.md must carry (a row each, even when a peer is absent).
const FIGURES: &[&str] = &[
    "floor: bare Rolldown build",
    "floor: raw notify event",
    "floor: fork/exec + wait of `node -e 0`",
    "stage: watcher event",
    "stage: Rolldown build + atomic write + hashes",
    "stage: inspect",
    "stage: plumbing",
    "stage: dev bus → SSE frame",
    "save → SSE `rebuild` frame, 3 modules",
    "save → SIGUSR2 received by the child",
    "SSE fan-out",
    "idle CPU, `--headless`",
    "growth: save → `rebuild`",
    "growth A/B: the same, every save built in full",
    "growth split",
    "growth: RSS of the dev server",
    "log ingest, one child",
    "log ingest end to end",
    "key `?` → help overlay drawn",
    "render: full 200×50 frame, 10k-line pane",
    "`arkor tui` start → first frame",
    "idle CPU, dashboard, 3 silent runs",
    "RSS of the dashboard",
    "Playground: first chat token",
    "Jobs view: the first `2`, its list not arrived yet → loading state drawn",
    "view switch: key `2` → first frame of Jobs",
    "view switch: key `3` → first frame of Playground",
    "view switch: key `1` → first frame of Runs",
    "Jobs view, 1,000 jobs: `j` × 999",
    "under faults: peak RSS of `arkor tui --headless`",
    "under faults: `--headless --logs`, stdout a pipe nobody reads",
];

#[test]
fn quick_mode_measures_every_figure_and_writes_the_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("BENCHMARKS.md");
    let status = Command::new(env!("CARGO_BIN_EXE_arkor-bench"))
        .arg("--quick")
        .arg("--out")
        .arg(&out)
        .arg("--arkor")
        .arg(env!("CARGO_BIN_EXE_arkor"))
        .env_remove("ARKOR_BENCH_REFERENCE")
        .status()
        .expect("arkor-bench runs");
    let report = std::fs::read_to_string(&out).expect("the report was written");
    assert!(status.success(), "arkor-bench --quick failed:\n{report}");
    assert!(report.contains("Quick smoke run"), "{report}");
    assert!(
        report.contains("| figure | N | median | p95 | floor |"),
        "{report}"
    );
    for figure in FIGURES {
        let row = report
            .lines()
            .find(|l| l.starts_with(&format!("| {figure}")))
            .unwrap_or_else(|| panic!("no row for {figure:?} in:\n{report}"));
        assert!(!row.contains("not measured"), "{row}");
    }
    // The signal figure came from a real child: the fan-out row proves exactly-once delivery.
    let fanout = report
        .lines()
        .find(|l| l.starts_with("| SSE fan-out"))
        .unwrap_or_default();
    assert!(fanout.contains("SIGUSR2 per child [1, 1]"), "{fanout}");
    assert!(fanout.ends_with("| pass |"), "{fanout}");
}

#[test]
fn emit_prints_exactly_the_requested_lines_and_reports() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("emit.txt");
    let output = Command::new(env!("CARGO_BIN_EXE_arkor-bench"))
        .args(["emit", "--lines", "1234", "--report"])
        .arg(&report)
        .output()
        .expect("emit runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(text.lines().count(), 1234);
    assert!(
        text.lines()
            .last()
            .unwrap_or_default()
            .contains("step 1233")
    );
    let written = std::fs::read_to_string(&report).expect("report");
    assert!(written.starts_with("1234 "), "{written}");
}
