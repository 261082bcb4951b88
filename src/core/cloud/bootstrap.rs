//! Signing in without credentials: the start-up sign-in of docs/protocol.md §16 and the lazy,
//! single-flight anonymous mint of docs/protocol.md §14.1.

use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::Value;

use super::client::{CloudClient, CloudError, UpstreamRequest, http_client};
use super::credentials::{
    AnonymousCredentials, Credentials, CredentialsError, read_credentials, write_credentials,
};
use super::env::{CloudEnv, installed_sdk_version};

/// Serialises anonymous mints in this process: concurrent first requests mint once (the
/// reference can mint twice and keep whichever file write lands last).
static MINT_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Text of the "auto-anonymous off" failure; routes match on the variant, users read this.
pub const NO_CREDENTIALS_MESSAGE: &str = "No credentials on file. Run `arkor login` first.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymousIdentity {
    pub token: String,
    pub anonymous_id: String,
    pub org_slug: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The cloud answered non-2xx.
    #[error("Failed to acquire anonymous token ({status}): {body}")]
    Rejected { status: u16, body: String },
    #[error(transparent)]
    Cloud(#[from] CloudError),
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{}", NO_CREDENTIALS_MESSAGE)]
    NoCredentials,
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Mint(#[from] MintError),
}

/// `POST {base}/v1/auth/anonymous` with `{"kind":"cli"}`.
pub async fn request_anonymous_token(client: &CloudClient) -> Result<AnonymousIdentity, MintError> {
    let request =
        UpstreamRequest::new(Method::POST, "/v1/auth/anonymous").json(r#"{"kind":"cli"}"#);
    let response = client.send(request).await?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| client.transport_error("/v1/auth/anonymous", &e))?;
    if !status.is_success() {
        let body: String = text.chars().take(500).collect();
        return Err(MintError::Rejected {
            status: status.as_u16(),
            body,
        });
    }
    parse_anonymous_reply(&text).ok_or_else(|| {
        MintError::Cloud(CloudError::Decode {
            path: "/v1/auth/anonymous".into(),
            reason: "expected {token, anonymousId, kind, personalOrg: {slug, id, name}}".into(),
        })
    })
}

fn parse_anonymous_reply(text: &str) -> Option<AnonymousIdentity> {
    let v: Value = serde_json::from_str(text).ok()?;
    let s = |p: &str| v.pointer(p)?.as_str().map(str::to_owned);
    let kind = s("/kind")?;
    if kind != "cli" && kind != "web" {
        return None;
    }
    s("/personalOrg/id")?;
    s("/personalOrg/name")?;
    Some(AnonymousIdentity {
        token: s("/token")?,
        anonymous_id: s("/anonymousId")?,
        org_slug: s("/personalOrg/slug")?,
    })
}

/// Mint an anonymous identity against `base` and persist it.
async fn mint_and_persist(
    env: &CloudEnv,
    http: &reqwest::Client,
    base: &str,
    client_version: &str,
) -> Result<(Credentials, AnonymousIdentity), SessionError> {
    let client = CloudClient::new(http.clone(), base, None, client_version);
    let identity = request_anonymous_token(&client).await?;
    let credentials = Credentials::Anonymous(AnonymousCredentials {
        token: identity.token.clone(),
        anonymous_id: identity.anonymous_id.clone(),
        arkor_cloud_api_url: Some(base.to_owned()),
        org_slug: identity.org_slug.clone(),
    });
    write_credentials(&env.credentials_path(), &credentials)?;
    Ok((credentials, identity))
}

/// The credentials a request uses: the file when present; otherwise (when
/// `auto_anonymous`) a fresh anonymous identity minted against the start-up base and
/// persisted. Concurrent callers mint once.
pub async fn resolve_credentials(
    env: &CloudEnv,
    auto_anonymous: bool,
    http: &reqwest::Client,
    client_version: &str,
) -> Result<Credentials, SessionError> {
    let path = env.credentials_path();
    if let Some(existing) = read_credentials(&path)? {
        return Ok(existing);
    }
    if !auto_anonymous {
        return Err(SessionError::NoCredentials);
    }
    let _guard = MINT_LOCK.lock().await;
    // Someone may have minted (or logged in) while this request waited.
    if let Some(existing) = read_credentials(&path)? {
        return Ok(existing);
    }
    let base = env.startup_base_url();
    let (credentials, identity) = mint_and_persist(env, http, &base, client_version).await?;
    tracing::info!(
        "signed in anonymously as {} (org {})",
        identity.anonymous_id,
        identity.org_slug
    );
    Ok(credentials)
}

/// The deployment's sign-in options (`GET /v1/auth/cli/config`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CliConfig {
    pub auth0_domain: Option<String>,
    pub client_id: Option<String>,
    pub audience: Option<String>,
}

