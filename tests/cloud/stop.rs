//! Stop → cloud cancel end to end with a real child: the supervisor finds the job id from
//! the nonce-bearing marker, the child is killed, and `cancel_job` posts one cancel.

use std::time::Duration;

use arkor_tui::core::cloud::{CancelOutcome, CancelSnapshot, cancel_job};
use arkor_tui::core::logs::LogStore;
use arkor_tui::core::supervisor::{ChildEvent, ChildEvents, SpawnSpec, Supervisor};

use super::harness::{Builder, state};

/// A runner stand-in: decoys first (the nonce on stderr, a marker without the nonce, a
/// marker with another nonce, a marker split across two writes is the real one), then it
/// waits to be stopped.
const RUNNER: &str = r#"
const nonce = process.env.ARKOR_JOB_ID_MARKER_NONCE;
process.stderr.write(`[arkor:${nonce}] Started job decoy-on-stderr\n`);
process.stdout.write("Started job no-nonce\n");
process.stdout.write(`[arkor:${"0".repeat(32)}] Started job wrong-nonce\n`);
process.stdout.write("progress 10%");
setTimeout(() => {
  process.stdout.write(`\r[arkor:${nonce}] Started`);
  setTimeout(() => process.stdout.write(" job real-42\n"), 20);
}, 20);
setInterval(() => {}, 1000);
"#;

async fn next_event(events: &mut ChildEvents, pid: u32, want_exit: bool) -> ChildEvent {
    let wait = async {
        loop {
            match events.recv().await {
                Some(e @ ChildEvent::JobId { pid: p, .. }) if p == pid && !want_exit => return e,
                Some(e @ ChildEvent::Exited { pid: p, .. }) if p == pid => return e,
                Some(_) => continue,
                None => panic!("supervisor events ended"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("child event in time")
}

#[tokio::test]
async fn case_38_and_39_stop_cancels_the_job_the_nonce_marker_named() {
    let studio = Builder::new().state(state("anon-org", "p")).start().await;
    // Captured at spawn, as the engine does.
    let snapshot = CancelSnapshot::capture_in(&studio.project_root, studio.env());
    let (supervisor, mut events) = Supervisor::with_events(LogStore::new());
    let child = supervisor
        .spawn(
            SpawnSpec::new("node", &studio.project_root)
                .arg("-e")
                .arg(RUNNER),
            None,
        )
        .expect("node runs");

    let job_id = match next_event(&mut events, child.pid, false).await {
        ChildEvent::JobId { id, .. } => id,
        other => panic!("the child exited before its marker: {other:?}"),
    };
    assert_eq!(job_id, "real-42", "decoys never become the cancel target");

    // Stop: kill, wait until it is gone, then cancel the cloud job.
    supervisor.force_stop(child.pid);
    next_event(&mut events, child.pid, true).await;
    let outcome = cancel_job(snapshot, &job_id).await.expect("cancel sent");
    assert!(matches!(outcome, CancelOutcome::Cancelled { .. }));
    let cancels = studio.fake.requests_to("POST", "/v1/jobs/");
    assert_eq!(cancels.len(), 1, "exactly one cancel");
    assert_eq!(
        cancels[0].uri(),
        "/v1/jobs/real-42/cancel?orgSlug=anon-org&projectSlug=p"
    );
}
