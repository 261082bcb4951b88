//! Command-line arguments.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::core::registry::ConfigChangePolicy;

macro_rules! long_about {
    () => {
        "arkor tui watches an arkor project, rebuilds src/arkor/index.ts on every save, \
         hot-swaps callbacks in running training runs or early-stops and restarts them when the \
         job config changes, and serves the dev endpoints the browser Studio uses.\n\n\
         Other subcommands are forwarded to the project's own node_modules/.bin/arkor."
    };
}

/// The name the npm packages install the binary under. Invoked by that name, the binary runs
/// the dashboard when no subcommand is given (`arkor-tui` = `arkor tui`): in a JavaScript
/// project `arkor` on PATH is the SDK's own CLI, so the console needs a name of its own.
pub const TUI_BIN_NAME: &str = "arkor-tui";

#[derive(Debug, Parser)]
#[command(
    name = "arkor",
    version,
    about = "A fast terminal dev console for arkor projects",
    long_about = long_about!()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: CliCommand,
}

/// The command line of `arkor-tui`: a subcommand as for `arkor`, or the flags of `arkor tui`.
#[derive(Debug, Parser)]
#[command(
    name = TUI_BIN_NAME,
    version,
    about = "A fast terminal dev console for arkor projects (with no subcommand: `arkor tui`)",
    long_about = concat!(
        long_about!(),
        "\n\nWith no subcommand, arkor-tui runs the dashboard: the options below are those of `arkor tui`."
    ),
    args_conflicts_with_subcommands = true
)]
pub struct TuiCli {
    #[command(subcommand)]
    pub command: Option<CliCommand>,
    #[command(flatten)]
    pub tui: TuiArgs,
}

/// The command to run, parsed from the process's arguments; `arkor-tui` and `arkor` differ
/// only in what no subcommand means.
pub fn parse() -> CliCommand {
    parse_from(std::env::args_os())
}

/// [`parse`] over the given arguments (the first is the program name); exits with clap's
/// message on a usage error, `--help` or `--version`.
pub fn parse_from(args: impl IntoIterator<Item = OsString>) -> CliCommand {
    try_parse_from(args).unwrap_or_else(|e| e.exit())
}

/// [`parse_from`] returning clap's error (which `--help` and `--version` also are).
pub fn try_parse_from(args: impl IntoIterator<Item = OsString>) -> Result<CliCommand, clap::Error> {
    let mut args = args.into_iter().peekable();
    let invoked_as_tui = args
        .peek()
        .and_then(|program| Path::new(program).file_name())
        .is_some_and(|name| name == TUI_BIN_NAME);
    if invoked_as_tui {
        let cli = TuiCli::try_parse_from(args)?;
        Ok(cli.command.unwrap_or(CliCommand::Tui(cli.tui)))
    } else {
        Ok(Cli::try_parse_from(args)?.command)
    }
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
    /// Start even if another arkor tui runs on this project (it holds `.arkor/tui.lock`).
    /// Two instances rebuild the same artifact and both supervise runs: use with care.
    #[arg(long)]
    pub force: bool,
    /// Seconds a run you stop (x, R, quit) may take to reach its checkpoint after SIGTERM
    /// before it is killed. Applies to manual stops only: a restart after a config change
    /// waits as long as the runner itself waits for its checkpoint (5 min, +30 s of slack).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub stop_timeout: u64,
    /// What a saved change to a live run's job config does: `restart` it (early stop at the
    /// next checkpoint, then start with the new config; waits up to 5 min 30 s for the
    /// checkpoint), `ask` first, or `hold` it on its config (the runs table marks it `≠`; R
    /// restarts it). Callback-only edits always hot-swap.
    #[arg(long, value_name = "POLICY", default_value = "restart")]
    pub on_config_change: ConfigChangePolicy,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<CliCommand, clap::Error> {
        try_parse_from(line.split_whitespace().map(OsString::from))
    }

    fn tui_args(line: &str) -> TuiArgs {
        match parse(line) {
            Ok(CliCommand::Tui(args)) => args,
            other => panic!("`{line}` should mean `arkor tui`, got {other:?}"),
        }
    }

    #[test]
    fn arkor_tui_without_a_subcommand_is_the_dashboard() {
        let args = tui_args("arkor-tui");
        assert!(!args.headless && args.cwd.is_none() && args.stop_timeout == 30);
        // Installed under node_modules/.bin, the program name is a path.
        let args = tui_args(
            "/p/node_modules/arkor-tui-linux-x64-gnu/bin/arkor-tui --headless --json --port 0",
        );
        assert!(args.headless && args.json);
        assert_eq!(args.port, Some(0));
    }

    #[test]
    fn on_config_change_takes_restart_ask_or_hold_and_defaults_to_restart() {
        assert_eq!(
            tui_args("arkor-tui").on_config_change,
            ConfigChangePolicy::Restart
        );
        for policy in ConfigChangePolicy::ALL {
            let args = tui_args(&format!("arkor-tui --on-config-change {policy}"));
            assert_eq!(args.on_config_change, policy);
        }
        let error =
            parse("arkor-tui --on-config-change later").expect_err("an unknown policy is refused");
        assert!(error.to_string().contains("restart, ask, hold"), "{error}");
    }

    #[test]
    fn arkor_tui_takes_the_subcommands_of_arkor() {
        assert!(tui_args("arkor-tui tui --headless --logs").logs);
        match parse("arkor-tui build --cwd proj") {
            Ok(CliCommand::Build { cwd }) => assert_eq!(cwd, Some(PathBuf::from("proj"))),
            other => panic!("{other:?}"),
        }
        match parse("arkor-tui login --oauth") {
            Ok(CliCommand::External(args)) => assert_eq!(args, ["login", "--oauth"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn arkor_still_needs_a_subcommand() {
        assert!(parse("arkor").is_err());
        assert!(parse("arkor --headless").is_err());
        assert!(!tui_args("arkor tui").headless);
        // Only the exact name switches: `arkor-tui-old` is another program's name.
        assert!(parse("arkor-tui-old").is_err());
    }

    #[test]
    fn both_names_print_the_version() {
        for (program, name) in [("arkor", "arkor"), ("/x/arkor-tui", "arkor-tui")] {
            let err = parse(&format!("{program} --version")).expect_err("--version exits");
            assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion);
            assert_eq!(
                err.to_string(),
                format!("{name} {}\n", env!("CARGO_PKG_VERSION"))
            );
        }
    }
}
