//! Temp projects built from the fixtures under tests/fixtures/build.

use std::path::{Path, PathBuf};

use arkor_tui::core::project::Project;

pub fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/build")
        .join(name)
}

/// A temp copy of a fixture project; removed on drop.
pub struct TempProject {
    /// Kept for its drop, which removes the folder.
    _dir: tempfile::TempDir,
    pub project: Project,
}

impl TempProject {
    pub fn from_fixture(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_dir(&fixture_dir(name), dir.path());
        let project = Project::at(dir.path()).expect("project");
        Self { _dir: dir, project }
    }

    pub fn empty() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let project = Project::at(dir.path()).expect("project");
        Self { _dir: dir, project }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.project.root.join(rel)
    }

    pub fn write(&self, rel: &str, contents: &str) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, contents).expect("write");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read")
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The inline SDK stand-in (createTrainer + inspect brand) from the basic fixture.
pub const BRAND_TS: &str = include_str!("../fixtures/build/basic/src/arkor/brand.ts");

impl TempProject {
    /// A project whose entry is `index_ts`, with `brand.ts` beside it.
    pub fn with_entry(index_ts: &str) -> Self {
        let p = Self::empty();
        p.write("src/arkor/brand.ts", BRAND_TS);
        p.write("src/arkor/index.ts", index_ts);
        p
    }
}

/// An inspector for tests: real Node, short timeout.
pub fn inspector_for(
    project: &Project,
    timeout: std::time::Duration,
    recycle_after: u32,
) -> arkor_tui::core::inspect::Inspector {
    let node = arkor_tui::core::project::find_node().expect("node >= 20 on PATH");
    let mut options =
        arkor_tui::core::inspect::InspectorOptions::new(node.path, project.root.clone());
    options.timeout = timeout;
    options.recycle_after = recycle_after;
    arkor_tui::core::inspect::Inspector::start(options)
}

pub use crate::shared::{pid_alive, wait_until};
