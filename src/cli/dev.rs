//! `arkor tui`: start the engine and the Studio server, then run the dashboard or the
//! headless printer until shutdown, and clean up in the order of SPEC §9.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::args::TuiArgs;
use super::headless::{self, LineFormat};
use super::signals::ShutdownSignals;
use crate::core::cloud::CloudEnv;
use crate::core::engine::{self, Command, EngineConfig};
use crate::core::events::RunState;
use crate::core::project::{self, Project};
use crate::server::cloud::{CloudContext, CloudOptions};

pub async fn run(args: TuiArgs) -> anyhow::Result<ExitCode> {
    let demo = if args.demo {
        Some(DemoProject::create()?)
    } else {
        None
    };
    let root = match (&demo, &args.cwd) {
        (Some(d), _) => d.root.clone(),
        (None, Some(cwd)) => cwd.clone(),
        (None, None) => PathBuf::from("."),
    };
    let project = Project::at(&root)
        .with_context(|| format!("cannot use {} as the project directory", root.display()))?;
    if !project.root.is_dir() {
        anyhow::bail!(
            "project directory {} does not exist (pass --cwd DIR, or run from the project)",
            project.root.display()
        );
    }
    let log = super::logging::init_file_logging(&project.root.join(".arkor"));
    let node = project::find_node()?;

    let cloud_env = CloudEnv::from_process();
    let sign_in_line = match &cloud_env {
        Some(env) => sign_in(&project, env).await?,
        None => Some("no home directory (HOME is unset): the Studio's cloud routes and the cloud cancel are off".into()),
    };

    // Before anything that needs cleaning up exists (runs, the token file): a signal from
    // here on is queued and handled as a graceful shutdown, instead of killing arkor by its
    // default action with the token file left behind. Earlier (a slow sign-in), Ctrl-C
    // still simply ends the process.
    let shutdown_signals = ShutdownSignals::install();
    let (engine, engine_done) = engine::start(EngineConfig {
        project: project.clone(),
        node: node.path.clone(),
        stop_timeout: Duration::from_secs(args.stop_timeout),
        run_on_ready: args.run || args.demo,
        run_env: Vec::new(),
        cloud: cloud_env.clone(),
    });
    // Before the signal forwarder exists, so the printer sees `ShuttingDown` and `Stopped`
    // even when a signal arrived during start-up.
    let headless_events = args.headless.then(|| engine.subscribe());

    let simulated_sdk = uses_simulated_sdk(&project);
    let cloud_routes = cloud_env.map(|env| {
        let mut options = CloudOptions::new(&project.root, env);
        // The simulated SDK has no cloud: never mint an identity for it.
        options.auto_anonymous = !simulated_sdk;
        let notices = engine.clone();
        options.notices = Arc::new(move |level, message| notices.notice(level, message));
        crate::server::cloud::router(CloudContext::new(options))
    });
    let server = match crate::server::start(
        engine.clone(),
        crate::server::ServerConfig {
            port: args.port,
            cloud_routes,
            ..Default::default()
        },
    )
    .await
    {
        Ok(server) => server,
        Err(e) => {
            // Nothing has run yet, but the watcher and inspector must still close.
            engine.send(Command::Shutdown { force: true });
            let _ = engine_done.await;
            return Err(e);
        }
    };

    let (signals, signal_feed) = shutdown_signals.forward_to(engine.clone());

    let mut dashboard_error = None;
    if let Some(events) = headless_events {
        let format = if args.json {
            LineFormat::Json
        } else {
            LineFormat::Human
        };
        if format == LineFormat::Human {
            // The reference's ready line: scripts written for `arkor dev` wait for it.
            print_line(&format!("Arkor Studio running on {}", server.url()));
            for line in sign_in_line.iter().chain(server.warnings()) {
                print_line(line);
            }
            if let Some(d) = &demo {
                print_line(&d.instructions());
            }
            if let Some((_, path)) = &log {
                print_line(&format!("arkor tui log: {}", path.display()));
            }
        } else {
            print_line(&serde_json::json!({"type": "server", "url": server.url()}).to_string());
        }
        headless::print_events(engine.clone(), events, format, args.logs).await;
    } else {
        let mut opts = crate::tui::AppOptions::from_env();
        opts.server_url = Some(server.url().to_string());
        opts.notifications = !args.no_notify;
        opts.hints.extend(sign_in_line.clone());
        opts.hints.extend(server.warnings().iter().cloned());
        if let Some(d) = &demo {
            opts.hints
                .extend(d.instructions().lines().map(|l| l.trim().to_string()));
        }
        // The terminal may be gone by now (a hang-up): a failed write must neither panic nor
        // skip the shutdown below, or the runs die of a broken pipe instead of early-stopping.
        match crate::tui::run(engine.clone(), opts, signal_feed).await {
            Ok(exit) => {
                for line in exit.summary_lines() {
                    print_line(&line);
                }
            }
            Err(e) => {
                tracing::warn!("dashboard failed: {e:#}");
                engine.send(Command::Shutdown { force: false });
                dashboard_error = Some(e);
            }
        }
        if engine
            .snapshot()
            .runs
            .iter()
            .any(|r| !matches!(r.state, RunState::Exited { .. }))
        {
            print_line(
                "waiting for runs to stop at their next checkpoint (Ctrl-C again to force)…",
            );
        }
    }

    // The front end returns once the engine has stopped (or the user forced it); make sure.
    engine.send(Command::Shutdown { force: false });
    let _ = engine_done.await;
    let first_signal = signals.stop();
    server.shutdown().await;
    // Every run is gone: the demo's temp copy can go too.
    drop(demo);
    Ok(match (first_signal, dashboard_error) {
        (Some(sig), _) => ExitCode::from((128 + sig) as u8),
        (None, Some(e)) => return Err(e),
        (None, None) => ExitCode::SUCCESS,
    })
}

