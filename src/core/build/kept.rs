//! The kept bundler: for large module graphs, one Rolldown `Bundler` lives from build to build
//! with its module graph (`incremental_build`), and a save re-reads, re-parses and
//! re-transforms only the changed files (`ScanMode::Partial`); link and generate still run over
//! the whole graph.
//!
//! A partial scan cannot express every change. A deleted or renamed file, a new file, a
//! `tsconfig.json` / `package.json` edit, an import that may resolve now, lost watcher events,
//! polling and the user's rebuild all start over: a fresh bundler (empty resolver and tsconfig
//! caches) reads everything. So does a failure other than one in the changed modules' own text
//! (a syntax error, after which Rolldown reverts the scan and retries the file next time, or an
//! import of a name the module no longer exports), and a panic (the bundler is taken out of
//! its slot for the build, so unwinding drops it).
//!
//! Rolldown's own lists only describe the files a partial scan touched, so the graph is walked
//! here from Rolldown's module infos: the files reachable from the entry. A file that leaves
//! the graph stays in Rolldown's snapshot, unwatched; if it comes back without being read
//! again, its copy may be stale, and the build is redone in full.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use rolldown::{Bundler, ExperimentalOptions};
use rolldown_common::ScanMode;
use rolldown_error::{BuildDiagnostic, EventKind};

use super::changes::{Changes, FullReason, is_config_file};
use super::{
    BuildAttempt, BuildError, Builder, ReadFile, SOURCE_EXTENSIONS, Scan, SourceLoader,
    nearest_named,
};

/// A Rolldown bundler kept between builds, with what this module knows about its graph.
pub(super) struct Kept {
    bundler: Bundler,
    loader: Arc<SourceLoader>,
    /// The module files whose changes reach this bundler (they are the build loop's watch
    /// list): the graph after the last successful build, plus what failed builds loaded
    /// since. Rolldown's copy of each is current, or the file is in the next build's changes.
    tracked: HashSet<PathBuf>,
    /// `tracked` is exactly the graph (no failed build since the last success added to it).
    tracked_is_graph: bool,
    /// `tsconfig.json` / `package.json` in every folder from the graph's folders up to `/`.
    configs: ConfigStamps,
}

/// What one build will do.
enum Plan {
    Full(FullReason),
    /// Re-read these files (absolute paths) on the kept bundler.
    Partial(Vec<PathBuf>),
}

impl Kept {
    /// A fresh bundler with incremental builds on (empty caches, no snapshot yet).
    fn fresh(builder: &Builder) -> Result<Kept, BuildError> {
        let loader = Arc::new(SourceLoader::default());
        let mut options = builder.bundler_options();
        options.experimental = Some(ExperimentalOptions {
            incremental_build: Some(true),
            ..Default::default()
        });
        let bundler = Bundler::with_plugins(options, vec![loader.clone()])
            .map_err(|errors| builder.compile_error(errors.into_vec()))?;
        Ok(Kept {
            bundler,
            loader,
            tracked: HashSet::new(),
            tracked_is_graph: true,
            configs: ConfigStamps::default(),
        })
    }

