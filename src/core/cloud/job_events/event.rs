//! The typed events of a cloud training job, decoded from one SSE frame.
//!
//! Data frames are dispatched on the JSON `type` field, never on the SSE `event:` name (a
//! proxy may rename or drop it). Keep-alive and end-of-stream frames are recognised by
//! either: the cloud sends them as `event: ping` / `event: end` with `data: {}`.
//!
//! Decoding is lenient where the wire is loose and strict where the chart depends on it:
//! an optional metric that is `null`, missing, a string (`"NaN"`, `"Infinity"`), another
//! type or not finite reads as "no value"; a `step` that is not a non-negative whole
//! number makes the frame malformed, because a point without a step cannot be placed.

use std::time::SystemTime;

use serde_json::{Map, Value};

use super::sse::SseFrame;
use super::timestamp::parse_rfc3339;

/// One `training.log` frame. Every metric is finite when present.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingLog {
    pub step: u64,
    pub loss: Option<f64>,
    pub eval_loss: Option<f64>,
    pub learning_rate: Option<f64>,
    pub epoch: Option<f64>,
    pub samples_per_second: Option<f64>,
}

impl TrainingLog {
    /// A frame for `step` that carries no values yet.
    pub fn at_step(step: u64) -> Self {
        Self {
            step,
            loss: None,
            eval_loss: None,
            learning_rate: None,
            epoch: None,
            samples_per_second: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum JobEventKind {
    Started,
    Log(TrainingLog),
    CheckpointSaved {
        step: u64,
    },
    Completed,
    /// `error` is the cloud's message (a placeholder when the frame had none).
    Failed {
        error: String,
        step: Option<u64>,
    },
}

/// A decoded job event with the moment it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct JobEvent {
    pub kind: JobEventKind,
    /// The cloud's `timestamp`, or when the frame arrived if that is missing or unreadable.
    pub at: SystemTime,
}

impl JobEvent {
    /// A `training.log` at `step` with these losses, stamped at the epoch (for unit tests).
    #[cfg(test)]
    pub(crate) fn loss_log(step: u64, loss: Option<f64>, eval_loss: Option<f64>) -> Self {
        Self {
            kind: JobEventKind::Log(TrainingLog {
                loss,
                eval_loss,
                ..TrainingLog::at_step(step)
            }),
            at: SystemTime::UNIX_EPOCH,
        }
    }

    /// The step this event is about, when it names one.
    pub fn step(&self) -> Option<u64> {
        match &self.kind {
            JobEventKind::Log(log) => Some(log.step),
            JobEventKind::CheckpointSaved { step } => Some(*step),
            JobEventKind::Failed { step, .. } => *step,
            JobEventKind::Started | JobEventKind::Completed => None,
        }
    }

    /// `training.completed` or `training.failed`: nothing follows.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.kind,
            JobEventKind::Completed | JobEventKind::Failed { .. }
        )
    }
}

/// What one frame turned out to be.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    Event(JobEvent),
    /// Keep-alive; carries nothing.
    Ping,
    /// The cloud closes the job's stream: the job is over.
    End,
    /// Well-formed JSON with a `type` this client does not know (or none): skipped
    /// quietly, as the SDK does, so a newer cloud does not look broken.
    Unknown {
        kind: String,
    },
    /// Skipped and counted.
    Malformed {
        reason: String,
    },
}

/// Used when a `training.failed` frame carries no usable `error`.
pub const UNKNOWN_FAILURE: &str = "training failed (the cloud sent no error message)";

