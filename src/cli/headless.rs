//! `arkor tui --headless`: one line per event on stdout (human-readable or JSON).
//!
//! Training progress: with `--json`, one `metric` line per training event of a run's cloud
//! job and one `checkpoint` line per saved checkpoint; in the plain format one compact
//! progress line per checkpoint (a line per step would drown everything else). When the
//! engine has stopped, a summary: one line per run with how it ended and its last step and
//! loss.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::stdout_lines::{SkipNote, StdoutLines};
use crate::core::cloud::job_events::{JobEvent, JobEventKind, TrainingLog};
use crate::core::engine::EngineHandle;
use crate::core::events::{
    DevEvent, EngineEvent, ExitStatus, NoticeLevel, RunInfo, RunState, signal_name,
};
use crate::core::logs::LogStream;
use crate::core::training::Progress;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFormat {
    Human,
    Json,
}

/// Print events until the engine reports `Stopped`; with `with_logs`, every run's output
/// lines too (`[pid] text`, or `{"type":"log",…}` objects).
///
/// `events` must come from [`EngineHandle::subscribe`] before anything can stop the engine
/// (e.g. before signals are forwarded to it): a `Stopped` published before the subscription
/// would never arrive and the printer would wait forever.
///
/// Lines go to `out`, which never waits for stdout: a stdout nobody reads cannot hold up the
/// engine's shutdown.
pub async fn print_events(
    engine: EngineHandle,
    mut events: broadcast::Receiver<EngineEvent>,
    format: LineFormat,
    with_logs: bool,
    out: &StdoutLines,
) {
    let emit = |line: String| out.line(line);
    // The dev bus publishes before the engine-event send, so its last value covers every
    // dev event sent before `events` was subscribed; only that one can arrive live as well.
    let (replayed, _) = engine.subscribe_dev();
    if let Some(last) = &replayed {
        emit(format_dev(last, format));
    }
    let mut printed_upto: HashMap<u32, u64> = HashMap::new();
    let mut training = TrainingLines::default();
    loop {
        match events.recv().await {
            Ok(EngineEvent::Stopped) => break,
            Ok(EngineEvent::Training {
                pid,
                job_id,
                events,
            }) => {
                let progress = engine.snapshot().run(pid).map(|r| r.metrics.progress());
                for line in training.lines(pid, &job_id, &events, progress, format) {
                    emit(line);
                }
            }
            Ok(EngineEvent::Logs { pid }) if with_logs => {
                let next = printed_upto.entry(pid).or_insert(0);
                for line in new_log_lines(&engine, pid, next, format) {
                    emit(line);
                }
            }
            Ok(EngineEvent::Dev(dev))
                if replayed.as_ref().is_some_and(|r| Arc::ptr_eq(r, &dev)) => {}
            Ok(ev) => {
                if let Some(line) = format_event(&ev, format) {
                    emit(line);
                }
            }
            Err(RecvError::Lagged(n)) => emit(match format {
                LineFormat::Human => format!("{} (skipped {n} events: output too slow)", stamp()),
                LineFormat::Json => format!("{{\"type\":\"lagged\",\"skipped\":{n}}}"),
            }),
            Err(RecvError::Closed) => break,
        }
    }
    for line in summary_lines(&engine.snapshot().runs, format) {
        emit(line);
    }
}

/// The end-of-session summary: one line per run (how it ended, last step and loss).
pub fn summary_lines(runs: &[Arc<RunInfo>], format: LineFormat) -> Vec<String> {
    runs.iter()
        .map(|run| match format {
            LineFormat::Human => format!("{} summary: {}", stamp(), run.summary_line()),
            LineFormat::Json => serde_json::json!({
                "type": "summary",
                "pid": run.pid,
                "jobId": run.job_id,
                "trainerName": run.trainer_name,
                "outcome": run.outcome,
                "text": run.summary_line(),
            })
            .to_string(),
        })
        .collect()
}

/// The latest values of a run's training, as its events went by (a checkpoint's progress
/// line shows the numbers as of that checkpoint, not of the end of the batch).
#[derive(Default)]
struct TrainingLines {
    latest: HashMap<u32, Latest>,
}

#[derive(Default, Clone, Copy)]
struct Latest {
    loss: Option<f64>,
    eval_loss: Option<f64>,
    learning_rate: Option<f64>,
}

