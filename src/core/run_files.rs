//! Every run's output, also on disk: `.arkor/runs/<start time>-<pid>.log`, one line per
//! output line with its time and stream, so a run's log outlives the dashboard's bounded
//! buffer, a `c`, and arkor itself. Beside it, `<start time>-<pid>.metrics.jsonl` holds the
//! run's training events from the cloud's job stream as JSON lines (written once the first
//! event arrives). Old files are pruned by count and total size.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::core::cloud::job_events::{JobEvent, JobEventKind};
use crate::core::logs::LogStream;
use crate::core::timestamp;

/// Where run log files live, relative to the project root.
pub const RUNS_DIR_REL: &str = ".arkor/runs";
/// At most this many run log files are kept (oldest removed first)…
pub const KEEP_FILES: usize = 50;
/// …and at most this many bytes of them.
pub const KEEP_BYTES: u64 = 200 * 1024 * 1024;

/// `<root>/.arkor/runs/20261202T091011Z-4242.log`
pub fn path_for(root: &Path, started_at: SystemTime, pid: u32) -> PathBuf {
    root.join(RUNS_DIR_REL)
        .join(format!("{}-{pid}.log", timestamp::file_stamp(started_at)))
}

/// The metric series file beside a run's log file: `…/20261202T091011Z-4242.metrics.jsonl`.
pub fn metrics_path_for(log_file: &Path) -> PathBuf {
    log_file.with_extension(METRICS_EXTENSION)
}

const METRICS_EXTENSION: &str = "metrics.jsonl";

/// Remove the oldest `.log` files in `dir` until at most `keep_files` remain, totalling at
/// most `keep_bytes`. Names start with the run's start time, so name order is age order.
/// A removed log takes its metrics file with it.
pub fn prune(dir: &Path, keep_files: usize, keep_bytes: u64) -> std::io::Result<()> {
    let mut files: Vec<(PathBuf, u64)> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .filter_map(|e| Some((e.path(), e.metadata().ok()?.len())))
        .collect();
    files.sort();
    let mut total: u64 = files.iter().map(|(_, len)| len).sum();
    let mut count = files.len();
    for (path, len) in files {
        if count <= keep_files && total <= keep_bytes {
            break;
        }
        std::fs::remove_file(&path)?;
        let _ = std::fs::remove_file(metrics_path_for(&path));
        count -= 1;
        total -= len;
    }
    Ok(())
}

/// One run's log file, open for appending.
#[derive(Debug)]
pub struct RunFile {
    out: BufWriter<File>,
    /// The last time stamp written, formatted: lines read together share their time, so on
    /// the ingest path one stamp is formatted per batch, not per line.
    stamp: Option<(SystemTime, String)>,
}

impl RunFile {
    /// Create `path` (and its folder).
    pub fn create(path: &Path) -> std::io::Result<RunFile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(RunFile {
            out: BufWriter::new(File::create(path)?),
            stamp: None,
        })
    }

    /// `2026-12-02T09:10:11.123Z out step=1 loss=2.3`. A failed write is dropped: the run
    /// and the dashboard must not suffer from a full disk.
    pub fn write_line(&mut self, at: SystemTime, stream: LogStream, text: &str) {
        let tag = match stream {
            LogStream::Stdout => "out",
            LogStream::Stderr => "err",
            LogStream::System => "arkor",
        };
        let stamp = match &self.stamp {
            Some((last, stamp)) if *last == at => stamp,
            _ => &self.stamp.insert((at, timestamp::rfc3339_millis(at))).1,
        };
        let _ = (|| {
            self.out.write_all(stamp.as_bytes())?;
            self.out.write_all(b" ")?;
            self.out.write_all(tag.as_bytes())?;
            self.out.write_all(b" ")?;
            self.out.write_all(text.as_bytes())?;
            self.out.write_all(b"\n")
        })();
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

/// One run's metric series file, open for appending: one JSON object per training event,
/// `{"ts","type":"metric","jobId","step","loss","evalLoss","learningRate","epoch",
/// "samplesPerSecond"}`, `{"ts","type":"checkpoint","jobId","step"}`, and `started`,
/// `completed`, `failed` (with `error`, `step`). The same keys as `--json` prints.
#[derive(Debug)]
pub struct MetricsFile {
    out: BufWriter<File>,
}

impl MetricsFile {
    /// Create (or append to) `path`.
    pub fn open(path: &Path) -> std::io::Result<MetricsFile> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(MetricsFile {
            out: BufWriter::new(file),
        })
    }

    /// Append `events` and flush. A failed write is dropped, as for the log file.
    pub fn write_events(&mut self, job_id: &str, events: &[JobEvent]) {
        for event in events {
            let _ = writeln!(self.out, "{}", event_json(job_id, event));
        }
        let _ = self.out.flush();
    }
}

