//! End to end with the real engine: the demo project with the simulated SDK, real Rolldown
//! builds on file saves, real runs, 200 SSE subscribers. Proves the fan-out reaches every
//! subscriber while each run is signalled exactly once per rebuild, however many listen.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arkor_tui::core::engine::{self, Command, EngineConfig, EngineHandle};
use arkor_tui::core::project::{self, Project};
use arkor_tui::server::{self, RunningServer, ServerConfig, TokenFile};
use nix::sys::signal::kill;
use nix::unistd::Pid;

use super::common::*;

const SUBSCRIBERS: usize = 200;

struct Live {
    engine: EngineHandle,
    engine_done: Option<tokio::task::JoinHandle<()>>,
    server: Option<RunningServer>,
    root: PathBuf,
    port: u16,
    token: String,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Live {
    async fn start() -> Option<Live> {
        let Ok(node) = project::find_node() else {
            eprintln!("skipped: node is not on PATH");
            return None;
        };
        let dir = tempfile::tempdir().expect("project dir");
        let home = tempfile::tempdir().expect("home dir");
        arkor_tui::assets::write_demo_project(dir.path()).expect("demo project");
        let project = Project::at(dir.path()).expect("project");
        let root = project.root.clone();
        let (engine, engine_done) = engine::start(EngineConfig {
            project,
            on_config_change: Default::default(),
            node: node.path,
            stop_timeout: Duration::from_secs(10),
            run_on_ready: false,
            run_env: vec![
                ("ARKOR_SIM_START_MS".into(), "20".into()),
                ("ARKOR_SIM_STEP_MS".into(), "25".into()),
                ("ARKOR_SIM_CHECKPOINT_EVERY".into(), "4".into()),
                ("ARKOR_SIM_MAX_STEPS".into(), "100000".into()),
            ],
            cloud: None,
        });
        let server = server::start(
            engine.clone(),
            ServerConfig {
                port: Some(0),
                token_file: TokenFile::At(home.path().join(".arkor/studio-token")),
                ..Default::default()
            },
        )
        .await
        .expect("server");
        Some(Live {
            engine,
            engine_done: Some(engine_done),
            port: server.port(),
            token: server.token().to_owned(),
            server: Some(server),
            root,
            _dirs: (dir, home),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn stop(mut self) {
        self.engine.send(Command::Shutdown { force: true });
        if let Some(done) = self.engine_done.take() {
            tokio::time::timeout(WAIT, done)
                .await
                .expect("engine stops")
                .expect("join");
        }
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// Replace `from` by `to` in a project file (a plain in-place save).
fn edit(root: &Path, rel: &str, from: &str, to: &str) {
    let path = root.join(rel);
    let text = std::fs::read_to_string(&path).expect("read source");
    assert!(text.contains(from), "{rel} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("save");
}

/// `SUBSCRIBERS` raw SSE clients; each reports when its body contains the current needle.
struct Crowd {
    needles: tokio::sync::watch::Sender<String>,
    seen: tokio::sync::mpsc::UnboundedReceiver<(usize, String, Instant)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Crowd {
    async fn connect(live: &Live, first: &str) -> Crowd {
        let (needles, needle_rx) = tokio::sync::watch::channel(first.to_owned());
        let (seen_tx, seen) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for id in 0..SUBSCRIBERS {
            let (port, token) = (live.port, live.token.clone());
            let mut needle_rx = needle_rx.clone();
            let seen_tx = seen_tx.clone();
            tasks.push(tokio::spawn(async move {
                let mut sub = SseClient::connect(port, &token).await;
                loop {
                    let needle = needle_rx.borrow_and_update().clone();
                    if !sub.read_until(&needle).await {
                        return;
                    }
                    let _ = seen_tx.send((id, needle, Instant::now()));
                    if needle_rx.changed().await.is_err() {
                        return;
                    }
                }
            }));
        }
        Crowd {
            needles,
            seen,
            tasks,
        }
    }

    /// Wait until every subscriber saw `needle`; returns the instant the last one did.
    async fn all_saw(&mut self, needle: &str) -> Instant {
        let mut got = [false; SUBSCRIBERS];
        let mut last = Instant::now();
        let mut count = 0;
        while count < SUBSCRIBERS {
            let (id, seen, at) = tokio::time::timeout(WAIT, self.seen.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("only {count} of {SUBSCRIBERS} subscribers saw {needle}")
                })
                .expect("subscribers alive");
            if seen != needle {
                continue;
            }
            assert!(!got[id], "subscriber {id} reported {needle} twice");
            got[id] = true;
            count += 1;
            last = at;
        }
        last
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Read a streaming body until `needle` shows up; returns everything read so far.
async fn read_body_until(res: &mut reqwest::Response, body: &mut Vec<u8>, needle: &str) {
    while find(body, needle.as_bytes()).is_none() {
        let chunk = tokio::time::timeout(WAIT, res.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in time: {}", String::from_utf8_lossy(body)))
            .expect("read")
            .unwrap_or_else(|| {
                panic!("ended before {needle:?}: {}", String::from_utf8_lossy(body))
            });
        body.extend_from_slice(&chunk);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_subscribers_one_sigterm_then_a_hot_swap_then_stop() {
    let Some(live) = Live::start().await else {
        return;
    };
    let client = Harness::client();

    // Everyone gets the first build (live or replayed).
    let mut crowd = Crowd::connect(&live, "\"trainerName\":\"demo-triage\"").await;
    crowd.all_saw("\"trainerName\":\"demo-triage\"").await;
    let manifest: serde_json::Value = client
        .get(live.url("/api/manifest"))
        .header("x-arkor-studio-token", &live.token)
        .send()
        .await
        .expect("manifest")
        .json()
        .await
        .expect("json");
    assert_eq!(manifest["trainer"]["name"], "demo-triage");

    // The Studio starts a run and waits for its job to exist.
    let mut res = client
        .post(live.url("/api/train"))
        .header("x-arkor-studio-token", &live.token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("train");
    assert_eq!(res.status(), 200);
    let pid: u32 = res.headers()["x-arkor-train-pid"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("pid");
    let mut body = Vec::new();
    read_body_until(&mut res, &mut body, "Started job").await;

    // A callbacks-only save: the run is hot-swapped (SIGUSR2) once, training continues.
    let hot_swap = format!("\"hotSwapTargets\":[{{\"pid\":{pid}}}]");
    crowd.needles.send_replace(hot_swap.clone());
    let saved = Instant::now();
    edit(
        &live.root,
        "src/arkor/callbacks.ts",
        "const LABEL = \"v1\";",
        "const LABEL = \"v2\";",
    );
    let last = crowd.all_saw(&hot_swap).await;
    println!(
        "real engine: callbacks save → hot-swap frame at all {SUBSCRIBERS} subscribers: {:.1} ms (debug build)",
        (last - saved).as_secs_f64() * 1e3
    );
    read_body_until(&mut res, &mut body, "[v2]").await;
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(text.matches("Callbacks hot-reloaded").count(), 1, "{text}");

    // A config save: the run is early-stopped (SIGTERM) once, and its stream ends with exit=0
    // (the Studio's cue to start the replacement; the engine leaves HTTP runs to it).
    let restart = format!("\"restartTargets\":[{{\"pid\":{pid}}}]");
    crowd.needles.send_replace(restart.clone());
    let saved = Instant::now();
    edit(
        &live.root,
        "src/arkor/trainer.ts",
        "learningRate: 2e-4",
        "learningRate: 3e-4",
    );
    let last = crowd.all_saw(&restart).await;
    println!(
        "real engine: config save → restart frame at all {SUBSCRIBERS} subscribers: {:.1} ms (debug build)",
        (last - saved).as_secs_f64() * 1e3
    );
    read_body_until(&mut res, &mut body, "\n---\nexit=").await;
    while let Some(chunk) = tokio::time::timeout(WAIT, res.chunk())
        .await
        .expect("end")
        .expect("read")
    {
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(text.matches("Received SIGTERM").count(), 1, "{text}");
    assert!(!text.contains("Received second"), "{text}");
    assert!(text.ends_with("\n---\nexit=0\n"), "{text}");
    let snapshot = live.engine.snapshot();
    assert!(
        snapshot
            .runs
            .iter()
            .all(|r| r.restarted_from.as_ref().map(|x| x.from) != Some(pid)),
        "the engine must not restart a Studio run itself"
    );

    // The Studio restarts it; then the user presses Stop (drops the body): the run dies.
    let res = client
        .post(live.url("/api/train"))
        .header("x-arkor-studio-token", &live.token)
        .body("{}")
        .send()
        .await
        .expect("train again");
    let second: u32 = res.headers()["x-arkor-train-pid"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("pid");
    let mut res = res;
    let mut body = Vec::new();
    read_body_until(&mut res, &mut body, "Started job").await;
    drop(res);
    let deadline = Instant::now() + WAIT;
    while kill(Pid::from_raw(second as i32), None).is_ok() {
        assert!(Instant::now() < deadline, "the abandoned run is stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(crowd);
    live.stop().await;
}
