//! `POST /api/train`: real child processes stand in for the engine's runs; the test answers
//! the engine's `StartRun` itself and watches for `AbandonHttpRun`.

use arkor_tui::core::engine::{Command, RunHandle, StartRunError};
use arkor_tui::core::events::RunOrigin;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::common::*;

/// Spawn `sh -c script` as a run.
fn spawn_run(script: &str) -> RunHandle {
    let mut command = tokio::process::Command::new("sh");
    command.arg("-c").arg(script);
    spawn_piped(command)
}

/// Wait for the next engine command.
async fn next_command(h: &mut Harness) -> Command {
    tokio::time::timeout(WAIT, h.engine.commands.recv())
        .await
        .expect("a command in time")
        .expect("handle alive")
}

/// Answer the next command, which must be an HTTP StartRun, with `script`. Returns the pid.
async fn answer_start(h: &mut Harness, script: &str) -> u32 {
    match next_command(h).await {
        Command::StartRun {
            origin,
            reply: Some(reply),
        } => {
            assert_eq!(origin, RunOrigin::Http);
            let handle = spawn_run(script);
            let pid = handle.pid;
            reply.send(Ok(handle)).expect("server waits for the reply");
            pid
        }
        other => panic!("expected StartRun, got {other:?}"),
    }
}

fn post_train(h: &Harness, body: &'static str) -> reqwest::RequestBuilder {
    Harness::client()
        .post(h.url("/api/train"))
        .header("x-arkor-studio-token", &h.token)
        .header("content-type", "application/json")
        .body(body)
}

#[tokio::test]
async fn streams_raw_output_then_the_exit_trailer_with_the_pid_header() {
    let mut h = Harness::start().await;
    let request = tokio::spawn(post_train(&h, "{}").send());
    let pid = answer_start(
        &mut h,
        r"printf 'hello\n'; printf 'oops\n' >&2; printf '\377\376raw'; exit 3",
    )
    .await;
    let res = request.await.expect("join").expect("response");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(res.headers()["x-arkor-train-pid"], pid.to_string().as_str());
    let body = res.bytes().await.expect("body");
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("hello\n") && text.contains("oops\n"),
        "{text}"
    );
    assert!(
        find(&body, b"\xff\xferaw").is_some(),
        "bytes pass through unchanged"
    );
    assert!(body.ends_with(b"\n---\nexit=3\n"), "{text}");

    // A body read to its trailer is not an abandon: the next command is the next StartRun.
    let request = tokio::spawn(post_train(&h, "").send());
    answer_start(&mut h, "exit 0").await;
    let body = request
        .await
        .expect("join")
        .expect("response")
        .text()
        .await
        .expect("body");
    assert_eq!(body, "\n---\nexit=0\n");
}

#[tokio::test]
async fn a_run_killed_by_a_signal_ends_with_exit_null() {
    let mut h = Harness::start().await;
    let request = tokio::spawn(post_train(&h, "{}").send());
    answer_start(&mut h, "printf 'bye\\n'; kill -KILL $$").await;
    let body = request
        .await
        .expect("join")
        .expect("response")
        .text()
        .await
        .expect("body");
    assert_eq!(body, "bye\n\n---\nexit=null\n");
}

#[tokio::test]
async fn output_streams_before_exit_and_a_cancelled_body_abandons_the_run() {
    let mut h = Harness::start().await;
    let request = tokio::spawn(post_train(&h, "{}").send());
    // Prints one line, then stays silent: the cancel must be noticed without further output.
    let pid = answer_start(&mut h, "printf 'first\\n'; exec sleep 60").await;
    let mut res = request.await.expect("join").expect("response");
    let chunk = tokio::time::timeout(WAIT, res.chunk())
        .await
        .expect("first chunk in time")
        .expect("read")
        .expect("a chunk before exit");
    assert_eq!(&chunk[..], b"first\n");
    assert!(crate::shared::pid_alive(pid));
    drop(res); // the Studio's Stop: the client drops the body

    match next_command(&mut h).await {
        Command::AbandonHttpRun { pid: abandoned } => assert_eq!(abandoned, pid),
        other => panic!("expected AbandonHttpRun, got {other:?}"),
    }
    // Play the engine's part: SIGKILL.
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
    let deadline = std::time::Instant::now() + WAIT;
    while crate::shared::pid_alive(pid) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Exactly one abandon.
    tokio::task::yield_now().await;
    assert!(h.engine.commands.try_recv().is_err());
}

