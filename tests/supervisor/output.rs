//! Output capture: line store, coalesced notifications, raw tap, marker, bounded memory.

use std::time::{Duration, Instant};

use arkor_tui::core::events::ExitStatus;
use arkor_tui::core::logs::{LogStream, MAX_BYTES_PER_RUN, MAX_LINES_PER_RUN};
use arkor_tui::core::run_output::{self, HTTP_OUTPUT_BUDGET, RunOutput};
use arkor_tui::core::supervisor::{ChildEvent, MAX_LINE_BYTES};
use tokio::sync::mpsc;

use crate::support::*;

/// A tap budget no test output reaches: every byte is kept.
const KEEP_ALL: usize = 256 * 1024 * 1024;

fn expected_flood(lines: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for i in 0..lines {
        bytes.extend_from_slice(format!("line {i}\n").as_bytes());
    }
    bytes
}

#[tokio::test]
async fn marker_on_stdout_becomes_one_job_id_event_and_decoys_are_ignored() {
    let mut h = Harness::new();
    let child = h.spawn(node("runner.mjs", &[]));
    assert_eq!(h.job_id(child.pid).await, format!("job-{}", child.pid));
    // The stdout decoys came before the marker, so they are stored already.
    let lines = h.lines(child.pid);
    assert!(
        lines
            .iter()
            .any(|l| l.0 == LogStream::Stdout && l.1 == "Started job no-nonce")
    );
    assert!(
        lines
            .iter()
            .any(|l| l.1.ends_with("Started job wrong-nonce"))
    );
    // The stderr decoy (right nonce, wrong stream) is logged but never matched.
    h.line(child.pid, |l| l.ends_with("Started job decoy-on-stderr"))
        .await;
    let lines = h.lines(child.pid);
    assert!(
        lines
            .iter()
            .any(|l| l.0 == LogStream::Stderr && l.1.ends_with("decoy-on-stderr"))
    );
    // The marker itself is for arkor, not for the log: it is not stored.
    let marker = format!("[arkor:{}] Started job job-{}", child.nonce, child.pid);
    assert!(
        !h.lines(child.pid).iter().any(|l| l.1.contains(&marker)),
        "{:?}",
        h.lines(child.pid)
    );
    h.sup.force_stop(child.pid);
    h.exited(child.pid).await;
    assert_eq!(h.count(|e| matches!(e, ChildEvent::JobId { .. })), 1);
}

