//! Cloud side of arkor (docs/protocol.md §14): credentials and project state as the SDK keeps
//! them, the HTTP client for the cloud API, start-up / lazy anonymous sign-in, project
//! bootstrap, a project's shared access ([`ProjectCloud`]: identity, scope rules, once-only
//! notices), the typed calls (jobs, chat, deployments with their body checks), the spawn-time
//! identity of a run, the cloud job cancel behind "Stop" and the follower of a job's event
//! stream.
//!
//! Nothing here reads process-global state implicitly: the home directory and the
//! `ARKOR_CLOUD_API_URL` override travel in a [`CloudEnv`], so tests (and several projects
//! in one process) never race on environment variables.

pub mod bootstrap;
pub mod cancel;
pub mod client;
pub mod credentials;
pub mod endpoints;
pub mod env;
pub mod inference;
pub mod job_events;
pub mod jobs;
pub mod project_bootstrap;
pub mod project_cloud;
pub mod schemas;
pub mod snapshot;
pub mod state;

use std::sync::Arc;

use crate::core::events::NoticeLevel;

pub use bootstrap::{MintError, SessionError, StartupError, StartupSignIn};
pub use cancel::{CancelOutcome, CancelSnapshot, cancel_job};
pub use client::{CloudClient, CloudError, DeprecationNotice};
pub use credentials::{AnonymousCredentials, Credentials, CredentialsError, OAuthCredentials};
pub use env::{
    CLOUD_API_URL_ENV, CONTRACT_SDK_VERSION, CloudEnv, PRODUCTION_API_URL, installed_sdk_version,
};
pub use project_bootstrap::{ProjectStateError, ensure_project_state};
pub use project_cloud::{ProjectCloud, ProjectCloudOptions, ScopeError, Scoped};
pub use snapshot::{JobAddress, SpawnSnapshot, Unaddressable};
pub use state::{ProjectScope, ProjectState};

/// Receives human-readable notices (deprecation, cloud unreachable) for the user. The lead
/// wires it to `EngineEvent::Notice`.
pub type NoticeSink = Arc<dyn Fn(NoticeLevel, String) + Send + Sync>;

/// A sink that drops every notice (tests that do not care, one-shot commands).
pub fn discard_notices() -> NoticeSink {
    Arc::new(|_, _| {})
}
