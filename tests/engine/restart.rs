//! What a restarted run says about why it was started: the difference between its
//! predecessor's config and its own, whatever happened to the source in between.

use std::time::Duration;

use arkor_tui::core::engine::Command;
use arkor_tui::core::events::{ExitStatus, RestartCause, RunInfo, RunState};

use super::support::*;

/// Checkpoints 2 s apart: an early stop waits long enough for a second save to land.
fn slow_checkpoints() -> Vec<(String, String)> {
    fast_sim_env(100)
}

/// The replacement of `pid`, once it is running.
async fn running_replacement(e: &TestEngine, pid: u32) -> RunInfo {
    e.wait_for_run("the replacement run", |r| {
        replaces(r, pid) && r.state == RunState::Running
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_reverted_during_the_early_stop_is_not_the_replacements_label() {
    let mut e = TestEngine::start(Options {
        run_env: slow_checkpoints(),
        ..Options::default()
    });
    let ready = e.next_dev().await;
    let original = built_parts(&ready)
        .and_then(|(a, _)| a.config_hash.clone())
        .expect("config hash");
    let old = e.first_running_run().await;

    e.edit_config_restarting("learningRate: 2e-4,", "learningRate: 1e-4,", old.pid)
        .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    e.edit(TRAINER, "learningRate: 1e-4,", "learningRate: 2e-4,");
    e.next_dev().await;

    // Whichever way the timing went, the run that ends up on the original config does not
    // claim the change that was reverted.
    let last = e
        .wait_for_run("a running run on the original config", |r| {
            r.state == RunState::Running
                && r.restarted_from.is_some()
                && r.config_hash.as_deref() == Some(original.as_str())
        })
        .await;
    let cause = last.restarted_from.clone().expect("a restart").cause;
    assert!(
        !cause.to_string().contains("learningRate 0.0002 → 0.0001"),
        "{cause}"
    );
    if replaces(&last, old.pid) {
        // The revert landed during the early stop: the replacement has the original config.
        assert_eq!(cause.to_string(), "config changed and changed back");
    } else {
        // The early stop ended first: a replacement ran the new config and was restarted
        // again by the revert.
        eprintln!("the early stop ended before the revert: checked the second restart instead");
        assert_eq!(cause.to_string(), "learningRate 0.0001 → 0.0002");
    }
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_restart_of_a_restarted_run_is_labelled_manual() {
    let mut e = TestEngine::start(Options::default());
    e.next_dev().await;
    let old = e.first_running_run().await;
    e.edit(TRAINER, "learningRate: 2e-4,", "learningRate: 1e-4,");
    let first = running_replacement(&e, old.pid).await;
    assert_eq!(
        first.restarted_from.as_ref().map(|r| &r.cause),
        Some(&RestartCause::ConfigChanged {
            changes: vec![arkor_tui::core::events::ConfigChange {
                key: "learningRate".into(),
                old: Some("0.0002".into()),
                new: Some("0.0001".into()),
            }]
        })
    );

    e.handle.send(Command::RestartRun { pid: first.pid });
    let second = running_replacement(&e, first.pid).await;
    let restart = second.restarted_from.expect("a restart");
    assert_eq!(restart.cause, RestartCause::Manual);
    assert_eq!(restart.cause.to_string(), "manual restart");
    assert!(second.restart_reason.is_empty());
    let first_after = e
        .wait_run(first.pid, "the restarted run exited 0", |r| {
            is_exit(r, ExitStatus::Code(0))
        })
        .await;
    assert!(
        first_after.restart_reason.is_empty(),
        "a manual restart is no config change: {:?}",
        first_after.restart_reason
    );
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_config_change_reverted_before_any_signal_restarts_nothing() {
    let mut e = TestEngine::start(Options {
        on_config_change: ConfigChangePolicy::Hold,
        ..Options::default()
    });
    e.next_dev().await;
    let run = e.first_running_run().await;
    e.edit(TRAINER, "learningRate: 2e-4,", "learningRate: 1e-4,");
    let behind = e
        .wait_run(run.pid, "the run marked behind", |r| {
            r.pending_config.is_some()
        })
        .await;
    assert_eq!(
        behind
            .pending_config
            .iter()
            .flatten()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec!["learningRate 0.0002 → 0.0001"]
    );
    e.edit(TRAINER, "learningRate: 1e-4,", "learningRate: 2e-4,");
    let after = e
        .wait_run(run.pid, "the run back on the build's config", |r| {
            r.pending_config.is_none()
        })
        .await;
    assert_eq!(after.config_hash, run.config_hash);
    assert!(matches!(
        after.state,
        RunState::Running | RunState::HotSwapped
    ));
    assert_eq!(e.log_count(run.pid, RECEIVED_SIGTERM), 0);
    assert_eq!(e.handle.snapshot().runs.len(), 1, "no replacement");
    e.shutdown().await;
}
