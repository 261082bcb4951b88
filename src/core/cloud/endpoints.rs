//! The project's deployments (`/v1/endpoints…`): the calls, with the local body checks
//! every caller applies before anything goes upstream, the decoded envelopes, and typed
//! views of them. The Studio's `/api/deployments…` routes hand the decoded envelopes on;
//! the dashboard reads the typed ones.

use reqwest::Method;
use serde_json::{Value, json};

use super::client::{CloudClient, CloudError, UpstreamRequest, encode_component};
use super::inference::AdapterRef;
use super::schemas::{
    Envelope, check_deployment_create, check_key_create, decode_envelope, format_issues,
};
use super::state::ProjectScope;

/// One deployment call.
#[derive(Clone, Debug, PartialEq)]
pub enum DeploymentOp {
    List,
    /// A body that passed [`validate_create`].
    Create(Value),
    Get(String),
    /// A JSON object (see [`validate_update`]).
    Update(String, Value),
    Delete(String),
    ListKeys(String),
    /// A body that [`validate_key_create`] returned.
    CreateKey(String, Value),
    RevokeKey(String, String),
}

/// What a call does to the project, which decides how a missing or stale scope reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    List,
    Read,
    Create,
    Mutate,
}

impl DeploymentOp {
    pub fn intent(&self) -> Intent {
        match self {
            Self::List => Intent::List,
            Self::Get(_) | Self::ListKeys(_) => Intent::Read,
            Self::Create(_) => Intent::Create,
            Self::Update(..) | Self::Delete(_) | Self::CreateKey(..) | Self::RevokeKey(..) => {
                Intent::Mutate
            }
        }
    }
}

/// The local check of a create body; the error is the whole message to show.
pub fn validate_create(body: &Value) -> Result<(), String> {
    check_deployment_create(body)
        .map_err(|issues| format!("Invalid deployment create body: {}", format_issues(&issues)))
}

/// The local check of an update body: any JSON object.
pub fn validate_update(body: &Value) -> Result<(), String> {
    if body.is_object() {
        Ok(())
    } else {
        Err("Deployment update body must be a JSON object.".to_owned())
    }
}

