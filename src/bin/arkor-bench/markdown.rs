//! BENCHMARKS.md: the machine, the results table, the notes and the method; a hand-written
//! `## Analysis` section already in the file is kept.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::bench::Bench;
use crate::report::{Report, table};

/// Where the hand-written part of BENCHMARKS.md begins.
const ANALYSIS_HEADING: &str = "## Analysis";

/// Write the report to `out`, keeping its hand-written analysis (everything from
/// "## Analysis" on) across re-runs.
pub fn write(out: &Path, bench: &Bench, report: &Report, load_before: &str) -> anyhow::Result<()> {
    let load_after = load_average();
    let kept_analysis = std::fs::read_to_string(out)
        .ok()
        .and_then(|old| old.find(ANALYSIS_HEADING).map(|at| old[at..].to_owned()));
    let mut markdown = render(bench, report, load_before, &load_after);
    if let Some(analysis) = kept_analysis {
        markdown.push('\n');
        markdown.push_str(&analysis);
    }
    std::fs::write(out, markdown).with_context(|| format!("writing {}", out.display()))
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn render(bench: &Bench, report: &Report, load_before: &str, load_after: &str) -> String {
    let plan = &bench.plan;
    let reference = bench.peers.reference.is_some();
    let mprocs = bench.peers.mprocs.as_deref();
    let mut md = String::new();
    let _ = writeln!(md, "# arkor tui benchmarks\n");
    if plan.quick {
        let _ = writeln!(
            md,
            "**Quick smoke run (`--quick`): tiny N, no peers. These numbers are not results.**\n"
        );
    }
    let _ = writeln!(
        md,
        "Written by `arkor-bench` (`src/bin/arkor-bench/`). Reproduce: `cargo build --release --bins && target/release/arkor-bench [--reference DIR]`.\n"
    );
    let _ = writeln!(md, "## Machine\n");
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let _ = writeln!(md, "- CPU: {} ({} cores available)", cpu_model(), cores);
    let _ = writeln!(md, "- kernel: {}", command_line("uname", &["-sr"]));
    let _ = writeln!(md, "- rustc: {}", command_line("rustc", &["-V"]));
    let _ = writeln!(md, "- node: {}", command_line("node", &["-v"]));
    let _ = writeln!(
        md,
        "- load average (1/5/15 min) before: {load_before}; after: {load_after}"
    );
    let _ = writeln!(
        md,
        "- build profile of the harness: {}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let _ = writeln!(
        md,
        "- peers: reference `arkor dev` {}; mprocs {}",
        if reference {
            "measured"
        } else {
            "absent (column skipped)"
        },
        mprocs
            .map(|p| format!("{}", p.display()))
            .unwrap_or("absent (column skipped)".into())
    );
    let _ = writeln!(
        md,
        "- N = {} measured saves per latency figure after {} warm-up saves; session took {:.0} s\n",
        plan.runs,
        plan.warmup,
        report.started.elapsed().as_secs_f64()
    );
    let _ = writeln!(md, "## Results\n");
    md.push_str(&table(&report.rows));
    let _ = writeln!(md);
    if !report.notes.is_empty() {
        let _ = writeln!(md, "Notes:\n");
        for n in &report.notes {
            let _ = writeln!(md, "- {n}");
        }
        let _ = writeln!(md);
    }
    md.push_str(METHOD);
    md
}

const METHOD: &str = r#"## Method

- **Project**: `src/arkor/{index,trainer,callbacks}.ts` against the simulated SDK, whose `bin.arkor` is
  replaced by a bench runner that prints the job marker at once, stamps every SIGUSR2 with
  `performance.timeOrigin + performance.now()` (wall clock, sub-ms) and exits 0 on SIGTERM. The growth
  figures add 10 / 100 / 1,000 generated modules (a class, a loop, a template string each) imported by
  callbacks.ts, so all are bundled.
- **Save** = `std::fs::write` of callbacks.ts with a new label (callbacks-only change: same configHash,
  new contentHash). After each save the harness waits 60 ms and counts late frames (duplicate builds).
- **save → `rebuild`** is end to end: the harness stamps the write with a monotonic clock and stamps the
  read that completes the `event: rebuild` frame on a plain HTTP/1.1 client on 127.0.0.1, with the
  server a separate process (`arkor tui --headless`, or the reference `arkor dev` with a HOME holding
  anonymous credentials, `ARKOR_CLOUD_API_URL` on a closed local port and `ARKOR_TELEMETRY_DISABLED=1`).
- **Stages** run the same engine and server in the harness process (library), with a second raw
  notify watcher stamping the inotify event, a dev-bus subscriber stamping the publish, and the
  engine's own `build_duration` (its first file event → artifact published and inspected) and
  `inspect_duration`. "Plumbing" is the rest: raw event → dev bus minus the build loop's duration
  (thread hops notify → build loop → engine, dispatch, publish). The stages add up to the total.
- **Growth**: for the 3-module project and 14 / 104 / 1,004 modules, save → `rebuild` end to end in
  one session: `arkor tui --headless` as shipped (kept module graph), the same binary with
  `ARKOR_TUI_INCREMENTAL=off` (every save a full one-shot build: the A/B), and the reference; then each
  server's VmRSS (VmHWM). The split rows time Rolldown's own stage entry points (`Bundle::scan_modules`,
  `bundle_generate`) on the build thread after a 60 ms pause: a one-shot full build, and a partial build
  of the saved file on a kept bundler (its scan includes the merge into the snapshot and the copy of
  every module's AST; the copy is timed once more on its own), the same partial build on the
  multi-thread runtime, with the product's hidden source map, and with that map but without
  Rolldown's default dead-code-elimination pass over the chunk (what each costs; the last changes
  the artifact's bytes), and the product's `Builder::rebuild`. "growth stages" is the stages
  method above on the bigger project. `--growth-modules` picks the sizes.
- **save → signal**: one run started over `POST /api/train`; the harness stamps the write with
  CLOCK_REALTIME and reads the runner's SIGUSR2 stamp from the streamed body.
- **Fan-out**: N SSE clients connected and past their replay, 2 live runs, one save per round; each
  subscriber must get exactly one `rebuild` per round and each child exactly one SIGUSR2 per round.
- **Idle CPU**: sum of `/proc/<pid>/task/*/schedstat` run time over the window, after 3 silent runs
  are up and 1–2 s of settling.
- **Ingest**: the harness's own `emit` subcommand prints training-log-like lines with ANSI colours in
  64 KiB writes. In-process: spawn → all lines in the log store through the real supervisor. End to end:
  the runner execs the emitter inside a dashboard run; the emitter's own elapsed time is the rate the
  dashboard absorbed (a pipe that is not drained blocks the writer). The floor is the emitter into a pipe
  the harness drains and discards. mprocs runs the same emitter command in its own pty pane.
- **Keys under flood**: `?` every ~100 ms while the flood runs; the time until the help overlay's text
  is written to the pty; then `?` closes it.
- **Render**: `tui::render` into a fresh 200×50 `TestBackend` (the diff writes every cell), selected run
  with 10,000 coloured lines; "following frame" reuses the terminal after one new line. The 10 MB line:
  one run whose log is a single coloured line of 5 M two-byte characters, 120×40, alternately
  truncated and wrapped.
- **Loss chart render**: the same 200×50 frame with the selected run's 10,000-step series (eval loss
  every 25 steps, a checkpoint every 100, a hot-swap and a stop request marked), one new step before
  each frame so the chart's data is read again every time.
- **Training**: the dashboard on a copy of the project whose runs have a project scope, its cloud a
  loopback stand-in that serves each job's event stream in the cloud's wire format: 1,000
  `training.log` events/s (ten per 10 ms), silent (a ping every 15 s), or 100,000 steps at once.
  CPU at 1,000 events/s is the dashboard's schedstat time with the events minus the same session
  on a silent stream, alternated; keys as under flood; RSS once every replay was sent and the
  dashboard has gone quiet.
- **Start → first frame**: spawn of `arkor tui` in a 160×48 pty → the read that carries the header's
  title; the first build is reported separately (the header turns to "build ok").
- **RSS**: VmRSS (VmHWM in parentheses) of the dashboard after every run has printed its lines. The
  60 MB target is checked against the peak, in MB (10^6 bytes).
- Median and p95 are nearest-rank over the measured samples; ratios are ours / peer on the median.
"#;
