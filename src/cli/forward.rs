//! Subcommands arkor tui does not implement go to the project's own arkor CLI.

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::{Context, bail};

pub fn run(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let bin = cwd.join("node_modules").join(".bin").join("arkor");
    if !bin.exists() {
        let name = args
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        bail!(
            "`arkor {name}` is not an arkor tui command, and no project CLI was found at {} to \
             forward it to.\nRun `npm install arkor` in the project, or see `arkor --help`.",
            bin.display()
        );
    }
    let status = std::process::Command::new(&bin)
        .args(&args)
        .status()
        .with_context(|| format!("failed to run {}", bin.display()))?;
    Ok(match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