impl TrainingLines {
    /// The lines for one batch of a run's events. `progress` is the run's progress now (for
    /// max steps, speed and ETA).
    fn lines(
        &mut self,
        pid: u32,
        job_id: &str,
        events: &[JobEvent],
        progress: Option<Progress>,
        format: LineFormat,
    ) -> Vec<String> {
        let latest = self.latest.entry(pid).or_default();
        let mut out = Vec::new();
        for event in events {
            match &event.kind {
                JobEventKind::Log(log) => {
                    latest.loss = log.loss.or(latest.loss);
                    latest.eval_loss = log.eval_loss.or(latest.eval_loss);
                    latest.learning_rate = log.learning_rate.or(latest.learning_rate);
                    if format == LineFormat::Json {
                        out.push(metric_json(pid, job_id, log));
                    }
                }
                JobEventKind::CheckpointSaved { step } => out.push(match format {
                    LineFormat::Json => serde_json::json!({
                        "type": "checkpoint", "pid": pid, "jobId": job_id, "step": step,
                    })
                    .to_string(),
                    LineFormat::Human => checkpoint_line(pid, *step, latest, progress),
                }),
                JobEventKind::Started | JobEventKind::Completed | JobEventKind::Failed { .. } => {}
            }
        }
        out
    }
}

/// `{"type":"metric","pid","jobId","step","loss","evalLoss","learningRate","epoch"}`, each
/// value a number or null.
fn metric_json(pid: u32, job_id: &str, log: &TrainingLog) -> String {
    serde_json::json!({
        "type": "metric",
        "pid": pid,
        "jobId": job_id,
        "step": log.step,
        "loss": log.loss,
        "evalLoss": log.eval_loss,
        "learningRate": log.learning_rate,
        "epoch": log.epoch,
    })
    .to_string()
}

/// `12:00:05 run 1234 checkpoint at step 150/200 (75%) · loss 0.4213 · eval 0.4600 ·
/// lr 0.00012 · 3.2 steps/s · ETA 16s`.
fn checkpoint_line(pid: u32, step: u64, latest: &Latest, progress: Option<Progress>) -> String {
    let progress = progress.unwrap_or_default();
    let mut line = format!("{} run {pid} checkpoint at step {step}", stamp());
    if let Some(max) = progress.max_steps {
        let percent = (step as f64 / max as f64 * 100.0).min(100.0);
        line.push_str(&format!("/{max} ({percent:.0}%)"));
    }
    if let Some(loss) = latest.loss {
        line.push_str(&format!(" · loss {loss:.4}"));
    }
    if let Some(eval) = latest.eval_loss {
        line.push_str(&format!(" · eval {eval:.4}"));
    }
    if let Some(lr) = latest.learning_rate {
        line.push_str(&format!(" · lr {lr}"));
    }
    if let Some(rate) = progress.steps_per_second {
        line.push_str(&format!(" · {rate:.1} steps/s"));
    }
    if let Some(eta) = progress.eta {
        line.push_str(&format!(
            " · ETA {}",
            crate::tui::format::clock_duration(eta)
        ));
    }
    line
}

/// Format the lines of `pid` stored since `next` (a log sequence number) and advance it.
/// Lines evicted before they were printed are counted, not silently lost.
fn new_log_lines(
    engine: &EngineHandle,
    pid: u32,
    next: &mut u64,
    format: LineFormat,
) -> Vec<String> {
    engine.logs().with(pid, |log| {
        let Some(log) = log else { return Vec::new() };
        let mut out = Vec::new();
        if let Some(first) = log.lines().front()
            && first.seq > *next
        {
            let skipped = first.seq - *next;
            out.push(match format {
                LineFormat::Human => {
                    format!("[{pid}] … {skipped} lines not shown (output too fast)")
                }
                LineFormat::Json => {
                    serde_json::json!({"type": "logSkipped", "pid": pid, "lines": skipped})
                        .to_string()
                }
            });
        }
        for line in log.lines().iter().filter(|l| l.seq >= *next) {
            out.push(match format {
                LineFormat::Human => format!("{} [{pid}] {}", stamp_at(line.at), line.text),
                LineFormat::Json => {
                    let stream = match line.stream {
                        LogStream::Stdout => "stdout",
                        LogStream::Stderr => "stderr",
                        LogStream::System => "arkor",
                    };
                    serde_json::json!({
                        "type": "log",
                        "pid": pid,
                        "stream": stream,
                        "text": line.text,
                        "ts": crate::core::timestamp::rfc3339_millis(line.at),
                    })
                    .to_string()
                }
            });
        }
        *next = log.next_seq();
        out
    })
}

