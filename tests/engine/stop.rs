//! Stops: SIGKILL escalation of a run that never reaches its checkpoint, graceful shutdown,
//! and runs started over HTTP (never restarted by the engine, killed when abandoned).

use std::time::Duration;

use arkor_tui::core::engine::{Command, OutputReceiver, RunOutput};
use arkor_tui::core::events::{EngineEvent, ExitStatus, NoticeLevel, RunOrigin, RunState};

use super::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_never_reaches_a_checkpoint_is_killed_after_the_stop_timeout() {
    // No checkpoint within the test, and the runner's own early-stop timeout far away: it
    // acknowledges SIGTERM and keeps running, like a runner that ignores it.
    let mut e = TestEngine::start(Options {
        stop_timeout: Duration::from_secs(1),
        run_env: fast_sim_env(1_000_000),
        ..Options::default()
    });
    let run = e.first_running_run().await;
    e.handle.send(Command::StopRun {
        pid: run.pid,
        force: false,
    });
    let stopping = e
        .wait_run(run.pid, "early-stopping", |r| {
            r.state == RunState::EarlyStopping
        })
        .await;
    assert!(stopping.kill_deadline.is_some(), "{stopping:?}");
    let pid = run.pid;
    let notice = e
        .next_event(|ev| match ev {
            EngineEvent::Notice { level, message } if message.contains(&pid.to_string()) => {
                Some((*level, message.clone()))
            }
            _ => None,
        })
        .await;
    assert_eq!(notice.0, NoticeLevel::Warn);
    assert!(notice.1.contains("SIGKILL"), "{}", notice.1);
    assert!(
        notice.1.contains("within 1s"),
        "names the timeout used: {}",
        notice.1
    );
    let exited = e
        .wait_run(pid, "killed", |r| {
            matches!(r.state, RunState::Exited { .. })
        })
        .await;
    assert!(is_exit(&exited, ExitStatus::Signal(9)), "{exited:?}");
    assert_eq!(exited.kill_deadline, None, "cleared once the run is gone");
    assert!(!pid_alive(pid));
    assert_eq!(
        e.log_count(pid, "Received SIGTERM; early-stopping at next checkpoint"),
        1,
        "{}",
        e.log_text(pid)
    );
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_early_stops_runs_and_publishes_no_more_dev_events() {
    let mut e = TestEngine::start(Options {
        run_env: fast_sim_env(25),
        ..Options::default()
    });
    e.next_dev().await;
    let run = e.first_running_run().await;
    let (_, mut dev) = e.handle.subscribe_dev();
    e.handle.send(Command::Shutdown { force: false });
    e.next_event(|ev| matches!(ev, EngineEvent::ShuttingDown).then_some(()))
        .await;
    // A save while the run is still early-stopping must not be built or broadcast.
    e.edit(
        CALLBACKS,
        r#"const LABEL = "v1";"#,
        r#"const LABEL = "late";"#,
    );
    e.next_event(|ev| matches!(ev, EngineEvent::Stopped).then_some(()))
        .await;
    let exited = e.run(run.pid).expect("run kept");
    assert!(is_exit(&exited, ExitStatus::Code(0)), "{exited:?}");
    assert_eq!(
        e.log_count(
            run.pid,
            "Received SIGTERM; early-stopping at next checkpoint"
        ),
        1
    );
    assert!(
        dev.try_recv().is_err(),
        "no dev event after shutdown began (docs/protocol.md D32)"
    );
    e.shutdown().await;
}

/// Read a run's raw output until it ends; returns the text and the exit status.
async fn drain(output: &mut OutputReceiver, text: &mut String) -> ExitStatus {
    loop {
        match tokio::time::timeout(WAIT, output.recv()).await {
            Ok(Some(RunOutput::Data(bytes))) => text.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(Some(RunOutput::Exited(status))) => return status,
            Ok(Some(RunOutput::Dropped(n))) => panic!("{n} bytes dropped from a small output"),
            Ok(None) => panic!("output ended without Exited"),
            Err(_) => panic!("timed out waiting for run output"),
        }
    }
}

/// Read until `needle` shows up in the raw output.
async fn read_until(output: &mut OutputReceiver, text: &mut String, needle: &str) {
    while !text.contains(needle) {
        match tokio::time::timeout(WAIT, output.recv()).await {
            Ok(Some(RunOutput::Data(bytes))) => text.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("run output ended before {needle:?}: {other:?}\n{text}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_runs_stream_raw_output_are_not_restarted_and_die_when_abandoned() {
    let mut e = TestEngine::start(Options {
        run_on_ready: false,
        ..Options::default()
    });
    assert_eq!(e.next_dev().await.type_name(), "ready");

    let handle = e
        .handle
        .start_run(RunOrigin::Http)
        .await
        .expect("run starts");
    let pid = handle.pid;
    let mut output = handle.output.expect("HTTP runs get their raw output");
    let mut text = String::new();
    read_until(&mut output, &mut text, "Started job").await;
    read_until(&mut output, &mut text, "[v1] step=").await;
    e.wait_run(pid, "running", |r| r.state == RunState::Running)
        .await;

    // A config change makes it a restart target, but only its HTTP client may restart it.
    e.edit(TRAINER, "learningRate: 2e-4,", "learningRate: 5e-4,");
    let rebuild = e.next_dev().await;
    let (_, dispatch) = built_parts(&rebuild).expect("a build");
    let dispatch = dispatch.expect("dispatched");
    assert_eq!(
        dispatch
            .restart_targets
            .iter()
            .map(|t| t.pid)
            .collect::<Vec<_>>(),
        vec![pid]
    );
    let status = drain(&mut output, &mut text).await;
    assert_eq!(status, ExitStatus::Code(0), "{text}");
    assert!(
        text.contains("Received SIGTERM; early-stopping at next checkpoint"),
        "{text}"
    );
    let exited = e
        .wait_run(pid, "exited", |r| {
            matches!(r.state, RunState::Exited { .. })
        })
        .await;
    assert!(is_exit(&exited, ExitStatus::Code(0)), "{exited:?}");
    // A replacement would have been started in the same step that recorded the exit.
    let runs = e.handle.snapshot().runs;
    assert_eq!(runs.len(), 1, "the engine restarted an HTTP run: {runs:?}");

    // The Studio's "Stop": the client went away; the run is killed once its job id is known.
    let handle = e
        .handle
        .start_run(RunOrigin::Http)
        .await
        .expect("run starts");
    let second = handle.pid;
    let mut output = handle.output.expect("raw output");
    let mut text = String::new();
    e.wait_run(second, "running", |r| r.state == RunState::Running)
        .await;
    e.handle.send(Command::AbandonHttpRun { pid: second });
    let status = drain(&mut output, &mut text).await;
    assert_eq!(status, ExitStatus::Signal(9), "{text}");
    assert!(!pid_alive(second));
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_run_abandoned_before_its_job_exists_is_killed_after_the_wait() {
    let mut env = fast_sim_env(5);
    // The job id never comes within the test.
    env.retain(|(k, _)| k != "ARKOR_SIM_START_MS");
    env.push(("ARKOR_SIM_START_MS".into(), "600000".into()));
    let mut e = TestEngine::start(Options {
        run_on_ready: false,
        run_env: env,
        ..Options::default()
    });
    e.next_dev().await;
    let handle = e
        .handle
        .start_run(RunOrigin::Http)
        .await
        .expect("run starts");
    let pid = handle.pid;
    let mut output = handle.output.expect("raw output");
    e.handle.send(Command::AbandonHttpRun { pid });
    let mut text = String::new();
    let status = drain(&mut output, &mut text).await;
    assert_eq!(status, ExitStatus::Signal(9), "{text}");
    let run = e
        .wait_run(pid, "exited", |r| {
            matches!(r.state, RunState::Exited { .. })
        })
        .await;
    assert_eq!(run.job_id, None);
    assert!(!pid_alive(pid));
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_finishes_its_job_exits_0_and_is_not_restarted() {
    let mut env = fast_sim_env(5);
    env.retain(|(k, _)| k != "ARKOR_SIM_MAX_STEPS");
    env.push(("ARKOR_SIM_MAX_STEPS".into(), "10".into()));
    let e = TestEngine::start(Options {
        run_env: env,
        ..Options::default()
    });
    let run = wait_until("the run", || e.handle.snapshot().runs.first().cloned()).await;
    let done = e
        .wait_run(run.pid, "exited", |r| {
            matches!(r.state, RunState::Exited { .. })
        })
        .await;
    assert!(is_exit(&done, ExitStatus::Code(0)), "{done:?}");
    assert!(
        e.log_count(run.pid, "finished with status=completed") == 1,
        "{}",
        e.log_text(run.pid)
    );
    assert!(e.log_count(run.pid, "training completed") == 1);
    assert_eq!(e.handle.snapshot().runs.len(), 1, "not restarted");
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_broken_sdk_is_named_once_in_the_start_error() {
    let e = TestEngine::start(Options {
        run_on_ready: false,
        ..Options::default()
    });
    let sdk = e.path("node_modules/arkor");
    std::fs::rename(&sdk, e.path("node_modules/arkor-away")).expect("hide the SDK");
    let err = e
        .handle
        .start_run(RunOrigin::Http)
        .await
        .expect_err("no SDK, no run");
    let message = err.to_string();
    assert_eq!(
        message,
        format!(
            "the arkor SDK is not installed in {} (no node_modules/arkor): run `npm install` there",
            e.project.root.display()
        )
    );
    assert_eq!(message.matches("not installed").count(), 1);

    // A package.json that cannot be used: its own message, once, naming the file.
    std::fs::create_dir_all(&sdk).expect("sdk dir");
    std::fs::write(sdk.join("package.json"), "{ not json").expect("broken manifest");
    let message = e
        .handle
        .start_run(RunOrigin::Http)
        .await
        .expect_err("unusable SDK, no run")
        .to_string();
    assert!(
        message.starts_with(&sdk.join("package.json").display().to_string())
            && message.contains("is not a usable arkor package.json"),
        "{message}"
    );
    assert_eq!(message.matches("package.json").count(), 2, "{message}");
    e.shutdown().await;
}
