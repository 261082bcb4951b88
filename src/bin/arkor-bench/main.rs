//! `arkor-bench`: measures every benchmark target of arkor tui on this machine and writes
//! BENCHMARKS.md.
//!
//! End-to-end figures drive the real `arkor` binary (headless over loopback HTTP/SSE, the
//! dashboard in a pseudo-terminal); stage breakdowns and floors use the library in-process.
//! Peers (the reference `arkor dev`, mprocs) run in the same session when available.
//! `--quick` is the CI smoke mode: tiny N, no peers, finishes in seconds.
//!
//! The measurements are grouped (`groups/`, one file per group, run in the order of
//! `groups::GROUPS`); every group gets the session's shared state ([`bench::Bench`]) and the
//! report it adds rows to ([`report::Report`]).

mod bench;
mod chat;
mod e2e;
mod emit;
mod fixture;
mod groups;
mod http;
mod job_events;
mod markdown;
mod micro;
mod procs;
mod pty;
mod report;
mod screen;
mod stats;
mod training_cloud;
mod tui;
mod tui_training;
mod tui_views;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use bench::{Bench, Plan};
use report::{Report, Verdict};

#[derive(Parser, Debug)]
#[command(
    name = "arkor-bench",
    about = "Measure arkor tui against its targets; write BENCHMARKS.md"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Smoke mode for CI: tiny N, no peers, seconds.
    #[arg(long)]
    quick: bool,
    /// Measured saves per latency figure (default 60; 3 with --quick).
    #[arg(long)]
    runs: Option<usize>,
    /// Where to write the report (default BENCHMARKS.md).
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// The `arkor` binary under test (default: `arkor` next to this binary).
    #[arg(long)]
    arkor: Option<PathBuf>,
    /// The reference SDK package directory (holds dist/bin.mjs); its `arkor dev` becomes a
    /// peer column. Also read from ARKOR_BENCH_REFERENCE.
    #[arg(long)]
    reference: Option<PathBuf>,
    /// The mprocs binary for the log-throughput peer (default: `mprocs` on PATH or in
    /// ~/.cargo/bin). Also read from ARKOR_BENCH_MPROCS.
    #[arg(long)]
    mprocs: Option<PathBuf>,
    /// Measure only these groups (comma-separated): floors, stages, rebuild, signal, fanout,
    /// idle, growth, ingest, flood, render, start, memory, job-events, training, chat, views,
    /// faults.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The growth group's project sizes, as generated modules on top of the 3-module project
    /// (comma-separated; 0 is the 3-module project itself). Default: 0,10,100,1000.
    #[arg(long, value_delimiter = ',')]
    growth_modules: Vec<usize>,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// (internal) print log lines as fast as possible.
    #[command(hide = true)]
    Emit {
        #[arg(long)]
        lines: u64,
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    // clap's `env` feature is not enabled in this crate; read the variables by hand.
    if args.reference.is_none() {
        args.reference = std::env::var_os("ARKOR_BENCH_REFERENCE").map(PathBuf::from);
    }
    if args.mprocs.is_none() {
        args.mprocs = std::env::var_os("ARKOR_BENCH_MPROCS").map(PathBuf::from);
    }
    if let Some(Sub::Emit { lines, report }) = &args.command {
        return match emit::run(*lines, report.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("arkor-bench emit: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("arkor-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arkor-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One session: set up, measure every selected group, write the report.
async fn run(args: Args) -> anyhow::Result<()> {
    let load_before = markdown::load_average();
    let mut report = Report::new();
    let mut bench = Bench::prepare(
        Plan::new(args.quick, args.runs, args.only).growth_modules(args.growth_modules),
        args.arkor,
        args.reference.as_deref(),
        args.mprocs.as_deref(),
        &mut report,
    )?;
    groups::measure(&mut bench, &mut report).await?;
    markdown::write(&args.out, &bench, &report, &load_before)?;
    report.progress(&format!("wrote {}", args.out.display()));
    if report.rows.iter().any(|r| r.verdict == Verdict::Failed) {
        anyhow::bail!(
            "some figures could not be measured (see the notes in {})",
            args.out.display()
        );
    }
    Ok(())
}
