//! The identity and scope a training child was spawned with, captured once at spawn and
//! kept with the run. Everything the engine later sends to the cloud about that run's job
//! (the cancel behind "Stop", following its event stream) goes out under this identity,
//! so a login switch or a deleted state file after spawn never redirects it.

use std::path::{Path, PathBuf};

use super::CloudEnv;
use super::client::{CloudClient, http_client};
use super::credentials::{CredentialsError, read_credentials};
use super::installed_sdk_version;
use super::state::{ProjectScope, read_state};

#[derive(Clone, Debug)]
pub struct SpawnSnapshot {
    project_root: PathBuf,
    env: CloudEnv,
    /// `.arkor/state.json` at spawn; `None` on a fresh anonymous project (the child writes
    /// it when the job starts), then read again when the job is addressed.
    scope: Option<ProjectScope>,
    /// Base URL and bearer token from the credentials on file at spawn (never minted
    /// here: spawning must not wait on the network).
    identity: Option<(String, String)>,
    client_version: String,
}

/// A snapshot made usable: a client with the spawn-time identity, and the scope.
#[derive(Clone, Debug)]
pub struct JobAddress {
    pub client: CloudClient,
    pub scope: ProjectScope,
}

/// Why a job cannot be addressed.
#[derive(Debug, thiserror::Error)]
pub enum Unaddressable {
    /// No project state at spawn nor now.
    #[error("no .arkor/state.json to address the cloud job to")]
    NoScope,
    /// No credentials at spawn nor now. The reference would mint a fresh anonymous
    /// identity, but a new identity cannot own the job, so arkor tui does not.
    #[error("no credentials on file")]
    NoCredentials,
    #[error("could not read credentials: {0}")]
    Credentials(#[from] CredentialsError),
}

impl SpawnSnapshot {
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

    /// The spawn-time scope and identity, each read again now only when it was absent at
    /// spawn (never minted). No stale-scope check: the job was created under this scope.
    pub fn resolve(&self) -> Result<JobAddress, Unaddressable> {
        let scope = self
            .scope
            .clone()
            .or_else(|| read_state(&self.project_root).map(|s| s.scope()))
            .ok_or(Unaddressable::NoScope)?;
        let (base, token) = match &self.identity {
            Some(identity) => identity.clone(),
            None => read_credentials(&self.env.credentials_path())?
                .map(|creds| {
                    (
                        self.env.base_url_for(Some(&creds)),
                        creds.token().to_owned(),
                    )
                })
                .ok_or(Unaddressable::NoCredentials)?,
        };
        let client = CloudClient::new(
            http_client(),
            base,
            Some(token),
            self.client_version.clone(),
        );
        Ok(JobAddress { client, scope })
    }
}