#[tokio::test]
async fn a_million_lines_are_absorbed_fast_with_bounded_memory_and_few_notifications() {
    const LINES: usize = 1_000_000;
    // How fast does node produce this output with nobody reading but /dev/null?
    let baseline = tokio::task::spawn_blocking(|| {
        let started = Instant::now();
        let status = std::process::Command::new("node")
            .arg(fixtures().join("flood.mjs"))
            .arg(LINES.to_string())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("baseline run");
        assert!(status.success());
        started.elapsed()
    })
    .await
    .expect("baseline");

    let mut h = Harness::new();
    let started = Instant::now();
    let child = h.spawn(node("flood.mjs", &[&LINES.to_string()]));
    assert_eq!(h.exited(child.pid).await, ExitStatus::Code(0));
    let took = started.elapsed();
    let notifications = h.count(|e| matches!(e, ChildEvent::LogsAppended { .. }));

    let (stored, total, bytes, last_stdout) = h.logs.with(child.pid, |log| {
        let log = log.expect("log exists");
        let last = log
            .lines()
            .iter()
            .rev()
            .find(|l| l.stream == LogStream::Stdout)
            .map(|l| l.text.clone());
        (log.len(), log.next_seq(), log.bytes(), last)
    });
    // Every line went through the store (plus the exit line); only the newest are kept.
    assert_eq!(total, LINES as u64 + 1);
    assert_eq!(stored, MAX_LINES_PER_RUN);
    assert!(bytes <= MAX_BYTES_PER_RUN);
    assert_eq!(last_stdout.as_deref(), Some("line 999999"));
    assert!(
        (1..5_000).contains(&notifications),
        "{notifications} notifications"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    let rate = LINES as f64 / took.as_secs_f64();
    // Process-wide (other tests run in parallel), so only printed.
    let peak_rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    println!("flood: test process {peak_rss}");
    println!(
        "flood: {LINES} lines absorbed in {took:?} ({rate:.0} lines/s, spawn to Exited); \
         node alone to /dev/null: {baseline:?}; {notifications} LogsAppended notifications"
    );
}

#[tokio::test]
async fn raw_tap_receives_every_byte_in_order_then_exited() {
    const LINES: usize = 200_000;
    let mut h = Harness::new();
    let (tx, mut rx) = run_output::channel(KEEP_ALL);
    let child = h
        .sup
        .spawn(node("flood.mjs", &[&LINES.to_string()]), Some(tx))
        .expect("spawn");
    let mut received = Vec::new();
    let mut exit = None;
    let deadline = tokio::time::Instant::now() + WAIT;
    while let Ok(Some(item)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        match item {
            RunOutput::Data(bytes) => {
                assert!(exit.is_none(), "data after Exited");
                received.extend_from_slice(&bytes);
            }
            RunOutput::Exited(status) => {
                assert!(exit.is_none(), "two Exited");
                exit = Some(status);
            }
            RunOutput::Dropped(n) => panic!("{n} bytes dropped within the budget"),
        }
    }
    // The stream ended right after Exited.
    assert_eq!(exit, Some(ExitStatus::Code(0)));
    assert!(
        received == expected_flood(LINES),
        "tap bytes differ ({} bytes)",
        received.len()
    );
    assert_eq!(h.exited(child.pid).await, ExitStatus::Code(0));
}

#[tokio::test]
async fn a_tap_nobody_reads_holds_up_nothing_and_keeps_only_its_budget() {
    const LINES: usize = 2_000_000;
    let mut h = Harness::new();
    let (tx, mut rx) = run_output::channel(HTTP_OUTPUT_BUDGET);
    let child = h
        .sup
        .spawn(node("flood.mjs", &[&LINES.to_string()]), Some(tx))
        .expect("spawn");
    // Nobody reads the tap while the child prints ~15 MB: it still runs to its end, every
    // line reaches the log store, and the tap holds no more than its budget.
    assert_eq!(h.exited(child.pid).await, ExitStatus::Code(0));
    let total = h.logs.with(child.pid, |log| log.expect("log").next_seq());
    assert_eq!(total, LINES as u64 + 1);
    assert!(rx.queued_bytes() <= HTTP_OUTPUT_BUDGET);

    let expected = expected_flood(LINES);
    let mut items = Vec::new();
    while let Some(item) = tokio::time::timeout(WAIT, rx.recv()).await.expect("item") {
        items.push(item);
    }
    let RunOutput::Dropped(dropped) = items[0] else {
        panic!("the stream starts with the gap: {:?}", items[0]);
    };
    assert_eq!(items.last(), Some(&RunOutput::Exited(ExitStatus::Code(0))));
    let kept: Vec<u8> = items[1..items.len() - 1]
        .iter()
        .flat_map(|item| match item {
            RunOutput::Data(bytes) => bytes.to_vec(),
            other => panic!("one gap only, then data: {other:?}"),
        })
        .collect();
    // Every byte is accounted for: the newest ones delivered, from a line start on.
    assert_eq!(dropped as usize + kept.len(), expected.len());
    assert!(kept.len() <= HTTP_OUTPUT_BUDGET && kept.len() > HTTP_OUTPUT_BUDGET / 2);
    assert!(expected.ends_with(&kept), "the kept bytes are the newest");
    assert_eq!(
        expected[dropped as usize - 1],
        b'\n',
        "resumes at a line start"
    );
}

#[tokio::test]
async fn messy_output_is_stored_as_a_terminal_shows_it() {
    let mut h = Harness::new();
    let (tx, mut rx) = run_output::channel(KEEP_ALL);
    let child = h
        .sup
        .spawn(node("messy.mjs", &[]), Some(tx))
        .expect("spawn");
    // The marker at the end of a 10 MB line is still found (only the tail is scanned).
    assert_eq!(h.job_id(child.pid).await, "job-after-10mb");
    assert_eq!(h.exited(child.pid).await, ExitStatus::Code(0));

    let lines: Vec<String> = h
        .lines(child.pid)
        .into_iter()
        .filter(|l| l.0 == LogStream::Stdout)
        .map(|l| l.1)
        .collect();
    assert_eq!(
        lines.len(),
        5,
        "{:?}",
        lines
            .iter()
            .map(|l| &l[..l.len().min(40)])
            .collect::<Vec<_>>()
    );
    assert_eq!(lines[0], "ok \u{FFFD}\u{FFFD} end");
    assert_eq!(lines[1], "progress 100%");
    assert_eq!(lines[2], "crlf line");
    let marker_len = format!("[arkor:{}] Started job job-after-10mb", child.nonce).len();
    let cut = 10 * 1024 * 1024 + marker_len - MAX_LINE_BYTES;
    assert!(lines[3].starts_with(&"x".repeat(MAX_LINE_BYTES)));
    assert!(
        lines[3].ends_with(&format!("[line truncated: {cut} more bytes]")),
        "{}",
        &lines[3][MAX_LINE_BYTES..]
    );
    // The unterminated last line is flushed at EOF, truncated the same way.
    let cut = 1024 * 1024 - MAX_LINE_BYTES;
    assert!(lines[4].starts_with(&"y".repeat(MAX_LINE_BYTES)));
    assert!(lines[4].ends_with(&format!("[line truncated: {cut} more bytes]")));

    // The tap got the raw bytes, untouched.
    let mut raw = Vec::new();
    while let Some(RunOutput::Data(bytes)) = rx.recv().await {
        raw.extend_from_slice(&bytes);
    }
    let expected_len = 10
        + "progress 1%\rprogress 50%\r".len()
        + "progress 100%\r\n".len()
        + "crlf line\r\n".len()
        + 10 * 1024 * 1024
        + marker_len
        + 1
        + 1024 * 1024;
    assert_eq!(raw.len(), expected_len);
    assert_eq!(
        &raw[..10],
        &[0x6f, 0x6b, 0x20, 0xff, 0xfe, 0x20, 0x65, 0x6e, 0x64, 0x0a]
    );
}

#[tokio::test]
async fn notifications_coalesce_until_received() {
    let mut h = Harness::new();
    let child = h.spawn(node("flood.mjs", &["100000"]));
    // Let the whole run happen without receiving anything.
    let deadline = Instant::now() + WAIT;
    while h.sup.live_count() > 0 {
        assert!(Instant::now() < deadline, "flood did not finish");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut queued = Vec::new();
    while let Some(event) = h.events.try_recv() {
        queued.push(event);
    }
    // Nobody received: at most one LogsAppended was queued however many lines arrived.
    let logs = queued
        .iter()
        .filter(|e| matches!(e, ChildEvent::LogsAppended { pid } if *pid == child.pid))
        .count();
    assert_eq!(logs, 1, "{queued:?}");
    assert!(matches!(
        queued.last(),
        Some(ChildEvent::Exited {
            status: ExitStatus::Code(0),
            ..
        })
    ));
}

#[tokio::test]
async fn events_can_be_forwarded_into_another_channel() {
    let logs = arkor_tui::core::logs::LogStore::new();
    let (sup, events) = arkor_tui::core::supervisor::Supervisor::with_events(logs.clone());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let forwarder = events.forward_into(tx);
    let child = sup
        .spawn(node("exit.mjs", &["code", "3"]), None)
        .expect("spawn");
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("in time")
            .expect("open");
        let done = matches!(event, ChildEvent::Exited { .. });
        got.push(event);
        if done {
            break;
        }
    }
    assert!(got.contains(&ChildEvent::LogsAppended { pid: child.pid }));
    assert_eq!(
        got.last(),
        Some(&ChildEvent::Exited {
            pid: child.pid,
            status: ExitStatus::Code(3)
        })
    );
    drop(rx);
    forwarder.abort();
}

#[tokio::test]
async fn supervisor_new_sends_events_into_the_given_channel() {
    let logs = arkor_tui::core::logs::LogStore::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sup = arkor_tui::core::supervisor::Supervisor::new(logs.clone(), tx);
    let child = sup.spawn(node("runner.mjs", &[]), None).expect("spawn");
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut got = Vec::new();
    loop {
        let event = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("in time")
            .expect("open");
        if let ChildEvent::JobId { .. } = event {
            sup.force_stop(child.pid);
        }
        let done = matches!(event, ChildEvent::Exited { .. });
        got.push(event);
        if done {
            break;
        }
    }
    assert!(got.contains(&ChildEvent::JobId {
        pid: child.pid,
        id: format!("job-{}", child.pid)
    }));
    assert!(got.contains(&ChildEvent::LogsAppended { pid: child.pid }));
    assert_eq!(
        got.last(),
        Some(&ChildEvent::Exited {
            pid: child.pid,
            status: ExitStatus::Signal(9)
        })
    );
    // The last stored line (the exit line) was announced after it was stored.
    let last_logs = got
        .iter()
        .rposition(|e| matches!(e, ChildEvent::LogsAppended { .. }));
    assert!(last_logs.is_some());
}
