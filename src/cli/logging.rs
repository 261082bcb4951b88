//! `tracing` output of the TUI goes to a file, never to the screen the dashboard owns.

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

pub const LOG_FILE_NAME: &str = "tui.log";

/// Send `tracing` events to `<dir>/tui.log` (falling back to the temp dir when `dir` is not
/// writable). Returns the flush guard and the file used, or `None` when a global subscriber
/// was already installed by the caller.
pub fn init_file_logging(dir: &Path) -> Option<(WorkerGuard, PathBuf)> {
    let dir = if std::fs::create_dir_all(dir).is_ok() && is_writable(dir) {
        dir.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let appender = tracing_appender::rolling::never(&dir, LOG_FILE_NAME);
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env("ARKOR_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()
        .map(|()| (guard, dir.join(LOG_FILE_NAME)))
}

fn is_writable(dir: &Path) -> bool {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(LOG_FILE_NAME))
        .is_ok()
}
