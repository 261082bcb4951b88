//! `/api/dev/events`: byte-exact framing, replay, dispatch fields, fan-out, slow subscribers,
//! shutdown.

use std::time::{Duration, Instant};

use arkor_tui::core::events::{
    DevEvent, DispatchOutcome, EngineEvent, HotSwapTarget, RestartTarget,
};
use tokio::io::AsyncReadExt;

use super::common::*;

#[tokio::test]
async fn frames_and_headers_are_byte_exact_with_no_id_retry_or_heartbeat() {
    let h = Harness::start().await;
    let mut sub = SseClient::connect(h.port, &h.token).await;
    // The head arrives before any event.
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(WAIT, sub.stream.read(&mut buf))
        .await
        .expect("head in time")
        .expect("read");
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    let head_end = head.find("\r\n\r\n").expect("whole head in the first read");
    let mut lines: Vec<&str> = head[..head_end].split("\r\n").collect();
    assert_eq!(lines.remove(0), "HTTP/1.1 200 OK");
    lines.retain(|l| !l.to_ascii_lowercase().starts_with("date:"));
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "cache-control: no-cache, no-transform",
            "content-type: text/event-stream",
            "transfer-encoding: chunked",
        ]
    );
    assert_eq!(
        n,
        head_end + 4,
        "nothing (no comment, no retry) before the first event"
    );
    sub.feed(&buf[..n]);

    h.publish(built(true, "c0ffee", Some("996c886df5bc8d78"), None));
    let mut raw = Vec::new();
    while dechunk(&raw).0.len() < 10 || !dechunk(&raw).0.ends_with(b"\n\n") {
        let n = tokio::time::timeout(WAIT, sub.stream.read(&mut buf))
            .await
            .expect("frame in time")
            .expect("read");
        assert!(n > 0, "stream ended");
        raw.extend_from_slice(&buf[..n]);
    }
    let expected = "event: ready\ndata: {\"type\":\"ready\",\"outFile\":\"/p/.arkor/build/index.mjs\",\"hash\":\"1700000000000.5-1700000000000.5-6\",\"contentHash\":\"c0ffee\",\"configHash\":\"996c886df5bc8d78\",\"trainerName\":\"qa-bot\"}\n\n";
    assert_eq!(String::from_utf8_lossy(&dechunk(&raw).0), expected);
    // One frame = one chunk: the Studio's parser never sees a half frame per write.
    assert_eq!(
        raw,
        format!("{:X}\r\n{expected}\r\n", expected.len()).into_bytes()
    );
    sub.feed(&raw);

    // Errors, and dispatch targets exactly as the Studio reads them.
    h.publish(DevEvent::Error {
        message: "Build failed: \"x\"\nline 2".to_owned(),
    });
    let dispatch = DispatchOutcome {
        hot_swap_targets: vec![HotSwapTarget {
            pid: 41,
            train_file: None,
        }],
        restart_targets: vec![
            RestartTarget {
                pid: 42,
                train_file: None,
                forced_kill: None,
            },
            RestartTarget {
                pid: 43,
                train_file: Some("/p/t.ts".to_owned()),
                forced_kill: Some(true),
            },
        ],
        ..DispatchOutcome::default()
    };
    h.publish(built(false, "beef", None, Some(dispatch)));
    assert!(
        tokio::time::timeout(WAIT, sub.read_until("\"pid\":43"))
            .await
            .expect("in time")
    );
    let body = String::from_utf8_lossy(&sub.body()).into_owned();
    let body = &body[body.find("event: error").expect("error frame")..];
    assert_eq!(
        body,
        "event: error\ndata: {\"type\":\"error\",\"message\":\"Build failed: \\\"x\\\"\\nline 2\"}\n\n\
         event: rebuild\ndata: {\"type\":\"rebuild\",\"outFile\":\"/p/.arkor/build/index.mjs\",\"hash\":\"1700000000000.5-1700000000000.5-4\",\"contentHash\":\"beef\",\"configHash\":null,\"trainerName\":\"qa-bot\",\"hotSwap\":true,\"hotSwapTargets\":[{\"pid\":41}],\"restart\":true,\"restartTargets\":[{\"pid\":42},{\"pid\":43,\"trainFile\":\"/p/t.ts\",\"forcedKill\":true}]}\n\n"
    );

    // Quiet stream: no heartbeat comment shows up while nothing is published.
    let quiet = tokio::time::timeout(Duration::from_millis(400), sub.stream.read(&mut buf)).await;
    assert!(quiet.is_err(), "unexpected bytes on an idle stream");
}

