//! The Studio's restart flow against the real simulated runner (`node <sdk bin> start`):
//! the test plays the engine's dispatch (one SIGTERM) and checks what the SPA relies on:
//! the pid header, the restart frame naming that pid, the runner's own output streamed
//! unchanged, and the `exit=0` trailer after the early stop at the next checkpoint.

use arkor_tui::core::engine::{Command, RunHandle};
use arkor_tui::core::events::{DispatchOutcome, RestartTarget, RunOrigin};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::common::*;

const ARTIFACT: &str = r#"import { createArkor, createTrainer } from "arkor";
export const trainer = createTrainer({
  name: "flow-bot",
  model: "m",
  dataset: { type: "huggingface", name: "d" },
  maxSteps: 400,
  saveSteps: 3,
  callbacks: { onLog: ({ step }) => console.log(`flow step=${step}`) },
});
export const arkor = createArkor({ trainer });
"#;

fn spawn_runner(project: &std::path::Path, nonce: &str) -> RunHandle {
    let mut command = tokio::process::Command::new("node");
    command
        .arg(arkor_tui::assets::installed_sdk_bin(project))
        .arg("start")
        .current_dir(project)
        .env("ARKOR_JOB_ID_MARKER_NONCE", nonce)
        .env("ARKOR_SIM_START_MS", "20")
        .env("ARKOR_SIM_STEP_MS", "30")
        .env("HOME", project);
    spawn_piped(command)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_studio_run_early_stops_on_one_sigterm_and_ends_with_exit_0() {
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: node is not on PATH");
        return;
    }
    let mut h = Harness::start().await;
    let root = h.project.path().to_path_buf();
    arkor_tui::assets::install_sdk(&root).expect("install the simulated SDK");
    std::fs::create_dir_all(root.join(".arkor/build")).expect("mkdir");
    std::fs::write(root.join(".arkor/build/index.mjs"), ARTIFACT).expect("artifact");
    h.publish(built(true, "v1", Some("h1"), None));

    // Two Studio tabs listen.
    let mut tab_a = SseClient::connect(h.port, &h.token).await;
    let mut tab_b = SseClient::connect(h.port, &h.token).await;
    assert!(
        tokio::time::timeout(WAIT, tab_a.read_until("\"v1\""))
            .await
            .expect("in time")
    );
    assert!(
        tokio::time::timeout(WAIT, tab_b.read_until("\"v1\""))
            .await
            .expect("in time")
    );

    let request = tokio::spawn(
        Harness::client()
            .post(h.url("/api/train"))
            .header("x-arkor-studio-token", &h.token)
            .header("content-type", "application/json")
            .body("{}")
            .send(),
    );
    let nonce = "0123456789abcdef0123456789abcdef";
    let pid = match tokio::time::timeout(WAIT, h.engine.commands.recv())
        .await
        .expect("in time")
    {
        Some(Command::StartRun {
            origin: RunOrigin::Http,
            reply: Some(reply),
        }) => {
            let handle = spawn_runner(&root, nonce);
            let pid = handle.pid;
            reply.send(Ok(handle)).expect("reply");
            pid
        }
        other => panic!("expected an HTTP StartRun, got {other:?}"),
    };
    let mut res = request.await.expect("join").expect("response");
    assert_eq!(res.headers()["x-arkor-train-pid"], pid.to_string().as_str());

    // Wait for the job to exist (the runner's marker), then a config change is dispatched:
    // one SIGTERM, one frame for every tab.
    let mut body = Vec::new();
    let marker = format!("[arkor:{nonce}] Started job ");
    while find(&body, marker.as_bytes()).is_none() {
        let chunk = tokio::time::timeout(WAIT, res.chunk())
            .await
            .expect("runner output in time")
            .expect("read")
            .unwrap_or_else(|| panic!("ended early: {}", String::from_utf8_lossy(&body)));
        body.extend_from_slice(&chunk);
    }
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).expect("SIGTERM");
    h.publish(built(
        false,
        "v2",
        Some("h2"),
        Some(DispatchOutcome {
            hot_swap_targets: Vec::new(),
            restart_targets: vec![RestartTarget {
                pid,
                train_file: None,
                forced_kill: None,
            }],
            ..DispatchOutcome::default()
        }),
    ));
    let frame_pid = format!("\"restartTargets\":[{{\"pid\":{pid}}}]");
    assert!(
        tokio::time::timeout(WAIT, tab_a.read_until(&frame_pid))
            .await
            .expect("in time")
    );
    assert!(
        tokio::time::timeout(WAIT, tab_b.read_until(&frame_pid))
            .await
            .expect("in time")
    );

    while let Some(chunk) = tokio::time::timeout(WAIT, res.chunk())
        .await
        .expect("the run ends at its next checkpoint")
        .expect("read")
    {
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("Received SIGTERM; early-stopping at next checkpoint"),
        "{text}"
    );
    assert!(
        !text.contains("Received second"),
        "exactly one SIGTERM: {text}"
    );
    assert!(
        text.contains("flow step="),
        "the runner's callbacks ran: {text}"
    );
    assert!(
        text.ends_with("\n---\nexit=0\n"),
        "the SPA restarts only after exit=0: {text}"
    );
    // Reading the body to its end sent no abandon; the subscribers sent nothing at all.
    assert!(h.engine.commands.try_recv().is_err());
}
