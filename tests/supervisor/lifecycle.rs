//! Spawn, exit status, stop, process groups, shutdown, parent death. (When a stop that
//! takes too long becomes a SIGKILL is the engine's timer: tests/engine and the engine's
//! unit tests.)

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arkor_tui::core::events::ExitStatus;
use arkor_tui::core::logs::{LogStore, LogStream};
use arkor_tui::core::registry::SignalOutcome;
use arkor_tui::core::supervisor::{ChildEvent, SpawnError, SpawnSpec, Supervisor};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::*;

#[tokio::test]
async fn spawn_passes_cwd_env_nonce_and_a_null_stdin() {
    let mut h = Harness::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let script = "const fs = require('fs'); \
        console.log(JSON.stringify({cwd: process.cwd(), extra: process.env.EXTRA_VAR, \
        nonce: process.env.ARKOR_JOB_ID_MARKER_NONCE, stdin: fs.readFileSync(0).length}));";
    let spec = SpawnSpec::new("node", dir.path())
        .arg("-e")
        .arg(script)
        .env("EXTRA_VAR", "from-the-caller");
    let child = h.spawn(spec);
    assert_eq!(child.nonce.len(), 32);
    assert!(
        child
            .nonce
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    let line = h.line(child.pid, |l| l.starts_with('{')).await;
    let seen: serde_json::Value = serde_json::from_str(&line).expect("json line");
    let cwd = dir.path().canonicalize().expect("canonical tempdir");
    assert_eq!(seen["cwd"], cwd.display().to_string());
    assert_eq!(seen["extra"], "from-the-caller");
    assert_eq!(seen["nonce"], child.nonce.as_str());
    assert_eq!(seen["stdin"], 0);
    assert_eq!(h.exited(child.pid).await, ExitStatus::Code(0));

    // A second spawn gets a different nonce.
    let other = h.spawn(node("exit.mjs", &["code", "0"]));
    assert_ne!(other.nonce, child.nonce);
    h.exited(other.pid).await;
}

#[tokio::test]
async fn each_child_leads_its_own_process_group() {
    let mut h = Harness::new();
    let child = h.spawn(node("ignore_sigterm.mjs", &[]));
    h.line(child.pid, |l| l == "ready").await;
    assert_eq!(pgrp_of(child.pid), Some(child.pid));
    assert_ne!(pgrp_of(std::process::id()), Some(child.pid));
    assert_eq!(h.sup.force_stop(child.pid), SignalOutcome::Delivered);
    assert_eq!(
        h.exited(child.pid).await,
        ExitStatus::Signal(Signal::SIGKILL as i32)
    );
}

#[tokio::test]
async fn exit_status_reports_codes_and_signals() {
    let mut h = Harness::new();
    let cases = [
        (vec!["code", "7"], ExitStatus::Code(7), "exited with code 7"),
        (vec!["code", "0"], ExitStatus::Code(0), "exited with code 0"),
        (
            vec!["signal", "SIGKILL"],
            ExitStatus::Signal(9),
            "killed by SIGKILL",
        ),
        (
            vec!["signal", "SIGTERM"],
            ExitStatus::Signal(15),
            "killed by SIGTERM",
        ),
    ];
    for (args, expected, system_line) in cases {
        let child = h.spawn(node("exit.mjs", &args));
        assert_eq!(h.exited(child.pid).await, expected, "{args:?}");
        let lines = h.lines(child.pid);
        assert_eq!(
            lines.first().map(|l| l.1.as_str()),
            Some(format!("ending with {} {}", args[0], args[1]).as_str())
        );
        assert_eq!(
            lines.last(),
            Some(&(LogStream::System, system_line.to_string()))
        );
        // Reaped: no zombie left behind.
        assert!(
            std::fs::read_to_string(format!("/proc/{}/stat", child.pid)).is_err(),
            "pid {} not reaped",
            child.pid
        );
    }
}

#[tokio::test]
async fn signals_to_an_exited_or_unknown_child_are_gone() {
    let mut h = Harness::new();
    let child = h.spawn(node("exit.mjs", &["code", "0"]));
    h.exited(child.pid).await;
    assert_eq!(
        h.sup.signal(child.pid, Signal::SIGUSR2),
        SignalOutcome::Gone
    );
    assert_eq!(h.sup.force_stop(child.pid), SignalOutcome::Gone);
    assert_eq!(h.sup.terminate(child.pid), SignalOutcome::Gone);
    // A pid this supervisor never started is never signalled.
    assert_eq!(
        h.sup.signal(std::process::id(), Signal::SIGTERM),
        SignalOutcome::Gone
    );
    assert!(h.sup.live_pids().is_empty());
}

#[tokio::test]
async fn spawn_of_a_missing_program_is_a_typed_error() {
    let h = Harness::new();
    let err = h
        .sup
        .spawn(SpawnSpec::new("/nonexistent/arkor-node", fixtures()), None)
        .err();
    assert!(matches!(err, Some(SpawnError::Io { .. })), "{err:?}");
    assert_eq!(h.sup.live_count(), 0);
}

#[tokio::test]
async fn terminate_waits_for_the_checkpoint_and_never_sends_a_second_sigterm() {
    let mut h = Harness::new();
    let child = h.spawn(node("runner.mjs", &[]));
    h.job_id(child.pid).await;
    assert_eq!(h.sup.terminate(child.pid), SignalOutcome::Delivered);
    // Asking again (a second stop request, a rebuild) sends nothing.
    assert_eq!(h.sup.terminate(child.pid), SignalOutcome::Delivered);
    assert_eq!(h.exited(child.pid).await, ExitStatus::Code(0));
    let texts: Vec<String> = h.lines(child.pid).into_iter().map(|l| l.1).collect();
    assert!(texts.iter().any(|t| t == "checkpoint saved"), "{texts:?}");
    assert!(
        !texts.iter().any(|t| t.contains("second SIGTERM")),
        "{texts:?}"
    );
}

#[tokio::test]
async fn terminate_after_a_raw_sigterm_sends_no_second_one() {
    let mut h = Harness::new();
    let child = h.spawn(node("runner.mjs", &[]).env("CHILD_CHECKPOINT_MS", "700"));
    h.job_id(child.pid).await;
    assert_eq!(
        h.sup.signal(child.pid, Signal::SIGTERM),
        SignalOutcome::Delivered
    );
    h.line(child.pid, |l| l.starts_with("Received SIGTERM"))
        .await;
    assert_eq!(h.sup.terminate(child.pid), SignalOutcome::Delivered);
    assert_eq!(h.exited(child.pid).await, ExitStatus::Code(0));
    let texts: Vec<String> = h.lines(child.pid).into_iter().map(|l| l.1).collect();
    assert!(
        !texts.iter().any(|t| t.contains("second SIGTERM")),
        "{texts:?}"
    );
}

#[tokio::test]
async fn force_stop_during_an_early_stop_kills_at_once() {
    let mut h = Harness::new();
    let child = h.spawn(node("ignore_sigterm.mjs", &[]));
    h.line(child.pid, |l| l == "ready").await;
    assert_eq!(h.sup.terminate(child.pid), SignalOutcome::Delivered);
    h.line(child.pid, |l| l == "ignoring SIGTERM").await;
    assert_eq!(h.sup.force_stop(child.pid), SignalOutcome::Delivered);
    assert_eq!(h.exited(child.pid).await, ExitStatus::Signal(9));
}

#[tokio::test]
async fn force_stop_kills_the_whole_group_including_the_grandchild() {
    let mut h = Harness::new();
    let child = h.spawn(node("family.mjs", &[]));
    let line = h.line(child.pid, |l| l.starts_with("grandchild ")).await;
    let grandchild: u32 = line["grandchild ".len()..].parse().expect("grandchild pid");
    assert!(pid_alive(grandchild));
    assert_eq!(pgrp_of(grandchild), Some(child.pid));
    assert_eq!(h.sup.force_stop(child.pid), SignalOutcome::Delivered);
    assert_eq!(h.exited(child.pid).await, ExitStatus::Signal(9));
    // Exited comes after the group is gone, so the grandchild is already dead.
    assert!(!pid_alive(grandchild), "grandchild {grandchild} survived");
}

#[tokio::test]
async fn leftover_grandchild_is_cleaned_up_after_the_child_exits_by_itself() {
    let mut h = Harness::new();
    let child = h.spawn(node("family.mjs", &["exit"]));
    let line = h.line(child.pid, |l| l.starts_with("grandchild ")).await;
    let grandchild: u32 = line["grandchild ".len()..].parse().expect("grandchild pid");
    assert_eq!(h.exited(child.pid).await, ExitStatus::Code(0));
    assert!(
        !pid_alive(grandchild),
        "grandchild {grandchild} survived its parent"
    );
}

#[tokio::test]
async fn shutdown_all_stops_everyone_and_refuses_new_runs() {
    let mut h = Harness::new();
    let runner = h.spawn(node("runner.mjs", &[]));
    let stubborn = h.spawn(node("ignore_sigterm.mjs", &[]));
    let family = h.spawn(node("family.mjs", &[]));
    h.job_id(runner.pid).await;
    h.line(stubborn.pid, |l| l == "ready").await;
    let line = h.line(family.pid, |l| l.starts_with("grandchild ")).await;
    let grandchild: u32 = line["grandchild ".len()..].parse().expect("grandchild pid");

    let started = Instant::now();
    let report = h.sup.shutdown_all(Duration::from_millis(1500)).await;
    let took = started.elapsed();
    assert_eq!(report.stopped, 3);
    assert!(!report.graceful, "the SIGTERM-ignoring child needs SIGKILL");
    assert_eq!(report.remaining, 0);
    assert_eq!(h.sup.live_count(), 0);
    assert!(took < Duration::from_secs(10), "{took:?}");

    let mut statuses = std::collections::HashMap::new();
    while let Some(event) = h.events.try_recv() {
        if let ChildEvent::Exited { pid, status } = event {
            statuses.insert(pid, status);
        }
    }
    assert_eq!(
        statuses.get(&runner.pid),
        Some(&ExitStatus::Code(0)),
        "runner checkpointed"
    );
    assert_eq!(statuses.get(&stubborn.pid), Some(&ExitStatus::Signal(9)));
    assert!(statuses.contains_key(&family.pid));
    assert!(!pid_alive(grandchild));
    assert!(matches!(
        h.sup.spawn(node("exit.mjs", &["code", "0"]), None),
        Err(SpawnError::ShuttingDown)
    ));
    println!("shutdown_all of 3 runs (one ignoring SIGTERM, grace 1.5 s) took {took:?}");
}

/// Not a test on its own: run by `a_sigkilled_supervisor_takes_its_children_along` in a
/// separate process, which it then SIGKILLs.
#[test]
#[ignore = "helper process for the parent-death test"]
fn pdeathsig_helper() {
    let Ok(fixture) = std::env::var("ARKOR_PDEATHSIG_FIXTURE") else {
        return;
    };
    let (sup, _events) = Supervisor::with_events(LogStore::new());
    // Spawn from a short-lived thread: the child must not die when this thread ends,
    // only when the whole process does.
    let spawner_sup = sup.clone();
    let spec = SpawnSpec::new("node", fixtures()).arg(fixture);
    let child = std::thread::spawn(move || spawner_sup.spawn(spec, None))
        .join()
        .expect("thread")
        .expect("spawn");
    println!("PDEATHSIG-CHILD={}", child.pid);
    loop {
        std::thread::park();
    }
}

#[tokio::test]
async fn a_sigkilled_supervisor_takes_its_children_along() {
    let exe = std::env::current_exe().expect("test binary");
    let mut helper = Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "lifecycle::pdeathsig_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "ARKOR_PDEATHSIG_FIXTURE",
            fixtures().join("ignore_sigterm.mjs"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("helper");
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = helper.stdout.take().expect("stdout");
    let helper = KillOnDrop(helper);
    let reader = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                let (_, pid) = l.split_once("PDEATHSIG-CHILD=")?;
                pid.trim().parse::<u32>().ok()
            })
    });
    // On a timeout the helper is killed on drop, which ends the blocked reader too.
    let child_pid = tokio::time::timeout(WAIT, reader)
        .await
        .expect("helper printed in time")
        .expect("reader")
        .expect("helper printed the child pid");
    // The spawning thread ended before the pid was printed; the child lives on.
    assert!(pid_alive(child_pid), "child died with its spawning thread");

    kill(Pid::from_raw(helper.0.id() as i32), Signal::SIGKILL).expect("kill helper");
    let started = Instant::now();
    wait_until("the child to die with its SIGKILLed parent", || {
        (!pid_alive(child_pid)).then_some(())
    })
    .await;
    println!(
        "child gone {:?} after its parent was SIGKILLed",
        started.elapsed()
    );
    drop(helper);
}

