//! Files embedded in the binary: the simulated `arkor` SDK (installed as a project's
//! `node_modules/arkor`) and the demo project behind `arkor tui --demo`.
//!
//! Every shipped file is listed once, below, in [`SDK_FILES`] and [`DEMO_FILES`]; a unit test
//! fails when a file under `assets/sdk` or `assets/demo` is missing from them. The SDK's own
//! tests (`assets/sdk/test/`) are not shipped.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One embedded file: its path relative to its asset folder, and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct EmbeddedFile {
    pub path: &'static str,
    pub contents: &'static [u8],
}

macro_rules! embed {
    ($folder:literal: $($path:literal),+ $(,)?) => {
        &[$(EmbeddedFile {
            path: $path,
            contents: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $folder, "/", $path)),
        }),+]
    };
}

/// The simulated SDK package, as installed under `node_modules/arkor`.
pub const SDK_FILES: &[EmbeddedFile] = embed!("sdk":
    "package.json",
    "README.md",
    "bin.mjs",
    "index.mjs",
    "index.d.ts",
    "lib/arkor.mjs",
    "lib/cacheBust.mjs",
    "lib/cli.mjs",
    "lib/cloud/access.mjs",
    "lib/cloud/adopt.mjs",
    "lib/cloud/http.mjs",
    "lib/cloud/ids.mjs",
    "lib/cloud/jobs.mjs",
    "lib/cloud/main.mjs",
    "lib/cloud/replies.mjs",
    "lib/cloud/routes/endpoints.mjs",
    "lib/cloud/routes/identity.mjs",
    "lib/cloud/routes/inference.mjs",
    "lib/cloud/routes/jobs.mjs",
    "lib/cloud/seed.mjs",
    "lib/cloud/server.mjs",
    "lib/cloud/store.mjs",
    "lib/cloud/training.mjs",
    "lib/cloud/validate.mjs",
    "lib/cloudClient.mjs",
    "lib/cloudTarget.mjs",
    "lib/configHash.mjs",
    "lib/errors.mjs",
    "lib/httpClient.mjs",
    "lib/inspection.mjs",
    "lib/runner.mjs",
    "lib/runnerSignals.mjs",
    "lib/session.mjs",
    "lib/simKnobs.mjs",
    "lib/sse.mjs",
    "lib/trainer.mjs",
);

/// The demo project (without its `node_modules`, which [`write_demo_project`] adds).
pub const DEMO_FILES: &[EmbeddedFile] = embed!("demo":
    "package.json",
    "tsconfig.json",
    "README.md",
    "src/arkor/index.ts",
    "src/arkor/trainer.ts",
    "src/arkor/callbacks.ts",
);

/// The SDK's CLI, relative to the package root (its package.json `bin.arkor`).
pub const SDK_BIN: &str = "bin.mjs";

/// Version in the simulated SDK's package.json (a unit test keeps the two equal).
const SDK_VERSION: &str = "0.0.0-sim";

/// Suffix every simulated SDK version carries, so an install never mistakes a real SDK for one.
const SIMULATED_VERSION_SUFFIX: &str = "-sim";

/// The version string of the embedded simulated SDK.
pub fn sdk_version() -> &'static str {
    SDK_VERSION
}

/// True for any simulated SDK's version (this one or an older copy a project still has).
pub fn is_simulated_version(version: &str) -> bool {
    version.ends_with(SIMULATED_VERSION_SUFFIX)
}

/// Install the simulated SDK as `<project_root>/node_modules/arkor` (plus the usual
/// `node_modules/.bin/arkor` link), with `bin.mjs` executable.
///
/// An older simulated SDK there is replaced. Anything else there (a real `arkor` install, a
/// link to one, an unreadable package) is left untouched and reported as `AlreadyExists`.
/// The package is written to a staging folder first and renamed into place, so a failed
/// install never leaves a half-written package behind.
pub fn install_sdk(project_root: &Path) -> io::Result<()> {
    let node_modules = project_root.join("node_modules");
    let target = node_modules.join("arkor");
    fs::create_dir_all(&node_modules)?;
    // Some(is_symlink) when a simulated SDK is already there and gets replaced.
    let replaced = match fs::symlink_metadata(&target) {
        Ok(meta) if is_simulated_sdk(&target) => Some(meta.is_symlink()),
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} already holds an arkor package that is not the simulated SDK; remove it to install the simulated one",
                    target.display()
                ),
            ));
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(err),
    };

    let staging = node_modules.join(format!(".arkor-sim-staging-{}", std::process::id()));
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    let written =
        write_files(&staging, SDK_FILES).and_then(|()| make_executable(&staging.join(SDK_BIN)));
    if let Err(err) = written {
        // Best effort: the staging folder is ours and useless now.
        let _ = fs::remove_dir_all(&staging);
        return Err(err);
    }
    match replaced {
        // A link is removed, never what it points to.
        Some(true) => fs::remove_file(&target)?,
        Some(false) => fs::remove_dir_all(&target)?,
        None => {}
    }
    fs::rename(&staging, &target)?;
    link_bin(&node_modules)
}

