//! Every run's output, also on disk: `.arkor/runs/<start time>-<pid>.log`, one line per
//! output line with its time and stream, so a run's log outlives the dashboard's bounded
//! buffer, a `c`, and arkor itself. Old files are pruned by count and total size.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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

/// Remove the oldest `.log` files in `dir` until at most `keep_files` remain, totalling at
/// most `keep_bytes`. Names start with the run's start time, so name order is age order.
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
        count -= 1;
        total -= len;
    }
    Ok(())
}

/// One run's log file, open for appending.
#[derive(Debug)]
pub struct RunFile {
    out: BufWriter<File>,
}

impl RunFile {
    /// Create `path` (and its folder).
    pub fn create(path: &Path) -> std::io::Result<RunFile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(RunFile {
            out: BufWriter::new(File::create(path)?),
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
        let _ = writeln!(self.out, "{} {tag} {text}", timestamp::rfc3339_millis(at));
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
