//! `/api/deployments…` → `/v1/endpoints…` (docs/protocol.md §14.7): local body checks first, then scope
//! and credentials, then the decoded upstream call. Success is always 200 with the decoded
//! envelope; errors are `{"error"}` with the upstream status.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::{CloudContext, json_error, json_response};
use crate::core::cloud::bootstrap::{MintError, SessionError};
use crate::core::cloud::client::{CloudError, DeprecationNotice};
use crate::core::cloud::endpoints::{
    DeploymentOp as Op, Intent, validate_create, validate_key_create, validate_update,
};
use crate::core::cloud::project_bootstrap::{ANON_STATE_MISMATCH_MESSAGE, ProjectStateError};
use crate::core::cloud::project_cloud::{NO_USABLE_STATE_MESSAGE, ScopeError, Scoped};
use crate::server::body::BufferedBody;

fn scope_missing() -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "deployments": [], "scopeMissing": true }),
    )
}

/// A JSON reply carrying the synthesised deprecation headers when any upstream answer of
/// this request was deprecated.
fn with_deprecation(
    status: StatusCode,
    body: &Value,
    notice: Option<&DeprecationNotice>,
) -> Response {
    let mut response = json_response(status, body);
    if let Some(n) = notice {
        let headers = response.headers_mut();
        headers.insert("deprecation", HeaderValue::from_static("true"));
        if let Ok(v) = HeaderValue::from_str(&n.warning_header()) {
            headers.insert("warning", v);
        }
        if let Some(sunset) = n
            .sunset
            .as_deref()
            .and_then(|s| HeaderValue::from_str(s).ok())
        {
            headers.insert("sunset", sunset);
        }
    }
    response
}

/// A reply carrying the deprecation this request's upstream calls received, if any.
fn reply(
    ctx: &CloudContext,
    notice: Option<DeprecationNotice>,
    status: StatusCode,
    body: &Value,
) -> Response {
    ctx.note_deprecation(notice.clone());
    with_deprecation(status, body, notice.as_ref())
}

/// An upstream failure: its status and message for an answer, 502 for an unreachable
/// cloud, `opaque` (500) for anything else.
fn error_reply(
    ctx: &CloudContext,
    notice: Option<DeprecationNotice>,
    e: &CloudError,
    opaque: &str,
) -> Response {
    ctx.note_error(e);
    match e {
        CloudError::Api { status, message } => reply(
            ctx,
            notice,
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY),
            &json!({ "error": message }),
        ),
        CloudError::Unreachable { .. } => reply(
            ctx,
            notice,
            StatusCode::BAD_GATEWAY,
            &json!({ "error": e.to_string() }),
        ),
        _ => {
            tracing::error!("deployments: {e}");
            reply(
                ctx,
                notice,
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({ "error": opaque }),
            )
        }
    }
}

/// How a missing or stale scope, or a failed sign-in, answers for this kind of call.
fn scope_error_response(ctx: &CloudContext, intent: Intent, error: ScopeError) -> Response {
    match error {
        ScopeError::NoState | ScopeError::Stale if intent == Intent::List => scope_missing(),
        ScopeError::NoState => json_error(StatusCode::NOT_FOUND, NO_USABLE_STATE_MESSAGE),
        ScopeError::Stale => json_error(StatusCode::CONFLICT, ANON_STATE_MISMATCH_MESSAGE),
        e @ ScopeError::OAuthMissing => json_error(StatusCode::BAD_REQUEST, &e.to_string()),
        ScopeError::Session(SessionError::NoCredentials) => json_error(
            StatusCode::UNAUTHORIZED,
            &SessionError::NoCredentials.to_string(),
        ),
        ScopeError::Session(SessionError::Mint(MintError::Cloud(
            e @ CloudError::Unreachable { .. },
        ))) => super::cloud_error_response(ctx, &e),
        ScopeError::Session(e) => {
            tracing::error!("deployments: credential setup failed: {e}");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Studio backend unavailable",
            )
        }
        ScopeError::Bootstrap { source, client } => {
            let notice = client.deprecation();
            match source {
                ProjectStateError::Cloud(e) => {
                    error_reply(ctx, notice, &e, "Studio backend unavailable")
                }
                e => {
                    tracing::error!("deployments: project bootstrap failed: {e}");
                    reply(
                        ctx,
                        notice,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &json!({ "error": "Studio backend unavailable" }),
                    )
                }
            }
        }
    }
}

