//! `/api/deployments…` → `/v1/endpoints…` (docs/protocol.md §14.7): local body checks first, then scope
//! and credentials, then the decoded upstream call. Success is always 200 with the decoded
//! envelope; errors are `{"error"}` with the upstream status.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use reqwest::Method;
use serde_json::{Value, json};

use super::{CloudContext, json_error, json_response};
use crate::core::cloud::bootstrap::{MintError, SessionError};
use crate::core::cloud::client::{
    CloudClient, CloudError, DeprecationNotice, UpstreamRequest, encode_component,
};
use crate::core::cloud::project_bootstrap::{
    ANON_STATE_MISMATCH_MESSAGE, OAUTH_MISSING_STATE_MESSAGE, ProjectStateError,
    ensure_project_state,
};
use crate::core::cloud::schemas::{
    Envelope, check_deployment_create, check_key_create, decode_envelope, format_issues,
};
use crate::core::cloud::state::{ProjectScope, read_state};
use crate::server::body::BufferedBody;

const NO_USABLE_STATE_MESSAGE: &str = "No usable .arkor/state.json for this workspace (missing or invalid). Create your first deployment to bootstrap one (anonymous), restore the file by hand (OAuth), or regenerate it with the correct { orgSlug, projectSlug, projectId } if it's currently corrupt.";

