//! The process environment the cloud code depends on (home directory, API URL override) and
//! the SDK version the client identifies as.

use std::path::{Path, PathBuf};

use super::credentials::{self, Credentials};

/// Where the production cloud API lives (docs/protocol.md §15).
pub const PRODUCTION_API_URL: &str = "https://api.arkor.ai";
/// The environment variable that overrides the cloud API base URL, even when empty.
pub const CLOUD_API_URL_ENV: &str = "ARKOR_CLOUD_API_URL";

/// The process environment the cloud code depends on, captured once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudEnv {
    /// The user's home; credentials live at `<home>/.arkor/credentials.json`.
    pub home: PathBuf,
    /// The value of `ARKOR_CLOUD_API_URL` when it is set (an empty value counts as set).
    pub cloud_api_url_override: Option<String>,
}

impl CloudEnv {
    /// HOME (or USERPROFILE) and `ARKOR_CLOUD_API_URL` from the process environment.
    /// `None` when no home directory can be found.
    pub fn from_process() -> Option<Self> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var_os("USERPROFILE").filter(|h| !h.is_empty()))?;
        Some(Self::with_home(Path::new(&home)))
    }

    /// This home, with the URL override taken from the process environment.
    pub fn with_home(home: &Path) -> Self {
        Self {
            home: home.to_path_buf(),
            cloud_api_url_override: std::env::var(CLOUD_API_URL_ENV).ok(),
        }
    }

    pub fn credentials_path(&self) -> PathBuf {
        credentials::credentials_path(&self.home)
    }

    /// docs/protocol.md §15: the env override wins (even when empty), then the credentials' own URL
    /// when it is a string (even empty), then production. Trailing `/` are stripped.
    pub fn base_url_for(&self, credentials: Option<&Credentials>) -> String {
        if let Some(url) = &self.cloud_api_url_override {
            return strip_trailing_slashes(url).to_owned();
        }
        if let Some(url) = credentials.and_then(Credentials::cloud_api_url) {
            return strip_trailing_slashes(url).to_owned();
        }
        PRODUCTION_API_URL.to_owned()
    }

    /// The base used before any credentials exist (start-up sign-in, lazy mint).
    pub fn startup_base_url(&self) -> String {
        self.base_url_for(None)
    }
}

pub(crate) fn strip_trailing_slashes(s: &str) -> &str {
    s.trim_end_matches('/')
}

/// The version the client identifies as in `X-Arkor-Client: arkor/<version>`: the installed
/// SDK's (`node_modules/arkor/package.json`), so the cloud's version gate answers exactly as
/// it would for the reference. Without an installed SDK, the SDK version whose contract
/// this crate implements.
pub fn installed_sdk_version(project_root: &Path) -> String {
    let manifest = project_root
        .join("node_modules")
        .join("arkor")
        .join("package.json");
    std::fs::read(&manifest)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| v.get("version").and_then(|v| v.as_str()).map(str::to_owned))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| CONTRACT_SDK_VERSION.to_owned())
}

/// The reference SDK version (branch eng-615) whose behaviour docs/protocol.md §14 restates.
pub const CONTRACT_SDK_VERSION: &str = "0.0.3-alpha.1";