/// Write the demo project into `dest` (created if needed) and install the simulated SDK in it.
/// Fails with `AlreadyExists`, before writing anything, when a demo file is already there.
pub fn write_demo_project(dest: &Path) -> io::Result<()> {
    fs::create_dir_all(dest)?;
    if let Some(existing) = DEMO_FILES
        .iter()
        .map(|file| dest.join(file.path))
        .find(|path| path.exists())
    {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} already exists; the demo project needs an empty folder",
                existing.display()
            ),
        ));
    }
    write_files(dest, DEMO_FILES)?;
    install_sdk(dest)
}

/// `<project_root>/node_modules/arkor/bin.mjs`, where [`install_sdk`] puts the runner.
pub fn installed_sdk_bin(project_root: &Path) -> PathBuf {
    project_root
        .join("node_modules")
        .join("arkor")
        .join(SDK_BIN)
}

fn write_files(root: &Path, files: &[EmbeddedFile]) -> io::Result<()> {
    for file in files {
        let path = root.join(file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, file.contents)?;
    }
    Ok(())
}

/// True when `package_dir/package.json` names `arkor` with a simulated (`-sim`) version.
fn is_simulated_sdk(package_dir: &Path) -> bool {
    let Ok(text) = fs::read_to_string(package_dir.join("package.json")) else {
        return false;
    };
    let Ok(manifest) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    manifest["name"] == "arkor"
        && manifest["version"]
            .as_str()
            .is_some_and(is_simulated_version)
}

fn make_executable(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

/// `node_modules/.bin/arkor` → `../arkor/bin.mjs`, as a package manager would link it. An
/// existing entry is left alone (it may belong to another install).
fn link_bin(node_modules: &Path) -> io::Result<()> {
    let bin_dir = node_modules.join(".bin");
    fs::create_dir_all(&bin_dir)?;
    let link = bin_dir.join("arkor");
    if fs::symlink_metadata(&link).is_ok() {
        return Ok(());
    }
    std::os::unix::fs::symlink(Path::new("../arkor").join(SDK_BIN), link)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn asset_dir(folder: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets")
            .join(folder)
    }

    /// Every file under `root`, relative, skipping folders that are never shipped.
    fn files_on_disk(root: &Path, skip: &[&str]) -> BTreeSet<String> {
        fn walk(root: &Path, dir: &Path, skip: &[&str], out: &mut BTreeSet<String>) {
            let entries =
                fs::read_dir(dir).unwrap_or_else(|err| panic!("read {}: {err}", dir.display()));
            for entry in entries {
                let path = entry.expect("directory entry").path();
                let relative = path
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                if skip.iter().any(|skipped| relative == *skipped) {
                    continue;
                }
                if path.is_dir() {
                    walk(root, &path, skip, out);
                } else {
                    out.insert(relative);
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(root, root, skip, &mut out);
        out
    }

    fn embedded(files: &[EmbeddedFile]) -> BTreeSet<String> {
        files.iter().map(|file| file.path.to_owned()).collect()
    }

    #[test]
    fn every_sdk_file_is_embedded() {
        let on_disk = files_on_disk(&asset_dir("sdk"), &["test", "node_modules"]);
        assert_eq!(
            embedded(SDK_FILES),
            on_disk,
            "SDK_FILES must list exactly the files under assets/sdk"
        );
    }

    #[test]
    fn every_demo_file_is_embedded() {
        let on_disk = files_on_disk(&asset_dir("demo"), &["node_modules", ".arkor"]);
        assert_eq!(
            embedded(DEMO_FILES),
            on_disk,
            "DEMO_FILES must list exactly the files under assets/demo"
        );
    }

    #[test]
    fn embedded_lists_have_no_duplicates() {
        assert_eq!(embedded(SDK_FILES).len(), SDK_FILES.len());
        assert_eq!(embedded(DEMO_FILES).len(), DEMO_FILES.len());
    }

    #[test]
    fn sdk_version_matches_the_package_manifest() {
        let manifest = SDK_FILES
            .iter()
            .find(|file| file.path == "package.json")
            .expect("package.json is embedded");
        let manifest: serde_json::Value =
            serde_json::from_slice(manifest.contents).expect("valid package.json");
        assert_eq!(manifest["name"], "arkor");
        assert_eq!(manifest["version"], sdk_version());
        assert_eq!(manifest["bin"]["arkor"], SDK_BIN);
        assert!(sdk_version().ends_with(SIMULATED_VERSION_SUFFIX));
    }
}
