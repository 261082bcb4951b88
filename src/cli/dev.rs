//! `arkor tui`: start the engine and the Studio server, then run the dashboard or the
//! headless printer until shutdown, and clean up in the order of docs/protocol.md §13.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::args::TuiArgs;
use super::headless::{self, LineFormat};
use super::signals::ShutdownSignals;
use super::sim_cloud::SimCloud;
use super::stdout_lines::StdoutLines;
use crate::core::cloud::CloudEnv;
use crate::core::engine::{self, Command, EngineConfig};
use crate::core::events::RunState;
use crate::core::project::{self, Project};
use crate::server::cloud::{CloudContext, CloudOptions};

/// How long shutdown waits for queued stdout lines to be written: enough for any reader that
/// reads, short enough that a stdout nobody reads adds only this to the exit.
const STDOUT_FLUSH_GRACE: Duration = Duration::from_millis(500);

pub async fn run(args: TuiArgs) -> anyhow::Result<ExitCode> {
    // First: without Node there is nothing to run, and the error should say only that.
    let node = project::find_node()?;
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
    // Before anything is written or any cloud is called: a folder that is no project, or has
    // no SDK, gets one message saying what to do (and no `.arkor/` left behind).
    super::preflight::check_project(&project)?;
    let mut instance_lock = if args.force {
        None
    } else {
        Some(super::preflight::InstanceLock::acquire(&project.root)?)
    };
    let log = super::logging::init_file_logging(&project.root.join(".arkor"));
    match super::open_files::raise_open_file_limit() {
        Ok((before, after)) => tracing::debug!(before, after, "open-file limit"),
        Err(e) => tracing::warn!("could not raise the open-file limit: {e}"),
    }
    tracing::info!("{node}");

    // A project on the simulated SDK gets its own simulated cloud: it never talks to the real
    // one, and its credentials stay out of `~/.arkor`.
    let mut sim_cloud = if uses_simulated_sdk(&project) {
        let cloud = SimCloud::prepare(&project, &node.path, args.demo)
            .context("cannot set up the simulated Arkor cloud")?;
        Some(cloud)
    } else {
        None
    };
    let cloud_env = match &sim_cloud {
        Some(cloud) => Some(cloud.cloud_env()),
        None => CloudEnv::from_process(),
    };
    let sign_in_line = match &cloud_env {
        Some(env) => sign_in(&project, env, sim_cloud.as_ref()).await?,
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
        on_config_change: args.on_config_change,
        run_on_ready: args.run || args.demo,
        run_env: sim_cloud
            .as_ref()
            .map(SimCloud::run_env)
            .unwrap_or_default(),
        cloud: cloud_env.clone(),
    });
    // Before the signal forwarder exists, so the printer sees `ShuttingDown` and `Stopped`
    // even when a signal arrived during start-up.
    let headless_events = args.headless.then(|| engine.subscribe());
    if let Some(cloud) = sim_cloud.as_mut() {
        cloud.launch_after_first_build(&engine);
    }

    // Every line arkor prints goes through this writer: a stdout nobody reads (a paused
    // pager, Ctrl-S, a full pipe) must never hold up the dev loop or its shutdown.
    let format = if args.json {
        LineFormat::Json
    } else {
        LineFormat::Human
    };
    let out = StdoutLines::start(headless::stdout_skip_note(format));
    // One cloud access for the Studio's routes and the dashboard's cloud views, so an
    // outage or a deprecation is reported once whichever front end met it.
    let project_cloud = cloud_env.map(|env| {
        let mut options = CloudOptions::new(&project.root, env);
        let notices = engine.clone();
        options.notices = Arc::new(move |level, message| notices.notice(level, message));
        CloudContext::new(options)
    });
    let cloud_routes = project_cloud.clone().map(crate::server::cloud::router);
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
        Ok(server) => {
            if let Some(lock) = instance_lock.as_mut() {
                lock.set_url(server.url());
            }
            server
        }
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
        if format == LineFormat::Human {
            out.line(node.to_string());
            // The reference's ready line: scripts written for `arkor dev` wait for it.
            out.line(format!("Arkor Studio running on {}", server.url()));
            for line in sign_in_line.iter().chain(server.warnings()) {
                out.line(line.as_str());
            }
            if let Some(d) = &demo {
                out.line(d.instructions());
            }
            if let Some((_, path)) = &log {
                out.line(format!("arkor tui log: {}", path.display()));
            }
        } else {
            let node = serde_json::json!({"version": node.version, "path": node.path});
            out.line(
                serde_json::json!({"type": "server", "url": server.url(), "node": node})
                    .to_string(),
            );
            if let Some(cloud) = &sim_cloud {
                out.line(serde_json::json!({"type": "simCloud", "url": cloud.url()}).to_string());
            }
        }
        headless::print_events(engine.clone(), events, format, args.logs, &out).await;
    } else {
        let mut opts = crate::tui::AppOptions::from_env();
        opts.server_url = Some(server.url().to_string());
        opts.notifications = !args.no_notify;
        opts.cloud = project_cloud.clone();
        opts.hints.push(node.to_string());
        opts.hints.extend(sign_in_line.clone());
        opts.hints.extend(server.warnings().iter().cloned());
        if let Some(d) = &demo {
            opts.hints
                .push(format!("Demo project: {}", d.root.display()));
            opts.instructions = d.short_instructions();
        }
        // The terminal may be gone by now (a hang-up): a failed write must neither panic nor
        // skip the shutdown below, or the runs die of a broken pipe instead of early-stopping.
        match crate::tui::run(engine.clone(), opts, signal_feed).await {
            Ok(exit) => {
                for line in exit.summary_lines() {
                    out.line(line);
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
            out.line("waiting for runs to stop at their next checkpoint (Ctrl-C again to force)…");
        }
    }

    // The front end returns once the engine has stopped (or the user forced it); make sure.
    engine.send(Command::Shutdown { force: false });
    let _ = engine_done.await;
    let first_signal = signals.stop();
    // The simulated cloud goes after the runs (their early stop cancels jobs on it), alongside
    // the server and the last stdout lines, so none of the three adds to the others' time.
    let stop_sim_cloud = async {
        if let Some(cloud) = sim_cloud {
            cloud.stop().await;
        }
    };
    tokio::join!(
        server.shutdown(),
        out.flush(STDOUT_FLUSH_GRACE),
        stop_sim_cloud
    );
    // Every run is gone: the demo's temp copy can go too.
    drop(demo);
    Ok(match (first_signal, dashboard_error) {
        (Some(sig), _) => ExitCode::from((128 + sig) as u8),
        (None, Some(e)) => return Err(e),
        (None, None) => ExitCode::SUCCESS,
    })
}

/// docs/protocol.md §16 start-up sign-in; returns the line to show, if any. A simulated cloud's
/// project is signed in already (its credentials are written before it starts): the line says
/// where that cloud is instead.
async fn sign_in(
    project: &Project,
    env: &CloudEnv,
    sim_cloud: Option<&SimCloud>,
) -> anyhow::Result<Option<String>> {
    if let Some(cloud) = sim_cloud {
        return Ok(Some(cloud.describe()));
    }
    let outcome = crate::core::cloud::bootstrap::sign_in_for_project(&project.root, env)
        .await
        .context("signing in to the Arkor Cloud at start-up")?;
    Ok(outcome.message())
}

/// Any simulated SDK, even an older copy: such a project never talks to the real cloud.
fn uses_simulated_sdk(project: &Project) -> bool {
    project
        .sdk()
        .is_ok_and(|sdk| crate::assets::is_simulated_version(&sdk.version))
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

    /// The two things to try, short enough for an 80-column timeline (paths relative to
    /// the project, which the header names).
    fn short_instructions(&self) -> Vec<String> {
        vec![
            "edit src/arkor/callbacks.ts → the run hot-swaps and keeps going".into(),
            "edit learningRate in src/arkor/trainer.ts → early stop, then restart".into(),
        ]
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