#[tokio::test]
async fn a_late_subscriber_gets_only_the_last_event_then_live_ones() {
    let h = Harness::start().await;
    h.publish(built(true, "first", Some("h1"), None));
    h.publish(built(false, "second", Some("h2"), None));
    let mut late = SseClient::connect(h.port, &h.token).await;
    assert!(
        tokio::time::timeout(WAIT, late.read_until("\"second\""))
            .await
            .expect("in time")
    );
    let body = String::from_utf8_lossy(&late.body()).into_owned();
    assert!(body.starts_with("event: rebuild\n"), "{body}");
    assert!(
        !body.contains("\"first\""),
        "only the last event is replayed: {body}"
    );
    assert_eq!(body.matches("\n\n").count(), 1);

    h.publish(built(false, "third", Some("h3"), None));
    assert!(
        tokio::time::timeout(WAIT, late.read_until("\"third\""))
            .await
            .expect("in time")
    );
    // Subscribing sent nothing to the engine (subscribers never trigger dispatch).
    assert!(h.engine.commands.is_empty());

    // A client that goes away is unsubscribed, even while no event is flowing.
    assert_eq!(h.engine.shared.dev_events.subscriber_count(), 1);
    drop(late);
    let deadline = std::time::Instant::now() + WAIT;
    while h.engine.shared.dev_events.subscriber_count() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the subscriber is released"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn no_event_before_the_first_build_means_an_empty_stream() {
    let h = Harness::start().await;
    let mut sub = SseClient::connect(h.port, &h.token).await;
    // Reads the head only; then a live event is the first frame.
    h.publish(built(true, "x1", None, None));
    assert!(
        tokio::time::timeout(WAIT, sub.read_until("\"x1\""))
            .await
            .expect("in time")
    );
    assert!(String::from_utf8_lossy(&sub.body()).starts_with("event: ready\n"));
}

/// 200 subscribers all receive one rebuild. Reports the publish → all-received latency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_subscribers_all_receive_each_rebuild() {
    const SUBSCRIBERS: usize = 200;
    const ROUNDS: usize = 7;
    let h = Harness::start().await;
    h.publish(built(true, "round-0", Some("h"), None));

    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, usize, Instant)>();
    let mut tasks = Vec::new();
    for id in 0..SUBSCRIBERS {
        let seen = seen_tx.clone();
        let (port, token) = (h.port, h.token.clone());
        tasks.push(tokio::spawn(async move {
            let mut sub = SseClient::connect(port, &token).await;
            for round in 0..=ROUNDS {
                if !sub.read_until(&format!("\"round-{round}\"")).await {
                    return;
                }
                let _ = seen.send((id, round, Instant::now()));
            }
        }));
    }
    drop(seen_tx);
    // Round 0 is the replay: every subscriber is connected once it has it.
    let mut connected = 0;
    while connected < SUBSCRIBERS {
        let (_, round, _) = tokio::time::timeout(WAIT, seen_rx.recv())
            .await
            .expect("all subscribers connect in time")
            .expect("subscriber alive");
        assert_eq!(round, 0);
        connected += 1;
    }
    assert_eq!(h.engine.shared.dev_events.subscriber_count(), SUBSCRIBERS);
    let mut latencies = Vec::new();
    for round in 1..=ROUNDS {
        let published = Instant::now();
        h.publish(built(false, &format!("round-{round}"), Some("h"), None));
        let mut got = [false; SUBSCRIBERS];
        let mut last = published;
        for _ in 0..SUBSCRIBERS {
            let (id, r, at) = tokio::time::timeout(WAIT, seen_rx.recv())
                .await
                .expect("every subscriber receives the rebuild in time")
                .expect("subscriber alive");
            assert_eq!(r, round);
            assert!(!got[id], "subscriber {id} got round {round} twice");
            got[id] = true;
            last = last.max(at);
        }
        latencies.push(last - published);
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    println!(
        "SSE fan-out to {SUBSCRIBERS} subscribers (debug build): median {:.2} ms, min {:.2} ms, max {:.2} ms over {ROUNDS} rounds",
        median.as_secs_f64() * 1e3,
        latencies[0].as_secs_f64() * 1e3,
        latencies[ROUNDS - 1].as_secs_f64() * 1e3,
    );
    assert!(
        h.engine.commands.is_empty(),
        "subscribers never command the engine"
    );
    for t in tasks {
        t.abort();
    }
}

