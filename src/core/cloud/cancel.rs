//! The cloud job cancel behind "Stop" (docs/protocol.md §12), shared by every stop path: the TUI
//! stop key, quit, SIGINT and an abandoned `/api/train` body.
//!
//! Capture a [`CancelSnapshot`] when the child is spawned, keep it with the run, and call
//! [`cancel_job`] once the child is gone and its job id is known.

use super::client::CloudError;
use super::credentials::CredentialsError;
use super::snapshot::{SpawnSnapshot, Unaddressable};
use super::state::ProjectScope;

/// The spawn-time identity, under the name the cancel path has always used.
pub type CancelSnapshot = SpawnSnapshot;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The cloud accepted the cancel.
    Cancelled { base: String, scope: ProjectScope },
    /// No project state at spawn nor now: there is nothing to address the cancel to.
    NoScope,
    /// No credentials at spawn nor now (see [`Unaddressable::NoCredentials`]).
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
/// scope (see [`SpawnSnapshot::resolve`]).
pub async fn cancel_job(
    snapshot: CancelSnapshot,
    job_id: &str,
) -> Result<CancelOutcome, CancelError> {
    let address = match snapshot.resolve() {
        Ok(address) => address,
        Err(Unaddressable::NoScope) => return Ok(CancelOutcome::NoScope),
        Err(Unaddressable::NoCredentials) => return Ok(CancelOutcome::NoCredentials),
        Err(Unaddressable::Credentials(e)) => return Err(e.into()),
    };
    address
        .client
        .cancel_job(job_id, &address.scope)
        .await
        .map_err(|source| CancelError::Cloud {
            job_id: job_id.to_owned(),
            source,
        })?;
    Ok(CancelOutcome::Cancelled {
        base: address.client.base().to_owned(),
        scope: address.scope,
    })
}