fn event_json(job_id: &str, event: &JobEvent) -> serde_json::Value {
    let ts = timestamp::rfc3339_millis(event.at);
    match &event.kind {
        JobEventKind::Log(log) => serde_json::json!({
            "ts": ts, "type": "metric", "jobId": job_id, "step": log.step, "loss": log.loss,
            "evalLoss": log.eval_loss, "learningRate": log.learning_rate, "epoch": log.epoch,
            "samplesPerSecond": log.samples_per_second,
        }),
        JobEventKind::CheckpointSaved { step } => {
            serde_json::json!({"ts": ts, "type": "checkpoint", "jobId": job_id, "step": step})
        }
        JobEventKind::Started => serde_json::json!({"ts": ts, "type": "started", "jobId": job_id}),
        JobEventKind::Completed => {
            serde_json::json!({"ts": ts, "type": "completed", "jobId": job_id})
        }
        JobEventKind::Failed { error, step } => serde_json::json!({
            "ts": ts, "type": "failed", "jobId": job_id, "error": error, "step": step,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_file_holds_one_json_line_per_event_and_goes_with_its_log() {
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("20260101T000000Z-7.log");
        std::fs::write(&log, "x").expect("log");
        let metrics = metrics_path_for(&log);
        assert!(metrics.ends_with("20260101T000000Z-7.metrics.jsonl"));
        let mut file = MetricsFile::open(&metrics).expect("open");
        let checkpoint = JobEvent {
            kind: JobEventKind::CheckpointSaved { step: 3 },
            at: std::time::UNIX_EPOCH,
        };
        file.write_events("j-1", &[JobEvent::loss_log(3, Some(0.5), None), checkpoint]);
        let text = std::fs::read_to_string(&metrics).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["type"], "metric");
        assert_eq!(lines[0]["step"], 3);
        assert_eq!(lines[0]["loss"], 0.5);
        assert!(lines[0]["evalLoss"].is_null());
        assert_eq!(lines[0]["ts"], "1970-01-01T00:00:00.000Z");
        assert_eq!(
            lines[1],
            serde_json::json!({"ts": "1970-01-01T00:00:00.000Z", "type": "checkpoint", "jobId": "j-1", "step": 3})
        );
        prune(dir.path(), 0, 0).expect("prune");
        assert!(!metrics.exists(), "pruned with its log");
    }

    #[test]
    fn pruning_keeps_the_newest_files_within_both_limits() {
        let dir = tempfile::tempdir().expect("dir");
        for (name, size) in [
            ("20260101T000000Z-1.log", 10),
            ("20260102T000000Z-2.log", 10),
            ("20260103T000000Z-3.log", 10),
            ("20260104T000000Z-4.log", 10),
        ] {
            std::fs::write(dir.path().join(name), "x".repeat(size)).expect("file");
        }
        std::fs::write(dir.path().join("notes.txt"), "kept").expect("other file");
        prune(dir.path(), 3, 1000).expect("prune by count");
        assert!(!dir.path().join("20260101T000000Z-1.log").exists());
        prune(dir.path(), 10, 15).expect("prune by size");
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["20260104T000000Z-4.log", "notes.txt"]);
    }
}