/// One deployment operation; its kind decides how a missing or stale scope is handled.
enum Op {
    List,
    Create(Value),
    Get(String),
    Update(String, Value),
    Delete(String),
    ListKeys(String),
    CreateKey(String, Value),
    RevokeKey(String, String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Intent {
    List,
    Read,
    Create,
    Mutate,
}

impl Op {
    fn intent(&self) -> Intent {
        match self {
            Op::List => Intent::List,
            Op::Get(_) | Op::ListKeys(_) => Intent::Read,
            Op::Create(_) => Intent::Create,
            Op::Update(..) | Op::Delete(_) | Op::CreateKey(..) | Op::RevokeKey(..) => {
                Intent::Mutate
            }
        }
    }
}

fn endpoint_path(id: &str) -> String {
    format!("/v1/endpoints/{}", encode_component(id))
}

async fn decoded(
    client: &CloudClient,
    request: UpstreamRequest,
    envelope: Envelope,
) -> Result<Value, CloudError> {
    let path = request.path.clone();
    let body = client.call_json(request).await?;
    decode_envelope(envelope, &body).ok_or(CloudError::Decode {
        path,
        reason: "the answer does not match the deployment schema".into(),
    })
}

async fn run(client: &CloudClient, scope: &ProjectScope, op: Op) -> Result<Value, CloudError> {
    let req = |method: Method, path: String| UpstreamRequest::new(method, path).scoped(scope);
    match op {
        Op::List => {
            let r = req(Method::GET, "/v1/endpoints".into());
            decoded(client, r, Envelope::DeploymentList).await
        }
        Op::Create(body) => {
            let r = req(Method::POST, "/v1/endpoints".into()).json(body.to_string());
            decoded(client, r, Envelope::Deployment).await
        }
        Op::Get(id) => {
            let r = req(Method::GET, endpoint_path(&id));
            decoded(client, r, Envelope::Deployment).await
        }
        Op::Update(id, body) => {
            let r = req(Method::PATCH, endpoint_path(&id)).json(body.to_string());
            decoded(client, r, Envelope::Deployment).await
        }
        Op::Delete(id) => {
            client
                .call_empty(req(Method::DELETE, endpoint_path(&id)))
                .await?;
            Ok(json!({}))
        }
        Op::ListKeys(id) => {
            let r = req(Method::GET, format!("{}/keys", endpoint_path(&id)));
            decoded(client, r, Envelope::KeyList).await
        }
        Op::CreateKey(id, body) => {
            let r =
                req(Method::POST, format!("{}/keys", endpoint_path(&id))).json(body.to_string());
            decoded(client, r, Envelope::CreatedKey).await
        }
        Op::RevokeKey(id, key_id) => {
            let path = format!("{}/keys/{}", endpoint_path(&id), encode_component(&key_id));
            client.call_empty(req(Method::DELETE, path)).await?;
            Ok(json!({}))
        }
    }
}

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

async fn with_deployment_client(ctx: &CloudContext, op: Op) -> Response {
    let intent = op.intent();
    let mut scope = read_state(ctx.project_root()).map(|s| s.scope());
    match (&scope, intent) {
        (None, Intent::List) => return scope_missing(),
        (None, Intent::Read | Intent::Mutate) => {
            return json_error(StatusCode::NOT_FOUND, NO_USABLE_STATE_MESSAGE);
        }
        _ => {}
    }
    let creds = match ctx.credentials().await {
        Ok(c) => c,
        Err(SessionError::NoCredentials) => {
            return json_error(
                StatusCode::UNAUTHORIZED,
                &SessionError::NoCredentials.to_string(),
            );
        }
        Err(SessionError::Mint(MintError::Cloud(e @ CloudError::Unreachable { .. }))) => {
            return super::cloud_error_response(ctx, &e);
        }
        Err(e) => {
            tracing::error!("deployments: credential setup failed: {e}");
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Studio backend unavailable",
            );
        }
    };
    if let Some(s) = &scope
        && !creds.can_use_org(&s.org_slug)
    {
        if intent == Intent::List {
            return scope_missing();
        }
        return json_error(StatusCode::CONFLICT, ANON_STATE_MISMATCH_MESSAGE);
    }
    let client = ctx.client_for(&creds);
    let reply = |status: StatusCode, body: &Value| {
        let notice = client.deprecation();
        ctx.note_deprecation(notice.clone());
        with_deprecation(status, body, notice.as_ref())
    };
    let error_reply = |e: &CloudError, opaque: &str| {
        ctx.note_error(e);
        match e {
            CloudError::Api { status, message } => reply(
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY),
                &json!({ "error": message }),
            ),
            CloudError::Unreachable { .. } => {
                reply(StatusCode::BAD_GATEWAY, &json!({ "error": e.to_string() }))
            }
            _ => {
                tracing::error!("deployments: {e}");
                reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({ "error": opaque }),
                )
            }
        }
    };
    if scope.is_none() {
        if creds.anonymous_org().is_none() {
            return reply(
                StatusCode::BAD_REQUEST,
                &json!({ "error": OAUTH_MISSING_STATE_MESSAGE }),
            );
        }
        match ensure_project_state(ctx.project_root(), &client, &creds).await {
            Ok(state) => scope = Some(state.scope()),
            Err(ProjectStateError::Cloud(e)) => {
                return error_reply(&e, "Studio backend unavailable");
            }
            Err(ProjectStateError::Mismatch) => {
                return reply(
                    StatusCode::CONFLICT,
                    &json!({ "error": ANON_STATE_MISMATCH_MESSAGE }),
                );
            }
            Err(e) => {
                tracing::error!("deployments: project bootstrap failed: {e}");
                return reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({ "error": "Studio backend unavailable" }),
                );
            }
        }
    }
    let Some(scope) = scope else {
        return json_error(StatusCode::NOT_FOUND, NO_USABLE_STATE_MESSAGE);
    };
    match run(&client, &scope, op).await {
        Ok(body) => {
            ctx.note_reachable();
            reply(StatusCode::OK, &body)
        }
        Err(e) => {
            if !matches!(
                e,
                CloudError::Unreachable { .. } | CloudError::InvalidUrl { .. }
            ) {
                ctx.note_reachable();
            }
            error_reply(&e, "Studio backend error")
        }
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
    if let Err(issues) = check_deployment_create(&body) {
        return json_error(
            StatusCode::BAD_REQUEST,
            &format!("Invalid deployment create body: {}", format_issues(&issues)),
        );
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
    if !body.is_object() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "Deployment update body must be a JSON object.",
        );
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
    match check_key_create(&body) {
        Ok(body) => with_deployment_client(&ctx, Op::CreateKey(id, body)).await,
        Err(issues) => json_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "Key create body must include a non-empty `label` string (1-80 chars): {}",
                format_issues(&issues)
            ),
        ),
    }
}

pub(super) async fn revoke_key(
    State(ctx): State<CloudContext>,
    Path((id, key_id)): Path<(String, String)>,
) -> Response {
    with_deployment_client(&ctx, Op::RevokeKey(id, key_id)).await
}
