//! What changed since the last build, as the watcher collected it: the graph files whose
//! content changed, or the reason a partial rescan cannot express the change.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Why a build must read and parse every module again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FullReason {
    /// No kept module graph to build on (the first build, or the last one was dropped).
    NoKeptGraph,
    /// The user asked for a rebuild (`r`, the Rebuild command).
    Requested,
    /// A source file or folder appeared: it may join the graph, or change where an import
    /// resolves.
    Created(PathBuf),
    /// A file of the module graph (or a watched folder) is gone: deleted or renamed away.
    Removed(PathBuf),
    /// A `tsconfig.json` or `package.json` changed: it governs how every module in its folder
    /// tree is resolved and transformed.
    Config(PathBuf),
    /// An import that failed to resolve may resolve now.
    ImportMayResolve,
    /// The watcher lost events (queue overflow) or reported an error.
    WatcherLost,
    /// Changes were found by polling, which does not say which files changed.
    Polling,
    /// A changed file is not in the kept module graph.
    NotInGraph(PathBuf),
    /// A module came back into the graph from Rolldown's kept snapshot without being read
    /// again: the copy there may be older than the file.
    Rejoined(PathBuf),
    /// A changed module has dynamic imports: Rolldown 1.2.5 keeps the records of the old
    /// version's `import()` sites after a partial scan (it panics on them, or worse).
    DynamicImports(PathBuf),
    /// The kept bundler panicked (the message); it was dropped.
    Panicked(String),
}

impl std::fmt::Display for FullReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FullReason::NoKeptGraph => write!(f, "no kept module graph"),
            FullReason::Requested => write!(f, "rebuild requested"),
            FullReason::Created(path) => write!(f, "{} appeared", path.display()),
            FullReason::Removed(path) => write!(f, "{} is gone", path.display()),
            FullReason::Config(path) => write!(f, "{} changed", path.display()),
            FullReason::ImportMayResolve => write!(f, "a missing import may resolve now"),
            FullReason::WatcherLost => write!(f, "the watcher may have lost events"),
            FullReason::Polling => write!(f, "changes found by polling"),
            FullReason::NotInGraph(path) => {
                write!(f, "{} is not in the kept module graph", path.display())
            }
            FullReason::Rejoined(path) => write!(
                f,
                "{} rejoined the module graph from the kept snapshot",
                path.display()
            ),
            FullReason::DynamicImports(path) => {
                write!(f, "{} has dynamic imports", path.display())
            }
            FullReason::Panicked(what) => write!(f, "the kept bundler panicked: {what}"),
        }
    }
}

/// The changes one build answers. Collected by the build loop between two build starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Files of the module graph whose content may have changed.
    modified: BTreeSet<PathBuf>,
    /// Set when a partial rescan cannot express the change; the first reason is kept.
    full: Option<FullReason>,
}

impl Changes {
    /// Changes that need a full build for `reason`.
    pub fn full(reason: FullReason) -> Self {
        Self {
            modified: BTreeSet::new(),
            full: Some(reason),
        }
    }

    /// The content of `path`, a file of the module graph, may have changed.
    pub fn modified(&mut self, path: &Path) {
        self.modified.insert(path.to_path_buf());
    }

    /// The next build must be full (the first reason given wins).
    pub fn require_full(&mut self, reason: FullReason) {
        self.full.get_or_insert(reason);
    }

    pub fn full_reason(&self) -> Option<&FullReason> {
        self.full.as_ref()
    }

    pub fn modified_files(&self) -> impl Iterator<Item = &Path> {
        self.modified.iter().map(PathBuf::as_path)
    }

    pub fn is_empty(&self) -> bool {
        self.modified.is_empty() && self.full.is_none()
    }

    /// Fold later changes into these (for a build that did not consume its changes).
    pub fn absorb(&mut self, later: Changes) {
        self.modified.extend(later.modified);
        if let Some(reason) = later.full {
            self.require_full(reason);
        }
    }
}

/// `tsconfig.json` and `package.json`: files that configure resolution and transforms rather
/// than being modules.
pub fn is_config_file(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("tsconfig.json" | "package.json")
    )
}

/// Names editors give their swap, lock, backup and temp files (`.index.ts.swp`, `.#index.ts`,
/// `index.ts~`): never the target of an import, so their appearance changes no resolution.
pub fn is_editor_scratch(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|name| name.starts_with('.') || name.starts_with('#') || name.ends_with('~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_full_reason_wins_and_modified_files_accumulate() {
        let mut changes = Changes::default();
        assert!(changes.is_empty());
        changes.modified(Path::new("/p/b.ts"));
        changes.modified(Path::new("/p/a.ts"));
        changes.modified(Path::new("/p/b.ts"));
        assert_eq!(changes.full_reason(), None);
        assert_eq!(
            changes.modified_files().collect::<Vec<_>>(),
            [Path::new("/p/a.ts"), Path::new("/p/b.ts")]
        );
        changes.require_full(FullReason::Polling);
        changes.require_full(FullReason::Requested);
        assert_eq!(changes.full_reason(), Some(&FullReason::Polling));
        let mut earlier = Changes::default();
        earlier.modified(Path::new("/p/c.ts"));
        earlier.absorb(changes);
        assert_eq!(earlier.full_reason(), Some(&FullReason::Polling));
        assert_eq!(earlier.modified_files().count(), 3);
    }

    #[test]
    fn config_and_scratch_names() {
        assert!(is_config_file(Path::new("/p/tsconfig.json")));
        assert!(is_config_file(Path::new("/p/src/package.json")));
        assert!(!is_config_file(Path::new("/p/src/config.json")));
        for scratch in [
            "/p/.index.ts.swp",
            "/p/.#index.ts",
            "/p/index.ts~",
            "/p/#index.ts#",
        ] {
            assert!(is_editor_scratch(Path::new(scratch)), "{scratch}");
        }
        assert!(!is_editor_scratch(Path::new("/p/index.ts")));
    }
}