#[tokio::test]
async fn a_custom_file_is_refused_with_400_and_starts_nothing() {
    let h = Harness::start().await;
    let root = h.project.path();
    std::fs::create_dir_all(root.join("src/arkor")).expect("mkdir");
    std::fs::write(root.join("src/arkor/custom.ts"), "// custom\n").expect("write");
    let outside = tempfile::tempdir().expect("outside dir");
    std::fs::write(outside.path().join("secret.ts"), "secret").expect("write");
    std::os::unix::fs::symlink(outside.path().join("secret.ts"), root.join("evil.ts"))
        .expect("symlink");
    std::fs::write(
        root.parent()
            .expect("parent")
            .join(format!("{}-escape.ts", std::process::id())),
        "x",
    )
    .expect("write");
    let escape = format!("../{}-escape.ts", std::process::id());

    let cases = [
        (
            serde_json::json!({"file": "src/arkor/custom.ts"}),
            "custom file runs are not supported while arkor dev's HMR watcher owns the build artifact; run `arkor start <file>` directly instead",
        ),
        (
            serde_json::json!({"file": "missing.ts"}),
            "file does not exist or is not accessible",
        ),
        (
            serde_json::json!({"file": 42}),
            "file does not exist or is not accessible",
        ),
        (
            serde_json::json!({"file": escape}),
            "file must be inside the project directory",
        ),
        (
            serde_json::json!({"file": "/etc/passwd"}),
            "file must be inside the project directory",
        ),
        (
            serde_json::json!({"file": "evil.ts"}),
            "file must be inside the project directory",
        ),
    ];
    for (body, message) in cases {
        let res = Harness::client()
            .post(h.url("/api/train"))
            .header("x-arkor-studio-token", &h.token)
            .json(&body)
            .send()
            .await
            .expect("response");
        assert_eq!(res.status(), 400, "{body}");
        let got: serde_json::Value = res.json().await.expect("json");
        assert_eq!(got, serde_json::json!({ "error": message }), "{body}");
    }
    let _ = std::fs::remove_file(
        root.parent()
            .expect("parent")
            .join(format!("{}-escape.ts", std::process::id())),
    );
    assert!(h.engine.commands.is_empty(), "no run was started");
}

#[tokio::test]
async fn a_malformed_or_falsy_body_counts_as_empty() {
    let mut h = Harness::start().await;
    for body in [
        "not json",
        "null",
        "[1]",
        r#"{"file": ""}"#,
        r#"{"file": null}"#,
        r#"{"file": false}"#,
    ] {
        let request = tokio::spawn(post_train(&h, body).send());
        answer_start(&mut h, "exit 0").await;
        let res = request.await.expect("join").expect("response");
        assert_eq!(res.status(), 200, "{body}");
        assert_eq!(res.text().await.expect("body"), "\n---\nexit=0\n");
    }
}

#[tokio::test]
async fn start_failures_answer_json_errors() {
    let mut h = Harness::start().await;
    for (error, status, message) in [
        (
            StartRunError::Spawn("ENOENT".into()),
            500,
            "Failed to spawn training subprocess: failed to start the runner: ENOENT".to_owned(),
        ),
        (
            StartRunError::NoSdk("the arkor SDK is not installed in /p (no node_modules/arkor): run `npm install` there".into()),
            500,
            "Failed to spawn training subprocess: the arkor SDK is not installed in /p (no node_modules/arkor): run `npm install` there".to_owned(),
        ),
        (StartRunError::ShuttingDown, 503, StartRunError::ShuttingDown.to_string()),
    ] {
        let request = tokio::spawn(post_train(&h, "{}").send());
        match next_command(&mut h).await {
            Command::StartRun { reply: Some(reply), .. } => reply.send(Err(error)).expect("reply"),
            other => panic!("expected StartRun, got {other:?}"),
        }
        let res = request.await.expect("join").expect("response");
        assert_eq!(res.status(), status);
        let got: serde_json::Value = res.json().await.expect("json");
        assert_eq!(got, serde_json::json!({ "error": message }));
    }
}