/// The local check of a key body; on success, the body to send (label trimmed).
pub fn validate_key_create(body: &Value) -> Result<Value, String> {
    check_key_create(body).map_err(|issues| {
        format!(
            "Key create body must include a non-empty `label` string (1-80 chars): {}",
            format_issues(&issues)
        )
    })
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

impl CloudClient {
    /// Run one deployment call; the answer is the decoded envelope (`{}` for a delete).
    pub async fn deployment_call(
        &self,
        scope: &ProjectScope,
        op: DeploymentOp,
    ) -> Result<Value, CloudError> {
        let req = |method: Method, path: String| UpstreamRequest::new(method, path).scoped(scope);
        match op {
            DeploymentOp::List => {
                let r = req(Method::GET, "/v1/endpoints".into());
                decoded(self, r, Envelope::DeploymentList).await
            }
            DeploymentOp::Create(body) => {
                let r = req(Method::POST, "/v1/endpoints".into()).json(body.to_string());
                decoded(self, r, Envelope::Deployment).await
            }
            DeploymentOp::Get(id) => {
                let r = req(Method::GET, endpoint_path(&id));
                decoded(self, r, Envelope::Deployment).await
            }
            DeploymentOp::Update(id, body) => {
                let r = req(Method::PATCH, endpoint_path(&id)).json(body.to_string());
                decoded(self, r, Envelope::Deployment).await
            }
            DeploymentOp::Delete(id) => {
                self.call_empty(req(Method::DELETE, endpoint_path(&id)))
                    .await?;
                Ok(json!({}))
            }
            DeploymentOp::ListKeys(id) => {
                let r = req(Method::GET, format!("{}/keys", endpoint_path(&id)));
                decoded(self, r, Envelope::KeyList).await
            }
            DeploymentOp::CreateKey(id, body) => {
                let r = req(Method::POST, format!("{}/keys", endpoint_path(&id)))
                    .json(body.to_string());
                decoded(self, r, Envelope::CreatedKey).await
            }
            DeploymentOp::RevokeKey(id, key_id) => {
                let path = format!("{}/keys/{}", endpoint_path(&id), encode_component(&key_id));
                self.call_empty(req(Method::DELETE, path)).await?;
                Ok(json!({}))
            }
        }
    }

    pub async fn list_deployments(
        &self,
        scope: &ProjectScope,
    ) -> Result<Vec<Deployment>, CloudError> {
        let body = self.deployment_call(scope, DeploymentOp::List).await?;
        let items = body.get("deployments").and_then(Value::as_array);
        Ok(items
            .into_iter()
            .flatten()
            .filter_map(Deployment::from_json)
            .collect())
    }

    /// `body` must have passed [`validate_create`].
    pub async fn create_deployment(
        &self,
        scope: &ProjectScope,
        body: Value,
    ) -> Result<Deployment, CloudError> {
        let answer = self
            .deployment_call(scope, DeploymentOp::Create(body))
            .await?;
        deployment_of(&answer)
    }

    pub async fn set_deployment_enabled(
        &self,
        scope: &ProjectScope,
        id: &str,
        enabled: bool,
    ) -> Result<Deployment, CloudError> {
        let op = DeploymentOp::Update(id.to_owned(), json!({ "enabled": enabled }));
        deployment_of(&self.deployment_call(scope, op).await?)
    }

    pub async fn delete_deployment(
        &self,
        scope: &ProjectScope,
        id: &str,
    ) -> Result<(), CloudError> {
        self.deployment_call(scope, DeploymentOp::Delete(id.to_owned()))
            .await
            .map(drop)
    }

    pub async fn list_deployment_keys(
        &self,
        scope: &ProjectScope,
        id: &str,
    ) -> Result<Vec<DeploymentKey>, CloudError> {
        let body = self
            .deployment_call(scope, DeploymentOp::ListKeys(id.to_owned()))
            .await?;
        let items = body.get("keys").and_then(Value::as_array);
        Ok(items
            .into_iter()
            .flatten()
            .filter_map(DeploymentKey::from_json)
            .collect())
    }

    /// `body` must be what [`validate_key_create`] returned.
    pub async fn create_deployment_key(
        &self,
        scope: &ProjectScope,
        id: &str,
        body: Value,
    ) -> Result<CreatedKey, CloudError> {
        let answer = self
            .deployment_call(scope, DeploymentOp::CreateKey(id.to_owned(), body))
            .await?;
        answer
            .get("key")
            .and_then(CreatedKey::from_json)
            .ok_or_else(|| schema_mismatch(&format!("{}/keys", endpoint_path(id))))
    }

    pub async fn revoke_deployment_key(
        &self,
        scope: &ProjectScope,
        id: &str,
        key_id: &str,
    ) -> Result<(), CloudError> {
        let op = DeploymentOp::RevokeKey(id.to_owned(), key_id.to_owned());
        self.deployment_call(scope, op).await.map(drop)
    }
}

fn schema_mismatch(path: &str) -> CloudError {
    CloudError::Decode {
        path: path.to_owned(),
        reason: "the answer does not match the deployment schema".into(),
    }
}

fn deployment_of(answer: &Value) -> Result<Deployment, CloudError> {
    answer
        .get("deployment")
        .and_then(Deployment::from_json)
        .ok_or_else(|| schema_mismatch("/v1/endpoints"))
}

/// What a deployment serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeploymentTarget {
    BaseModel(String),
    Adapter(AdapterRef),
}

impl DeploymentTarget {
    pub fn to_json(&self) -> Value {
        match self {
            Self::BaseModel(model) => json!({"kind": "base_model", "baseModel": model}),
            Self::Adapter(adapter) => json!({"kind": "adapter", "adapter": adapter.to_json()}),
        }
    }

