//! `<project>/.arkor/state.json`: which cloud org and project this workspace's jobs go to.
//! Creating it is [`super::project_bootstrap`]'s business.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::credentials::Credentials;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectState {
    pub org_slug: String,
    pub project_slug: String,
    pub project_id: String,
}

/// The `?orgSlug=&projectSlug=` pair every scoped cloud call carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectScope {
    pub org_slug: String,
    pub project_slug: String,
}

impl ProjectState {
    pub fn scope(&self) -> ProjectScope {
        ProjectScope {
            org_slug: self.org_slug.clone(),
            project_slug: self.project_slug.clone(),
        }
    }

    /// Whether these credentials may use this state (stale anonymous scopes may not).
    pub fn usable_for(&self, credentials: &Credentials) -> bool {
        credentials.can_use_org(&self.org_slug)
    }
}

pub fn state_path(project_root: &Path) -> PathBuf {
    project_root.join(".arkor").join("state.json")
}

/// Missing file, bad JSON, a missing or non-string field, or an unreadable file all read
/// as "no state"; extra fields are ignored.
pub fn read_state(project_root: &Path) -> Option<ProjectState> {
    let bytes = std::fs::read(state_path(project_root)).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let field = |name: &str| value.get(name)?.as_str().map(str::to_owned);
    Some(ProjectState {
        org_slug: field("orgSlug")?,
        project_slug: field("projectSlug")?,
        project_id: field("projectId")?,
    })
}

/// Written as the SDK writes it: pretty JSON plus a newline, default mode, not atomic.
pub fn write_state(project_root: &Path, state: &ProjectState) -> std::io::Result<()> {
    std::fs::create_dir_all(project_root.join(".arkor"))?;
    let mut text = serde_json::to_string_pretty(state).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(state_path(project_root), text)
}
