use std::process::ExitCode;

use arkor_tui::cli::args::{self, CliCommand};

fn main() -> ExitCode {
    let command = args::parse();
    arkor_tui::cli::launcher::follow_launcher();
    // One runtime for the whole process: the supervisor's spawner and the engine live as
    // long as it does (PR_SET_PDEATHSIG is tied to the spawning thread).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("arkor")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("arkor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            CliCommand::Tui(args) => arkor_tui::cli::dev::run(args).await,
            CliCommand::Build { cwd } => arkor_tui::cli::build::run(cwd).await,
            CliCommand::External(args) => arkor_tui::cli::forward::run(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("arkor: {e:#}");
            ExitCode::FAILURE
        }
    }
}
