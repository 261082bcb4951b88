//! A run's output also lands in its log file: every line, in order, with its time and
//! stream, whatever the bounded store evicts or the user clears.

use arkor_tui::core::logs::{LogStream, MAX_LINES_PER_RUN};
use arkor_tui::core::run_files::{self, RunFile};

use crate::support::*;

#[tokio::test]
async fn every_line_reaches_the_log_file_with_its_time_even_past_the_store_s_bounds() {
    let lines = MAX_LINES_PER_RUN * 2;
    let dir = tempfile::tempdir().expect("project");
    let mut h = Harness::new();
    let child = h.spawn(node("flood.mjs", &[&lines.to_string()]));
    // Attached after the spawn, as the engine does: lines already stored are written first.
    let path = run_files::path_for(dir.path(), std::time::SystemTime::now(), child.pid);
    h.logs
        .attach_file(child.pid, RunFile::create(&path).expect("log file"));
    h.exited(child.pid).await;
    h.logs.clear(child.pid);
    h.logs
        .push(child.pid, LogStream::System, "after the clear".into());

    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        name.ends_with(&format!("-{}.log", child.pid))
            && name.len() == "20261202T091011Z-".len() + child.pid.to_string().len() + 4,
        "{name}"
    );
    let text = std::fs::read_to_string(&path).expect("log file read");
    let mut out_lines = 0;
    for (i, line) in text.lines().enumerate() {
        let (stamp, rest) = line.split_at(24);
        assert!(
            stamp.len() == 24 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "line {i} starts with a UTC time: {line}"
        );
        if let Some(text) = rest.strip_prefix(" out ") {
            assert_eq!(text, format!("line {out_lines}"), "in order, none missing");
            out_lines += 1;
        }
    }
    assert_eq!(
        out_lines, lines,
        "every stdout line, though the store keeps {MAX_LINES_PER_RUN}"
    );
    assert!(
        text.contains(" arkor exited with code 0\n"),
        "arkor's own lines too"
    );
    assert!(
        text.ends_with(" arkor after the clear\n"),
        "a clear empties the pane, not the file"
    );
}
