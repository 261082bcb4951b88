//! `arkor-bench emit`: a child that prints log lines as fast as the pipe takes them.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// A training-log-like line with a few ANSI colours (the TUI parses them at ingest).
pub fn sample_line(i: u64) -> String {
    format!(
        "\u{1b}[2m12:00:{:02}\u{1b}[0m \u{1b}[32mstep {i}\u{1b}[0m loss=\u{1b}[1;33m{:.4}\u{1b}[0m lr=2e-4 grad_norm=0.731 tokens/s=18234",
        i % 60,
        1.0 / (i + 1) as f64
    )
}

/// Write `lines` lines to stdout in 64 KiB writes; then write "lines seconds" to `report`.
pub fn run(lines: u64, report: Option<&Path>) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let started = Instant::now();
    for i in 0..lines {
        let line = sample_line(i);
        if writeln!(out, "{line}").is_err() {
            break; // the reader went away
        }
    }
    let _ = out.flush();
    let seconds = started.elapsed().as_secs_f64();
    if let Some(path) = report {
        // Written to a temp name and renamed, so a reader never sees half a report.
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, format!("{lines} {seconds}\n"))?;
        std::fs::rename(&tmp, path)?;
    }
    Ok(())
}

/// Read a report: (lines, seconds).
pub fn read_report(path: &Path) -> Option<(u64, f64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut parts = text.split_whitespace();
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}
