//! How a run ended, in the words the summary uses. The engine decides (it alone knows
//! whether the user asked for the stop, or a restart replaced the run); the cloud's own
//! verdict, when the stream delivered one, is an input to that decision.

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::core::events::ExitStatus;

/// What the cloud said about the job's end.
#[derive(Clone, Debug, PartialEq)]
pub enum CloudVerdict {
    Completed,
    Failed { error: String, step: Option<u64> },
}

/// The last known training numbers of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FinalMetrics {
    pub step: Option<u64>,
    pub loss: Option<f64>,
    pub eval_loss: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OutcomeKind {
    /// The cloud completed the job.
    Completed,
    /// The user asked for a stop and the run ended at a checkpoint.
    StoppedAtCheckpoint { checkpoint_step: Option<u64> },
    /// A config change restarted it; `successor_pid` is the run that took over.
    Replaced { successor_pid: Option<u32> },
    /// The cloud reported the job failed.
    Failed { error: String, step: Option<u64> },
    /// Killed (forced stop, quit, a signal) before the cloud said anything final.
    Killed { status: ExitStatus },
    /// The process ended on its own without a cloud verdict (an error before training,
    /// or no cloud stream to follow).
    Exited { status: ExitStatus },
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunOutcome {
    pub kind: OutcomeKind,
    pub last: FinalMetrics,
}

impl RunOutcome {
    /// One line for the timeline and the end-of-session summary, e.g.
    /// `completed at step 200, loss 0.4213`.
    pub fn describe(&self) -> String {
        let (head, step, note) = match &self.kind {
            OutcomeKind::Completed => ("completed".to_owned(), self.last.step, None),
            OutcomeKind::StoppedAtCheckpoint { checkpoint_step } => (
                "stopped by you".to_owned(),
                self.last.step,
                checkpoint_step.map(|c| format!("last checkpoint at step {c}")),
            ),
            OutcomeKind::Replaced { successor_pid } => (
                match successor_pid {
                    Some(pid) => format!("replaced by a restart (pid {pid})"),
                    None => "replaced by a restart".to_owned(),
                },
                self.last.step,
                None,
            ),
            OutcomeKind::Failed { error, step } => (
                "failed".to_owned(),
                step.or(self.last.step),
                Some(error.clone()),
            ),
            OutcomeKind::Killed { status } | OutcomeKind::Exited { status } => {
                (status.describe(), self.last.step, None)
            }
        };
        let mut line = head;
        if let Some(step) = step {
            line.push_str(&format!(" at step {step}"));
        }
        if let Some(loss) = self.last.loss {
            line.push_str(&format!(", loss {loss:.4}"));
        }
        if let Some(eval) = self.last.eval_loss {
            line.push_str(&format!(", eval loss {eval:.4}"));
        }
        if let Some(note) = note {
            line.push_str(&format!(" ({note})"));
        }
        line
    }

    /// The kind's name on the wire (`--json`): `completed`, `stoppedAtCheckpoint`,
    /// `replaced`, `failed`, `killed`, `exited`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            OutcomeKind::Completed => "completed",
            OutcomeKind::StoppedAtCheckpoint { .. } => "stoppedAtCheckpoint",
            OutcomeKind::Replaced { .. } => "replaced",
            OutcomeKind::Failed { .. } => "failed",
            OutcomeKind::Killed { .. } => "killed",
            OutcomeKind::Exited { .. } => "exited",
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(
            self.kind,
            OutcomeKind::Completed | OutcomeKind::StoppedAtCheckpoint { .. }
        )
    }
}

/// `{"kind", "step", "loss", "evalLoss", <the kind's own fields>, "text"}`, with the kind's
/// fields `checkpointStep`, `successorPid`, `error`, or `exit` (`{"code": N}` /
/// `{"signal": N}`).
impl Serialize for RunOutcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("kind", self.kind_name())?;
        map.serialize_entry("step", &self.last.step)?;
        map.serialize_entry("loss", &self.last.loss)?;
        map.serialize_entry("evalLoss", &self.last.eval_loss)?;
        match &self.kind {
            OutcomeKind::Completed => {}
            OutcomeKind::StoppedAtCheckpoint { checkpoint_step } => {
                map.serialize_entry("checkpointStep", checkpoint_step)?;
            }
            OutcomeKind::Replaced { successor_pid } => {
                map.serialize_entry("successorPid", successor_pid)?;
            }
            OutcomeKind::Failed { error, step } => {
                map.serialize_entry("error", error)?;
                if step.is_some() {
                    map.serialize_entry("failedAtStep", step)?;
                }
            }
            OutcomeKind::Killed { status } | OutcomeKind::Exited { status } => {
                map.serialize_entry("exit", status)?;
            }
        }
        map.serialize_entry("text", &self.describe())?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(step: u64, loss: f64) -> FinalMetrics {
        FinalMetrics {
            step: Some(step),
            loss: Some(loss),
            eval_loss: None,
        }
    }

    #[test]
    fn each_outcome_reads_as_a_sentence() {
        let cases = [
            (OutcomeKind::Completed, "completed at step 200, loss 0.4213"),
            (
                OutcomeKind::StoppedAtCheckpoint {
                    checkpoint_step: Some(150),
                },
                "stopped by you at step 200, loss 0.4213 (last checkpoint at step 150)",
            ),
            (
                OutcomeKind::Replaced {
                    successor_pid: Some(42),
                },
                "replaced by a restart (pid 42) at step 200, loss 0.4213",
            ),
            (
                OutcomeKind::Failed {
                    error: "CUDA out of memory".into(),
                    step: Some(180),
                },
                "failed at step 180, loss 0.4213 (CUDA out of memory)",
            ),
        ];
        for (kind, text) in cases {
            let outcome = RunOutcome {
                kind,
                last: last(200, 0.42131),
            };
            assert_eq!(outcome.describe(), text);
        }
        let killed = RunOutcome {
            kind: OutcomeKind::Killed {
                status: ExitStatus::Signal(9),
            },
            last: FinalMetrics::default(),
        };
        assert_eq!(killed.describe(), "killed by SIGKILL");
        assert!(!killed.is_success());
    }

    #[test]
    fn the_json_names_the_kind_the_numbers_and_the_sentence() {
        let failed = RunOutcome {
            kind: OutcomeKind::Failed {
                error: "OOM".into(),
                step: Some(7),
            },
            last: last(7, 0.5),
        };
        assert_eq!(
            serde_json::to_value(&failed).expect("json"),
            serde_json::json!({"kind": "failed", "step": 7, "loss": 0.5, "evalLoss": null,
                "error": "OOM", "failedAtStep": 7, "text": "failed at step 7, loss 0.5000 (OOM)"})
        );
        let killed = RunOutcome {
            kind: OutcomeKind::Killed {
                status: ExitStatus::Signal(9),
            },
            last: FinalMetrics::default(),
        };
        assert_eq!(
            serde_json::to_value(&killed).expect("json")["exit"],
            serde_json::json!({"signal": 9})
        );
    }
}
