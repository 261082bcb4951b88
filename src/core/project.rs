//! Where things are in an arkor project: root, entry, artifact, Node, the installed SDK.

use std::path::{Path, PathBuf};

/// The default entry, relative to the project root (SPEC §1).
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

    pub fn staging_file(&self) -> PathBuf {
        let mut s = self.out_file.clone().into_os_string();
        s.push(STAGING_SUFFIX);
        PathBuf::from(s)
    }

    /// `<root>/.arkor/state.json` (SPEC §12.9).
    pub fn state_file(&self) -> PathBuf {
        self.root.join(".arkor").join("state.json")
    }

    /// `<root>/node_modules/arkor`, where the installed SDK lives.
    pub fn sdk_dir(&self) -> PathBuf {
        self.root.join("node_modules").join("arkor")
    }
}
