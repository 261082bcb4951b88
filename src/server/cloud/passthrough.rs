//! Routes that pass the cloud's answer through: status and body unvalidated, only the
//! headers docs/protocol.md §14 lists (docs/protocol.md §14.2–§14.6).

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use reqwest::Method;
use serde_json::json;

use super::{
    CloudContext, cloud_error_response, json_error, json_response, session_error_response,
};
use crate::core::cloud::client::{CloudClient, CloudError, UpstreamRequest};
use crate::core::cloud::project_bootstrap::ProjectStateError;
use crate::core::cloud::project_cloud::{ScopeError, Scoped};
use crate::core::cloud::state::read_state;

const DEPRECATION_HEADERS: [&str; 3] = ["deprecation", "sunset", "warning"];
const NO_CACHE: &str = "no-cache, no-transform";

/// How the answer is handed back.
enum Reply {
    /// Buffered body, `content-type: application/json` forced (`/api/me`, `/api/jobs`).
    BufferedJson,
    /// Streamed; upstream content type or `text/event-stream`.
    EventStream,
    /// Streamed; upstream content type only when it sent one.
    Chat,
}

/// Send upstream and build the passthrough reply.
async fn forward(
    ctx: &CloudContext,
    client: &CloudClient,
    request: UpstreamRequest,
    reply: Reply,
) -> Response {
    let path = request.path.clone();
    let upstream = match client.send(request).await {
        Ok(r) => r,
        Err(e) => return cloud_error_response(ctx, &e),
    };
    ctx.note_reachable();
    ctx.note_deprecation(client.deprecation());

    let status = upstream.status();
    let mut headers = HeaderMap::new();
    let upstream_type = upstream.headers().get(header::CONTENT_TYPE).cloned();
    match reply {
        Reply::BufferedJson => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        Reply::EventStream => {
            headers.insert(
                header::CONTENT_TYPE,
                upstream_type.unwrap_or(HeaderValue::from_static("text/event-stream")),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
        }
        Reply::Chat => {
            if let Some(t) = upstream_type {
                headers.insert(header::CONTENT_TYPE, t);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
        }
    }
    for name in DEPRECATION_HEADERS {
        if let Some(v) = upstream.headers().get(name) {
            headers.insert(HeaderName::from_static(name), v.clone());
        }
    }

    let body = match reply {
        Reply::BufferedJson => match upstream.bytes().await {
            Ok(bytes) => Body::from(bytes),
            Err(e) => return cloud_error_response(ctx, &client.transport_error(&path, &e)),
        },
        // Chunks go to the browser as they arrive; when the browser goes away the body is
        // dropped, which drops the upstream response and closes its connection.
        Reply::EventStream | Reply::Chat => Body::from_stream(upstream.bytes_stream()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// GET /api/credentials (docs/protocol.md §14.2).
pub(super) async fn credentials(State(ctx): State<CloudContext>) -> Response {
    let creds = match ctx.credentials().await {
        Ok(c) => c,
        Err(e) => return session_error_response(&ctx, &e),
    };
    let state = read_state(ctx.project_root()).filter(|s| s.usable_for(&creds));
    let org = state
        .as_ref()
        .map(|s| s.org_slug.clone())
        .or_else(|| creds.anonymous_org().map(str::to_owned));
    json_response(
        StatusCode::OK,
        &json!({
            "token": creds.token(),
            "mode": creds.mode(),
            "baseUrl": ctx.env().base_url_for(Some(&creds)),
            "orgSlug": org,
            "projectSlug": state.map(|s| s.project_slug),
        }),
    )
}

/// GET /api/me (docs/protocol.md §14.3).
pub(super) async fn me(State(ctx): State<CloudContext>) -> Response {
    let creds = match ctx.credentials().await {
        Ok(c) => c,
        Err(e) => return session_error_response(&ctx, &e),
    };
    let client = ctx.client_for(&creds);
    forward(
        &ctx,
        &client,
        UpstreamRequest::new(Method::GET, "/v1/me"),
        Reply::BufferedJson,
    )
    .await
}

/// GET /api/jobs (docs/protocol.md §14.4): no state (or a stale one) → empty list without
/// touching credentials.
pub(super) async fn jobs(State(ctx): State<CloudContext>) -> Response {
    let Scoped { client, scope, .. } = match ctx.existing_scope().await {
        Ok(scoped) => scoped,
        Err(ScopeError::Session(e)) => return session_error_response(&ctx, &e),
        Err(_) => return json_response(StatusCode::OK, &json!({ "jobs": [] })),
    };
    let request = UpstreamRequest::list_jobs(&scope);
    forward(&ctx, &client, request, Reply::BufferedJson).await
}

/// GET /api/jobs/{id}/events (docs/protocol.md §14.5): the job's event stream, streamed through.
pub(super) async fn job_events(
    State(ctx): State<CloudContext>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Scoped { client, scope, .. } = match ctx.existing_scope().await {
        Ok(scoped) => scoped,
        Err(ScopeError::Session(e)) => return session_error_response(&ctx, &e),
        Err(_) => return json_error(StatusCode::BAD_REQUEST, "No project state"),
    };
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let request = UpstreamRequest::job_events(&id, &scope, last_event_id);
    forward(&ctx, &client, request, Reply::EventStream).await
}

/// POST /api/inference/chat (docs/protocol.md §14.6): bootstrap the project for an anonymous user,
/// then forward the body unchanged and stream the answer back.
pub(super) async fn chat(State(ctx): State<CloudContext>, body: Body) -> Response {
    let Scoped { client, scope, .. } = match ctx.bootstrap_scope().await {
        Ok(scoped) => scoped,
        Err(ScopeError::Session(e)) => return session_error_response(&ctx, &e),
        Err(e @ ScopeError::Stale) => return json_error(StatusCode::CONFLICT, &e.to_string()),
        Err(ScopeError::Bootstrap {
            source:
                ProjectStateError::Cloud(
                    cloud @ (CloudError::Api { .. } | CloudError::Unreachable { .. }),
                ),
            ..
        }) => return cloud_error_response(&ctx, &cloud),
        Err(other) => {
            return json_error(StatusCode::INTERNAL_SERVER_ERROR, &other.to_string());
        }
    };
    // No size limit and no validation: the cloud decides (docs/protocol.md §14.6).
    let raw: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let request = UpstreamRequest::inference_chat(&scope, raw);
    forward(&ctx, &client, request, Reply::Chat).await
}
