//! Issue 3 headless: one JSON line per dev event with exactly the reference fields, recovery
//! from a missing entry, and one rebuild per rename-style save.

use arkor_tui::core::hash;
use serde_json::Value;

use super::support::*;

fn next_dev(h: &mut Headless) -> Value {
    h.next_json("a dev event", is_dev_event)
}

fn assert_built(v: &Value, ty: &str, p: &TestProject) {
    assert_eq!(v["type"], ty, "{v}");
    assert_eq!(keys(v), BUILT_KEYS, "{v}");
    assert_eq!(
        v["outFile"].as_str(),
        p.artifact().canonicalize().expect("artifact").to_str()
    );
    assert_eq!(
        v["contentHash"].as_str(),
        hash::file_content_hash(&p.artifact()).as_deref(),
        "contentHash is the artifact on disk"
    );
    let config_hash = v["configHash"].as_str().expect("configHash");
    assert_eq!(config_hash.len(), 16);
    assert!(config_hash.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(v["trainerName"], "cli-e2e");
    let identity = v["hash"].as_str().expect("hash");
    assert_eq!(
        identity.split('-').count(),
        3,
        "mtime-ctime-size: {identity}"
    );
}

#[test]
fn dev_events_are_single_json_lines_with_exactly_the_reference_fields() {
    let p = TestProject::empty();
    let mut h = Headless::start(&p, &[], &[]);
    let server = h.next_of_type("server");
    assert!(
        server["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://127.0.0.1:")),
        "{server}"
    );

    // No entry yet: one error naming it.
    let error = next_dev(&mut h);
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(keys(&error), ["type", "message"]);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("src/arkor/index.ts")),
        "{error}"
    );

    // The entry appears: the next dev event is `ready` (no second error in between).
    p.write_by_rename(ENTRY, &entry_source("2e-4", "v1"));
    let ready = next_dev(&mut h);
    assert_built(&ready, "ready", &p);

    // A rename-style save with a new config: exactly one rebuild. The next save after
    // it is a fence: a duplicate rebuild of the rename would arrive before the fence's.
    p.write_by_rename(ENTRY, &entry_source("3e-4", "v1"));
    let rebuild = next_dev(&mut h);
    assert_built(&rebuild, "rebuild", &p);
    assert_ne!(rebuild["configHash"], ready["configHash"]);
    p.write_by_rename(ENTRY, &entry_source("3e-4", "fence"));
    let fence = next_dev(&mut h);
    assert_built(&fence, "rebuild", &p);
    assert_ne!(
        fence["contentHash"], rebuild["contentHash"],
        "the rename-style save produced a second rebuild"
    );
    assert_eq!(fence["configHash"], rebuild["configHash"]);

    // A syntax error: one error line with exactly `type` and `message`.
    p.write_by_rename(ENTRY, &entry_source("3e-4 +", "fence"));
    let error = next_dev(&mut h);
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(keys(&error), ["type", "message"]);

    h.signal(libc::SIGINT);
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(130), "stderr: {}", h.stderr());
    let lines = h.seen_json();
    assert_eq!(
        lines.len(),
        h.seen.len(),
        "every stdout line is one JSON object"
    );
    let errors_before_ready = lines
        .iter()
        .take_while(|v| v["type"] != "ready")
        .filter(|v| v["type"] == "error")
        .count();
    assert_eq!(errors_before_ready, 1, "{:#?}", h.seen);
    assert_eq!(
        lines.iter().filter(|v| v["type"] == "rebuild").count(),
        2,
        "{:#?}",
        h.seen
    );
}

#[test]
fn logged_lines_carry_the_time_they_were_read() {
    let p = TestProject::with_entry();
    let mut h = Headless::start(&p, &["--logs", "--run"], &sim_env(5));
    let line = h.next_json("a log line of the run", |v| {
        v["type"] == "log" && v["stream"] == "stdout"
    });
    assert_eq!(keys(&line), ["type", "pid", "stream", "text", "ts"]);
    let ts = line["ts"].as_str().expect("ts is a string");
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "RFC 3339 UTC with milliseconds: {ts}"
    );
    h.signal(libc::SIGTERM);
    h.wait_exit();
    let runs = p.path(".arkor/runs");
    let files = files_under(&runs);
    let logs: Vec<_> = files.iter().filter(|f| f.ends_with(".log")).collect();
    assert_eq!(
        logs.len(),
        1,
        "the run's output is also in .arkor/runs: {files:?}"
    );
    // Beside it at most its training series (when the simulated cloud's stream got that far).
    let series = logs[0].replace(".log", ".metrics.jsonl");
    assert!(
        files.iter().all(|f| f == logs[0] || *f == series),
        "{files:?}"
    );
}
