//! The project bootstrap: the cloud project a workspace's jobs belong to, created on first use
//! for an anonymous identity and remembered in `.arkor/state.json`.

use std::path::{Path, PathBuf};

use super::client::{CloudClient, CloudError};
use super::credentials::Credentials;
use super::state::{ProjectState, read_state, state_path, write_state};

/// Shown when an anonymous session finds a state file scoped to another org. The file is
/// never overwritten or deleted (it may be a hand-maintained OAuth scope).
pub const ANON_STATE_MISMATCH_MESSAGE: &str = "This workspace's .arkor/state.json is scoped to a different organization than your current anonymous session. Delete .arkor/state.json to start a fresh anonymous project, or run `arkor login` with the account that owns that project.";

/// Shown when OAuth credentials meet a workspace without state: only the user knows which
/// org and project to use.
pub const OAUTH_MISSING_STATE_MESSAGE: &str = "No .arkor/state.json found. Create it by hand with { orgSlug, projectSlug, projectId } pointing at the project you want to use.";

#[derive(Debug, thiserror::Error)]
pub enum ProjectStateError {
    #[error("{}", ANON_STATE_MISMATCH_MESSAGE)]
    Mismatch,
    #[error("{}", OAUTH_MISSING_STATE_MESSAGE)]
    OAuthMissing,
    #[error(transparent)]
    Cloud(#[from] CloudError),
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The project name and slug an anonymous bootstrap derives from the project folder:
/// name = last non-empty path segment (or `project`); slug = lower-cased name with every
/// UTF-16 unit outside `[a-z0-9-]` turned into `-` (as the reference's non-unicode regex
/// does), dashes trimmed at both ends, cut to 40, `project` when empty.
pub fn bootstrap_name_and_slug(project_root: &Path) -> (String, String) {
    let text = project_root.to_string_lossy();
    let name = text
        .split(['/', '\\'])
        .rfind(|s| !s.is_empty())
        .unwrap_or("project")
        .to_owned();
    let mut dashy = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            dashy.push(c);
        } else {
            dashy.extend(std::iter::repeat_n('-', c.len_utf16()));
        }
    }
    let trimmed: String = dashy.trim_matches('-').chars().take(40).collect();
    let slug = if trimmed.is_empty() {
        "project".to_owned()
    } else {
        trimmed
    };
    (name, slug)
}

/// docs/protocol.md §15.4 `ensureProjectState`: a usable state is returned as is; a stale anonymous one
/// is an error (never overwritten); no state + OAuth is an error; no state + anonymous
/// creates the cloud project (reusing the slug's project on a 409) and writes the state.
pub async fn ensure_project_state(
    project_root: &Path,
    client: &CloudClient,
    credentials: &Credentials,
) -> Result<ProjectState, ProjectStateError> {
    if let Some(existing) = read_state(project_root) {
        return if existing.usable_for(credentials) {
            Ok(existing)
        } else {
            Err(ProjectStateError::Mismatch)
        };
    }
    let Some(org_slug) = credentials.anonymous_org() else {
        return Err(ProjectStateError::OAuthMissing);
    };
    let (name, slug) = bootstrap_name_and_slug(project_root);
    let project = match client.create_project(org_slug, &name, &slug).await {
        Ok(project) => project,
        Err(conflict @ CloudError::Api { status: 409, .. }) => {
            let listed = client.list_projects(org_slug).await?;
            match listed.into_iter().find(|p| p.slug == slug) {
                Some(found) => found,
                None => return Err(conflict.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    let state = ProjectState {
        org_slug: org_slug.to_owned(),
        project_slug: project.slug,
        project_id: project.id,
    };
    write_state(project_root, &state).map_err(|source| ProjectStateError::Write {
        path: state_path(project_root),
        source,
    })?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug_of(p: &str) -> (String, String) {
        bootstrap_name_and_slug(Path::new(p))
    }

    #[test]
    fn slug_rules_follow_the_reference() {
        assert_eq!(
            slug_of("/tmp/My Project!"),
            ("My Project!".into(), "my-project".into())
        );
        assert_eq!(slug_of("/tmp/!!!"), ("!!!".into(), "project".into()));
        assert_eq!(slug_of("/tmp/x/"), ("x".into(), "x".into()));
        let long = format!("/tmp/{}", "a".repeat(60));
        assert_eq!(slug_of(&long).1.len(), 40);
        // A cut may leave a trailing dash, as in the reference.
        let cut = format!("/tmp/{}-{}", "a".repeat(39), "b".repeat(5));
        assert_eq!(slug_of(&cut).1, format!("{}-", "a".repeat(39)));
        // An astral character is two UTF-16 units, hence two dashes.
        assert_eq!(slug_of("/tmp/a🚀b").1, "a--b");
    }
}
