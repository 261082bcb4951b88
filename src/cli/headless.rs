//! `arkor tui --headless`: one line per event on stdout (human-readable or JSON).

use std::io::Write;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::core::engine::EngineHandle;
use crate::core::events::{DevEvent, EngineEvent, NoticeLevel, RunInfo, RunState};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFormat {
    Human,
    Json,
}

/// Print events until the engine reports `Stopped`.
///
/// `events` must come from [`EngineHandle::subscribe`] before anything can stop the engine
/// (e.g. before signals are forwarded to it): a `Stopped` published before the subscription
/// would never arrive and the printer would wait forever.
pub async fn print_events(
    engine: EngineHandle,
    mut events: broadcast::Receiver<EngineEvent>,
    format: LineFormat,
) {
    // The dev bus publishes before the engine-event send, so its last value covers every
    // dev event sent before `events` was subscribed; only that one can arrive live as well.
    let (replayed, _) = engine.subscribe_dev();
    if let Some(last) = &replayed {
        emit(&format_dev(last, format));
    }
    loop {
        match events.recv().await {
            Ok(EngineEvent::Stopped) => break,
            Ok(EngineEvent::Dev(dev))
                if replayed.as_ref().is_some_and(|r| Arc::ptr_eq(r, &dev)) => {}
            Ok(ev) => {
                if let Some(line) = format_event(&ev, format) {
                    emit(&line);
                }
            }
            Err(RecvError::Lagged(n)) => emit(&match format {
                LineFormat::Human => format!("{} (skipped {n} events: output too slow)", stamp()),
                LineFormat::Json => format!("{{\"type\":\"lagged\",\"skipped\":{n}}}"),
            }),
            Err(RecvError::Closed) => break,
        }
    }
}

fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) must not kill the dev loop.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
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
        (EngineEvent::Logs { .. } | EngineEvent::Stopped, _) => None,
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
        RunState::Exited { status } => match status.trailer_code() {
            Some(code) => format!("exited code={code}"),
            None => format!("exited signal={:?}", status),
        },
    };
    let mut line = format!("{} run {} {state}", stamp(), run.pid);
    if let Some(job) = &run.job_id {
        line.push_str(&format!(" job={job}"));
    }
    if let Some(hash) = &run.config_hash {
        line.push_str(&format!(" configHash={hash}"));
    }
    if let Some(old) = run.restarted_from {
        line.push_str(&format!(" replaces={old}"));
    }
    if !run.restart_reason.is_empty() {
        let changes: Vec<String> = run.restart_reason.iter().map(ToString::to_string).collect();
        line.push_str(&format!(" changed: {}", changes.join(", ")));
    }
    line
}

/// `HH:MM:SS` in UTC; good enough to correlate lines without a time-zone database.
fn stamp() -> String {
    let secs = SystemTime::now()
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
