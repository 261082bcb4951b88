//! `arkor build`: one build of `src/arkor/index.ts` plus one inspection, then exit.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::core::build::{BuildError, Builder};
use crate::core::inspect::{Inspector, InspectorOptions};
use crate::core::project::{ENTRY_REL, Project, find_node};

/// Build the project at `cwd` (default: the process cwd), printing to stdout / stderr.
pub async fn run(cwd: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    run_with_output(cwd, &mut stdout, &mut stderr).await
}

/// [`run`] with explicit output streams (for tests and embedding).
pub async fn run_with_output(
    cwd: Option<PathBuf>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    // First: a build that cannot be inspected is no use, and nothing should be written.
    let node = match find_node() {
        Ok(node) => node,
        Err(node_error) => {
            writeln!(err, "error: {node_error}")?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let root = match cwd {
        Some(dir) => dir,
        None => std::env::current_dir()?,
    };
    let project = Project::at(&root)?;
    // A folder that is no project, or has no SDK to inspect the build with: that, and only
    // that, is the answer.
    if let Err(e) = crate::cli::preflight::check_project(&project) {
        writeln!(err, "error: {e}")?;
        return Ok(ExitCode::FAILURE);
    }
    writeln!(out, "{node}")?;
    let builder = Builder::new(project.clone());
    let attempt = builder.build().await;
    let output = match attempt.outcome {
        Ok(output) => output,
        Err(error @ BuildError::EntryNotFound { .. }) => {
            writeln!(err, "error: {error}")?;
            writeln!(
                err,
                "hint: arkor builds {ENTRY_REL} (relative to {}); pass --cwd to build another project.",
                project.root.display()
            )?;
            return Ok(ExitCode::FAILURE);
        }
        Err(error) => {
            writeln!(err, "error: build failed")?;
            writeln!(err, "{error}")?;
            if project.out_file.exists() {
                writeln!(
                    err,
                    "The previous {} was left untouched.",
                    project.relative(&project.out_file)
                )?;
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    for warning in &output.warnings {
        writeln!(err, "warning: {warning}")?;
    }
    writeln!(
        out,
        "Built {} → {} ({} in {:.1} ms)",
        project.relative(&project.entry),
        project.relative(&output.out_file),
        human_size(output.size),
        output.duration.as_secs_f64() * 1e3
    )?;
    writeln!(out, "contentHash: {}", output.content_hash)?;

    let inspector = Inspector::start(InspectorOptions::new(node.path, project.root.clone()));
    let inspection = match inspector
        .inspect(&output.out_file, &output.content_hash)
        .await
    {
        Ok(inspection) => inspection,
        Err(error) => {
            writeln!(err, "error: {error}")?;
            return Ok(ExitCode::FAILURE);
        }
    };
    match &inspection.trainer_name {
        Some(name) => writeln!(out, "Trainer: {name}")?,
        None => writeln!(
            out,
            "Trainer: none found (export `trainer`, `arkor`, or a default export holding one)"
        )?,
    }
    match (&inspection.config_hash, &inspection.config_error) {
        (Some(hash), _) => writeln!(out, "configHash: {hash}")?,
        (None, Some(why)) => {
            writeln!(out, "configHash: none (config cannot be serialised: {why})")?
        }
        (None, None) if inspection.trainer_name.is_some() => writeln!(
            out,
            "configHash: none (the trainer was not made by createTrainer, so it cannot be inspected)"
        )?,
        (None, None) => writeln!(out, "configHash: none")?,
    }
    Ok(ExitCode::SUCCESS)
}

fn human_size(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}
