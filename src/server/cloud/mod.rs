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

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use crate::core::cloud::bootstrap::{MintError, SessionError};
use crate::core::cloud::client::CloudError;

/// The routes' shared state: the project's cloud access, shared with the dashboard.
pub use crate::core::cloud::project_cloud::{
    ProjectCloud as CloudContext, ProjectCloudOptions as CloudOptions,
};

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