    /// Partial when every change is a content change of a tracked file that still exists and
    /// no configuration file moved since the last build. A changed file that is no longer in
    /// the graph (an import of it went away in a failed build) is not read: it is not part of
    /// the artifact, and it stops being tracked, so it cannot come back stale.
    /// `guard_dynamic_imports`: see [`Builder`]'s field of that name.
    fn plan(&mut self, changes: &Changes, guard_dynamic_imports: bool) -> Plan {
        if let Some(reason) = changes.full_reason() {
            return Plan::Full(reason.clone());
        }
        if let Some(config) = self.configs.changed() {
            return Plan::Full(FullReason::Config(config));
        }
        let mut files = Vec::new();
        let mut graph = None;
        let infos = self
            .bundler
            .last_bundle_handle
            .as_ref()
            .map(|handle| &handle.plugin_driver().module_infos);
        for path in changes.modified_files() {
            if is_config_file(path) {
                return Plan::Full(FullReason::Config(path.to_path_buf()));
            }
            if !path.is_file() {
                return Plan::Full(FullReason::Removed(path.to_path_buf()));
            }
            if !self.tracked.contains(path) {
                return Plan::Full(FullReason::NotInGraph(path.to_path_buf()));
            }
            if !self.tracked_is_graph
                && !graph
                    .get_or_insert_with(|| reachable_graph(&self.bundler))
                    .contains(path)
            {
                self.tracked.remove(path);
                continue;
            }
            // Rolldown 1.2.5 does not drop the old `import()` records of a re-scanned module
            // (`extract_if` in `ScanStageCache::merge` is never iterated): stale statement and
            // import-record indexes reach link, which panics on them or misjudges the dynamic
            // entry. Such modules are read in full builds only.
            let dynamic = infos
                .and_then(|infos| infos.get(path.to_string_lossy().as_ref()))
                .is_some_and(|info| !info.dynamically_imported_ids.is_empty());
            if dynamic && guard_dynamic_imports {
                return Plan::Full(FullReason::DynamicImports(path.to_path_buf()));
            }
            files.push(path.to_path_buf());
        }
        Plan::Partial(files)
    }
}

/// How a run on the kept bundler ended.
pub(super) enum KeptRun {
    Done(BuildAttempt),
    /// The partial build came out stale and was not published: build again, in full, in a
    /// job of its own (a second bundle in the same job would wait forever for the first
    /// one's deferred frees, queued behind it on the one-thread pool). `files_read`: what
    /// the stale build read.
    Redo {
        reason: FullReason,
        files_read: Vec<ReadFile>,
    },
}

/// The result of one Rolldown run on the kept bundler, before publishing.
struct Generated {
    result: rolldown_error::BuildResult<rolldown::BundleOutput>,
    /// Module ids whose load hook ran (the modules this build scanned).
    loaded: HashSet<PathBuf>,
    /// Source files read from disk.
    read: Vec<ReadFile>,
}

