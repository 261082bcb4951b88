//! The Studio-compatible dev server (axum): the routes, frames, headers and guards of the
//! reference `arkor dev` (docs/protocol.md §5–§8), over the one engine the TUI also drives.
//!
//! It binds loopback only, answers every route behind the Host guard and every `/api` route
//! behind the studio token, and never signals a child itself: runs are started and stopped
//! through [`EngineHandle`] commands, and dev events arrive already dispatched.

pub mod body;
pub mod cloud;
pub mod cloud_fallback;
pub mod connections;
pub mod guards;
pub mod manifest;
pub mod sse;
pub mod studio;
pub mod token;
pub mod train;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::{broadcast::error::RecvError, watch};
use tokio::task::JoinHandle;

use crate::core::engine::EngineHandle;
use crate::core::events::EngineEvent;
use studio::AssetsSource;

/// The reference's default port.
pub const DEFAULT_PORT: u16 = 4000;
/// Ports tried after [`DEFAULT_PORT`] when no port was asked for, before an ephemeral one.
const FALLBACK_PORT_ATTEMPTS: u16 = 20;
/// How long shutdown waits for open connections to finish before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Where the studio token is written for other local tools (the Vite SPA dev workflow).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TokenFile {
    /// `$HOME/.arkor/studio-token` (skipped with a warning when `HOME` is unset).
    #[default]
    Home,
    At(PathBuf),
    /// Do not write one.
    Disabled,
}

#[derive(Clone, Default)]
pub struct ServerConfig {
    /// `Some(p)`: bind exactly `p` (0 = any free port) or fail. `None`: 4000, or the next
    /// free port when 4000 is taken.
    pub port: Option<u16>,
    pub token_file: TokenFile,
    /// Serve the Studio from this folder instead of the project's installed SDK.
    pub assets_dir: Option<PathBuf>,
    /// The cloud routes (`/api/credentials`, `/api/me`, `/api/jobs…`, `/api/inference…`,
    /// `/api/deployments…`), e.g. `server::cloud::router(ctx)`. `None` mounts
    /// [`cloud_fallback::cloud_fallback`]. The Host and token guards wrap them either way.
    pub cloud_routes: Option<Router>,
    /// How long a client may take to send its request headers, and then its body (and how
    /// long an idle keep-alive connection stays open). `None`:
    /// [`connections::HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Option<Duration>,
    /// Most connections served at once (more wait to be accepted). `None`: derived from the
    /// open-file limit, keeping a reserve for the build ([`connections::connection_cap`]).
    pub max_connections: Option<usize>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("port", &self.port)
            .field("token_file", &self.token_file)
            .field("assets_dir", &self.assets_dir)
            .field(
                "cloud_routes",
                &self.cloud_routes.as_ref().map(|_| "custom"),
            )
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    pub engine: EngineHandle,
    pub token: Arc<str>,
    pub assets: AssetsSource,
    pub frames: Arc<sse::FrameCache>,
    /// True once no further dev events may be sent (engine or server shutdown began).
    pub events_closed: watch::Receiver<bool>,
    /// True once the server itself is shutting down (open bodies end).
    pub server_closed: watch::Receiver<bool>,
}

/// `{"error": message}` with `status`, the reference's error body everywhere.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// All routes and guards, ready to serve. `cloud` holds the cloud routes (see
/// [`ServerConfig::cloud_routes`]); a request body must arrive within `body_timeout` of its
/// headers.
pub fn router(state: AppState, cloud: Router, body_timeout: Duration) -> Router {
    let own = Router::new()
        .route("/api/dev/events", get(sse::dev_events))
        .route("/api/manifest", get(manifest::manifest))
        .route("/api/train", post(train::train))
        .fallback(fallback)
        .with_state(state.clone());
    own.merge(cloud)
        .layer(axum::extract::DefaultBodyLimit::max(
            body::MAX_BUFFERED_BODY,
        ))
        .layer(axum::middleware::from_fn_with_state(
            body_timeout,
            body::body_deadline,
        ))
        // The layer added last runs first: the Host guard, then the token guard.
        .layer(axum::middleware::from_fn_with_state(
            state,
            guards::token_guard,
        ))
        .layer(axum::middleware::from_fn(guards::host_guard))
}

async fn fallback(
    state: axum::extract::State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Response {
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        return studio::static_asset(state, uri).await;
    }
    if uri.path() == "/api" || uri.path().starts_with("/api/") {
        return json_error(StatusCode::NOT_FOUND, "Not found");
    }
    (StatusCode::NOT_FOUND, "404 Not Found").into_response()
}

/// A server that is accepting connections. Call [`RunningServer::shutdown`] to stop it;
/// dropping it also stops it (without waiting).
pub struct RunningServer {
    url: String,
    port: u16,
    token: Arc<str>,
    token_file: Option<PathBuf>,
    warnings: Vec<String>,
    events_closed: watch::Sender<bool>,
    server_closed: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    engine_watch: JoinHandle<()>,
    finished: bool,
}

impl RunningServer {
    /// `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The per-launch studio token (for `X-Arkor-Studio-Token`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The token file written at start, if it was written.
    pub fn token_file(&self) -> Option<&std::path::Path> {
        self.token_file.as_deref()
    }

    /// Non-fatal problems met at start (e.g. the token file could not be written).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Stop sending dev events and accepting connections, end open streams, and remove the
    /// token file if it still holds our token. Connections still open after a short grace
    /// are dropped.
    pub async fn shutdown(mut self) {
        self.begin_shutdown();
        self.engine_watch.abort();
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        for task in &mut self.tasks {
            if tokio::time::timeout_at(deadline, &mut *task).await.is_err() {
                task.abort();
            }
        }
        self.remove_token_file();
        self.finished = true;
    }

