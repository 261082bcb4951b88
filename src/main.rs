use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("arkor: not wired yet");
    ExitCode::FAILURE
}
