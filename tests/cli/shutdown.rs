//! Signals to the headless binary with a live run, and the binary's sudden death.

use serde_json::Value;

use super::support::*;

/// Start `arkor tui --headless --json --run` and wait for the run to have its job.
fn start_with_run(checkpoint_every: u32, extra: &[&str]) -> (TestProject, Headless, u32) {
    let p = TestProject::with_entry();
    let mut args = vec!["--run"];
    args.extend_from_slice(extra);
    let mut h = Headless::start(&p, &args, &sim_env(checkpoint_every));
    h.next_of_type("ready");
    let run = h.run_state(None, "running");
    let pid = run["pid"].as_u64().expect("pid") as u32;
    assert!(pid_alive(pid));
    (p, h, pid)
}

fn no_dev_event_after_shutdown(h: &Headless) {
    let lines = h.seen_json();
    let after: Vec<&Value> = lines
        .iter()
        .skip_while(|v| v["type"] != "shutdown")
        .filter(|v| is_dev_event(v))
        .collect();
    assert!(lines.iter().any(|v| v["type"] == "shutdown"));
    assert!(after.is_empty(), "dev events after shutdown: {after:?}");
}

#[test]
fn sigint_early_stops_the_run_exits_130_and_removes_the_token_file() {
    // Checkpoints 1 s apart: a save during the early stop has time to be (wrongly) built.
    let (p, mut h, pid) = start_with_run(50, &[]);
    let token_file = h.token_file();
    assert!(
        std::fs::read_to_string(&token_file).is_ok_and(|t| !t.trim().is_empty()),
        "token file written under HOME"
    );
    h.signal(libc::SIGINT);
    h.next_of_type("shutdown");
    let stopping = h.run_state(Some(pid.into()), "earlyStopping");
    assert!(stopping["killDeadline"].is_u64(), "{stopping}");
    p.write_by_rename(ENTRY, &entry_source("2e-4", "during-shutdown"));
    let exited = h.run_state(Some(pid.into()), "exited");
    assert_eq!(exited["state"]["status"], serde_json::json!({"code": 0}));
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(130), "stderr: {}", h.stderr());
    assert!(!token_file.exists(), "token file removed");
    assert!(!pid_alive(pid));
    no_dev_event_after_shutdown(&h);
}

/// The run early-stops (exit 0 for the engine's SIGTERM) and arkor exits 128+n.
fn signal_stops_gracefully(sig: i32, expected_code: i32) {
    let (_p, mut h, pid) = start_with_run(5, &[]);
    h.signal(sig);
    let exited = h.run_state(Some(pid.into()), "exited");
    assert_eq!(exited["state"]["status"], serde_json::json!({"code": 0}));
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(expected_code), "stderr: {}", h.stderr());
    assert!(!h.token_file().exists());
    assert!(!pid_alive(pid));
    no_dev_event_after_shutdown(&h);
}

#[test]
fn sigterm_early_stops_the_run_and_exits_143() {
    signal_stops_gracefully(libc::SIGTERM, 143);
}

#[test]
fn sighup_early_stops_the_run_and_exits_129() {
    signal_stops_gracefully(libc::SIGHUP, 129);
}

#[test]
fn a_second_sigint_during_the_early_stop_forces_it() {
    // No checkpoint will come, and the stop timeout is far beyond the test's patience:
    // only the forced stop can end the run in time.
    let (_p, mut h, pid) = start_with_run(1_000_000, &["--stop-timeout", "600"]);
    h.signal(libc::SIGINT);
    h.run_state(Some(pid.into()), "earlyStopping");
    h.signal(libc::SIGINT);
    let exited = h.run_state(Some(pid.into()), "exited");
    assert_eq!(exited["state"]["status"], serde_json::json!({"signal": 9}));
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(130), "stderr: {}", h.stderr());
    assert!(!pid_alive(pid));
    assert!(!h.token_file().exists());
}