    fn from_json(value: &Value) -> Option<Self> {
        match value.get("kind")?.as_str()? {
            "base_model" => Some(Self::BaseModel(
                value.get("baseModel")?.as_str()?.to_owned(),
            )),
            "adapter" => AdapterRef::from_json(value.get("adapter")?).map(Self::Adapter),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// Anyone with the URL may call it.
    None,
    /// Calls need one of the deployment's API keys.
    FixedApiKey,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::FixedApiKey => "fixed_api_key",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub id: String,
    pub slug: String,
    pub target: DeploymentTarget,
    pub auth_mode: AuthMode,
    pub enabled: bool,
    pub custom_domain: Option<String>,
    pub created_at: String,
}

impl Deployment {
    /// The OpenAI-compatible chat URL the Studio shows for it.
    pub fn url(&self) -> String {
        format!("https://{}.arkor.app/v1/chat/completions", self.slug)
    }

    fn from_json(value: &Value) -> Option<Self> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            id: text("id")?,
            slug: text("slug")?,
            target: DeploymentTarget::from_json(value.get("target")?)?,
            auth_mode: match value.get("authMode")?.as_str()? {
                "fixed_api_key" => AuthMode::FixedApiKey,
                _ => AuthMode::None,
            },
            enabled: value.get("enabled")?.as_bool()?,
            custom_domain: text("customDomain"),
            created_at: text("createdAt").unwrap_or_default(),
        })
    }
}

/// An API key as listed (never with its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentKey {
    pub id: String,
    pub label: String,
    pub prefix: String,
    /// `false` once revoked.
    pub enabled: bool,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl DeploymentKey {
    fn from_json(value: &Value) -> Option<Self> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            id: text("id")?,
            label: text("label")?,
            prefix: text("prefix")?,
            enabled: value.get("enabled")?.as_bool()?,
            created_at: text("createdAt").unwrap_or_default(),
            last_used_at: text("lastUsedAt"),
        })
    }
}

/// A key just created: the only time its secret is shown.
#[derive(Clone, PartialEq, Eq)]
pub struct CreatedKey {
    pub id: String,
    pub label: String,
    pub plaintext: String,
    pub prefix: String,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("id", &self.id)
            .field("label", &self.label)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl CreatedKey {
    fn from_json(value: &Value) -> Option<Self> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            id: text("id")?,
            label: text("label")?,
            plaintext: text("plaintext")?,
            prefix: text("prefix")?,
        })
    }
}

/// The create body for a deployment at `slug` serving `target`.
pub fn create_body(slug: &str, target: &DeploymentTarget, auth_mode: AuthMode) -> Value {
    json!({"slug": slug, "target": target.to_json(), "authMode": auth_mode.as_str()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bodies_are_checked_locally_with_the_servers_message() {
        let good = create_body(
            "my-model",
            &DeploymentTarget::Adapter(AdapterRef::final_of("job-1")),
            AuthMode::FixedApiKey,
        );
        assert_eq!(validate_create(&good), Ok(()));
        let bad = create_body(
            "X",
            &DeploymentTarget::BaseModel("m".into()),
            AuthMode::None,
        );
        let message = validate_create(&bad).unwrap_err();
        assert!(
            message.starts_with("Invalid deployment create body: slug: Too small"),
            "{message}"
        );
        assert_eq!(
            validate_key_create(&json!({"label": "  ci "})),
            Ok(json!({"label": "ci"}))
        );
        assert!(validate_key_create(&json!({"label": " "})).is_err());
        assert!(validate_update(&json!([])).is_err());
    }

    #[test]
    fn deployments_and_keys_read_from_their_envelopes() {
        let item = json!({"id": "d1", "slug": "s", "orgId": "o", "projectId": "p",
            "target": {"kind": "adapter", "adapter": {"kind": "checkpoint", "jobId": "j", "step": 20}},
            "authMode": "fixed_api_key", "urlFormat": "openai_compat", "enabled": false,
            "customDomain": null, "createdAt": "t", "updatedAt": "t"});
        let deployment = Deployment::from_json(&item).unwrap();
        assert_eq!(
            deployment.target,
            DeploymentTarget::Adapter(AdapterRef::checkpoint_of("j", 20))
        );
        assert_eq!(deployment.auth_mode, AuthMode::FixedApiKey);
        assert!(!deployment.enabled);
        assert_eq!(deployment.url(), "https://s.arkor.app/v1/chat/completions");
        let key = DeploymentKey::from_json(&json!({"id": "k", "label": "ci", "prefix": "ark_",
            "enabled": true, "createdAt": "t", "lastUsedAt": null}))
        .unwrap();
        assert_eq!(key.last_used_at, None);
        let created = CreatedKey::from_json(&json!({"id": "k", "label": "ci",
            "plaintext": "secret", "prefix": "ark_", "createdAt": "t"}))
        .unwrap();
        assert!(!format!("{created:?}").contains("secret"));
    }
}
