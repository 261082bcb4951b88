//! Dispatch through the real supervisor: one signal per build, whoever asks how often.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arkor_tui::core::events::{
    BuiltArtifact, DispatchOutcome, ExitStatus, HotSwapTarget, RestartTarget, RunOrigin,
};
use arkor_tui::core::registry::{self, ChildRecord, DispatchPolicy, SignalOutcome, Signaller};
use nix::sys::signal::Signal;
use tokio::sync::{mpsc, oneshot};

use crate::support::*;

type SentSignals = Arc<Mutex<Vec<(u32, Signal, SignalOutcome)>>>;

/// A real signaller, with every signal it was asked to send written down.
struct CountingSignaller<S> {
    inner: S,
    sent: SentSignals,
}

impl<S: Signaller> Signaller for CountingSignaller<S> {
    fn signal(&self, pid: u32, signal: Signal) -> SignalOutcome {
        let outcome = self.inner.signal(pid, signal);
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((pid, signal, outcome));
        outcome
    }
}

/// A build with these hashes (what dispatch compares).
fn build(config_hash: &str, content_hash: &str) -> BuiltArtifact {
    BuiltArtifact {
        out_file: "/p/.arkor/build/index.mjs".into(),
        hash: "1-1-1".into(),
        content_hash: Some(content_hash.into()),
        config_hash: Some(config_hash.into()),
        trainer_name: None,
        config: None,
        build_duration: Duration::ZERO,
        inspect_duration: Duration::ZERO,
    }
}

struct DispatchRequest {
    config_hash: String,
    content_hash: String,
    reply: oneshot::Sender<DispatchOutcome>,
}

/// 200 tasks ask for the dispatch of the same build at once; the records' owner task (the
/// engine's role) applies each request in turn.
async fn dispatch_concurrently(
    requests: &mpsc::UnboundedSender<DispatchRequest>,
    config_hash: &str,
    content_hash: &str,
) -> Vec<DispatchOutcome> {
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let requests = requests.clone();
        let (config_hash, content_hash) = (config_hash.to_string(), content_hash.to_string());
        tasks.push(tokio::spawn(async move {
            let (reply, answer) = oneshot::channel();
            requests
                .send(DispatchRequest {
                    config_hash,
                    content_hash,
                    reply,
                })
                .expect("registry task alive");
            answer.await.expect("reply")
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_dispatches_of_one_build_send_one_signal() {
    let mut h = Harness::new();
    let child = h.spawn(node("runner.mjs", &[]).env("CHILD_CHECKPOINT_MS", "100"));
    let pid = child.pid;
    let mut record = ChildRecord::new(
        pid,
        RunOrigin::Engine,
        Some("cfg-A".into()),
        Some("art-1".into()),
    );
    record.job_id = Some(h.job_id(pid).await);
    let mut records = [record];

    let sent = SentSignals::default();
    let (requests, mut inbox) = mpsc::unbounded_channel::<DispatchRequest>();
    let (owner_supervisor, owner_sent) = (h.sup.clone(), sent.clone());
    let owner = tokio::spawn(async move {
        while let Some(request) = inbox.recv().await {
            let signaller = CountingSignaller {
                inner: &owner_supervisor,
                sent: owner_sent.clone(),
            };
            let outcome = registry::dispatch(
                records.iter_mut(),
                &build(&request.config_hash, &request.content_hash),
                &signaller,
                DispatchPolicy::default(),
            );
            let _ = request.reply.send(outcome);
        }
    });

    // A callback-only edit: same config, new bytes → one SIGUSR2, then no-ops.
    let outcomes = dispatch_concurrently(&requests, "cfg-A", "art-2").await;
    let swaps: Vec<&DispatchOutcome> = outcomes
        .iter()
        .filter(|o| **o != DispatchOutcome::default())
        .collect();
    assert_eq!(
        swaps,
        vec![&DispatchOutcome {
            hot_swap_targets: vec![HotSwapTarget {
                pid,
                train_file: None
            }],
            ..DispatchOutcome::default()
        }]
    );
    h.line(pid, |l| l == "hot-swap 1").await;

    // A config edit: one SIGTERM, then the latch skips the run.
    let outcomes = dispatch_concurrently(&requests, "cfg-B", "art-3").await;
    let restarts: Vec<&DispatchOutcome> = outcomes
        .iter()
        .filter(|o| **o != DispatchOutcome::default())
        .collect();
    assert_eq!(
        restarts,
        vec![&DispatchOutcome {
            hot_swap_targets: vec![],
            restart_targets: vec![RestartTarget {
                pid,
                train_file: None,
                forced_kill: None
            }],
            ..DispatchOutcome::default()
        }]
    );
    // A second SIGTERM would have made the runner exit 143 without its checkpoint.
    assert_eq!(h.exited(pid).await, ExitStatus::Code(0));

    let sent = sent.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(
        sent,
        vec![
            (pid, Signal::SIGUSR2, SignalOutcome::Delivered),
            (pid, Signal::SIGTERM, SignalOutcome::Delivered)
        ]
    );
    let texts: Vec<String> = h.lines(pid).into_iter().map(|l| l.1).collect();
    assert!(!texts.iter().any(|t| t == "hot-swap 2"), "{texts:?}");
    assert!(texts.iter().any(|t| t == "checkpoint saved"), "{texts:?}");
    drop(requests);
    owner.await.expect("owner");
}

#[tokio::test]
async fn a_run_that_exited_before_dispatch_is_neither_target() {
    let mut h = Harness::new();
    let child = h.spawn(node("exit.mjs", &["code", "0"]));
    let mut records = [ChildRecord::new(
        child.pid,
        RunOrigin::Http,
        Some("a".into()),
        Some("x".into()),
    )];
    // Ready (a job id), so dispatch would signal it.
    records[0].job_id = Some("job".into());
    h.exited(child.pid).await;
    // Rebuild lands between the exit and the engine hearing of it.
    let outcome = registry::dispatch(
        records.iter_mut(),
        &build("b", "y"),
        &h.sup,
        DispatchPolicy::default(),
    );
    assert_eq!(outcome, DispatchOutcome::default());
    assert!(!records[0].early_stop_requested);
}

#[tokio::test]
async fn signal_to_handler_latency() {
    let mut h = Harness::new();
    let child = h.spawn(node("runner.mjs", &[]));
    h.job_id(child.pid).await;
    let mut latencies = Vec::new();
    for n in 1..=30 {
        let started = Instant::now();
        assert_eq!(
            h.sup.signal(child.pid, Signal::SIGUSR2),
            SignalOutcome::Delivered
        );
        let expected = format!("hot-swap {n}");
        h.line(child.pid, |l| l == expected).await;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let p50 = percentile(&latencies, 0.5);
    let p95 = percentile(&latencies, 0.95);
    assert!(p50 < Duration::from_secs(1), "{p50:?}");
    println!(
        "signal() → child's SIGUSR2 handler output stored and notified: p50 {p50:?}, p95 {p95:?}, max {:?}",
        latencies.last().copied().unwrap_or_default()
    );
    h.sup.force_stop(child.pid);
    h.exited(child.pid).await;
}