impl CliConfig {
    /// OAuth is available when all three are non-empty strings.
    pub fn oauth_available(&self) -> bool {
        [&self.auth0_domain, &self.client_id, &self.audience]
            .iter()
            .all(|v| v.as_deref().is_some_and(|s| !s.is_empty()))
    }
}

/// `GET {base}/v1/auth/cli/config` (one trailing `/` of the base stripped).
pub async fn fetch_cli_config(
    http: &reqwest::Client,
    base: &str,
    client_version: &str,
) -> Result<CliConfig, CloudError> {
    let base = base.strip_suffix('/').unwrap_or(base);
    let client = CloudClient::new(http.clone(), base, None, client_version);
    let body = client
        .call_json(UpstreamRequest::new(Method::GET, "/v1/auth/cli/config"))
        .await?;
    let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(CliConfig {
        auth0_domain: s("auth0Domain"),
        client_id: s("clientId"),
        audience: s("audience"),
    })
}

/// What the start-up sign-in did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupSignIn {
    /// Credentials were already on file.
    AlreadySignedIn,
    SignedIn {
        org_slug: String,
        anonymous_id: String,
        credentials_path: PathBuf,
        oauth_available: bool,
    },
    /// The cloud did not answer the anonymous sign-in but did answer the config request:
    /// start anyway; the Studio routes sign in lazily on first use.
    Deferred { base: String, reason: String },
}

impl StartupSignIn {
    /// The one line to show the user, if any.
    pub fn message(&self) -> Option<String> {
        match self {
            StartupSignIn::AlreadySignedIn => None,
            StartupSignIn::SignedIn {
                org_slug,
                credentials_path,
                oauth_available,
                ..
            } => Some(format!(
                "Signed in anonymously ({org_slug}); credentials saved to {}.{}",
                credentials_path.display(),
                if *oauth_available {
                    " Run `arkor login --oauth` to tie future work to your account."
                } else {
                    ""
                }
            )),
            StartupSignIn::Deferred { base, reason } => Some(format!(
                "Could not reach {base} to sign in ({reason}); will sign in anonymously on first use."
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "Could not reach the Arkor Cloud API at {base} to sign in anonymously ({reason}). Check your network or ARKOR_CLOUD_API_URL."
    )]
    Unreachable { base: String, reason: String },
    #[error(
        "Failed to bootstrap an anonymous session (HTTP {status}). This deployment may require sign-in. Run `arkor login --oauth` and try again."
    )]
    SignInRequired { status: u16 },
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// docs/protocol.md §16: without credentials, fetch the CLI config, sign in anonymously and
/// persist. Failure policy: an unreachable sign-in after a config answer is deferred; an
/// unreachable cloud (config failed too) fails; a 4xx with OAuth available fails with the
/// `arkor login --oauth` hint (body not echoed); 5xx, schema, write and URL errors fail.
pub async fn sign_in_at_start(
    env: &CloudEnv,
    http: &reqwest::Client,
    client_version: &str,
) -> Result<StartupSignIn, StartupError> {
    let path = env.credentials_path();
    if read_credentials(&path)
        .map_err(SessionError::from)?
        .is_some()
    {
        return Ok(StartupSignIn::AlreadySignedIn);
    }
    let base = env.startup_base_url();
    let config = fetch_cli_config(http, &base, client_version).await.ok();
    let oauth_available = config.as_ref().is_some_and(CliConfig::oauth_available);
    let _guard = MINT_LOCK.lock().await;
    match mint_and_persist(env, http, &base, client_version).await {
        Ok((_, identity)) => Ok(StartupSignIn::SignedIn {
            org_slug: identity.org_slug,
            anonymous_id: identity.anonymous_id,
            credentials_path: path,
            oauth_available,
        }),
        Err(SessionError::Mint(MintError::Cloud(CloudError::Unreachable { base, reason }))) => {
            if config.is_some() {
                Ok(StartupSignIn::Deferred { base, reason })
            } else {
                Err(StartupError::Unreachable { base, reason })
            }
        }
        Err(SessionError::Mint(MintError::Rejected { status, .. }))
            if (400..500).contains(&status) && oauth_available =>
        {
            Err(StartupError::SignInRequired { status })
        }
        Err(e) => Err(e.into()),
    }
}

/// [`sign_in_at_start`] for a project: identifies as the project's installed SDK.
pub async fn sign_in_for_project(
    project_root: &Path,
    env: &CloudEnv,
) -> Result<StartupSignIn, StartupError> {
    sign_in_at_start(env, &http_client(), &installed_sdk_version(project_root)).await
}
