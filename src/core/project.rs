//! Where things are in an arkor project: root, entry, artifact, Node, the installed SDK.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The default entry, relative to the project root (docs/protocol.md §1).
pub const ENTRY_REL: &str = "src/arkor/index.ts";
/// The build output folder, relative to the project root.
pub const OUT_DIR_REL: &str = ".arkor/build";
pub const OUT_FILE_NAME: &str = "index.mjs";
pub const STAGING_SUFFIX: &str = ".hmr-staging";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// Absolute, canonical project root.
    pub root: PathBuf,
    /// Absolute path of `src/arkor/index.ts`.
    pub entry: PathBuf,
    /// Absolute path of `.arkor/build/index.mjs`.
    pub out_file: PathBuf,
}

impl Project {
    /// A project rooted at `root` (made absolute against the process cwd; not canonicalised
    /// when it does not exist yet).
    pub fn at(root: &Path) -> std::io::Result<Self> {
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir()?.join(root)
        };
        let root = root.canonicalize().unwrap_or(root);
        Ok(Self {
            entry: root.join(ENTRY_REL),
            out_file: root.join(OUT_DIR_REL).join(OUT_FILE_NAME),
            root,
        })
    }

    pub fn out_dir(&self) -> PathBuf {
        self.root.join(OUT_DIR_REL)
    }

    /// `index.mjs.hmr-staging`: the builder writes `<this>.<pid>.<n>` and renames it over
    /// the artifact, so readers never see a partial file.
    pub fn staging_file(&self) -> PathBuf {
        let mut s = self.out_file.clone().into_os_string();
        s.push(STAGING_SUFFIX);
        PathBuf::from(s)
    }

    /// `index.mjs.map`: the artifact's hidden source map (no comment in the artifact points at
    /// it), written beside it by every build.
    pub fn source_map_file(&self) -> PathBuf {
        let mut s = self.out_file.clone().into_os_string();
        s.push(".map");
        PathBuf::from(s)
    }

    /// `<root>/.arkor/state.json` (docs/protocol.md §15.3).
    pub fn state_file(&self) -> PathBuf {
        self.root.join(".arkor").join("state.json")
    }

    /// `<root>/node_modules/arkor`, where the installed SDK lives.
    pub fn sdk_dir(&self) -> PathBuf {
        self.root.join("node_modules").join("arkor")
    }
}

/// The oldest Node.js major version arkor tui runs user code with.
pub const MIN_NODE_MAJOR: u32 = 20;

/// A usable `node` binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// Absolute path of the executable found on PATH.
    pub path: PathBuf,
    /// `node --version` without the leading `v`, e.g. `20.20.2`.
    pub version: String,
    pub major: u32,
}

impl std::fmt::Display for NodeInfo {
    /// `Node.js v20.20.2 (/usr/bin/node)`: what arkor tui says it runs trainer code with.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node.js v{} ({})", self.version, self.path.display())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error(
        "arkor tui needs Node.js {MIN_NODE_MAJOR} or newer on PATH to run your trainer code, but found {found}. \
         Install Node.js {MIN_NODE_MAJOR}+ (https://nodejs.org, or a version manager: `nvm install {MIN_NODE_MAJOR}`) \
         and make sure it is the `node` found first on PATH."
    )]
    Unusable {
        /// What was found: "no `node` on PATH", "v18.19.0 at /usr/bin/node", "/usr/bin/node (failed to run: …)".
        found: String,
    },
}

/// Find `node` on the process PATH and check that it is Node ≥ 20.
pub fn find_node() -> Result<NodeInfo, NodeError> {
    find_node_in(std::env::var_os("PATH").as_deref())
}

/// Like [`find_node`], searching the given PATH value instead of the process's.
pub fn find_node_in(path_var: Option<&OsStr>) -> Result<NodeInfo, NodeError> {
    let Some(path) = path_var.and_then(|p| find_executable("node", p)) else {
        return Err(NodeError::Unusable {
            found: "no `node` on PATH".to_owned(),
        });
    };
    let output = std::process::Command::new(&path)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| NodeError::Unusable {
            found: format!("{} (failed to run: {e})", path.display()),
        })?;
    let printed = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let version = printed.strip_prefix('v').unwrap_or(&printed).to_owned();
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(major) if output.status.success() && major >= MIN_NODE_MAJOR => Ok(NodeInfo {
            path,
            version,
            major,
        }),
        _ => Err(NodeError::Unusable {
            found: if printed.is_empty() {
                format!("{} (no version printed)", path.display())
            } else {
                format!("{printed} at {}", path.display())
            },
        }),
    }
}