impl Builder {
    /// One build on the kept bundler (or a fresh one), run to its end on the build thread.
    /// Puts the bundler back for the next build unless a newer build started meanwhile, the
    /// graph is too small to be worth keeping, or the build failed in a way a partial scan
    /// cannot retry.
    pub(super) async fn kept_build(&self, seq: u64, changes: Changes, started: Instant) -> KeptRun {
        let queued = started.elapsed();
        if !self.project.entry.is_file() {
            // Nothing to build on: the entry comes back as a new file.
            self.drop_kept();
            return KeptRun::Done(BuildAttempt::not_started(BuildError::EntryNotFound {
                entry: self.project.entry.clone(),
            }));
        }
        let planned = self
            .take_kept()
            .map(|mut kept| (kept.plan(&changes, self.guard_dynamic_imports), kept));
        let (mut kept, scan) = match planned {
            Some((Plan::Partial(files), kept)) => (kept, PlanRun::Partial(files)),
            planned => {
                let reason = match planned {
                    Some((Plan::Full(reason), _)) => reason,
                    _ => changes
                        .full_reason()
                        .cloned()
                        .unwrap_or(FullReason::NoKeptGraph),
                };
                match Kept::fresh(self) {
                    Ok(kept) => (kept, PlanRun::Full(reason)),
                    Err(error) => return KeptRun::Done(BuildAttempt::not_started(error)),
                }
            }
        };
        match &scan {
            PlanRun::Full(reason) => tracing::debug!("full build: {reason}"),
            PlanRun::Partial(files) => tracing::debug!("partial build of {files:?}"),
        }
        let planned_at = Instant::now();
        let configs_before = match &scan {
            PlanRun::Full(_) => ConfigStamps::take(self.config_dirs(&kept.tracked)),
            PlanRun::Partial(_) => kept.configs.clone(),
        };
        kept.loader
            .expect_saves(changes.modified_files().map(Path::to_path_buf).collect());
        let generated = kept.generate(&scan).await;
        let generated_at = Instant::now();
        let output = match generated.result {
            Ok(output) => output,
            Err(errors) => {
                let retry_partially =
                    matches!(scan, PlanRun::Partial(_)) && errors.iter().all(is_in_module_text);
                // Watch what was tracked plus whatever this attempt loaded (a new import of a
                // file that has a syntax error, say).
                kept.tracked.extend(generated.loaded);
                kept.tracked_is_graph = false;
                let watch_files = self.graph_watch_files(&kept.tracked);
                let outcome = self.conclude(seq, started, Err(errors), &generated.read);
                if retry_partially {
                    self.put_back(seq, kept);
                }
                return KeptRun::Done(BuildAttempt {
                    outcome,
                    watch_files,
                    scan: scan.into_scan(),
                    files_read: generated.read,
                });
            }
        };
        let graph = reachable_graph(&kept.bundler);
        if let PlanRun::Partial(_) = &scan
            && let Some(stale) = graph
                .iter()
                .find(|file| !kept.tracked.contains(*file) && !generated.loaded.contains(*file))
        {
            // A module back from the snapshot, unread: its copy may be stale. Not published.
            return KeptRun::Redo {
                reason: FullReason::Rejoined(stale.clone()),
                files_read: generated.read,
            };
        }
        // Publish first: the watch list and the configuration stamps below are only needed
        // by the next build, and the inspector can import the artifact meanwhile.
        let outcome = self.conclude(seq, started, Ok(output), &generated.read);
        kept.tracked = graph;
        kept.tracked_is_graph = true;
        kept.configs = configs_before;
        kept.configs.extend(self.config_dirs(&kept.tracked));
        let watch_files = self.graph_watch_files(&kept.tracked);
        tracing::debug!(
            "built in {:?}: {queued:?} to the build thread, {:?} planning, {:?} in Rolldown, {:?} graph and publish",
            started.elapsed(),
            planned_at.duration_since(started) - queued,
            generated_at.duration_since(planned_at),
            generated_at.elapsed()
        );
        if outcome.is_ok() && self.worth_keeping(kept.tracked.len()) {
            self.put_back(seq, kept);
        }
        KeptRun::Done(BuildAttempt {
            outcome,
            watch_files,
            scan: scan.into_scan(),
            files_read: generated.read,
        })
    }

    fn take_kept(&self) -> Option<Kept> {
        self.shared
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Forget the kept bundler (its graph no longer follows the files).
    pub(super) fn drop_kept(&self) {
        drop(self.take_kept());
    }

    /// Keep `kept` for the next build unless a newer build has started since `seq`.
    fn put_back(&self, seq: u64, kept: Kept) {
        let mut slot = self
            .shared
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self
            .shared
            .started
            .load(std::sync::atomic::Ordering::Relaxed)
            == seq
        {
            *slot = Some(kept);
        }
    }

    /// The graph files plus the `tsconfig.json` and `package.json` that govern them.
    fn graph_watch_files(&self, graph: &HashSet<PathBuf>) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = graph.iter().cloned().collect();
        files.sort();
        let dirs: HashSet<&Path> = graph.iter().filter_map(|file| file.parent()).collect();
        let mut configs: Vec<PathBuf> = dirs
            .into_iter()
            .flat_map(|dir| {
                ["tsconfig.json", "package.json"]
                    .into_iter()
                    .filter_map(move |name| nearest_named(dir, name))
            })
            .collect();
        configs.sort();
        configs.dedup();
        files.extend(configs);
        files
    }

    /// The folders whose `tsconfig.json` / `package.json` may govern the graph: every folder
    /// of a graph file and of the entry, with all their ancestors.
    fn config_dirs(&self, graph: &HashSet<PathBuf>) -> Vec<PathBuf> {
        let mut dirs: HashSet<&Path> = HashSet::new();
        for file in graph.iter().chain(std::iter::once(&self.project.entry)) {
            let Some(parent) = file.parent() else {
                continue;
            };
            for dir in parent.ancestors() {
                if !dirs.insert(dir) {
                    break; // its ancestors are in already
                }
            }
        }
        dirs.into_iter().map(Path::to_path_buf).collect()
    }
}

