//! The cloud routes of the Studio (docs/protocol.md §14): `/api/credentials`, `/api/me`, `/api/jobs`,
//! `/api/jobs/{id}/events`, `/api/inference/chat` and the `/api/deployments…` family.
//!
//! [`router`] is mounted by the server under its Host and token guards (docs/protocol.md §6); the
//! routes assume those already ran. Every upstream call resolves the credentials once
//! (minting an anonymous identity on first use, once), derives the base URL from them, and
//! identifies as the installed SDK.
//!
//! Wiring (for the server and the engine):
//!
//! ```text
//! let env = CloudEnv::from_process().context("no home directory")?;
//! // At start, before serving (docs/protocol.md §16): print `outcome.message()` when Some.
//! let outcome = core::cloud::bootstrap::sign_in_for_project(&project.root, &env).await?;
//! let mut options = CloudOptions::new(&project.root, env);
//! options.notices = Arc::new(move |level, message| { /* publish EngineEvent::Notice */ });
//! let app = app.merge(server::cloud::router(CloudContext::new(options)));   // under the guards
//! // At each spawn: CancelSnapshot::capture(&project.root, &env.home), kept with the run;
//! // once the child is gone and its job id is known: cancel_job(snapshot, &job_id).await.
//! ```

mod deployments;
mod passthrough;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use crate::core::cloud::bootstrap::{MintError, SessionError, resolve_credentials};
use crate::core::cloud::client::{
    CloudClient, CloudError, DeprecationNotice, REQUEST_TIMEOUT, http_client,
};
use crate::core::cloud::credentials::Credentials;
use crate::core::cloud::{CloudEnv, NoticeSink, discard_notices, installed_sdk_version};
use crate::core::events::NoticeLevel;

/// How to build a [`CloudContext`].
pub struct CloudOptions {
    /// The project root: `.arkor/state.json`, `node_modules/arkor` and the bootstrap slug.
    pub project_root: PathBuf,
    pub env: CloudEnv,
    /// Mint an anonymous identity when no credentials are on file (always on in dev).
    pub auto_anonymous: bool,
    /// Where deprecation and "cloud unreachable" notices go (each shown once).
    pub notices: NoticeSink,
    /// Budget of a JSON call, and of the wait for an event stream's headers.
    pub request_timeout: Duration,
}

impl CloudOptions {
    pub fn new(project_root: impl Into<PathBuf>, env: CloudEnv) -> Self {
        Self {
            project_root: project_root.into(),
            env,
            auto_anonymous: true,
            notices: discard_notices(),
            request_timeout: REQUEST_TIMEOUT,
        }
    }
}

/// Shared state of the cloud routes. Cheap to clone.
#[derive(Clone)]
pub struct CloudContext {
    inner: Arc<Inner>,
}

struct Inner {
    project_root: PathBuf,
    env: CloudEnv,
    auto_anonymous: bool,
    http: reqwest::Client,
    notices: NoticeSink,
    request_timeout: Duration,
    shown_deprecations: Mutex<HashSet<String>>,
    /// Set while the cloud is known to be unreachable, so a polling page reports the
    /// outage once, not every five seconds.
    unreachable: AtomicBool,
}

impl CloudContext {
    pub fn new(options: CloudOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                project_root: options.project_root,
                env: options.env,
                auto_anonymous: options.auto_anonymous,
                http: http_client(),
                notices: options.notices,
                request_timeout: options.request_timeout,
                shown_deprecations: Mutex::new(HashSet::new()),
                unreachable: AtomicBool::new(false),
            }),
        }
    }

    pub fn project_root(&self) -> &std::path::Path {
        &self.inner.project_root
    }

    pub fn env(&self) -> &CloudEnv {
        &self.inner.env
    }

    fn client_version(&self) -> String {
        installed_sdk_version(&self.inner.project_root)
    }

    /// Credentials for this request (one read; may mint once).
    async fn credentials(&self) -> Result<Credentials, SessionError> {
        resolve_credentials(
            &self.inner.env,
            self.inner.auto_anonymous,
            &self.inner.http,
            &self.client_version(),
        )
        .await
    }

    /// A client for these credentials, on the base URL they resolve to.
    fn client_for(&self, credentials: &Credentials) -> CloudClient {
        CloudClient::new(
            self.inner.http.clone(),
            self.inner.env.base_url_for(Some(credentials)),
            Some(credentials.token().to_owned()),
            self.client_version(),
        )
        .with_request_timeout(self.inner.request_timeout)
    }

    /// Show a deprecation notice to the user, once per distinct text.
    fn note_deprecation(&self, notice: Option<DeprecationNotice>) {
        let Some(notice) = notice else { return };
        let line = notice.describe();
        let fresh = self
            .inner
            .shown_deprecations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(line.clone());
        if fresh {
            (self.inner.notices)(NoticeLevel::Warn, line);
        }
    }

    /// The cloud answered: a later outage is reported again.
    fn note_reachable(&self) {
        self.inner.unreachable.store(false, Ordering::Relaxed);
    }

    fn note_error(&self, error: &CloudError) {
        if matches!(error, CloudError::Unreachable { .. })
            && !self.inner.unreachable.swap(true, Ordering::Relaxed)
        {
            (self.inner.notices)(NoticeLevel::Warn, error.to_string());
        }
    }
}

/// The cloud routes, ready to be merged under the server's guards.
pub fn router(ctx: CloudContext) -> Router {
    Router::new()
        .route("/api/credentials", get(passthrough::credentials))
        .route("/api/me", get(passthrough::me))
        .route("/api/jobs", get(passthrough::jobs))
        .route("/api/jobs/{id}/events", get(passthrough::job_events))
        .route("/api/inference/chat", post(passthrough::chat))
        .route(
            "/api/deployments",
            get(deployments::list).post(deployments::create),
        )
        .route(
            "/api/deployments/{id}",
            get(deployments::read)
                .patch(deployments::update)
                .delete(deployments::remove),
        )
        .route(
            "/api/deployments/{id}/keys",
            get(deployments::list_keys).post(deployments::create_key),
        )
        .route(
            "/api/deployments/{id}/keys/{key_id}",
            axum::routing::delete(deployments::revoke_key),
        )
        .with_state(ctx)
}

/// A JSON answer with an explicit `content-type: application/json`.
fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

fn json_error(status: StatusCode, message: &str) -> Response {
    json_response(status, &serde_json::json!({ "error": message }))
}

/// docs/protocol.md §14.1 maps a failed credential resolution to a bare 500; arkor tui answers JSON
/// the SPA can show, and 502 when the failure is an unreachable cloud.
fn session_error_response(ctx: &CloudContext, error: &SessionError) -> Response {
    match error {
        SessionError::Mint(MintError::Cloud(cloud)) => cloud_error_response(ctx, cloud),
        other => json_error(StatusCode::INTERNAL_SERVER_ERROR, &other.to_string()),
    }
}

/// An upstream call that produced no answer: 502 for an unreachable cloud (reported to
/// the user once), 500 for anything else.
fn cloud_error_response(ctx: &CloudContext, error: &CloudError) -> Response {
    ctx.note_error(error);
    match error {
        CloudError::Unreachable { .. } => json_error(StatusCode::BAD_GATEWAY, &error.to_string()),
        CloudError::Api { status, message } => json_error(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY),
            message,
        ),
        _ => json_error(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    }
}