/// One line on stdout, or nothing when stdout is gone (`println!` would panic).
fn print_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// SPEC §12.10 start-up sign-in; returns the line to show, if any. The simulated SDK has
/// no cloud, so projects that use it (the demo, the tests) never touch the network.
async fn sign_in(project: &Project, env: &CloudEnv) -> anyhow::Result<Option<String>> {
    if uses_simulated_sdk(project) {
        return Ok(None);
    }
    let outcome = crate::core::cloud::bootstrap::sign_in_for_project(&project.root, env)
        .await
        .context("signing in to the Arkor Cloud at start-up")?;
    Ok(outcome.message())
}

fn uses_simulated_sdk(project: &Project) -> bool {
    project
        .sdk()
        .is_ok_and(|sdk| sdk.version == crate::assets::sdk_version())
}

/// The embedded demo, copied to a fresh temp dir with the simulated SDK installed.
struct DemoProject {
    root: PathBuf,
}

impl DemoProject {
    fn create() -> anyhow::Result<Self> {
        let root = std::env::temp_dir().join(format!("arkor-demo-{}", std::process::id()));
        if root.exists() {
            std::fs::remove_dir_all(&root)
                .with_context(|| format!("cannot clear the old demo at {}", root.display()))?;
        }
        crate::assets::write_demo_project(&root)
            .with_context(|| format!("cannot write the demo project to {}", root.display()))?;
        Ok(Self { root })
    }

    fn instructions(&self) -> String {
        let src = self.root.join("src").join("arkor");
        format!(
            "Demo project: {}\n  edit {} (a callback) → the run hot-swaps it and keeps going\n  edit {} (e.g. learningRate) → the run early-stops at its next checkpoint and restarts",
            self.root.display(),
            src.join("callbacks.ts").display(),
            src.join("trainer.ts").display(),
        )
    }
}

impl Drop for DemoProject {
    /// Also on an early error (no node, a busy port): the temp copy never outlives arkor.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