fn find_executable(name: &str, path_var: &OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .map(|found| {
            // A relative PATH entry ("./bin") would break once a child runs in another cwd.
            match std::env::current_dir() {
                Ok(cwd) if found.is_relative() => cwd.join(found),
                _ => found,
            }
        })
}

/// The arkor SDK installed in the project (`node_modules/arkor`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdkInfo {
    /// The package folder (symlinks resolved, as pnpm links it).
    pub dir: PathBuf,
    pub version: String,
    /// Absolute path of the CLI (`bin.arkor`): `node <bin> start` is the runner.
    pub bin: PathBuf,
    /// The bundled Studio SPA (`dist/assets`, holding `index.html`) when the package ships it.
    pub studio_assets: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    #[error(
        "the arkor SDK is not installed in {} (no node_modules/arkor): run `{}` there",
        .root.display(),
        install_command(.root)
    )]
    NotInstalled { root: PathBuf },
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a usable arkor package.json: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// How this project installs its dependencies, from its lockfile: `pnpm install`,
/// `yarn install`, `bun install`, or `npm install` (also when there is no lockfile).
pub fn install_command(root: &Path) -> &'static str {
    const BY_LOCKFILE: [(&str, &str); 5] = [
        ("pnpm-lock.yaml", "pnpm install"),
        ("yarn.lock", "yarn install"),
        ("bun.lock", "bun install"),
        ("bun.lockb", "bun install"),
        ("package-lock.json", "npm install"),
    ];
    BY_LOCKFILE
        .iter()
        .find(|(lockfile, _)| root.join(lockfile).is_file())
        .map_or("npm install", |(_, command)| command)
}

impl Project {
    /// Whether the folder is an arkor project: it has `src/arkor/index.ts`.
    pub fn has_entry(&self) -> bool {
        self.entry.is_file()
    }

    /// Read the installed SDK's package.json.
    pub fn sdk(&self) -> Result<SdkInfo, SdkError> {
        let link = self.sdk_dir();
        let manifest_path = link.join("package.json");
        let text = match std::fs::read_to_string(&manifest_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SdkError::NotInstalled {
                    root: self.root.clone(),
                });
            }
            Err(source) => {
                return Err(SdkError::Unreadable {
                    path: manifest_path,
                    source,
                });
            }
        };
        let invalid = |reason: &str| SdkError::Invalid {
            path: manifest_path.clone(),
            reason: reason.to_owned(),
        };
        let manifest: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(&e.to_string()))?;
        let version = manifest
            .get("version")
            .and_then(|v| v.as_str())
            .ok_or_else(|| invalid("no \"version\" string"))?
            .to_owned();
        // npm allows `"bin": "./cli.js"` (named after the package) or a map of names.
        let bin_rel = match manifest.get("bin") {
            Some(serde_json::Value::String(s)) => Some(s.as_str()),
            Some(serde_json::Value::Object(map)) => map.get("arkor").and_then(|v| v.as_str()),
            _ => None,
        }
        .ok_or_else(|| invalid("no \"bin.arkor\" entry"))?;
        let dir = link.canonicalize().unwrap_or(link);
        let bin = dir.join(bin_rel);
        let bin = bin.canonicalize().unwrap_or(bin);
        let assets = dir.join("dist").join("assets");
        let studio_assets = assets.join("index.html").is_file().then_some(assets);
        Ok(SdkInfo {
            dir,
            version,
            bin,
            studio_assets,
        })
    }

    /// `path` relative to the project root for messages (`src/arkor/index.ts`), or as given
    /// when it lies outside the project.
    pub fn relative<'a>(&self, path: &'a Path) -> std::borrow::Cow<'a, str> {
        match path.strip_prefix(&self.root) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.to_string_lossy(),
            _ => path.to_string_lossy(),
        }
    }
}