#[test]
fn runs_die_with_a_sigkilled_arkor() {
    let (p, mut h, pid) = start_with_run(5, &[]);
    assert!(!processes_in(&p.root().canonicalize().expect("root")).is_empty());
    h.signal(libc::SIGKILL);
    let status = h.wait_exit();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    wait_until_blocking("the run to die with its parent", || {
        (!pid_alive(pid)).then_some(())
    });
    // Nothing arkor started (runs, the inspector helper) lives on in the project.
    let root = p.root().canonicalize().expect("project root");
    wait_until_blocking("every process in the project to be gone", || {
        processes_in(&root).is_empty().then_some(())
    });
}

/// Live processes whose working directory is `dir` (only this test's temp project).
fn processes_in(dir: &std::path::Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir)
                && pid_alive(pid)
        })
        .collect()
}

#[test]
fn sigint_during_the_first_build_starts_no_run_afterwards() {
    let p = TestProject::with_entry();
    let mut h = Headless::start(&p, &["--run"], &sim_env(5));
    h.next_of_type("server");
    h.signal(libc::SIGINT);
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(130), "stderr: {}", h.stderr());
    let lines = h.seen_json();
    let started_after: Vec<&Value> = lines
        .iter()
        .skip_while(|v| v["type"] != "shutdown")
        .filter(|v| v["type"] == "run" && v["state"]["state"] == "starting")
        .collect();
    assert!(
        started_after.is_empty(),
        "runs spawned after shutdown: {started_after:?}"
    );
    assert!(!h.token_file().exists(), "token file removed");
    for run in lines.iter().filter(|v| v["type"] == "run") {
        assert!(!pid_alive(run["pid"].as_u64().expect("pid") as u32));
    }
    no_dev_event_after_shutdown(&h);
}

#[test]
fn the_demo_runs_and_its_temp_project_is_removed_on_exit() {
    let tmp = tempfile::tempdir().expect("temp TMPDIR");
    let mut env = sim_env(5);
    env.push((
        "TMPDIR",
        tmp.path().to_str().expect("utf-8 path").to_owned(),
    ));
    let mut h = Headless::spawn(&["--demo"], &env);
    let ready = h.next_of_type("ready");
    assert_eq!(ready["trainerName"], "demo-triage");
    let demo_root = tmp.path().join(format!("arkor-demo-{}", h.child.id()));
    assert!(
        ready["outFile"]
            .as_str()
            .is_some_and(|f| f.starts_with(demo_root.to_str().expect("utf-8"))),
        "{ready} not under {}",
        demo_root.display()
    );
    let run = h.run_state(None, "running");
    let pid = run["pid"].as_u64().expect("pid") as u32;
    h.signal(libc::SIGINT);
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(130), "stderr: {}", h.stderr());
    assert!(!pid_alive(pid));
    assert!(!demo_root.exists(), "demo project removed");
}

#[test]
fn sigint_early_stops_a_studio_run_whose_stream_shows_the_runner_and_the_trailer() {
    use std::io::{Read, Write};

    let p = TestProject::with_entry();
    let mut h = Headless::start(&p, &[], &sim_env(5));
    let server = h.next_of_type("server");
    h.next_of_type("ready");
    let url = server["url"].as_str().expect("url").to_owned();
    let port: u16 = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in the url");
    let token = std::fs::read_to_string(h.token_file()).expect("token file");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    write!(
        stream,
        "POST /api/train HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Arkor-Studio-Token: {}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}",
        token.trim()
    )
    .expect("request");
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    while !chunked_body(&raw).contains("[v1] step=") {
        let n = stream.read(&mut buf).expect("read the train stream");
        assert!(
            n > 0,
            "stream ended early: {}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
    }
    assert!(raw.starts_with(b"HTTP/1.1 200 OK"));
    h.signal(libc::SIGINT);
    loop {
        let n = stream.read(&mut buf).expect("read the train stream");
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let body = chunked_body(&raw);
    assert!(
        body.contains("Received SIGTERM; early-stopping at next checkpoint"),
        "{body}"
    );
    assert!(body.ends_with("\n---\nexit=0\n"), "{body}");
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(130), "stderr: {}", h.stderr());
    assert!(!h.token_file().exists());
}
