//! Checks before `arkor tui` or `arkor build` touches anything: the folder is an arkor
//! project, its SDK is installed, and (for `arkor tui`) no other instance runs on it. Each
//! failure is one message that says what to do, and nothing is written before they pass.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::core::project::{ENTRY_REL, Project};

/// What stops arkor before it starts.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "{} is not an arkor project: there is no {ENTRY_REL} in it. Run arkor from the project folder (or pass --cwd DIR), or try `arkor tui --demo`.",
        .root.display()
    )]
    NotAProject { root: PathBuf },
    #[error(transparent)]
    Sdk(#[from] crate::core::project::SdkError),
    #[error(
        "another arkor tui is already running on {} (pid {pid}{}). Use that one, stop it, or pass --force to start a second one anyway.",
        .root.display(),
        .url.as_deref().map(|u| format!(", {u}")).unwrap_or_default()
    )]
    AlreadyRunning {
        root: PathBuf,
        pid: u32,
        url: Option<String>,
    },
    #[error("cannot use the lock file {}: {source}", .path.display())]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The folder is an arkor project with its SDK installed. Reads only.
///
/// A folder with the SDK installed but no `src/arkor/index.ts` yet is a project being set up:
/// it is accepted, and the build reports the missing entry until it appears (as `arkor dev`
/// does). A folder with neither is no project.
pub fn check_project(project: &Project) -> Result<(), PreflightError> {
    if !project.has_entry() && !project.sdk_dir().exists() {
        return Err(PreflightError::NotAProject {
            root: project.root.clone(),
        });
    }
    project.sdk()?;
    Ok(())
}

/// `.arkor/tui.lock`: held (flock) for as long as this arkor tui runs, and says who holds it
/// (`pid` and, once the server is up, its URL). The kernel drops the lock when the process
/// dies, so a crashed instance never blocks the next one.
pub struct InstanceLock {
    file: Flock<File>,
    path: PathBuf,
    pid: u32,
}

impl InstanceLock {
    pub fn path(root: &Path) -> PathBuf {
        root.join(".arkor").join("tui.lock")
    }

    /// Take the project's lock, or say who has it.
    pub fn acquire(root: &Path) -> Result<InstanceLock, PreflightError> {
        let path = Self::path(root);
        let lock_error = |source| PreflightError::Lock {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(lock_error)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(lock_error)?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((mut file, _)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let (pid, url) = parse_holder(&holder);
                return Err(PreflightError::AlreadyRunning {
                    root: root.to_path_buf(),
                    pid: pid.unwrap_or(0),
                    url,
                });
            }
        };
        let pid = std::process::id();
        write_holder(&mut file, pid, None).map_err(lock_error)?;
        Ok(InstanceLock { file, path, pid })
    }

    /// Add the server's URL, so a second instance can point at this one.
    pub fn set_url(&mut self, url: &str) {
        if let Err(e) = write_holder(&mut self.file, self.pid, Some(url)) {
            tracing::warn!("could not write {}: {e}", self.path.display());
        }
    }
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        // Removed while still held, so nobody reads a half-gone lock as someone else's.
        let _ = std::fs::remove_file(&self.path);
    }
}

fn write_holder(file: &mut File, pid: u32, url: Option<&str>) -> std::io::Result<()> {
    let text = serde_json::json!({ "pid": pid, "url": url }).to_string();
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(text.as_bytes())?;
    file.flush()
}

fn parse_holder(text: &str) -> (Option<u32>, Option<String>) {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let pid = value
        .get("pid")
        .and_then(serde_json::Value::as_u64)
        .and_then(|p| u32::try_from(p).ok());
    let url = value
        .get("url")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    (pid, url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_project_names_the_first_holder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut first = InstanceLock::acquire(dir.path()).expect("first lock");
        first.set_url("http://127.0.0.1:4000/");
        match InstanceLock::acquire(dir.path()) {
            Err(PreflightError::AlreadyRunning { pid, url, .. }) => {
                assert_eq!(pid, std::process::id());
                assert_eq!(url.as_deref(), Some("http://127.0.0.1:4000/"));
            }
            other => panic!("expected AlreadyRunning, got {:?}", other.map(|_| ())),
        }
        drop(first);
        assert!(!InstanceLock::path(dir.path()).exists(), "removed on exit");
        InstanceLock::acquire(dir.path()).expect("free again");
    }

    #[test]
    fn a_folder_without_an_entry_is_no_project_and_is_left_untouched() {
        let dir = tempfile::tempdir().expect("temp dir");
        let project = Project::at(dir.path()).expect("project");
        let error = check_project(&project).expect_err("not a project");
        assert!(
            error.to_string().contains("no src/arkor/index.ts"),
            "{error}"
        );
        assert!(std::fs::read_dir(dir.path()).expect("dir").next().is_none());
    }
}
