//! The cloud job cancel behind "Stop" (SPEC §12.11), shared by every stop path: the TUI
//! stop key, quit, SIGINT and an abandoned `/api/train` body.
//!
//! Capture a [`CancelSnapshot`] when the child is spawned, keep it with the run, and call
//! [`cancel_job`] once the child is gone and its job id is known.

use std::path::{Path, PathBuf};

use super::client::{CloudClient, CloudError, http_client};
use super::credentials::{CredentialsError, read_credentials};
use super::env::CloudEnv;
use super::env::installed_sdk_version;
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
    /// No credentials at spawn nor now. The reference would mint a fresh anonymous
    /// identity here, but a new identity cannot own the job, so arkor tui does not.
    NoCredentials,
}

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("could not read credentials for the cloud cancel: {0}")]
    Credentials(#[from] CredentialsError),
    #[error("cloud cancel of job {job_id} failed: {source}")]
    Cloud { job_id: String, source: CloudError },
}

/// `POST {base}/v1/jobs/{id}/cancel?orgSlug&projectSlug` with the spawn-time identity and
/// scope (each read again now only when it was absent at spawn; never minted). No
/// stale-scope check.
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
    let identity = match snapshot.identity {
        Some(identity) => Some(identity),
        None => read_credentials(&snapshot.env.credentials_path())?.map(|creds| {
            (
                snapshot.env.base_url_for(Some(&creds)),
                creds.token().to_owned(),
            )
        }),
    };
    let Some((base, token)) = identity else {
        return Ok(CancelOutcome::NoCredentials);
    };
    let client = CloudClient::new(
        http_client(),
        base.clone(),
        Some(token),
        snapshot.client_version,
    );
    client
        .cancel_job(job_id, &scope)
        .await
        .map_err(|source| CancelError::Cloud {
            job_id: job_id.to_owned(),
            source,
        })?;
    Ok(CancelOutcome::Cancelled { base, scope })
}
