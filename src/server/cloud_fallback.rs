//! The Studio routes only the cloud side can answer (SPEC §12): credentials, me, jobs and
//! job events, inference, deployments. Until the cloud proxy is mounted in their place they
//! answer a JSON error naming the route, so the Studio shows why instead of hanging.
//! The guards of the parent router (Host, token) apply to these routes as to every other.

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;

/// The router to replace with `crate::server::cloud::router(...)`.
pub fn cloud_fallback() -> Router {
    async fn unavailable(method: Method, uri: Uri) -> Response {
        super::json_error(
            StatusCode::NOT_IMPLEMENTED,
            &format!(
                "{method} {} needs the Arkor cloud proxy, which this build of arkor tui does not serve",
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