/// Decode one frame; `received` stands in for a missing or unreadable `timestamp`.
pub fn decode_frame(frame: &SseFrame, received: SystemTime) -> Decoded {
    if frame.oversized {
        return malformed("frame larger than the parser's limit");
    }
    let control = match frame.event.as_deref() {
        Some("ping") => Some(Decoded::Ping),
        Some("end") => Some(Decoded::End),
        _ => None,
    };
    let value: Value = match serde_json::from_str(&frame.data) {
        Ok(value) => value,
        Err(e) => return control.unwrap_or_else(|| malformed(&format!("data is not JSON ({e})"))),
    };
    let Value::Object(object) = value else {
        return control.unwrap_or_else(|| malformed("data is not a JSON object"));
    };
    let kind = object.get("type").and_then(Value::as_str);
    match kind {
        Some("ping") => return Decoded::Ping,
        Some("end") => return Decoded::End,
        _ => {}
    }
    if let Some(control) = control {
        return control;
    }
    let Some(kind) = kind else {
        return Decoded::Unknown {
            kind: frame.event.clone().unwrap_or_default(),
        };
    };
    let at = object
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .unwrap_or(received);
    let event = |kind| Decoded::Event(JobEvent { kind, at });
    match kind {
        "training.started" => event(JobEventKind::Started),
        "training.log" => match required_step(&object) {
            Ok(step) => event(JobEventKind::Log(TrainingLog {
                step,
                loss: finite(&object, "loss"),
                eval_loss: finite(&object, "evalLoss"),
                learning_rate: finite(&object, "learningRate"),
                epoch: finite(&object, "epoch"),
                samples_per_second: finite(&object, "samplesPerSecond"),
            })),
            Err(reason) => malformed(&format!("training.log {reason}")),
        },
        "checkpoint.saved" => match required_step(&object) {
            Ok(step) => event(JobEventKind::CheckpointSaved { step }),
            Err(reason) => malformed(&format!("checkpoint.saved {reason}")),
        },
        "training.completed" => event(JobEventKind::Completed),
        // A terminal event is never dropped for a loose field: the run's outcome hangs on it.
        "training.failed" => event(JobEventKind::Failed {
            error: object
                .get("error")
                .and_then(Value::as_str)
                .filter(|e| !e.trim().is_empty())
                .unwrap_or(UNKNOWN_FAILURE)
                .to_owned(),
            step: required_step(&object).ok(),
        }),
        other => Decoded::Unknown {
            kind: other.to_owned(),
        },
    }
}

fn malformed(reason: &str) -> Decoded {
    Decoded::Malformed {
        reason: reason.to_owned(),
    }
}

/// A finite number, else `None` (null, missing, string, bool, …).
fn finite(object: &Map<String, Value>, key: &str) -> Option<f64> {
    object
        .get(key)
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite())
}

