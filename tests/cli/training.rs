//! Training progress in headless output, end to end on the demo: its simulated cloud streams
//! the job's events in the real wire format and arkor's job follower turns them into
//! `metric` and `checkpoint` lines (`--json`), one progress line per checkpoint (plain), and a
//! summary per run when the session ends.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use super::support::*;

fn demo_env(tmp: &tempfile::TempDir) -> Vec<(&'static str, String)> {
    let mut env = sim_env(5);
    env.push(("TMPDIR", tmp.path().to_str().expect("utf-8").to_owned()));
    env
}

#[test]
fn the_demo_prints_metric_and_checkpoint_lines_with_exactly_their_fields_and_a_summary() {
    let tmp = tempfile::tempdir().expect("temp TMPDIR");
    let mut h = Headless::spawn(&["--demo"], &demo_env(&tmp));
    let run = h.next_json("the run's job id", |v| {
        v["type"] == "run" && v["jobId"].is_string()
    });
    let (pid, job_id) = (run["pid"].clone(), run["jobId"].clone());

    let metric = h.next_of_type("metric");
    assert_eq!(
        keys(&metric),
        [
            "type",
            "pid",
            "jobId",
            "step",
            "loss",
            "evalLoss",
            "learningRate",
            "epoch"
        ]
    );
    assert_eq!((&metric["pid"], &metric["jobId"]), (&pid, &job_id));
    assert!(metric["step"].is_u64(), "{metric}");
    assert!(
        metric["loss"].is_f64() || metric["evalLoss"].is_f64(),
        "{metric}"
    );
    for field in ["learningRate", "epoch"] {
        assert!(
            metric[field].is_number() || metric[field].is_null(),
            "{metric}"
        );
    }

    let checkpoint = h.next_of_type("checkpoint");
    assert_eq!(keys(&checkpoint), ["type", "pid", "jobId", "step"]);
    assert_eq!((&checkpoint["pid"], &checkpoint["jobId"]), (&pid, &job_id));
    let step = checkpoint["step"].as_u64().expect("a step");
    assert_eq!(step % 5, 0, "checkpoints every 5 steps: {checkpoint}");
    h.next_json("a second checkpoint", |v| {
        v["type"] == "checkpoint" && v["step"].as_u64().is_some_and(|s| s > step)
    });

    // The same series is on disk beside the run's log file, as JSON lines with their time
    // (read before the exit: the demo removes its project folder).
    let seen = h.seen_json();
    let log_file = seen
        .iter()
        .find_map(|v| (v["type"] == "run" && v["pid"] == pid).then(|| v["logFile"].as_str())?)
        .unwrap_or_else(|| panic!("no run line names its log file: {seen:?}"));
    let series_path = log_file.replace(".log", ".metrics.jsonl");
    let series: Vec<serde_json::Value> = std::fs::read_to_string(&series_path)
        .unwrap_or_else(|e| panic!("{series_path}: {e}"))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let printed = seen.iter().filter(|v| v["type"] == "metric").count();
    let written = series.iter().filter(|v| v["type"] == "metric").count();
    assert!(
        written >= printed && printed > 0,
        "{written} written, {printed} printed"
    );
    assert!(
        series
            .iter()
            .any(|v| v["type"] == "checkpoint" && v["step"].as_u64() == Some(step)),
        "checkpoint {step} in {series_path}"
    );
    assert!(
        series
            .iter()
            .all(|v| v["ts"].is_string() && v["jobId"] == job_id)
    );

    h.signal(libc::SIGINT);
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(130), "stderr: {}", h.stderr());
    let lines = h.seen_json();
    // Every training event once: no step's loss printed twice.
    let mut seen = std::collections::HashSet::new();
    for m in lines.iter().filter(|v| v["type"] == "metric") {
        let key = (
            m["step"].to_string(),
            m["loss"].to_string(),
            m["evalLoss"].to_string(),
        );
        assert!(seen.insert(key), "printed twice: {m}");
    }
    let summary = lines
        .iter()
        .find(|v| v["type"] == "summary" && v["pid"] == pid)
        .unwrap_or_else(|| panic!("no summary for {pid}: {lines:?}"));
    let outcome = &summary["outcome"];
    assert_eq!(outcome["kind"], "stoppedAtCheckpoint", "{summary}");
    assert!(
        outcome["step"].as_u64().is_some_and(|s| s > step),
        "{summary}"
    );
    assert!(outcome["loss"].is_f64(), "{summary}");
    let text = summary["text"].as_str().unwrap_or_default();
    assert!(text.contains("stopped by you at step"), "{text}");
}

#[test]
fn the_plain_format_prints_one_progress_line_per_checkpoint() {
    let tmp = tempfile::tempdir().expect("temp TMPDIR");
    let home = tempfile::tempdir().expect("temp home");
    let mut cmd = arkor_command(home.path());
    cmd.args(["tui", "--headless", "--port", "0", "--demo"]);
    for (k, v) in demo_env(&tmp) {
        cmd.env(k, v);
    }
    let mut child = KillOnDrop(cmd.spawn().expect("arkor starts"));
    let stdout = child.0.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut progress = Vec::new();
    let mut seen = Vec::new();
    while progress.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no progress lines:\n{}",
            seen.join("\n")
        );
        let Some(Ok(line)) = lines.next() else {
            panic!("stdout ended:\n{}", seen.join("\n"));
        };
        if line.contains(" checkpoint at step ") {
            progress.push(line.clone());
        }
        seen.push(line);
    }
    // SAFETY: plain syscall on the child this test spawned (not yet reaped).
    unsafe {
        libc::kill(child.0.id() as i32, libc::SIGINT);
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.0.wait().expect("arkor exits");
    assert_eq!(status.code(), Some(130));
    // `12:00:05 run 1234 checkpoint at step 10/… (…%) · loss 1.2345 · … steps/s`
    for line in &progress {
        assert!(line.contains(" · loss "), "{line}");
        assert!(line.contains("steps/s"), "{line}");
    }
    assert!(
        rest.iter()
            .any(|l| l.contains("summary: run ") && l.contains("stopped by you at step")),
        "{rest:?}"
    );
    assert!(
        !seen
            .iter()
            .chain(&rest)
            .any(|l| l.contains("\"type\":\"metric\"")),
        "no JSON in the plain format"
    );
}

/// A failed assertion must not leave arkor (and, through its parent-death signal, its runs)
/// behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
