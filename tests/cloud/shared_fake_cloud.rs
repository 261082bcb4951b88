//! Following a job on the shared fake cloud (`fake-cloud.mjs`, the stand-in the external
//! checks use), through a loopback proxy that cuts the connection twice mid-training: every
//! step arrives exactly once, and every loss and eval loss matches the fake's formulas.
//!
//! Needs `ARKOR_TEST_FAKE_CLOUD` = the path of `fake-cloud.mjs` (and `node` on PATH); the
//! test is skipped, saying so, when it is not set.

use std::sync::{Arc, Mutex};

use arkor_tui::core::cloud::SpawnSnapshot;
use arkor_tui::core::cloud::job_events::{FollowEnd, StreamHealth};
use arkor_tui::core::training::CloudVerdict;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::job_events::Following;
use super::node_fake::{FakeProject, NodeFake, Pace, assert_whole_and_exact, fake_cloud_script};

const MAX_STEPS: u64 = 600;

/// A loopback TCP proxy whose live connections the test can cut.
struct CuttableProxy {
    base: String,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepted: Arc<Mutex<usize>>,
    acceptor: JoinHandle<()>,
}

impl CuttableProxy {
    async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepted: Arc<Mutex<usize>> = Arc::default();
        let (conns, count) = (connections.clone(), accepted.clone());
        let acceptor = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                *count.lock().unwrap() += 1;
                let upstream = upstream.clone();
                conns.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Self {
            base,
            connections,
            accepted,
            acceptor,
        }
    }

    /// Drop every live connection (both sockets close).
    fn cut(&self) {
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    fn accepted(&self) -> usize {
        *self.accepted.lock().unwrap()
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.cut();
        self.acceptor.abort();
    }
}

#[tokio::test]
async fn a_job_on_the_shared_fake_cloud_arrives_whole_and_exact_across_cuts() {
    let Some(script) = fake_cloud_script("follow a job") else {
        return;
    };
    let pace = Pace {
        step_ms: 5,
        checkpoint_ms: 200,
        max_steps: MAX_STEPS,
        eval_every: 25,
    };
    let cloud = NodeFake::start(&script, &pace).await;
    let proxy = CuttableProxy::start(&cloud.base).await;
    let project = FakeProject::new(&proxy.base);
    let snapshot = SpawnSnapshot::capture_in(project.root(), project.env());
    let job_id = cloud
        .create_job(
            "exact",
            json!({"maxSteps": MAX_STEPS, "learningRate": 1e-4}),
        )
        .await;

    let mut following = Following::start(snapshot, &job_id, Some(MAX_STEPS));
    for cut_at in [100, 250] {
        following
            .until("the cut", |f| {
                f.step_reached().is_some_and(|s| s >= cut_at) || f.metrics.verdict().is_some()
            })
            .await;
        proxy.cut();
    }
    following.run_to_the_end().await;

    assert_eq!(following.end, Some(FollowEnd::JobEnded));
    assert_eq!(following.metrics.verdict(), Some(&CloudVerdict::Completed));
    assert!(
        !following
            .health
            .iter()
            .any(|h| matches!(h, StreamHealth::Down { .. })),
        "cuts that heal at once are not outages: {:?}",
        following.health
    );
    eprintln!("connections through the proxy: {}", proxy.accepted());
    assert!(proxy.accepted() >= 2, "the stream was reopened");

    let (losses, evals) = assert_whole_and_exact(&following.delivered, &pace, 1e-4);

    // The series holds the same numbers (all of them: 600 points fit undownsampled).
    let metrics = &following.metrics;
    let series: Vec<(u64, f64)> = metrics.loss().points().map(|p| (p.step, p.value)).collect();
    assert_eq!(series, losses);
    let progress = metrics.progress();
    assert_eq!(progress.step, Some(MAX_STEPS));
    assert_eq!(progress.fraction(), Some(1.0));
    assert_eq!(progress.loss, Some(losses.last().unwrap().1));
    assert_eq!(progress.eval_loss, Some(evals.last().unwrap().1));
    assert!(metrics.checkpoints().saved() >= 1);
    assert_eq!(metrics.malformed_frames(), 0);
}
