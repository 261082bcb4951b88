//! A 100-save burst with 200 dev-event subscribers on the engine's bus and 200 real SSE
//! clients on the running server: each child gets at most one signal per distinct build,
//! and every subscriber receives the final rebuild.

use std::collections::BTreeSet;
use std::sync::Arc;

use arkor_tui::core::events::DevEvent;
use arkor_tui::core::hash;
use arkor_tui::server::{self, ServerConfig, TokenFile};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, watch};

use super::support::*;

const SUBSCRIBERS: usize = 200;
const SAVES: usize = 100;

/// Collect dev events until one carries the content hash `target` announces.
async fn bus_subscriber(
    mut rx: broadcast::Receiver<Arc<DevEvent>>,
    mut target: watch::Receiver<Option<String>>,
) -> Vec<Arc<DevEvent>> {
    let mut seen: Vec<Arc<DevEvent>> = Vec::new();
    let has = |seen: &[Arc<DevEvent>], hash: &str| {
        seen.iter()
            .any(|ev| built_parts(ev).is_some_and(|(a, _)| a.content_hash.as_deref() == Some(hash)))
    };
    loop {
        if let Some(hash) = target.borrow().clone()
            && has(&seen, &hash)
        {
            return seen;
        }
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) => seen.push(ev),
                Err(e) => panic!("bus subscriber: {e}"),
            },
            changed = target.changed() => {
                if changed.is_err() {
                    // The test itself failed and dropped the sender.
                    return seen;
                }
            }
        }
    }
}

/// One SSE client on a raw socket: reads until `needle` is in the stream.
struct SseClient {
    stream: TcpStream,
    raw: Vec<u8>,
}

impl SseClient {
    async fn connect(port: u16, token: &str) -> SseClient {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let req = format!(
            "GET /api/dev/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Arkor-Studio-Token: {token}\r\nAccept: text/event-stream\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await.expect("write");
        let mut client = SseClient {
            stream,
            raw: Vec::new(),
        };
        // The head and the replayed `ready` frame prove the subscription is live.
        client.read_until("event: ready\n").await;
        assert!(client.raw.starts_with(b"HTTP/1.1 200 OK"));
        client
    }

    async fn read_until(&mut self, needle: &str) {
        let needle = needle.as_bytes();
        let mut buf = [0u8; 16384];
        // Each frame is written as one chunk, so a needle inside one frame is contiguous.
        while !self.raw.windows(needle.len()).any(|w| w == needle) {
            let n = self.stream.read(&mut buf).await.expect("read");
            assert!(n > 0, "SSE stream ended early");
            self.raw.extend_from_slice(&buf[..n]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_burst_signals_each_child_at_most_once_per_build_and_reaches_every_subscriber() {
    let mut e = TestEngine::start(Options::default());
    let home = tempfile::tempdir().expect("temp home");
    let token_path = home.path().join(".arkor").join("studio-token");
    let server = server::start(
        e.handle.clone(),
        ServerConfig {
            port: Some(0),
            token_file: TokenFile::At(token_path.clone()),
            ..Default::default()
        },
    )
    .await
    .expect("server starts");
    let token = std::fs::read_to_string(&token_path).expect("token file written");
    assert_eq!(token.trim(), server.token());

    assert_eq!(e.next_dev().await.type_name(), "ready");
    let run = e.first_running_run().await;
    let pid = run.pid;

    let (target_tx, target_rx) = watch::channel(None::<String>);
    let bus: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let (_, rx) = e.handle.subscribe_dev();
            tokio::spawn(bus_subscriber(rx, target_rx.clone()))
        })
        .collect();
    let mut sse = Vec::with_capacity(SUBSCRIBERS);
    for _ in 0..SUBSCRIBERS {
        sse.push(SseClient::connect(server.port(), token.trim()).await);
    }

    let callbacks = e.path(CALLBACKS);
    let source = std::fs::read_to_string(&callbacks).expect("callbacks");
    for i in 0..SAVES {
        let label = format!(r#"const LABEL = "burst-{i}";"#);
        std::fs::write(
            &callbacks,
            source.replacen(r#"const LABEL = "v1";"#, &label, 1),
        )
        .expect("save");
        // Paced so saves land both during a build (coalesced into the next one) and between
        // builds: the burst yields several builds, fewer than saves.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let final_label = format!("burst-{}", SAVES - 1);

    // The build of the last save: its artifact holds the last label.
    let mut distinct_builds = BTreeSet::new();
    let mut errors = 0;
    let final_hash = loop {
        let ev = e.next_dev().await;
        // Plain `fs::write` truncates first, so a build may read a half-written file and
        // fail, as with editors that save in place; the next save's build supersedes it.
        let Some((artifact, dispatch)) = built_parts(&ev) else {
            errors += 1;
            continue;
        };
        let hash = artifact.content_hash.clone().expect("content hash");
        let dispatch = dispatch.expect("the run was registered");
        assert!(dispatch.restart_targets.is_empty(), "{dispatch:?}");
        if dispatch.hot_swap_targets.iter().any(|t| t.pid == pid) {
            distinct_builds.insert(hash.clone());
        }
        let on_disk = std::fs::read_to_string(&e.project.out_file).expect("artifact");
        if on_disk.contains(&final_label)
            && hash::file_content_hash(&e.project.out_file).as_deref() == Some(hash.as_str())
        {
            break hash;
        }
    };
    target_tx.send_replace(Some(final_hash.clone()));

    for task in bus {
        let seen = tokio::time::timeout(WAIT, task)
            .await
            .expect("bus subscriber got the final rebuild in time")
            .expect("bus subscriber");
        // Every frame a subscriber saw is one the engine published, in order, once.
        let hashes: Vec<_> = seen
            .iter()
            .filter_map(|ev| built_parts(ev).and_then(|(a, _)| a.content_hash.clone()))
            .collect();
        assert_eq!(hashes.last(), Some(&final_hash));
    }
    let needle = format!("\"contentHash\":\"{final_hash}\"");
    for client in &mut sse {
        tokio::time::timeout(WAIT, client.read_until(&needle))
            .await
            .expect("SSE client got the final rebuild in time");
    }

    wait_until("the last callbacks running in the same process", || {
        (e.log_count(pid, &format!("[{final_label}] step=")) > 0).then_some(())
    })
    .await;
    let reactions = e.log_count(pid, HOT_RELOADED) + e.log_count(pid, RELOAD_PREFIX);
    assert!(reactions >= 1);
    assert!(
        reactions <= distinct_builds.len(),
        "{reactions} reload reactions for {} distinct builds",
        distinct_builds.len()
    );
    assert_eq!(e.log_count(pid, RECEIVED_SIGTERM), 0);
    assert!(pid_alive(pid));
    assert_eq!(e.handle.snapshot().runs.len(), 1);
    println!(
        "burst: {SAVES} saves → {} distinct builds, {errors} torn-read errors, {reactions} reload reactions",
        distinct_builds.len()
    );

    drop(sse);
    e.shutdown().await;
    server.shutdown().await;
    assert!(!token_path.exists(), "token file removed on shutdown");
}
