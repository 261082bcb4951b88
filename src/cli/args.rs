//! Command-line arguments.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "arkor",
    version,
    about = "A fast terminal dev console for arkor projects",
    long_about = "arkor tui watches an arkor project, rebuilds src/arkor/index.ts on every save, \
                  hot-swaps callbacks in running training runs or early-stops and restarts them when \
                  the job config changes, and serves the dev endpoints the browser Studio uses.\n\n\
                  Other subcommands are forwarded to the project's own node_modules/.bin/arkor."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: CliCommand,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// The dev console: dashboard (or headless line output) plus the Studio dev server.
    Tui(TuiArgs),
    /// Bundle src/arkor/index.ts into .arkor/build/index.mjs once and report the trainer.
    Build {
        /// Project directory (default: the current directory).
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
    },
    /// Anything else goes to the project's own arkor CLI (node_modules/.bin/arkor).
    #[command(external_subcommand)]
    External(Vec<OsString>),
}

#[derive(Debug, Args, Clone)]
pub struct TuiArgs {
    /// Project directory (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Port of the Studio dev server on 127.0.0.1 (default 4000, or the next free one).
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// Start one training run as soon as the first build is ready.
    #[arg(long)]
    pub run: bool,
    /// No dashboard: print one line per event and run-state change, and serve the Studio.
    #[arg(long)]
    pub headless: bool,
    /// With --headless: print machine-readable JSON lines instead.
    #[arg(long, requires = "headless")]
    pub json: bool,
    /// With --headless: also print every run's output lines (`[pid] …`).
    #[arg(long, requires = "headless")]
    pub logs: bool,
    /// Run the embedded demo project (copied to a temp dir, with the simulated arkor SDK).
    #[arg(long, conflicts_with = "cwd")]
    pub demo: bool,
    /// Do not ring the bell or send a desktop notification when a run ends on its own.
    #[arg(long)]
    pub no_notify: bool,
    /// Seconds a run may take to reach its checkpoint after SIGTERM before it is killed.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub stop_timeout: u64,
}
