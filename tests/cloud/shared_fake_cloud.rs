//! Following a job on the shared fake cloud (`fake-cloud.mjs`, the stand-in the external
//! checks use), through a loopback proxy that cuts the connection twice mid-training: every
//! step arrives exactly once, and every loss and eval loss matches the fake's formulas.
//!
//! Needs `ARKOR_TEST_FAKE_CLOUD` = the path of `fake-cloud.mjs` (and `node` on PATH); the
//! test is skipped, saying so, when it is not set.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arkor_tui::core::cloud::job_events::{FollowEnd, JobEventKind, StreamHealth};
use arkor_tui::core::cloud::{CloudEnv, SpawnSnapshot};
use arkor_tui::core::training::CloudVerdict;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::harness::write_json;
use super::job_events::Following;

const MAX_STEPS: u64 = 600;
const EVAL_EVERY: u64 = 25;

/// The fake's training loss at a step (`lossAt` in fake-cloud.mjs).
fn loss_at(step: u64) -> f64 {
    let s = step as f64;
    2.0 / (1.0 + s / 50.0) + 0.01 * s.sin()
}

/// The fake's eval loss at a step (`evalLossAt` in fake-cloud.mjs).
fn eval_loss_at(step: u64) -> f64 {
    2.2 / (1.0 + step as f64 / 60.0)
}

/// The fake sends `Number(x.toFixed(4))`: within half a unit of the 4th decimal.
fn matches_4_decimals(sent: f64, exact: f64) -> bool {
    (sent - exact).abs() <= 0.5e-4 + 1e-12 && ((sent * 1e4).round() - sent * 1e4).abs() < 1e-6
}

struct NodeFake {
    base: String,
    child: Child,
}

impl Drop for NodeFake {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn start_node_fake(script: &PathBuf) -> NodeFake {
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("node")
        .arg(script)
        .arg(port.to_string())
        .env("STEP_MS", "5")
        .env("CKPT_MS", "200")
        .env("MAX_STEPS", MAX_STEPS.to_string())
        .env("EVAL_EVERY", EVAL_EVERY.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn node fake-cloud.mjs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("fake cloud on") {
                return;
            }
        }
        panic!("fake-cloud.mjs exited before listening");
    })
    .await
    .expect("fake-cloud.mjs listening within 20 s");
    // It logs every request: keep its pipe drained.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    NodeFake {
        base: format!("http://127.0.0.1:{port}"),
        child,
    }
}

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
    let Some(script) = std::env::var_os("ARKOR_TEST_FAKE_CLOUD").map(PathBuf::from) else {
        eprintln!(
            "SKIPPED: set ARKOR_TEST_FAKE_CLOUD to the path of fake-cloud.mjs to follow a job on the shared fake cloud"
        );
        return;
    };
    let cloud = start_node_fake(&script).await;
    let proxy = CuttableProxy::start(&cloud.base).await;

    let home = TempDir::new().unwrap();
    let project = TempDir::new().unwrap();
    write_json(
        &home.path().join(".arkor").join("credentials.json"),
        &json!({"mode": "anon", "token": "tok", "anonymousId": "anon",
            "arkorCloudApiUrl": proxy.base, "orgSlug": "org"}),
    );
    write_json(
        &project.path().join(".arkor").join("state.json"),
        &json!({"orgSlug": "org", "projectSlug": "proj", "projectId": "proj-id"}),
    );
    let env = CloudEnv {
        home: home.path().to_path_buf(),
        cloud_api_url_override: None,
    };
    let snapshot = SpawnSnapshot::capture_in(project.path(), env);

    let created: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{}/v1/jobs", cloud.base))
        .json(&json!({"name": "exact", "config": {"maxSteps": MAX_STEPS, "learningRate": 1e-4}}))
        .send()
        .await
        .expect("create a job")
        .json()
        .await
        .unwrap();
    let job_id = created["job"]["id"].as_str().expect("a job id").to_owned();

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

    // Every step once, in order, with the fake's numbers.
    let mut losses = Vec::new();
    let mut evals = Vec::new();
    for event in &following.delivered {
        if let JobEventKind::Log(log) = &event.kind {
            if let Some(loss) = log.loss {
                losses.push((log.step, loss));
                assert_eq!(log.learning_rate, Some(1e-4), "the job's own learning rate");
            }
            if let Some(eval) = log.eval_loss {
                evals.push((log.step, eval));
            }
        }
    }
    let steps: Vec<u64> = losses.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps, (1..=MAX_STEPS).collect::<Vec<_>>());
    for (step, loss) in &losses {
        assert!(
            matches_4_decimals(*loss, loss_at(*step)),
            "step {step}: {loss} vs {}",
            loss_at(*step)
        );
    }
    let eval_steps: Vec<u64> = evals.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        eval_steps,
        (1..=MAX_STEPS / EVAL_EVERY)
            .map(|k| k * EVAL_EVERY)
            .collect::<Vec<_>>()
    );
    for (step, eval) in &evals {
        assert!(
            matches_4_decimals(*eval, eval_loss_at(*step)),
            "step {step}: {eval}"
        );
    }

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
