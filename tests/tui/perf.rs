//! The cost of a full frame does not grow with the log: only the visible window is read.
//! These compare frames with each other (ratios, best of many); the absolute figures are the
//! benchmark's (`arkor-bench --only render`).

use std::time::{Duration, Instant};

use arkor_tui::core::engine::BuildStatus;
use arkor_tui::core::events::RunState;
use arkor_tui::core::logs::{LogStore, LogStream, MAX_LINES_PER_RUN};
use arkor_tui::tui::{Action, App};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::support::*;

fn app_with_log(lines: usize) -> App {
    let logs = LogStore::new();
    logs.push_many(
        41001,
        (0..lines).map(|i| {
            (
                LogStream::Stdout,
                format!(
                    "\u{1b}[2m12:00:{:02}\u{1b}[0m \u{1b}[32mstep {i}\u{1b}[0m loss=\u{1b}[1;33m{:.4}\u{1b}[0m lr=2e-4 grad_norm=0.731 tokens/s=18234",
                    i % 60,
                    1.0 / (i + 1) as f64
                ),
            )
        }),
    );
    app(
        logs,
        snapshot(BuildStatus::Ok, vec![run(41001, RunState::Running)]),
    )
}

/// Best of `n` full frames (fresh buffers each time, so the diff writes everything).
fn frame_time(app: &mut App, n: usize) -> Duration {
    let mut best = Duration::MAX;
    for i in 0..n {
        let mut terminal = Terminal::new(TestBackend::new(200, 50)).expect("backend");
        // Alternate follow and a scrolled view so both paths are measured.
        if i % 2 == 0 {
            app.handle_action(Action::ScrollBottom);
        } else {
            app.handle_action(Action::PageUp);
        }
        let started = Instant::now();
        terminal
            .draw(|f| arkor_tui::tui::render(app, f))
            .expect("draw");
        best = best.min(started.elapsed());
    }
    best
}

#[test]
fn frame_cost_is_independent_of_log_size() {
    let mut small = app_with_log(100);
    let mut ten_k = app_with_log(10_000);
    let mut full = app_with_log(MAX_LINES_PER_RUN);
    let small_t = frame_time(&mut small, 30);
    let ten_k_t = frame_time(&mut ten_k, 30);
    let full_t = frame_time(&mut full, 30);
    eprintln!(
        "full 200x50 frame (debug build): 100 lines {small_t:?}, 10k lines {ten_k_t:?}, {MAX_LINES_PER_RUN} lines {full_t:?}"
    );
    // A frame with the fullest log costs about what a tiny log costs (generous for a shared
    // CPU: a frame that read the whole log would cost hundreds of times more).
    assert!(full_t < small_t * 5, "{full_t:?} vs {small_t:?}");
    assert!(ten_k_t < small_t * 5, "{ten_k_t:?} vs {small_t:?}");
}

#[test]
fn search_over_a_full_log_is_incremental() {
    let mut app = app_with_log(MAX_LINES_PER_RUN);
    draw(&mut app, 200, 50);
    app.handle_action(Action::SearchOpen);
    for c in "step 4999".chars() {
        app.handle_action(Action::SearchInput(c));
    }
    let started = Instant::now();
    app.handle_action(Action::SearchSubmit);
    let first_scan = started.elapsed();
    let started = Instant::now();
    draw(&mut app, 200, 50);
    let next_frame = started.elapsed();
    eprintln!(
        "search: first scan of {MAX_LINES_PER_RUN} lines {first_scan:?}, next frame {next_frame:?}"
    );
    // "step 4999" matches step 4999 and steps 49990..=49999 when the ring holds them.
    let expected = (0..MAX_LINES_PER_RUN)
        .filter(|i| i.to_string().starts_with("4999"))
        .count();
    assert_eq!(app.log_view.search.hit_count(), expected);
    assert!(next_frame < first_scan, "later frames rescan nothing");
}

#[test]
fn a_ten_megabyte_line_costs_no_more_than_a_screenful() {
    let logs = LogStore::new();
    logs.push(
        41001,
        LogStream::Stdout,
        format!("\u{1b}[31m{}\u{1b}[0m", "é".repeat(5_000_000)),
    );
    let mut app = app(
        logs,
        snapshot(BuildStatus::Ok, vec![run(41001, RunState::Running)]),
    );
    // The same screen filled with ordinary lines: what a screenful costs.
    let mut screenful = app_with_log(100);
    for wrap in [false, true] {
        if wrap {
            app.handle_action(Action::ToggleWrap);
            screenful.handle_action(Action::ToggleWrap);
        }
        let took = best_of(5, || {
            let screen = draw(&mut app, 120, 40);
            assert!(text(&screen).contains("ééé"));
        });
        let normal = best_of(5, || {
            draw(&mut screenful, 120, 40);
        });
        eprintln!("10 MB line, wrap={wrap}: {took:?} (a screenful of short lines: {normal:?})");
        // Reading the whole line would cost thousands of screenfuls.
        assert!(took < normal * 20, "{took:?} vs {normal:?}");
    }
}

fn best_of(n: usize, mut f: impl FnMut()) -> Duration {
    (0..n)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}
