//! `tracing` goes to a file, never to the terminal (the dashboard owns it; headless stdout
//! is for events).

use std::path::{Path, PathBuf};

use tracing_subscriber::EnvFilter;

/// Log to `<project>/.arkor/logs/arkor-tui.log`, or the temp dir when the project is not
/// writable. Returns the path, or `None` when no log file could be opened.
pub fn init(project_root: &Path) -> Option<PathBuf> {
    let candidates = [
        project_root.join(".arkor").join("logs"),
        std::env::temp_dir().join("arkor-tui-logs"),
    ];
    for dir in candidates {
        if std::fs::create_dir_all(&dir).is_err() {
            continue;
        }
        let path = dir.join("arkor-tui.log");
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        else {
            continue;
        };
        let filter = EnvFilter::try_from_env("ARKOR_LOG")
            .unwrap_or_else(|_| EnvFilter::new("info,rolldown=warn,oxc=warn,oxc_resolver=warn"));
        let ok = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .try_init()
            .is_ok();
        return ok.then_some(path);
    }
    None
}