fn required_step(object: &Map<String, Value>) -> Result<u64, String> {
    let Some(value) = object.get("step") else {
        return Err("has no step".to_owned());
    };
    if let Some(step) = value.as_u64() {
        return Ok(step);
    }
    match value.as_f64() {
        // 12.0 is step 12; the SDK's JSON numbers carry no integer type.
        Some(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64 => {
            Ok(f as u64)
        }
        _ => Err(format!("has an unusable step {value}")),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn received() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000)
    }

    fn decode(event: Option<&str>, data: &str) -> Decoded {
        let frame = SseFrame {
            id: Some("1".into()),
            event: event.map(str::to_owned),
            data: data.to_owned(),
            oversized: false,
        };
        decode_frame(&frame, received())
    }

    fn log_of(decoded: Decoded) -> TrainingLog {
        match decoded {
            Decoded::Event(JobEvent {
                kind: JobEventKind::Log(log),
                ..
            }) => log,
            other => panic!("expected a training.log, got {other:?}"),
        }
    }

    #[test]
    fn dispatch_follows_the_json_type_not_the_event_name() {
        let log = log_of(decode(
            Some("message"),
            r#"{"type":"training.log","step":3,"loss":0.5}"#,
        ));
        assert_eq!(log.step, 3);
        assert_eq!(log.loss, Some(0.5));
        // A frame named like a checkpoint but typed as a log is a log.
        let log = log_of(decode(
            Some("checkpoint.saved"),
            r#"{"type":"training.log","step":4}"#,
        ));
        assert_eq!(log.step, 4);
        let Decoded::Event(ev) = decode(None, r#"{"type":"checkpoint.saved","step":9}"#) else {
            panic!()
        };
        assert_eq!(ev.kind, JobEventKind::CheckpointSaved { step: 9 });
    }

    #[test]
    fn every_event_type_decodes() {
        let kinds: Vec<_> = [
            r#"{"type":"training.started","jobId":"j","timestamp":"2026-05-01T00:00:00Z","metadata":{}}"#,
            r#"{"type":"training.completed","metrics":{},"artifacts":[]}"#,
            r#"{"type":"training.failed","error":"OOM on GPU 0","step":12}"#,
        ]
        .iter()
        .map(|data| match decode(None, data) {
            Decoded::Event(ev) => ev.kind,
            other => panic!("{other:?}"),
        })
        .collect();
        assert_eq!(
            kinds,
            vec![
                JobEventKind::Started,
                JobEventKind::Completed,
                JobEventKind::Failed {
                    error: "OOM on GPU 0".into(),
                    step: Some(12)
                },
            ]
        );
    }

    #[test]
    fn eval_frames_and_all_metric_fields() {
        let log = log_of(decode(
            None,
            r#"{"type":"training.log","step":25,"loss":null,"evalLoss":1.2,"learningRate":2e-4,"epoch":0.125,"samplesPerSecond":31.5}"#,
        ));
        assert_eq!(
            log,
            TrainingLog {
                step: 25,
                loss: None,
                eval_loss: Some(1.2),
                learning_rate: Some(2e-4),
                epoch: Some(0.125),
                samples_per_second: Some(31.5),
            }
        );
    }

    #[test]
    fn non_finite_strings_and_wrong_types_read_as_no_value() {
        let log = log_of(decode(
            None,
            r#"{"type":"training.log","step":2.0,"loss":"NaN","evalLoss":"Infinity","learningRate":true,"epoch":[1],"samplesPerSecond":{"v":1}}"#,
        ));
        assert_eq!(log.step, 2);
        // An out-of-range number (JavaScript's JSON.parse gives Infinity) costs only its
        // field, not the frame.
        let overflow = log_of(decode(
            None,
            r#"{"type":"training.log","step":3,"loss":1e999,"evalLoss":-1e999,"epoch":1}"#,
        ));
        assert_eq!(
            (overflow.loss, overflow.eval_loss, overflow.epoch),
            (None, None, Some(1.0))
        );
        assert_eq!(
            (
                log.loss,
                log.eval_loss,
                log.learning_rate,
                log.epoch,
                log.samples_per_second
            ),
            (None, None, None, None, None)
        );
    }

    #[test]
    fn unusable_steps_and_bad_json_are_malformed() {
        for data in [
            r#"{"type":"training.log","loss":1}"#,
            r#"{"type":"training.log","step":"3"}"#,
            r#"{"type":"training.log","step":-1}"#,
            r#"{"type":"training.log","step":1.5}"#,
            r#"{"type":"training.log","step":null}"#,
            r#"{"type":"checkpoint.saved"}"#,
            r#"{"type":"training.log","step":1e999}"#,
            "{not json",
            "[1,2]",
            "\"training.log\"",
            "",
        ] {
            assert!(
                matches!(
                    decode(Some("training.log"), data),
                    Decoded::Malformed { .. }
                ),
                "{data}"
            );
        }
        let frame = SseFrame {
            oversized: true,
            ..SseFrame::default()
        };
        assert!(matches!(
            decode_frame(&frame, received()),
            Decoded::Malformed { .. }
        ));
    }

    #[test]
    fn ping_and_end_by_event_name_or_type() {
        assert_eq!(decode(Some("ping"), "{}"), Decoded::Ping);
        assert_eq!(decode(Some("ping"), ""), Decoded::Ping);
        assert_eq!(decode(Some("end"), "{}"), Decoded::End);
        assert_eq!(decode(None, r#"{"type":"end"}"#), Decoded::End);
        assert_eq!(decode(Some("message"), r#"{"type":"ping"}"#), Decoded::Ping);
    }

    #[test]
    fn unknown_types_are_skipped_not_malformed() {
        assert_eq!(
            decode(None, r#"{"type":"training.paused"}"#),
            Decoded::Unknown {
                kind: "training.paused".into()
            }
        );
        assert_eq!(
            decode(Some("status"), r#"{"status":"running"}"#),
            Decoded::Unknown {
                kind: "status".into()
            }
        );
    }

    #[test]
    fn the_cloud_timestamp_wins_over_the_arrival_time() {
        let Decoded::Event(ev) = decode(
            None,
            r#"{"type":"training.started","timestamp":"1970-01-01T00:00:05.000Z"}"#,
        ) else {
            panic!()
        };
        assert_eq!(ev.at, SystemTime::UNIX_EPOCH + Duration::from_secs(5));
        let Decoded::Event(ev) = decode(None, r#"{"type":"training.started","timestamp":"soon"}"#)
        else {
            panic!()
        };
        assert_eq!(ev.at, received());
    }

    #[test]
    fn a_failure_without_an_error_message_still_ends_the_run() {
        let Decoded::Event(ev) = decode(None, r#"{"type":"training.failed","error":42}"#) else {
            panic!()
        };
        assert_eq!(
            ev.kind,
            JobEventKind::Failed {
                error: UNKNOWN_FAILURE.into(),
                step: None
            }
        );
        assert!(ev.is_terminal());
    }
}