/// The scan a run performs (the plan with its kept bundler resolved).
enum PlanRun {
    Full(FullReason),
    Partial(Vec<PathBuf>),
}

impl PlanRun {
    fn into_scan(self) -> Scan {
        match self {
            PlanRun::Full(reason) => Scan::Full(reason),
            PlanRun::Partial(_) => Scan::Partial,
        }
    }
}

impl Kept {
    async fn generate(&mut self, scan: &PlanRun) -> Generated {
        let mode = match scan {
            PlanRun::Full(_) => ScanMode::Full,
            PlanRun::Partial(files) => ScanMode::Partial(
                files
                    .iter()
                    .map(|file| file.to_string_lossy().as_ref().into())
                    .collect(),
            ),
        };
        let result = self.bundler.incremental_generate(mode).await;
        let (loaded, read) = self.loader.take_build_log();
        Generated {
            result,
            loaded: loaded.into_iter().collect(),
            read,
        }
    }
}

/// Errors in the text of the modules a partial build read, after which the kept graph is still
/// sound: a syntax error or failed transform (Rolldown reverts the scan and reads those files
/// again next time), or an import of a name its module does not export (the scan was merged;
/// link fails on what the files say). A half-written save can cause either. Errors of
/// resolution (the resolver cache may be stale) and internal errors are not among them.
fn is_in_module_text(diagnostic: &BuildDiagnostic) -> bool {
    matches!(
        diagnostic.kind(),
        EventKind::ParseError
            | EventKind::JsonParseError
            | EventKind::TransformError
            | EventKind::MissingExportError
    )
}

/// The files reachable from the entry over static and dynamic imports, from the module infos
/// Rolldown keeps up to date for every module it (re)scans.
fn reachable_graph(bundler: &Bundler) -> HashSet<PathBuf> {
    let mut graph = HashSet::new();
    let Some(handle) = bundler.last_bundle_handle.as_ref() else {
        return graph;
    };
    let infos = &handle.plugin_driver().module_infos;
    let mut pending: Vec<_> = infos
        .iter()
        .filter(|info| info.is_entry)
        .map(|info| info.key().clone())
        .collect();
    let mut seen = HashSet::new();
    while let Some(id) = pending.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let Some(info) = infos.get(&id) else {
            continue;
        };
        if let Some(path) = info.id.as_path() {
            graph.insert(path.to_path_buf());
        }
        pending.extend(
            info.imported_ids
                .iter()
                .chain(info.dynamically_imported_ids.iter())
                .filter(|dep| dep.as_path().is_some())
                .map(|dep| dep.as_arc_str().clone()),
        );
    }
    graph
}

/// What a `tsconfig.json` / `package.json` looked like: absent, or its (mtime, size, inode).
type Stamp = Option<(SystemTime, u64, u64)>;

/// Stamps of `tsconfig.json` and `package.json` per folder, to notice a configuration file
/// that appeared, changed or vanished in a folder the watcher does not watch.
#[derive(Clone, Debug, Default)]
struct ConfigStamps(BTreeMap<PathBuf, Stamp>);

impl ConfigStamps {
    fn take(dirs: Vec<PathBuf>) -> ConfigStamps {
        let mut stamps = ConfigStamps::default();
        stamps.extend(dirs);
        stamps
    }

    /// Add the stamps of folders not stamped yet.
    fn extend(&mut self, dirs: Vec<PathBuf>) {
        for dir in dirs {
            for name in ["tsconfig.json", "package.json"] {
                let file = dir.join(name);
                if let std::collections::btree_map::Entry::Vacant(slot) = self.0.entry(file) {
                    let stamp = stamp(slot.key());
                    slot.insert(stamp);
                }
            }
        }
    }