/// Resolve the scope as the call's intent requires (a create bootstraps the project for an
/// anonymous identity), then make the decoded upstream call.
async fn with_deployment_client(ctx: &CloudContext, op: Op) -> Response {
    let intent = op.intent();
    let scoped = if intent == Intent::Create {
        ctx.bootstrap_scope().await
    } else {
        ctx.existing_scope().await
    };
    let Scoped { client, scope, .. } = match scoped {
        Ok(scoped) => scoped,
        Err(e) => return scope_error_response(ctx, intent, e),
    };
    let outcome = client.deployment_call(&scope, op).await;
    ctx.note_outcome(&outcome);
    match outcome {
        Ok(body) => reply(ctx, client.deprecation(), StatusCode::OK, &body),
        Err(e) => error_reply(ctx, client.deprecation(), &e, "Studio backend error"),
    }
}

/// Parse a request body as JSON; `None` when it is not well-formed JSON (a valid `null`,
/// `false`, `0`, `""` or `[]` is `Some` and left to the shape checks).
fn parse_body(raw: &Bytes) -> Option<Value> {
    serde_json::from_slice(raw).ok()
}

fn invalid_json() -> Response {
    json_error(StatusCode::BAD_REQUEST, "Invalid JSON body")
}

pub(super) async fn list(State(ctx): State<CloudContext>) -> Response {
    with_deployment_client(&ctx, Op::List).await
}

pub(super) async fn create(
    State(ctx): State<CloudContext>,
    BufferedBody(raw): BufferedBody,
) -> Response {
    let Some(body) = parse_body(&raw) else {
        return invalid_json();
    };
    if let Err(message) = validate_create(&body) {
        return json_error(StatusCode::BAD_REQUEST, &message);
    }
    with_deployment_client(&ctx, Op::Create(body)).await
}

pub(super) async fn read(State(ctx): State<CloudContext>, Path(id): Path<String>) -> Response {
    with_deployment_client(&ctx, Op::Get(id)).await
}

pub(super) async fn update(
    State(ctx): State<CloudContext>,
    Path(id): Path<String>,
    BufferedBody(raw): BufferedBody,
) -> Response {
    let Some(body) = parse_body(&raw) else {
        return invalid_json();
    };
    if let Err(message) = validate_update(&body) {
        return json_error(StatusCode::BAD_REQUEST, &message);
    }
    with_deployment_client(&ctx, Op::Update(id, body)).await
}

pub(super) async fn remove(State(ctx): State<CloudContext>, Path(id): Path<String>) -> Response {
    with_deployment_client(&ctx, Op::Delete(id)).await
}

pub(super) async fn list_keys(State(ctx): State<CloudContext>, Path(id): Path<String>) -> Response {
    with_deployment_client(&ctx, Op::ListKeys(id)).await
}

pub(super) async fn create_key(
    State(ctx): State<CloudContext>,
    Path(id): Path<String>,
    BufferedBody(raw): BufferedBody,
) -> Response {
    let Some(body) = parse_body(&raw) else {
        return invalid_json();
    };
    match validate_key_create(&body) {
        Ok(body) => with_deployment_client(&ctx, Op::CreateKey(id, body)).await,
        Err(message) => json_error(StatusCode::BAD_REQUEST, &message),
    }
}

pub(super) async fn revoke_key(
    State(ctx): State<CloudContext>,
    Path((id, key_id)): Path<(String, String)>,
) -> Response {
    with_deployment_client(&ctx, Op::RevokeKey(id, key_id)).await
}
