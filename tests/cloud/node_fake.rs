//! The shared fake cloud (`fake-cloud.mjs`, the stand-in the external checks use) as a child
//! process on a loopback port, its loss formulas, and a throw-away home and project whose
//! identity and scope point at it.
//!
//! Tests that use it need `ARKOR_TEST_FAKE_CLOUD` = the path of `fake-cloud.mjs` (and `node`
//! on PATH) and are skipped, saying so, when it is not set.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use arkor_tui::core::cloud::CloudEnv;
use arkor_tui::core::cloud::job_events::{JobEvent, JobEventKind};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

use super::harness::write_json;

/// The script named by `ARKOR_TEST_FAKE_CLOUD`; `None` (after printing that the test named
/// `what` is skipped) when the variable is unset.
pub fn fake_cloud_script(what: &str) -> Option<PathBuf> {
    let script = std::env::var_os("ARKOR_TEST_FAKE_CLOUD").map(PathBuf::from);
    if script.is_none() {
        eprintln!(
            "SKIPPED: set ARKOR_TEST_FAKE_CLOUD to the path of fake-cloud.mjs to {what} on the shared fake cloud"
        );
    }
    script
}

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

/// (step, value) pairs of one series, oldest first.
pub type StepValues = Vec<(u64, f64)>;

/// A job's history as a client received it, against the fake's: every step once and in
/// order, each loss and eval loss the fake's formula, the learning rate the job's own.
/// Returns the (step, loss) and (step, eval loss) pairs.
pub fn assert_whole_and_exact<'a>(
    events: impl IntoIterator<Item = &'a JobEvent>,
    pace: &Pace,
    learning_rate: f64,
) -> (StepValues, StepValues) {
    let mut losses = Vec::new();
    let mut evals = Vec::new();
    for event in events {
        if let JobEventKind::Log(log) = &event.kind {
            if let Some(loss) = log.loss {
                losses.push((log.step, loss));
                assert_eq!(
                    log.learning_rate,
                    Some(learning_rate),
                    "the job's own learning rate"
                );
            }
            if let Some(eval) = log.eval_loss {
                evals.push((log.step, eval));
            }
        }
    }
    let steps: Vec<u64> = losses.iter().map(|(s, _)| *s).collect();
    assert_eq!(steps, (1..=pace.max_steps).collect::<Vec<_>>());
    for (step, loss) in &losses {
        assert!(
            matches_4_decimals(*loss, loss_at(*step)),
            "step {step}: {loss} vs {}",
            loss_at(*step)
        );
    }
    let eval_steps: Vec<u64> = evals.iter().map(|(s, _)| *s).collect();
    let every = pace.eval_every;
    assert_eq!(
        eval_steps,
        (1..=pace.max_steps / every)
            .map(|k| k * every)
            .collect::<Vec<_>>()
    );
    for (step, eval) in &evals {
        assert!(
            matches_4_decimals(*eval, eval_loss_at(*step)),
            "step {step}: {eval}"
        );
    }
    (losses, evals)
}

/// How the fake's jobs train (its environment): one setting for every job of the process.
pub struct Pace {
    pub step_ms: u64,
    pub checkpoint_ms: u64,
    pub max_steps: u64,
    pub eval_every: u64,
}

/// A running `fake-cloud.mjs`, killed when dropped.
pub struct NodeFake {
    pub base: String,
    child: Child,
}

impl Drop for NodeFake {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl NodeFake {
    pub async fn start(script: &Path, pace: &Pace) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("node")
            .arg(script)
            .arg(port.to_string())
            .env("STEP_MS", pace.step_ms.to_string())
            .env("CKPT_MS", pace.checkpoint_ms.to_string())
            .env("MAX_STEPS", pace.max_steps.to_string())
            .env("EVAL_EVERY", pace.eval_every.to_string())
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

    fn http() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    /// Create a job (it starts training at once); its id.
    pub async fn create_job(&self, name: &str, config: Value) -> String {
        let created: Value = Self::http()
            .post(format!("{}/v1/jobs", self.base))
            .json(&json!({"name": name, "config": config}))
            .send()
            .await
            .expect("create a job")
            .json()
            .await
            .unwrap();
        created["job"]["id"].as_str().expect("a job id").to_owned()
    }

    /// The job's status as the fake reports it.
    pub async fn job_status(&self, job_id: &str) -> String {
        let job: Value = Self::http()
            .get(format!("{}/v1/jobs/{job_id}", self.base))
            .send()
            .await
            .expect("get a job")
            .json()
            .await
            .unwrap();
        job["job"]["status"].as_str().unwrap_or_default().to_owned()
    }

    /// Wait until the job has `status` (generous bound: only catches a hang).
    pub async fn wait_for_status(&self, job_id: &str, status: &str) {
        tokio::time::timeout(Duration::from_secs(60), async {
            while self.job_status(job_id).await != status {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("job {job_id} {status} within 60 s"));
    }
}

/// A home with anonymous credentials for `cloud_base` (org `org`) and a project whose state
/// is scoped to `org` / `proj`.
pub struct FakeProject {
    home: TempDir,
    project: TempDir,
}

impl FakeProject {
    pub fn new(cloud_base: &str) -> Self {
        let home = TempDir::new().unwrap();
        let project = TempDir::new().unwrap();
        write_json(
            &home.path().join(".arkor").join("credentials.json"),
            &json!({"mode": "anon", "token": "tok", "anonymousId": "anon",
                "arkorCloudApiUrl": cloud_base, "orgSlug": "org"}),
        );
        write_json(
            &project.path().join(".arkor").join("state.json"),
            &json!({"orgSlug": "org", "projectSlug": "proj", "projectId": "proj-id"}),
        );
        Self { home, project }
    }

    pub fn root(&self) -> &Path {
        self.project.path()
    }

    pub fn env(&self) -> CloudEnv {
        CloudEnv {
            home: self.home.path().to_path_buf(),
            cloud_api_url_override: None,
        }
    }
}
