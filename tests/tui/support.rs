//! Builders for runs, artifacts and snapshots, and helpers to draw an App on a TestBackend.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arkor_tui::core::engine::{BuildStatus, EngineSnapshot};
use arkor_tui::core::events::{
    BuiltArtifact, ConfigChange, ExitStatus, Restart, RestartCause, RunInfo, RunOrigin, RunState,
};
use arkor_tui::core::logs::LogStore;
use arkor_tui::core::project::Project;
use arkor_tui::tui::{App, AppOptions};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

/// 2025-11-25 12:00:00 UTC: every clock in these tests counts from here.
pub const T0_SECS: u64 = 1_764_072_000;

pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0_SECS + secs)
}

pub fn project() -> Project {
    let root = PathBuf::from("/home/dev/demo");
    Project {
        entry: root.join("src/arkor/index.ts"),
        out_file: root.join(".arkor/build/index.mjs"),
        root,
    }
}

pub fn artifact() -> BuiltArtifact {
    BuiltArtifact {
        out_file: "/home/dev/demo/.arkor/build/index.mjs".into(),
        hash: "1764072000123.4-1764072000123.4-2048".into(),
        content_hash: Some("c0ffee1234567890".into()),
        config_hash: Some("996c886df5bc8d78".into()),
        trainer_name: Some("alpaca-lora".into()),
        config: None,
        build_duration: Duration::from_millis(38),
        inspect_duration: Duration::from_millis(4),
    }
}

pub fn change(key: &str, old: Option<&str>, new: Option<&str>) -> ConfigChange {
    ConfigChange {
        key: key.into(),
        old: old.map(str::to_string),
        new: new.map(str::to_string),
    }
}

pub fn run(pid: u32, state: RunState) -> RunInfo {
    RunInfo {
        trainer_name: Some("alpaca-lora".into()),
        job_id: Some(format!("job-{pid:x}")),
        config_hash: Some("996c886df5bc8d78".into()),
        content_hash: Some("c0ffee1234567890".into()),
        state,
        ..RunInfo::new(pid, RunOrigin::Engine, at(55))
    }
}

/// A config-change restart of `from`.
pub fn restarted(from: u32, changes: Vec<ConfigChange>) -> Option<Restart> {
    Some(Restart {
        from,
        cause: RestartCause::ConfigChanged { changes },
    })
}

pub fn exited(pid: u32, status: ExitStatus) -> RunInfo {
    RunInfo {
        state_since: at(200),
        ..run(pid, RunState::Exited { status })
    }
}

pub fn snapshot(status: BuildStatus, runs: Vec<RunInfo>) -> EngineSnapshot {
    let last_good = match status {
        BuildStatus::Pending => None,
        _ => Some(artifact()),
    };
    EngineSnapshot {
        status,
        last_good,
        runs: runs.into_iter().map(Arc::new).collect(),
        ..EngineSnapshot::default()
    }
}

pub fn options(colors: bool) -> AppOptions {
    AppOptions {
        server_url: Some("http://127.0.0.1:4000/".into()),
        notifications: true,
        colors,
        ..AppOptions::default()
    }
}

/// An App whose clock reads `at(300)`.
pub fn app(logs: LogStore, snapshot: EngineSnapshot) -> App {
    App::new("~/demo", logs, snapshot, options(true), at(300))
}

pub fn draw(app: &mut App, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal
        .draw(|f| arkor_tui::tui::render(app, f))
        .expect("draw");
    terminal.backend().buffer().clone()
}

/// The screen as text, one line per row, trailing blanks trimmed.
pub fn text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let mut line = String::new();
        for x in area.left()..area.right() {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Position of the first cell where `needle` starts on screen.
pub fn find(buffer: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let area = buffer.area;
    for y in area.top()..area.bottom() {
        let cells: Vec<(u16, String)> = (area.left()..area.right())
            .map(|x| (x, buffer[(x, y)].symbol().to_string()))
            .collect();
        let row: String = cells.iter().map(|(_, s)| s.as_str()).collect();
        if let Some(byte) = row.find(needle) {
            let mut acc = 0;
            for (x, s) in &cells {
                if acc == byte {
                    return Some((*x, y));
                }
                acc += s.len();
            }
        }
    }
    None
}

pub fn fg_at(buffer: &Buffer, needle: &str) -> Color {
    let (x, y) = find(buffer, needle).unwrap_or_else(|| panic!("{needle:?} not on screen"));
    buffer[(x, y)].fg
}

pub fn bg_at(buffer: &Buffer, needle: &str) -> Color {
    let (x, y) = find(buffer, needle).unwrap_or_else(|| panic!("{needle:?} not on screen"));
    buffer[(x, y)].bg
}

/// Whether any cell has a foreground or background colour.
pub fn has_color(buffer: &Buffer) -> bool {
    buffer
        .content()
        .iter()
        .any(|c| c.fg != Color::Reset || c.bg != Color::Reset)
}