    fn begin_shutdown(&self) {
        self.events_closed.send_replace(true);
        self.server_closed.send_replace(true);
    }

    fn remove_token_file(&mut self) {
        if let Some(path) = self.token_file.take() {
            token::remove_token_if_ours(&path, &self.token);
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if !self.finished {
            self.begin_shutdown();
            self.engine_watch.abort();
            for task in &self.tasks {
                task.abort();
            }
            self.remove_token_file();
        }
    }
}

/// Bind 127.0.0.1 (and `[::1]` on the same port when available), write the token file, and
/// serve until [`RunningServer::shutdown`].
pub async fn start(engine: EngineHandle, cfg: ServerConfig) -> anyhow::Result<RunningServer> {
    let v4 = bind_v4(cfg.port)?;
    let port = v4.local_addr().context("reading the bound address")?.port();
    // IPv6 loopback is a convenience (browsers that resolve localhost to ::1 first); the
    // IPv4 listener is the contract, so a failure here is ignored.
    let v6 = connections::listen(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).ok();

    let token: Arc<str> = Arc::from(token::generate_token());
    let mut warnings = Vec::new();
    let token_path = match cfg.token_file {
        TokenFile::Home => {
            let path = token::default_token_path();
            if path.is_none() {
                warnings.push("HOME is not set; the studio token file was not written".to_owned());
            }
            path
        }
        TokenFile::At(path) => Some(path),
        TokenFile::Disabled => None,
    };
    // Written only after a successful bind, so a launch that fails on a busy port never
    // replaces a running instance's token.
    let token_file = token_path.and_then(|path| match token::persist_token(&path, &token) {
        Ok(()) => Some(path),
        Err(e) => {
            warnings.push(format!(
                "could not write {} ({e}); the Studio is unaffected, but tools that read the token file will get 403s",
                path.display()
            ));
            None
        }
    });

    let (events_closed_tx, events_closed) = watch::channel(false);
    let (server_closed_tx, server_closed) = watch::channel(false);
    let assets = match cfg.assets_dir {
        Some(dir) => AssetsSource::Dir(dir),
        None => AssetsSource::InstalledSdk(engine.project().sdk_dir()),
    };
    let state = AppState {
        engine: engine.clone(),
        token: token.clone(),
        assets,
        frames: Arc::default(),
        events_closed,
        server_closed: server_closed.clone(),
    };
    let cloud = cfg
        .cloud_routes
        .unwrap_or_else(cloud_fallback::cloud_fallback);
    let header_read_timeout = cfg
        .header_read_timeout
        .unwrap_or(connections::HEADER_READ_TIMEOUT);
    let app = router(state, cloud, header_read_timeout);

    let engine_watch = tokio::spawn(close_events_on_engine_shutdown(
        engine,
        events_closed_tx.clone(),
    ));
    let max_connections = cfg.max_connections.unwrap_or_else(|| {
        connections::connection_cap(connections::open_file_limit().unwrap_or(1024))
    });
    let limits = connections::Limits::new(max_connections, header_read_timeout);
    tracing::debug!(max_connections, "dev server connection cap");
    let tasks = vec![tokio::spawn(connections::serve(
        std::iter::once(v4).chain(v6).collect(),
        app,
        limits,
        server_closed.clone(),
    ))];

    Ok(RunningServer {
        url: format!("http://127.0.0.1:{port}/"),
        port,
        token,
        token_file,
        warnings,
        events_closed: events_closed_tx,
        server_closed: server_closed_tx,
        tasks,
        engine_watch,
        finished: false,
    })
}

fn bind_v4(port: Option<u16>) -> anyhow::Result<TcpListener> {
    let bind = |p: u16| connections::listen(SocketAddr::from((Ipv4Addr::LOCALHOST, p)));
    match port {
        Some(p) => bind(p).map_err(|e| {
            if e.kind() == io::ErrorKind::AddrInUse {
                anyhow::anyhow!(
                    "Port {p} is already in use. Another `arkor tui` or `arkor dev` may be running; pass --port to choose a different one (or --port 0 for any free port)."
                )
            } else {
                anyhow::Error::new(e).context(format!("could not listen on 127.0.0.1:{p}"))
            }
        }),
        None => {
            for p in DEFAULT_PORT..DEFAULT_PORT + FALLBACK_PORT_ATTEMPTS {
                match bind(p) {
                    Ok(listener) => return Ok(listener),
                    Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                    Err(e) => {
                        return Err(
                            anyhow::Error::new(e).context(format!("could not listen on 127.0.0.1:{p}"))
                        );
                    }
                }
            }
            bind(0)
                .context("could not listen on any port of 127.0.0.1")
        }
    }
}

/// Once the engine announces shutdown, no further dev events go out (docs/protocol.md D32).
async fn close_events_on_engine_shutdown(engine: EngineHandle, events_closed: watch::Sender<bool>) {
    let mut events = engine.subscribe();
    loop {
        match events.recv().await {
            Ok(EngineEvent::ShuttingDown | EngineEvent::Stopped) => break,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => {
                if engine.snapshot().shutting_down {
                    break;
                }
            }
            // The engine is gone: nothing more can be published either.
            Err(RecvError::Closed) => break,
        }
    }
    events_closed.send_replace(true);
}