/// A subscriber that connected and never reads must not delay the others; once it is a whole
/// ring behind it is disconnected, and it can reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_never_delays_the_others_and_is_eventually_dropped() {
    const EVENTS: usize = 3000;
    const BATCH: usize = 100;
    let h = Harness::start().await;
    h.publish(built(true, "start", None, None));

    // The stalled one: sends its request, then never reads.
    let mut stalled = SseClient::connect(h.port, &h.token).await;
    let mut reader = SseClient::connect(h.port, &h.token).await;
    assert!(
        tokio::time::timeout(WAIT, reader.read_until("\"start\""))
            .await
            .expect("in time")
    );
    // Wait until the server registered both subscribers.
    let deadline = Instant::now() + WAIT;
    while h.engine.shared.dev_events.subscriber_count() < 2 {
        assert!(Instant::now() < deadline, "both subscribers register");
        tokio::task::yield_now().await;
    }

    let payload = "x".repeat(16 * 1024);
    let needle = b"event: error\n";
    let mut received = 0usize;
    let mut carry: Vec<u8> = Vec::new();
    let mut worst_batch = Duration::ZERO;
    let mut buf = vec![0u8; 1 << 20];
    for batch in 0..EVENTS / BATCH {
        let started = Instant::now();
        for i in 0..BATCH {
            h.publish(DevEvent::Error {
                message: format!("{}-{payload}", batch * BATCH + i),
            });
        }
        while received < (batch + 1) * BATCH {
            let n = tokio::time::timeout(WAIT, reader.stream.read(&mut buf))
                .await
                .expect("the reading subscriber keeps receiving")
                .expect("read");
            assert!(n > 0, "the reading subscriber was dropped");
            carry.extend_from_slice(&buf[..n]);
            received += carry.windows(needle.len()).filter(|w| *w == needle).count();
            let keep = carry.len().min(needle.len() - 1);
            carry.drain(..carry.len() - keep);
        }
        worst_batch = worst_batch.max(started.elapsed());
    }
    assert_eq!(received, EVENTS);
    println!(
        "stalled subscriber present: {EVENTS} x 16 KiB events reached the reader in batches of {BATCH}, worst batch {:.1} ms",
        worst_batch.as_secs_f64() * 1e3
    );

    // The stalled subscriber fell more than a ring behind: the server ends its stream.
    let ended = tokio::time::timeout(WAIT, stalled.read_to_end()).await;
    assert!(ended.is_ok(), "the stalled subscriber is disconnected");
    let frames = String::from_utf8_lossy(&stalled.body())
        .matches("event: error\n")
        .count();
    assert!(
        frames < EVENTS,
        "it was dropped, not fed everything ({frames})"
    );

    // It can reconnect and gets the replay of the newest event.
    let mut again = SseClient::connect(h.port, &h.token).await;
    let newest = format!("\"message\":\"{}-", EVENTS - 1);
    assert!(
        tokio::time::timeout(WAIT, again.read_until(&newest))
            .await
            .expect("in time")
    );
}

#[tokio::test]
async fn server_shutdown_ends_streams_and_sends_nothing_more() {
    let mut h = Harness::start().await;
    h.publish(built(true, "before", None, None));
    let mut sub = SseClient::connect(h.port, &h.token).await;
    assert!(
        tokio::time::timeout(WAIT, sub.read_until("\"before\""))
            .await
            .expect("in time")
    );

    let server = h.server.take().expect("running");
    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::timeout(WAIT, sub.read_to_end())
        .await
        .expect("stream ends");
    h.publish(built(false, "after", None, None));
    assert!(!String::from_utf8_lossy(&sub.body()).contains("\"after\""));
    tokio::time::timeout(WAIT, shutdown)
        .await
        .expect("shutdown in time")
        .expect("join");
    // No longer accepting connections.
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", h.port))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn engine_shutdown_stops_events_and_replay() {
    let h = Harness::start().await;
    h.publish(built(true, "before", None, None));
    let mut sub = SseClient::connect(h.port, &h.token).await;
    assert!(
        tokio::time::timeout(WAIT, sub.read_until("\"before\""))
            .await
            .expect("in time")
    );

    h.engine
        .shared
        .events
        .send(EngineEvent::ShuttingDown)
        .expect("server listens");
    tokio::time::timeout(WAIT, sub.read_to_end())
        .await
        .expect("stream ends");
    h.publish(built(false, "after", None, None));
    assert!(!String::from_utf8_lossy(&sub.body()).contains("\"after\""));

    // A new subscriber gets no replay either.
    let res = h.get("/api/dev/events").await;
    assert_eq!(res.status(), 503);
    let body = res.text().await.expect("body");
    assert!(
        !body.contains("\"after\"") && !body.contains("\"before\""),
        "{body}"
    );
}

/// Publish → frame read by one subscriber; reports the median (the SSE leg of save → event).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_subscriber_receives_each_event_promptly() {
    const ROUNDS: usize = 50;
    let h = Harness::start().await;
    h.publish(built(true, "lat-0", None, None));
    let mut sub = SseClient::connect(h.port, &h.token).await;
    assert!(
        tokio::time::timeout(WAIT, sub.read_until("\"lat-0\""))
            .await
            .expect("in time")
    );
    let mut latencies = Vec::with_capacity(ROUNDS);
    for round in 1..=ROUNDS {
        let published = Instant::now();
        h.publish(built(false, &format!("lat-{round}"), None, None));
        let needle = format!("\"lat-{round}\"");
        assert!(
            tokio::time::timeout(WAIT, sub.read_until(&needle))
                .await
                .expect("in time")
        );
        latencies.push(published.elapsed());
    }
    latencies.sort();
    println!(
        "SSE publish → frame read, 1 subscriber (debug build): median {:.0} µs, p95 {:.0} µs",
        latencies[ROUNDS / 2].as_secs_f64() * 1e6,
        latencies[ROUNDS * 95 / 100].as_secs_f64() * 1e6
    );
}
