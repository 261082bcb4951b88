//! The cloud job cancel behind "Stop" (SPEC §12.11), shared by every stop path: the TUI
//! stop key, quit, SIGINT and an abandoned `/api/train` body.
//!
//! Capture a [`CancelSnapshot`] when the child is spawned, keep it with the run, and call
//! [`cancel_job`] once the child is gone and its job id is known.

use std::path::{Path, PathBuf};

use super::CloudEnv;
use super::bootstrap::{SessionError, resolve_credentials};
use super::client::{CloudClient, CloudError, http_client};
use super::credentials::read_credentials;
use super::installed_sdk_version;
use super::state::{ProjectScope, read_state};

/// The identity and scope a child was spawned with.
#[derive(Clone, Debug)]
pub struct CancelSnapshot {
    project_root: PathBuf,
    env: CloudEnv,
    /// `.arkor/state.json` at spawn; `None` on a fresh anonymous project (the child writes
    /// it when the job starts), then read again at cancel time.
    scope: Option<ProjectScope>,
    /// Base URL and bearer token from the credentials on file at spawn (never minted
    /// here: spawning must not wait on the network).
    identity: Option<(String, String)>,
    client_version: String,
}

impl CancelSnapshot {
    /// Capture at spawn time, with the URL override read from the process environment.
    pub fn capture(project_root: &Path, home: &Path) -> Self {
        Self::capture_in(project_root, CloudEnv::with_home(home))
    }

    pub fn capture_in(project_root: &Path, env: CloudEnv) -> Self {
        let identity = read_credentials(&env.credentials_path())
            .ok()
            .flatten()
            .map(|creds| (env.base_url_for(Some(&creds)), creds.token().to_owned()));
        Self {
            project_root: project_root.to_path_buf(),
            scope: read_state(project_root).map(|s| s.scope()),
            identity,
            client_version: installed_sdk_version(project_root),
            env,
        }
    }

    pub fn scope(&self) -> Option<&ProjectScope> {
        self.scope.as_ref()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The cloud accepted the cancel.
    Cancelled { base: String, scope: ProjectScope },
    /// No project state at spawn nor now: there is nothing to address the cancel to.
    NoScope,
}

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("could not resolve credentials for the cloud cancel: {0}")]
    Session(#[from] SessionError),
    #[error("cloud cancel of job {job_id} failed: {source}")]
    Cloud { job_id: String, source: CloudError },
}

/// `POST {base}/v1/jobs/{id}/cancel?orgSlug&projectSlug` with the spawn-time identity and
/// scope (each re-resolved now only when it was absent at spawn). No stale-scope check.
pub async fn cancel_job(
    snapshot: CancelSnapshot,
    job_id: &str,
) -> Result<CancelOutcome, CancelError> {
    let Some(scope) = snapshot
        .scope
        .clone()
        .or_else(|| read_state(&snapshot.project_root).map(|s| s.scope()))
    else {
        return Ok(CancelOutcome::NoScope);
    };
    let http = http_client();
    let (base, token) = match snapshot.identity {
        Some(identity) => identity,
        None => {
            let creds =
                resolve_credentials(&snapshot.env, true, &http, &snapshot.client_version).await?;
            (
                snapshot.env.base_url_for(Some(&creds)),
                creds.token().to_owned(),
            )
        }
    };
    let client = CloudClient::new(http, base.clone(), Some(token), snapshot.client_version);
    client
        .cancel_job(job_id, &scope)
        .await
        .map_err(|source| CancelError::Cloud {
            job_id: job_id.to_owned(),
            source,
        })?;
    Ok(CancelOutcome::Cancelled { base, scope })
}
