//! One project's way to the cloud, shared by every front end (the Studio's cloud routes and
//! the dashboard's cloud views): the credentials a call uses (minting an anonymous identity
//! once, on first use), the client on the base URL they resolve to, the project scope with
//! the rules for a missing or stale `.arkor/state.json`, and the notices the user sees once
//! (a deprecated SDK, an unreachable cloud).
//!
//! Front ends only translate the outcomes: the server into HTTP answers, the dashboard into
//! what each view says.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::bootstrap::{SessionError, resolve_credentials};
use super::client::{CloudClient, CloudError, DeprecationNotice, REQUEST_TIMEOUT, http_client};
use super::credentials::Credentials;
use super::project_bootstrap::{
    ANON_STATE_MISMATCH_MESSAGE, OAUTH_MISSING_STATE_MESSAGE, ProjectStateError,
    ensure_project_state,
};
use super::state::{ProjectScope, read_state};
use super::{CloudEnv, NoticeSink, discard_notices, installed_sdk_version};
use crate::core::events::NoticeLevel;

/// What a read of the project's deployments answers when the workspace has no usable
/// state file.
pub const NO_USABLE_STATE_MESSAGE: &str = "No usable .arkor/state.json for this workspace (missing or invalid). Create your first deployment to bootstrap one (anonymous), restore the file by hand (OAuth), or regenerate it with the correct { orgSlug, projectSlug, projectId } if it's currently corrupt.";

/// How to build a [`ProjectCloud`].
pub struct ProjectCloudOptions {
    /// The project root: `.arkor/state.json`, `node_modules/arkor` and the bootstrap slug.
    pub project_root: PathBuf,
    pub env: CloudEnv,
    /// Mint an anonymous identity when no credentials are on file (always on in dev).
    pub auto_anonymous: bool,
    /// Where deprecation and "cloud unreachable" notices go (each shown once).
    pub notices: NoticeSink,
    /// Budget of a JSON call, and of the wait for a stream's response headers.
    pub request_timeout: Duration,
}

impl ProjectCloudOptions {
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

/// Shared by every caller in the process; cheap to clone.
#[derive(Clone)]
pub struct ProjectCloud {
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

impl std::fmt::Debug for ProjectCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectCloud")
            .field("project_root", &self.inner.project_root)
            .field("env", &self.inner.env)
            .finish_non_exhaustive()
    }
}

/// A client with this project's identity, and the scope its calls carry.
#[derive(Clone, Debug)]
pub struct Scoped {
    pub client: CloudClient,
    pub scope: ProjectScope,
    pub credentials: Credentials,
}

/// Why a project-scoped call cannot go out.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    /// No `.arkor/state.json` (a read never creates one; the first run or a first
    /// deployment does).
    #[error("No .arkor/state.json in this project yet")]
    NoState,
    /// The state belongs to another org than the anonymous session's (never overwritten).
    #[error("{}", ANON_STATE_MISMATCH_MESSAGE)]
    Stale,
    /// OAuth credentials and no state: only the user knows which project to use.
    #[error("{}", OAUTH_MISSING_STATE_MESSAGE)]
    OAuthMissing,
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Creating the project (or writing its state) failed; `client` made the calls.
    #[error("{source}")]
    Bootstrap {
        source: ProjectStateError,
        client: Box<CloudClient>,
    },
}

impl ProjectCloud {
    pub fn new(options: ProjectCloudOptions) -> Self {
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

    pub fn project_root(&self) -> &Path {
        &self.inner.project_root
    }

    pub fn env(&self) -> &CloudEnv {
        &self.inner.env
    }

    /// The SDK version the client identifies as (read each time: `npm install` may change it).
    pub fn client_version(&self) -> String {
        installed_sdk_version(&self.inner.project_root)
    }

    /// Credentials for this call (one read; may mint once).
    pub async fn credentials(&self) -> Result<Credentials, SessionError> {
        resolve_credentials(
            &self.inner.env,
            self.inner.auto_anonymous,
            &self.inner.http,
            &self.client_version(),
        )
        .await
    }

    /// A client for these credentials, on the base URL they resolve to.
    pub fn client_for(&self, credentials: &Credentials) -> CloudClient {
        CloudClient::new(
            self.inner.http.clone(),
            self.inner.env.base_url_for(Some(credentials)),
            Some(credentials.token().to_owned()),
            self.client_version(),
        )
        .with_request_timeout(self.inner.request_timeout)
    }

    /// The scope of what the project already has (its jobs, a job's events, its
    /// deployments). The state is read before the credentials, so a project without
    /// one never signs in for a mere read.
    pub async fn existing_scope(&self) -> Result<Scoped, ScopeError> {
        let state = read_state(&self.inner.project_root).ok_or(ScopeError::NoState)?;
        let credentials = self.credentials().await?;
        if !state.usable_for(&credentials) {
            return Err(ScopeError::Stale);
        }
        Ok(Scoped {
            client: self.client_for(&credentials),
            scope: state.scope(),
            credentials,
        })
    }

    /// The scope for creating something (a chat, a deployment): an anonymous identity
    /// without state gets its cloud project created and the state written first.
    pub async fn bootstrap_scope(&self) -> Result<Scoped, ScopeError> {
        let credentials = self.credentials().await?;
        let client = self.client_for(&credentials);
        let state = ensure_project_state(&self.inner.project_root, &client, &credentials).await;
        self.note_deprecation(client.deprecation());
        match state {
            Ok(state) => Ok(Scoped {
                client,
                scope: state.scope(),
                credentials,
            }),
            Err(ProjectStateError::Mismatch) => Err(ScopeError::Stale),
            Err(ProjectStateError::OAuthMissing) => Err(ScopeError::OAuthMissing),
            Err(source) => Err(ScopeError::Bootstrap {
                source,
                client: Box::new(client),
            }),
        }
    }

    /// Show a deprecation notice to the user, once per distinct text.
    pub fn note_deprecation(&self, notice: Option<DeprecationNotice>) {
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
    pub fn note_reachable(&self) {
        self.inner.unreachable.store(false, Ordering::Relaxed);
    }

    /// Report an unreachable cloud, once until it answers again.
    pub fn note_error(&self, error: &CloudError) {
        if matches!(error, CloudError::Unreachable { .. })
            && !self.inner.unreachable.swap(true, Ordering::Relaxed)
        {
            (self.inner.notices)(NoticeLevel::Warn, error.to_string());
        }
    }

    /// Note how a call ended: an answer (even an error status) proves the cloud is there.
    pub fn note_outcome<T>(&self, outcome: &Result<T, CloudError>) {
        match outcome {
            Ok(_) => self.note_reachable(),
            Err(e @ (CloudError::Unreachable { .. } | CloudError::InvalidUrl { .. })) => {
                self.note_error(e)
            }
            Err(_) => self.note_reachable(),
        }
    }
}