#[tokio::test]
async fn server_shutdown_ends_open_bodies_without_abandoning_runs() {
    let mut h = Harness::start().await;
    let request = tokio::spawn(post_train(&h, "{}").send());
    let pid = answer_start(&mut h, "printf 'working\\n'; exec sleep 60").await;
    let mut res = request.await.expect("join").expect("response");
    assert_eq!(
        &res.chunk().await.expect("read").expect("chunk")[..],
        b"working\n"
    );

    let server = h.server.take().expect("running");
    tokio::time::timeout(WAIT, server.shutdown())
        .await
        .expect("shutdown in time");
    // The body ends (cleanly or cut), without a trailer.
    let rest = tokio::time::timeout(WAIT, async {
        let mut rest = Vec::new();
        while let Ok(Some(chunk)) = res.chunk().await {
            rest.extend_from_slice(&chunk);
        }
        rest
    })
    .await
    .expect("body ends in time");
    assert!(!String::from_utf8_lossy(&rest).contains("---"));
    // Stopping runs at shutdown is the engine's sequence, not an HTTP abandon.
    assert!(h.engine.commands.try_recv().is_err());
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
}

#[tokio::test]
async fn the_pid_header_arrives_before_any_output() {
    let mut h = Harness::start().await;
    let request = tokio::spawn(post_train(&h, "{}").send());
    // A run that has printed nothing yet: the Studio still needs its pid at once.
    let pid = answer_start(&mut h, "exec sleep 60").await;
    let res = tokio::time::timeout(WAIT, request)
        .await
        .expect("response head without any output")
        .expect("join")
        .expect("response");
    assert_eq!(res.headers()["x-arkor-train-pid"], pid.to_string().as_str());
    drop(res);
    match next_command(&mut h).await {
        Command::AbandonHttpRun { pid: abandoned } => assert_eq!(abandoned, pid),
        other => panic!("expected AbandonHttpRun, got {other:?}"),
    }
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
}

#[tokio::test]
async fn a_client_gone_before_the_run_started_still_gets_it_abandoned() {
    let mut h = Harness::start().await;
    let request = tokio::spawn(post_train(&h, "{}").send());
    let reply = match next_command(&mut h).await {
        Command::StartRun {
            reply: Some(reply), ..
        } => reply,
        other => panic!("expected StartRun, got {other:?}"),
    };
    // The client gives up while the engine is still starting the run.
    request.abort();
    let _ = request.await;
    let handle = spawn_run("exec sleep 60");
    let pid = handle.pid;
    let _ = reply.send(Ok(handle));
    match next_command(&mut h).await {
        Command::AbandonHttpRun { pid: abandoned } => assert_eq!(abandoned, pid),
        other => panic!("expected AbandonHttpRun, got {other:?}"),
    }
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_json_413_and_starts_nothing() {
    let h = Harness::start().await;
    let expected = serde_json::json!({
        "error": "request body too large: at most 2 MiB is accepted"
    });
    // Declared too large: refused before any of it is read.
    let declared = format!(
        "POST /api/train HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Arkor-Studio-Token: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{{}}",
        h.token,
        3 * 1024 * 1024
    );
    let res = RawResponse::parse(&h.raw(declared.as_bytes()).await);
    assert_eq!(res.status, 413);
    assert!(
        res.header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
    );
    let got: serde_json::Value = serde_json::from_str(&res.text()).expect("a JSON body");
    assert_eq!(got, expected);

    // Chunked, so the size shows only while reading.
    let big = vec![b' '; 3 * 1024 * 1024];
    let res = Harness::client()
        .post(h.url("/api/train"))
        .header("x-arkor-studio-token", &h.token)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(
            big.chunks(64 * 1024)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        )))
        .send()
        .await;
    // The server may close before the whole upload went out; when the answer arrives, it is
    // the JSON one.
    if let Ok(res) = res {
        assert_eq!(res.status(), 413);
        assert_eq!(
            res.json::<serde_json::Value>().await.expect("json"),
            expected
        );
    }
    assert!(h.engine.commands.is_empty(), "no run was started");
}
