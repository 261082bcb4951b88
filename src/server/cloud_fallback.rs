//! The Studio routes only the cloud side can answer (docs/protocol.md §14): credentials, me, jobs and
//! job events, inference, deployments. They are mounted in place of the cloud proxy when arkor
//! has nowhere to keep credentials (no home directory), and answer a JSON error naming the
//! route and the cause, so the Studio shows why instead of hanging.
//! The guards of the parent router (Host, token) apply to these routes as to every other.

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;

/// The routes served when the cloud proxy (`crate::server::cloud::router`) is not mounted.
pub fn cloud_fallback() -> Router {
    async fn unavailable(method: Method, uri: Uri) -> Response {
        super::json_error(
            StatusCode::NOT_IMPLEMENTED,
            &format!(
                "{method} {} needs the Arkor cloud, which is off: arkor found no home directory for its credentials (set HOME and restart arkor)",
                uri.path()
            ),
        )
    }
    Router::new()
        .route("/api/credentials", any(unavailable))
        .route("/api/me", any(unavailable))
        .route("/api/jobs", any(unavailable))
        .route("/api/jobs/{*rest}", any(unavailable))
        .route("/api/inference/{*rest}", any(unavailable))
        .route("/api/deployments", any(unavailable))
        .route("/api/deployments/{*rest}", any(unavailable))
}