    /// The first configuration file that differs from its stamp.
    fn changed(&self) -> Option<PathBuf> {
        self.0
            .iter()
            .find(|(file, then)| stamp(file) != **then)
            .map(|(file, _)| file.clone())
    }
}

fn stamp(file: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(file).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

/// Whether `path` names a file a build reads as a module.
pub(super) fn is_source_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| SOURCE_EXTENSIONS.contains(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::project::Project;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Without the dynamic-import guard, Rolldown 1.2.5 panics in link after a partial scan of
    /// a module with an `import()` whose static imports changed. The panic costs the kept
    /// bundler, and the build is done again in full: the same bytes as a one-shot build.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_partial_build_is_redone_in_full() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "src/arkor/index.ts",
            "import { fa } from \"./a\";\nexport const value = fa(1);\n",
        );
        write(
            root,
            "src/arkor/b.ts",
            "export function fb(x: number): number { return x + 2; }\n",
        );
        write(
            root,
            "src/arkor/c.ts",
            "export function fc(x: number): number { return x + 3; }\n",
        );
        write(root, "src/arkor/d.ts", "export const d = 4;\n");
        let dynamic = "const lazy = [() => import(\"./d\")];\nexport function fa(x: number): number { return fc(x) + lazy.length; }\n";
        write(
            root,
            "src/arkor/a.ts",
            &format!(
                "import {{ fb }} from \"./b\";\nimport {{ fc }} from \"./c\";\n{}",
                dynamic.replace("fc(x)", "fb(x) + fc(x)")
            ),
        );
        let project = Project::at(root).unwrap();
        let mut builder = Builder::new(project.clone()).keep_graph_above(Some(0));
        builder.guard_dynamic_imports = false;
        let first = builder
            .rebuild(Changes::full(FullReason::NoKeptGraph))
            .await;
        first.outcome.expect("first build");
        // One static import fewer before the `import()`.
        write(
            root,
            "src/arkor/a.ts",
            &format!("import {{ fc }} from \"./c\";\n{dynamic}"),
        );
        let mut changes = Changes::default();
        changes.modified(&root.join("src/arkor/a.ts"));
        let attempt = builder.rebuild(changes).await;
        assert!(
            matches!(&attempt.scan, Scan::Full(FullReason::Panicked(what)) if what.contains("out of bounds")),
            "{:?}",
            attempt.scan
        );
        let ours = std::fs::read(&attempt.outcome.expect("rebuilt in full").out_file).unwrap();
        let one_shot = Builder::new(project).build().await;
        assert_eq!(
            ours,
            std::fs::read(one_shot.outcome.unwrap().out_file).unwrap()
        );

        // With the guard (the product), the same edit builds in full without a panic.
        builder.guard_dynamic_imports = true;
        let mut changes = Changes::default();
        changes.modified(&root.join("src/arkor/a.ts"));
        let attempt = builder.rebuild(changes).await;
        assert_eq!(
            attempt.scan,
            Scan::Full(FullReason::DynamicImports(root.join("src/arkor/a.ts")))
        );
    }

    #[test]
    fn config_stamps_notice_a_file_that_appears_changes_or_goes() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("src");
        std::fs::create_dir_all(&sub).unwrap();
        let stamps = ConfigStamps::take(vec![dir.path().to_path_buf(), sub.clone()]);
        assert_eq!(stamps.changed(), None);
        std::fs::write(sub.join("tsconfig.json"), "{}").unwrap();
        assert_eq!(stamps.changed(), Some(sub.join("tsconfig.json")));
        let stamps = ConfigStamps::take(vec![dir.path().to_path_buf(), sub.clone()]);
        std::fs::write(sub.join("tsconfig.json"), "{ }").unwrap();
        assert_eq!(stamps.changed(), Some(sub.join("tsconfig.json")));
        let stamps = ConfigStamps::take(vec![dir.path().to_path_buf(), sub.clone()]);
        std::fs::remove_file(sub.join("tsconfig.json")).unwrap();
        assert_eq!(stamps.changed(), Some(sub.join("tsconfig.json")));
    }
}