#[tokio::test]
async fn spawn_call_cost_and_reap_round_trip() {
    let mut h = Harness::new();
    let mut spawn_calls = Vec::new();
    let mut round_trips = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let child = h.spawn(SpawnSpec::new("node", fixtures()).arg("-e").arg(""));
        spawn_calls.push(started.elapsed());
        assert_eq!(h.exited(child.pid).await, ExitStatus::Code(0));
        round_trips.push(started.elapsed());
    }
    spawn_calls.sort();
    round_trips.sort();
    let p50_spawn = percentile(&spawn_calls, 0.5);
    assert!(p50_spawn < Duration::from_secs(5), "{p50_spawn:?}");
    println!(
        "spawn() call p50 {p50_spawn:?} (max {:?}); spawn → node exit → Exited p50 {:?}",
        spawn_calls.last().copied().unwrap_or_default(),
        percentile(&round_trips, 0.5)
    );
}

#[tokio::test]
async fn hot_swap_signal_reaches_only_the_runner_but_termination_reaches_the_group() {
    let mut h = Harness::new();
    let child = h.spawn(node("family.mjs", &[]));
    h.line(child.pid, |l| l.starts_with("grandchild ")).await;
    // SIGUSR2 would kill a grandchild without a handler: it goes to the runner only.
    assert_eq!(
        h.sup.signal(child.pid, Signal::SIGUSR2),
        SignalOutcome::Delivered
    );
    h.line(child.pid, |l| l == "parent got SIGUSR2").await;
    // SIGTERM goes to the whole group; the parent reports how its grandchild ended.
    assert_eq!(
        h.sup.signal(child.pid, Signal::SIGTERM),
        SignalOutcome::Delivered
    );
    let ended = h
        .line(child.pid, |l| l.starts_with("grandchild exited"))
        .await;
    assert_eq!(ended, "grandchild exited SIGTERM");
    assert_eq!(h.exited(child.pid).await, ExitStatus::Code(0));
}

#[tokio::test]
async fn a_second_quit_request_forces_a_pending_shutdown() {
    let mut h = Harness::new();
    let stubborn = h.spawn(node("ignore_sigterm.mjs", &[]));
    h.line(stubborn.pid, |l| l == "ready").await;
    let started = Instant::now();
    let shutdown = tokio::spawn(h.sup.shutdown_all(Duration::from_secs(60)));
    h.line(stubborn.pid, |l| l == "ignoring SIGTERM").await;
    assert_eq!(h.sup.force_stop_all(), 1);
    let report = tokio::time::timeout(WAIT, shutdown)
        .await
        .expect("in time")
        .expect("task");
    assert_eq!(
        (report.stopped, report.graceful, report.remaining),
        (1, false, 0)
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(h.exited(stubborn.pid).await, ExitStatus::Signal(9));
}