/// The line that stands for `n` lines stdout did not take in time (see [`StdoutLines`]).
pub fn stdout_skip_note(format: LineFormat) -> SkipNote {
    match format {
        LineFormat::Human => Box::new(|n| {
            format!(
                "{} … {n} lines not shown (stdout was not being read)",
                stamp()
            )
        }),
        LineFormat::Json => {
            Box::new(|n| serde_json::json!({"type": "stdoutSkipped", "lines": n}).to_string())
        }
    }
}

/// The line for one engine event, or `None` for events headless output skips (log chunks).
pub fn format_event(ev: &EngineEvent, format: LineFormat) -> Option<String> {
    match (ev, format) {
        (EngineEvent::Dev(dev), _) => Some(format_dev(dev, format)),
        (EngineEvent::Run(run), _) => Some(format_run(run, format)),
        (EngineEvent::Notice { level, message }, LineFormat::Human) => {
            let tag = match level {
                NoticeLevel::Info => "info",
                NoticeLevel::Warn => "warn",
                NoticeLevel::Error => "error",
            };
            Some(format!("{} {tag}: {message}", stamp()))
        }
        (EngineEvent::Notice { level, message }, LineFormat::Json) => Some(
            serde_json::json!({"type": "notice", "level": level, "message": message}).to_string(),
        ),
        (EngineEvent::BuildStarted, LineFormat::Human) => None,
        (EngineEvent::BuildStarted, LineFormat::Json) => Some(r#"{"type":"building"}"#.into()),
        (EngineEvent::ShuttingDown, LineFormat::Human) => Some(format!(
            "{} shutting down: early-stopping runs at their next checkpoint (press Ctrl-C again to force)",
            stamp()
        )),
        (EngineEvent::ShuttingDown, LineFormat::Json) => Some(r#"{"type":"shutdown"}"#.into()),
        (EngineEvent::Logs { .. } | EngineEvent::Training { .. } | EngineEvent::Stopped, _) => None,
    }
}

fn format_dev(dev: &DevEvent, format: LineFormat) -> String {
    if format == LineFormat::Json {
        return dev.to_json();
    }
    match dev {
        DevEvent::Error { message } => format!("{} build error: {message}", stamp()),
        DevEvent::Built {
            artifact, dispatch, ..
        } => {
            let mut line = format!(
                "{} {:<7} {} trainer={} configHash={} ({:.1} ms)",
                stamp(),
                dev.type_name(),
                artifact.out_file,
                artifact.trainer_name.as_deref().unwrap_or("(none)"),
                artifact.config_hash.as_deref().unwrap_or("null"),
                artifact.build_duration.as_secs_f64() * 1000.0,
            );
            if let Some(d) = dispatch {
                let pids = |v: Vec<u32>| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
                if !d.hot_swap_targets.is_empty() {
                    line.push_str(&format!(
                        " hot-swap=[{}]",
                        pids(d.hot_swap_targets.iter().map(|t| t.pid).collect())
                    ));
                }
                if !d.restart_targets.is_empty() {
                    line.push_str(&format!(
                        " restart=[{}]",
                        pids(d.restart_targets.iter().map(|t| t.pid).collect())
                    ));
                }
            }
            line
        }
    }
}

fn format_run(run: &RunInfo, format: LineFormat) -> String {
    if format == LineFormat::Json {
        let mut value = serde_json::to_value(run).unwrap_or_default();
        if let Some(obj) = value.as_object_mut() {
            obj.insert("type".into(), "run".into());
        }
        return value.to_string();
    }
    let state = match &run.state {
        RunState::Starting => "starting".to_string(),
        RunState::Running => "running".to_string(),
        RunState::HotSwapped => "hot-swapped".to_string(),
        RunState::EarlyStopping => "early-stopping".to_string(),
        RunState::Restarting => "restarting".to_string(),
        RunState::Exited { status } => match status {
            ExitStatus::Code(code) => format!("exited code={code}"),
            ExitStatus::Signal(n) => format!("exited signal={}", signal_name(*n)),
        },
    };
    let mut line = format!("{} run {} {state}", stamp(), run.pid);
    if let Some(job) = &run.job_id {
        line.push_str(&format!(" job={job}"));
    }
    if let Some(hash) = &run.config_hash {
        line.push_str(&format!(" configHash={hash}"));
    }
    if let Some(restart) = &run.restarted_from {
        line.push_str(&format!(" replaces={} ({})", restart.from, restart.cause));
    }
    if !run.restart_reason.is_empty() {
        let changes: Vec<String> = run.restart_reason.iter().map(ToString::to_string).collect();
        line.push_str(&format!(" changed: {}", changes.join(", ")));
    }
    if let Some(outcome) = &run.outcome {
        line.push_str(&format!(" outcome: {}", outcome.describe()));
    }
    if let Some(changes) = &run.pending_config {
        let changes: Vec<String> = changes.iter().map(ToString::to_string).collect();
        line.push_str(&format!(" held: {}", changes.join(", ")));
    }
    if let Some(failure) = &run.failure {
        line.push_str(&format!(" failed: {failure}"));
    }
    line
}

/// `HH:MM:SS` in UTC; good enough to correlate lines without a time-zone database.
fn stamp() -> String {
    stamp_at(SystemTime::now())
}

/// [`stamp`] for a given moment (when arkor read a log line).
fn stamp_at(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{:02}:{:02}:{:02}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::events::RunOrigin;

    fn exited_run(status: ExitStatus) -> RunInfo {
        RunInfo {
            trainer_name: Some("demo-triage".into()),
            job_id: Some("job_1".into()),
            state: RunState::Exited { status },
            ..RunInfo::new(4242, RunOrigin::Http, SystemTime::UNIX_EPOCH)
        }
    }

    #[test]
    fn exit_by_signal_is_named_not_debug_printed() {
        let line = format_run(&exited_run(ExitStatus::Signal(9)), LineFormat::Human);
        assert!(
            line.contains("run 4242 exited signal=SIGKILL job=job_1"),
            "{line}"
        );
        let line = format_run(&exited_run(ExitStatus::Code(0)), LineFormat::Human);
        assert!(line.contains("run 4242 exited code=0 job=job_1"), "{line}");
    }
    #[test]
    fn a_replacement_says_whom_it_replaces_and_why() {
        let run = RunInfo {
            restarted_from: Some(crate::core::events::Restart {
                from: 4100,
                cause: crate::core::events::RestartCause::ConfigChanged {
                    changes: vec![crate::core::events::ConfigChange {
                        key: "learningRate".into(),
                        old: Some("0.0002".into()),
                        new: Some("0.0001".into()),
                    }],
                },
            }),
            ..exited_run(ExitStatus::Code(0))
        };
        let line = format_run(&run, LineFormat::Human);
        assert!(
            line.contains("replaces=4100 (learningRate 0.0002 → 0.0001)"),
            "{line}"
        );
    }
}

#[cfg(test)]
mod log_line_tests {
    use super::*;
    use crate::core::logs::MAX_LINES_PER_RUN;
    use crate::core::project::Project;

    #[test]
    fn prints_each_stored_line_once_and_counts_evicted_ones() {
        let (engine, _detached) =
            EngineHandle::detached(Project::at(std::path::Path::new("/tmp")).unwrap());
        let mut next = 0;
        engine.logs().push(7, LogStream::Stdout, "one".into());
        engine.logs().push(7, LogStream::Stderr, "two".into());
        let lines = new_log_lines(&engine, 7, &mut next, LineFormat::Human);
        assert_eq!(lines.len(), 2);
        for (line, text) in lines.iter().zip(["[7] one", "[7] two"]) {
            // `HH:MM:SS ` first: when arkor read the line.
            let (time, rest) = line.split_at(9);
            assert_eq!(rest, text);
            assert!(time.as_bytes()[2] == b':' && time.ends_with(' '), "{line}");
        }
        assert!(new_log_lines(&engine, 7, &mut next, LineFormat::Human).is_empty());

        engine.logs().push(7, LogStream::System, "three".into());
        let json = new_log_lines(&engine, 7, &mut next, LineFormat::Json);
        assert_eq!(json.len(), 1);
        let mut value: serde_json::Value = serde_json::from_str(&json[0]).expect("json");
        let ts = value["ts"].take();
        assert!(ts.as_str().is_some_and(|t| t.ends_with('Z')), "{ts}");
        assert_eq!(
            value.to_string(),
            r#"{"type":"log","pid":7,"stream":"arkor","text":"three","ts":null}"#
        );

        // A burst larger than the ring: the lines that fell out are reported as a count.
        for i in 0..(MAX_LINES_PER_RUN + 5) {
            engine
                .logs()
                .push(7, LogStream::Stdout, format!("burst {i}"));
        }
        let lines = new_log_lines(&engine, 7, &mut next, LineFormat::Human);
        assert_eq!(lines[0], "[7] … 5 lines not shown (output too fast)");
        assert_eq!(lines.len(), MAX_LINES_PER_RUN + 1);
    }
}
