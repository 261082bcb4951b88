//! One Rolldown build of `src/arkor/index.ts` into `.arkor/build/index.mjs` (docs/protocol.md §2).
//!
//! Two ways to build. [`Builder::build`] is a one-shot build on a fresh `Bundler` (a reused one
//! caches failed resolutions, so an import of a file created after the failure would keep
//! failing). [`Builder::rebuild`], which the build loop calls with the [`Changes`] its watcher
//! collected, keeps one bundler and its module graph between builds when the graph has more
//! than [`KEPT_GRAPH_MIN_MODULES`] files, and re-reads only the changed files (see [`kept`]).
//! The threshold is 0: a partial rebuild measured faster than a one-shot build at every size,
//! down to the 3-module project (BENCHMARKS.md, growth).
//!
//! Where a build runs: Rolldown spreads one build over tokio tasks, a rayon pool and tokio's
//! blocking threads. For the graphs of real arkor projects that is all hand-offs and no gain:
//! after a save, every parked thread it touches must be woken first. So builds run on one
//! dedicated thread (a one-thread rayon pool running a current-thread tokio runtime), where
//! every hand-off is a function call; one-shot builds of graphs over
//! [`ONE_THREAD_MAX_MODULES`] files use the caller's runtime and the global rayon pool, where
//! more cores can pay off. BENCHMARKS.md has the measurements behind both choices.
//!
//! For the same reason source files are read by a small load plugin ([`SourceLoader`]) instead
//! of Rolldown's own loader, which sends every read to a tokio blocking thread. The plugin
//! lists what it read, since Rolldown's watch list only holds the files it read itself.
//!
//! Every build also has a hidden source map: `index.mjs.map` is swapped in right after the
//! artifact, under the same publish order, and nothing in the artifact points at it, so the
//! artifact's bytes are the same as without a map. The decoded map is kept in memory by
//! contentHash ([`SourceMaps`]) for the run output's stack traces (`crate::core::stackmap`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rolldown::{
    Bundler, BundlerOptions, BundlerTransformOptions, CodeSplittingMode, Either, InputItem,
    IsExternal, LogLevel, OutputFormat, Platform, SourceMapType,
};
use rolldown_common::Output;
use rolldown_error::{
    BuildDiagnostic, DiagnosableArcstr, DiagnosableResolveError, DiagnosticOptions, Severity,
};

use crate::core::hash;
use crate::core::project::{ENTRY_REL, Project, STAGING_SUFFIX};
use crate::core::stackmap::{ArtifactMap, SourceMaps};

mod changes;
pub mod kept;

pub use changes::{Changes, FullReason, is_config_file, is_editor_scratch};

/// The transform target: the published SDK's `engines.node` floor, not the host's Node.
pub const NODE_TARGET: &str = "node22.22";

/// Makes staging file names unique within the process.
static STAGING_COUNTER: AtomicU64 = AtomicU64::new(0);

/// One-shot builds of graphs up to this many files run on the dedicated build thread (see the
/// module docs).
pub const ONE_THREAD_MAX_MODULES: usize = 400;

/// [`Builder::rebuild`] keeps the bundler and its module graph for graphs of more files than
/// this: 0, every graph (see the module docs).
pub const KEPT_GRAPH_MIN_MODULES: usize = 0;

/// Extensions of the source files a build reads (and that may join the module graph).
pub const SOURCE_EXTENSIONS: &[&str] =
    &["ts", "tsx", "mts", "cts", "js", "jsx", "mjs", "cjs", "json"];

/// How long a build waits for a saved file it finds empty to be written (see
/// [`SourceLoader`]), and how often it looks again meanwhile.
const EMPTY_SAVE_WAIT: Duration = Duration::from_millis(5);
const EMPTY_SAVE_POLL: Duration = Duration::from_micros(100);

/// At most this many diagnostics are rendered into one error message.
const MAX_RENDERED_ERRORS: usize = 5;

/// Where a build error points, for "file:line" displays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLocation {
    /// Absolute path of the offending file.
    pub file: PathBuf,
    /// The same path relative to the project root (as shown to users).
    pub display_file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in UTF-16 code units like editors and Node report it.
    pub column: u32,
}

impl std::fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.display_file, self.line, self.column)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("Build entry not found: {}. Create {ENTRY_REL} in the project to define your trainer.", entry.display())]
    EntryNotFound { entry: PathBuf },
    /// Parse / resolve errors. `message` has `file:line:col: text` and a plain-text code frame.
    #[error("{message}")]
    Compile {
        message: String,
        location: Option<SourceLocation>,
        /// Absolute, extension-less targets of relative imports that did not resolve
        /// (`<importer dir>/later` for `./later`): the watcher waits for them to appear.
        missing_imports: Vec<PathBuf>,
    },
    #[error("Failed to write the build artifact {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Rolldown produced no JavaScript chunk for {}", entry.display())]
    NoOutput { entry: PathBuf },
    /// A build that started later already published its artifact; this older one was not
    /// written over it (only an abandoned build can end this way).
    #[error("Build superseded: a newer build already published {}", out_file.display())]
    Superseded { out_file: PathBuf },
    #[error("The bundler failed internally ({0}); save again to retry")]
    Internal(String),
}

impl BuildError {
    /// The first error's location, when it has one.
    pub fn location(&self) -> Option<&SourceLocation> {
        match self {
            BuildError::Compile { location, .. } => location.as_ref(),
            _ => None,
        }
    }

    /// Targets of relative imports that did not resolve (see [`BuildError::Compile`]).
    pub fn missing_imports(&self) -> &[PathBuf] {
        match self {
            BuildError::Compile {
                missing_imports, ..
            } => missing_imports,
            _ => &[],
        }
    }
}

/// A published artifact.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildOutput {
    /// Absolute path of `.arkor/build/index.mjs`.
    pub out_file: PathBuf,
    pub size: u64,
    /// sha256 prefix of the published bytes (`contentHash`).
    pub content_hash: String,
    /// `"<mtimeMs>-<ctimeMs>-<size>"` of the published file (`hash`), taken right after the
    /// rename so it describes these bytes.
    pub fingerprint: String,
    /// Bundling plus the atomic write.
    pub duration: Duration,
    /// Rolldown warnings, one line each (`[KIND] message`). After a partial rebuild only
    /// those of link and generate: Rolldown 1.2.5 drops the warnings of a partial scan. (The
    /// build loop shows no warnings; `arkor build`, which prints them, always builds in full.)
    pub warnings: Vec<String>,
}

/// How a build read the module graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scan {
    /// Nothing was read (the entry is missing, or the bundler could not be set up).
    NotStarted,
    /// A fresh bundler read every module and nothing was kept: a one-shot build, or a graph
    /// too small to be worth keeping.
    OneShot,
    /// A fresh bundler read every module and is kept for partial rebuilds; why this build
    /// could not be partial.
    Full(FullReason),
    /// The kept bundler re-read only the changed files.
    Partial,
}

/// The result of one build plus the module graph to watch, which Rolldown reports even when
/// the build failed (so a syntax error in an imported file is still watched).
#[derive(Debug)]
pub struct BuildAttempt {
    pub outcome: Result<BuildOutput, BuildError>,
    /// Absolute paths of the files of the module graph (plus the tsconfig.json that governs
    /// them; after a kept-bundler build also the package.json).
    pub watch_files: Vec<PathBuf>,
    /// Whether every module was read, or only the changed ones.
    pub scan: Scan,
    /// The source files this build read from disk.
    pub files_read: Vec<ReadFile>,
}

/// A source file as one build read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadFile {
    pub path: PathBuf,
    /// Digest of the bytes read.
    pub digest: u64,
}

impl ReadFile {
    pub(crate) fn new(path: &Path, bytes: &[u8]) -> Self {
        Self {
            path: path.to_path_buf(),
            digest: digest(bytes),
        }
    }

    /// Whether `path` holds exactly the bytes a build read from it (the last read listed in
    /// `read` counts), so a change reported for it during that build is one it already saw.
    pub fn unchanged_since(read: &[ReadFile], path: &Path) -> bool {
        read.iter()
            .rev()
            .find(|file| file.path == path)
            .is_some_and(|file| std::fs::read(path).is_ok_and(|now| digest(&now) == file.digest))
    }
}

fn digest(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

impl BuildAttempt {
    /// A build that ended before Rolldown read anything.
    fn not_started(error: BuildError) -> Self {
        Self {
            outcome: Err(error),
            watch_files: Vec::new(),
            scan: Scan::NotStarted,
            files_read: Vec::new(),
        }
    }
}

/// What a build tells its [`PublishHook`] the moment its artifact is in place.
#[derive(Debug)]
pub struct Published<'a> {
    /// Absolute path of the artifact.
    pub out_file: &'a Path,
    /// `contentHash` of the bytes now in place.
    pub content_hash: &'a str,
    /// The source files this build read (as [`BuildAttempt::files_read`]).
    pub files_read: &'a [ReadFile],
}

/// Called on the build thread right after a build's artifact is put in place: before its
/// source map is, and before the build's result gets back to the caller, so whatever reads
/// the artifact next (the inspector) can start while the build finishes.
pub type PublishHook = Arc<dyn Fn(&Published<'_>) + Send + Sync>;

/// Builds one project. Cheap to clone; clones share the publish order (an older build never
/// overwrites a newer one's artifact), the last graph size (which picks the build thread and
/// whether to keep the graph) and the kept bundler.
#[derive(Clone, Debug)]
pub struct Builder {
    project: Project,
    /// Keep the bundler between [`Builder::rebuild`]s for graphs of more files than this;
    /// `None`: never.
    keep_graph_above: Option<usize>,
    /// Build in full when a changed module has dynamic imports (see [`kept`]); off only in
    /// the test that shows what happens without.
    guard_dynamic_imports: bool,
    /// Told about every artifact this builder publishes (not shared with clones made before).
    on_publish: Option<OnPublish>,
    shared: Arc<Shared>,
}

#[derive(Clone)]
struct OnPublish(PublishHook);

impl std::fmt::Debug for OnPublish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnPublish")
    }
}

#[derive(Debug, Default)]
struct Shared {
    /// Sequence number of the latest build started.
    started: AtomicU64,
    /// Sequence number of the build whose artifact is in place; held while renaming.
    published: Mutex<u64>,
    /// Files in the last build's module graph (0 before the first).
    graph_files: AtomicUsize,
    /// The decoded source maps of the latest published builds.
    source_maps: SourceMaps,
    /// The bundler kept between rebuilds; a build takes it out while it runs.
    kept: KeptSlot,
}

#[derive(Default)]
struct KeptSlot(Mutex<Option<kept::Kept>>);

impl std::ops::Deref for KeptSlot {
    type Target = Mutex<Option<kept::Kept>>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::fmt::Debug for KeptSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.0.lock().map(|k| k.is_some()).unwrap_or(false);
        f.debug_struct("KeptSlot").field("kept", &kept).finish()
    }
}

impl Builder {
    pub fn new(project: Project) -> Self {
        Self::with_source_maps(project, SourceMaps::new())
    }

    /// A builder that keeps the source map of each build it publishes in `source_maps`.
    pub fn with_source_maps(project: Project, source_maps: SourceMaps) -> Self {
        Self {
            project,
            keep_graph_above: Some(KEPT_GRAPH_MIN_MODULES),
            guard_dynamic_imports: true,
            on_publish: None,
            shared: Arc::new(Shared {
                source_maps,
                ..Shared::default()
            }),
        }
    }

    /// Keep the bundler between rebuilds for graphs of more than `files` files (`None`:
    /// never; every rebuild is one-shot).
    pub fn keep_graph_above(mut self, files: Option<usize>) -> Self {
        self.keep_graph_above = files;
        self
    }

    /// Call `hook` whenever a build of this builder puts its artifact in place (see
    /// [`PublishHook`]).
    pub fn on_publish(mut self, hook: PublishHook) -> Self {
        self.on_publish = Some(OnPublish(hook));
        self
    }

    pub fn project(&self) -> &Project {
        &self.project
    }

    /// The source maps of the builds this builder (and its clones) published.
    pub fn source_maps(&self) -> &SourceMaps {
        &self.shared.source_maps
    }

    /// Bundle the entry on a fresh bundler and publish it atomically (staging file + rename).
    /// On any failure the previous artifact stays in place. Call it from within a tokio
    /// runtime.
    ///
    /// Dropping the future does not stop a build already handed to the build thread; it runs
    /// to its end, and its artifact is published only if no later build published first.
    pub async fn build(&self) -> BuildAttempt {
        let seq = self.next_seq();
        let attempt = self.one_shot(seq, Vec::new()).await;
        self.note_graph(&attempt);
        attempt
    }

    /// Build again after `changes`, as [`Builder::build`] does, but on the kept bundler when
    /// the graph is large enough: then only the changed files are read again, unless the
    /// changes need a full build.
    pub async fn rebuild(&self, changes: Changes) -> BuildAttempt {
        let seq = self.next_seq();
        let graph = self.shared.graph_files.load(Ordering::Relaxed);
        // 0: no graph seen yet; a build on a fresh kept bundler finds out.
        let keep = graph == 0 || self.worth_keeping(graph);
        let attempt = if keep {
            self.kept_rebuild(seq, changes).await
        } else {
            self.drop_kept();
            self.one_shot(
                seq,
                changes.modified_files().map(Path::to_path_buf).collect(),
            )
            .await
        };
        self.note_graph(&attempt);
        attempt
    }

    /// A rebuild on the kept bundler, as one job on the build thread. A stale partial build
    /// is redone in full in a job of its own; so is a build whose bundler panicked (once: a
    /// second panic is the build's error).
    async fn kept_rebuild(&self, seq: u64, mut changes: Changes) -> BuildAttempt {
        let started = Instant::now();
        let mut read_before = Vec::new();
        let mut panicked = false;
        loop {
            let builder = self.clone();
            let job = move || async move { builder.kept_build(seq, changes, started).await };
            let run = match build_thread() {
                Some(thread) => thread.run(job).await,
                None => catch_panic(job()).await,
            };
            match run {
                Ok(kept::KeptRun::Done(mut attempt)) => {
                    read_before.append(&mut attempt.files_read);
                    attempt.files_read = read_before;
                    return attempt;
                }
                Ok(kept::KeptRun::Redo { reason, files_read }) => {
                    read_before.extend(files_read);
                    changes = Changes::full(reason);
                }
                Err(what) if !panicked => {
                    tracing::warn!("the kept bundler panicked ({what}); building again in full");
                    panicked = true;
                    changes = Changes::full(FullReason::Panicked(what));
                }
                Err(what) => return BuildAttempt::not_started(BuildError::Internal(what)),
            }
        }
    }

    fn next_seq(&self) -> u64 {
        self.shared.started.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn worth_keeping(&self, graph_files: usize) -> bool {
        self.keep_graph_above
            .is_some_and(|above| graph_files > above)
    }

    fn note_graph(&self, attempt: &BuildAttempt) {
        if !attempt.watch_files.is_empty() {
            self.shared
                .graph_files
                .store(attempt.watch_files.len(), Ordering::Relaxed);
        }
    }

    /// A build on a fresh bundler that is not kept: on the build thread unless the graph is
    /// large.
    async fn one_shot(&self, seq: u64, saved: Vec<PathBuf>) -> BuildAttempt {
        let small = self.shared.graph_files.load(Ordering::Relaxed) <= ONE_THREAD_MAX_MODULES;
        match build_thread() {
            Some(thread) if small => {
                let builder = self.clone();
                thread
                    .run(move || async move { builder.build_here(seq, saved).await })
                    .await
                    .unwrap_or_else(|what| BuildAttempt::not_started(BuildError::Internal(what)))
            }
            _ => catch_panic(self.build_here(seq, saved))
                .await
                .unwrap_or_else(|what| BuildAttempt::not_started(BuildError::Internal(what))),
        }
    }

    /// A one-shot build, on the calling thread and runtime. `saved`: the files whose saves
    /// started it (see [`SourceLoader`]).
    async fn build_here(&self, seq: u64, saved: Vec<PathBuf>) -> BuildAttempt {
        let started = Instant::now();
        let entry = &self.project.entry;
        if !entry.is_file() {
            return BuildAttempt::not_started(BuildError::EntryNotFound {
                entry: entry.clone(),
            });
        }
        let loader = Arc::new(SourceLoader::default());
        loader.expect_saves(saved);
        let mut bundler = match Bundler::with_plugins(self.bundler_options(), vec![loader.clone()])
        {
            Ok(bundler) => bundler,
            Err(errors) => {
                return BuildAttempt::not_started(self.compile_error(errors.into_vec()));
            }
        };
        let generated = bundler.generate().await;
        let (_, files_read) = loader.take_build_log();
        let watch_files = loader.watch_files(
            bundler
                .watch_files()
                .iter()
                .map(|file| PathBuf::from(file.as_str())),
            &files_read,
        );
        // Closing releases the module graph now instead of at drop; its failure changes nothing.
        let _ = bundler.close().await;
        BuildAttempt {
            outcome: self.conclude(seq, started, generated, &files_read),
            watch_files,
            scan: Scan::OneShot,
            files_read,
        }
    }

    /// Publish what Rolldown generated, or turn its errors into a [`BuildError`]. `files_read`:
    /// what the build read, for the [`PublishHook`].
    fn conclude(
        &self,
        seq: u64,
        started: Instant,
        generated: rolldown_error::BuildResult<rolldown::BundleOutput>,
        files_read: &[ReadFile],
    ) -> Result<BuildOutput, BuildError> {
        let output = generated.map_err(|errors| self.compile_error(errors.into_vec()))?;
        let warnings = self.render_warnings(&output.warnings);
        let (chunk, map_file) = artifact_outputs(output.assets);
        let chunk = chunk.ok_or_else(|| BuildError::NoOutput {
            entry: self.project.entry.clone(),
        })?;
        let size = chunk.content_as_bytes().len() as u64;
        let map_text = map_file.as_ref().map(Output::content_as_bytes);
        let (content_hash, fingerprint) = self
            .publish(seq, chunk.content_as_bytes(), map_text, files_read)?
            .ok_or_else(|| BuildError::Superseded {
                out_file: self.project.out_file.clone(),
            })?;
        if let Some(map) = decoded_map(chunk) {
            self.shared.source_maps.insert(Arc::new(ArtifactMap::new(
                content_hash.clone(),
                map,
                &self.project,
            )));
        }
        Ok(BuildOutput {
            out_file: self.project.out_file.clone(),
            size,
            content_hash,
            fingerprint,
            duration: started.elapsed(),
            warnings,
        })
    }

    fn bundler_options(&self) -> BundlerOptions {
        BundlerOptions {
            input: Some(vec![InputItem {
                name: Some("index".into()),
                import: self.project.entry.to_string_lossy().into_owned(),
            }]),
            cwd: Some(self.project.root.clone()),
            platform: Some(Platform::Node),
            format: Some(OutputFormat::Esm),
            file: Some(self.project.out_file.to_string_lossy().into_owned()),
            // One file: relative dynamic imports are inlined, never split into chunks the
            // runner would not load.
            code_splitting: Some(CodeSplittingMode::Bool(false)),
            transform: Some(BundlerTransformOptions {
                target: Some(Either::Left(NODE_TARGET.to_owned())),
                ..Default::default()
            }),
            log_level: Some(LogLevel::Warn),
            external: Some(IsExternal::Fn(Some(Arc::new(is_external)))),
            // A map file, no comment in the artifact (its bytes stay as without a map). The
            // sources are on disk; leaving their text out keeps the map small to write.
            sourcemap: Some(SourceMapType::Hidden),
            sourcemap_exclude_sources: Some(true),
            ..Default::default()
        }
    }

    /// Write the bytes beside the artifact and rename them over it, so readers see either the
    /// old or the new file, never a partial one; tell the [`PublishHook`]; then the same for
    /// the source map `map` (`index.mjs.map`), under the same order, so the map left on disk
    /// is always the newest published build's. Returns (contentHash, fingerprint), or `None`
    /// when build `seq` is older than the one whose artifact is already in place.
    /// `files_read`: what the build read, for the hook.
    fn publish(
        &self,
        seq: u64,
        bytes: &[u8],
        map: Option<&[u8]>,
        files_read: &[ReadFile],
    ) -> Result<Option<(String, String)>, BuildError> {
        let out_file = &self.project.out_file;
        let write_error = |path: &Path, source| BuildError::Write {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(self.project.out_dir())
            .map_err(|e| write_error(&self.project.out_dir(), e))?;
        // Known before the swap, so the hook can name these bytes the moment they are in place.
        let content_hash = hash::content_hash(bytes);
        let staging = self.write_staging(self.project.staging_file(), bytes)?;
        let fingerprint = {
            // Check and rename as one step, so the newest build's bytes are the ones left.
            let mut published = self.published_order();
            if *published > seq {
                let _ = std::fs::remove_file(&staging);
                return Ok(None);
            }
            if let Err(e) = replace_atomically(&staging, out_file) {
                let _ = std::fs::remove_file(&staging);
                return Err(write_error(out_file, e));
            }
            *published = seq;
            // Taken before a newer build can replace the file, so it describes these bytes.
            // A failed stat (deleted by someone at once) still needs a token that differs
            // from every earlier one.
            hash::artifact_fingerprint(out_file).unwrap_or_else(|| {
                format!(
                    "unstat-{}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or(0)
                )
            })
        };
        if let Some(OnPublish(hook)) = &self.on_publish {
            hook(&Published {
                out_file,
                content_hash: &content_hash,
                files_read,
            });
        }
        self.publish_map(seq, map);
        Ok(Some((content_hash, fingerprint)))
    }

    /// Put build `seq`'s source map in place beside its artifact, unless a newer build has
    /// published since (its own map wins). The map is an aid: failing to write it never fails
    /// the build; the previous map is then removed, so no older build's map stays beside this
    /// artifact.
    fn publish_map(&self, seq: u64, map: Option<&[u8]>) {
        let map_file = self.project.source_map_file();
        let map_staging = map.and_then(|map| {
            let mut name = map_file.clone().into_os_string();
            name.push(STAGING_SUFFIX);
            self.write_staging(PathBuf::from(name), map)
                .map_err(|e| tracing::warn!("no source map for this build: {e}"))
                .ok()
        });
        let published = self.published_order();
        if *published != seq {
            if let Some(map_staging) = &map_staging {
                let _ = std::fs::remove_file(map_staging);
            }
            return;
        }
        let map_in_place = map_staging.is_some_and(|map_staging| {
            replace_atomically(&map_staging, &map_file)
                .map_err(|e| {
                    tracing::warn!("cannot put the source map in place: {e}");
                    let _ = std::fs::remove_file(&map_staging);
                })
                .is_ok()
        });
        if !map_in_place {
            let _ = std::fs::remove_file(&map_file);
        }
    }

    /// The sequence number of the build whose artifact is in place, locked.
    fn published_order(&self) -> std::sync::MutexGuard<'_, u64> {
        self.shared
            .published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Write `bytes` to `<base>.<pid>.<n>`: a name of its own per write, so two builders (the
    /// watcher and an `arkor build` in another terminal) cannot rename each other's
    /// half-written file into place.
    fn write_staging(&self, base: PathBuf, bytes: &[u8]) -> Result<PathBuf, BuildError> {
        let mut staging = base.into_os_string();
        staging.push(format!(
            ".{}.{}",
            std::process::id(),
            STAGING_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let staging = PathBuf::from(staging);
        if let Err(source) = std::fs::write(&staging, bytes) {
            let _ = std::fs::remove_file(&staging);
            return Err(BuildError::Write {
                path: staging,
                source,
            });
        }
        Ok(staging)
    }

    fn diagnostic_options(&self) -> DiagnosticOptions {
        DiagnosticOptions {
            cwd: self.project.root.clone(),
        }
    }

    fn compile_error(&self, mut diagnostics: Vec<BuildDiagnostic>) -> BuildError {
        let missing_imports = diagnostics
            .iter_mut()
            .filter_map(unresolved_relative_import)
            .collect();
        let opts = self.diagnostic_options();
        let errors: Vec<&BuildDiagnostic> = diagnostics
            .iter()
            .filter(|d| d.severity() == Severity::Error)
            .collect();
        // Warnings only (should not happen on Err) still deserve a message.
        let errors = if errors.is_empty() {
            diagnostics.iter().collect()
        } else {
            errors
        };
        let mut location = None;
        let mut message = String::new();
        for (i, diagnostic) in errors.iter().take(MAX_RENDERED_ERRORS).enumerate() {
            let rendered = diagnostic.to_diagnostic_with(&opts);
            let here = rendered
                .get_primary_location()
                .map(|(file, line, column, _)| self.location(&file, line, column));
            let title = diagnostic.to_message_with(&opts);
            if i > 0 {
                message.push('\n');
            }
            match &here {
                Some(at) => message.push_str(&format!("{at}: {title} [{}]\n", diagnostic.kind())),
                None => message.push_str(&format!("{title} [{}]\n", diagnostic.kind())),
            }
            message.push_str(&code_frame(&rendered.convert_to_string(false)));
            if location.is_none() {
                location = here;
            }
        }
        if errors.len() > MAX_RENDERED_ERRORS {
            message.push_str(&format!(
                "\n…and {} more errors",
                errors.len() - MAX_RENDERED_ERRORS
            ));
        }
        BuildError::Compile {
            message: message.trim_end().to_owned(),
            location,
            missing_imports,
        }
    }

    fn location(&self, file: &str, line: usize, column0: usize) -> SourceLocation {
        let path = Path::new(file);
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            normalize(&self.project.root.join(path))
        };
        SourceLocation {
            display_file: self.project.relative(&absolute).into_owned(),
            file: absolute,
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column0 + 1).unwrap_or(u32::MAX),
        }
    }

    fn render_warnings(&self, warnings: &[BuildDiagnostic]) -> Vec<String> {
        let opts = self.diagnostic_options();
        warnings
            .iter()
            .map(|w| format!("[{}] {}", w.kind(), w.to_message_with(&opts)))
            .collect()
    }
}

/// Reads source files for Rolldown on the calling thread (see the module docs) and lists them,
/// with the `tsconfig.json` that governs each, for the watcher, as Rolldown would have.
///
/// A file whose save started the build and that reads empty is most likely caught between the
/// editor's truncate and its write (the build starts on the first of the two events, and on a
/// busy machine the writer can be descheduled in between for milliseconds): the loader waits up
/// to [`EMPTY_SAVE_WAIT`] for the bytes, sleeping so the writer gets the CPU, instead of
/// building an empty module and then building again when the write lands. A file really
/// emptied costs that wait once.
#[derive(Debug, Default)]
struct SourceLoader {
    log: Mutex<LoadLog>,
}

/// What one build asked the loader for.
#[derive(Debug, Default)]
struct LoadLog {
    /// Every absolute module id whose load hook ran (read here or by Rolldown).
    loaded: Vec<PathBuf>,
    /// The files read here.
    read: Vec<ReadFile>,
    /// The saved files that started this build (see [`SourceLoader`]).
    saved: Vec<PathBuf>,
}

impl SourceLoader {
    /// The next build was started by saves of these files.
    fn expect_saves(&self, saved: Vec<PathBuf>) {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .saved = saved;
    }

    /// Whether `path` is one of the saved files that started this build.
    fn was_saved(&self, path: &Path) -> bool {
        self.log
            .lock()
            .is_ok_and(|log| log.saved.iter().any(|saved| saved == path))
    }

    /// The modules loaded and the files read since the last call.
    fn take_build_log(&self) -> (Vec<PathBuf>, Vec<ReadFile>) {
        let log = std::mem::take(
            &mut *self
                .log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        (log.loaded, log.read)
    }

    /// What Rolldown itself reports (`rolldown_listed`) plus the files this plugin read and
    /// the nearest `tsconfig.json` of each, without repeats.
    fn watch_files(
        &self,
        rolldown_listed: impl Iterator<Item = PathBuf>,
        read: &[ReadFile],
    ) -> Vec<PathBuf> {
        let read: Vec<PathBuf> = read.iter().map(|file| file.path.clone()).collect();
        let mut seen_dirs = std::collections::HashSet::new();
        let tsconfigs: Vec<PathBuf> = read
            .iter()
            .filter_map(|file| file.parent())
            .filter(|dir| seen_dirs.insert(dir.to_path_buf()))
            .filter_map(|dir| nearest_named(dir, "tsconfig.json"))
            .collect();
        let mut seen = std::collections::HashSet::new();
        rolldown_listed
            .chain(tsconfigs)
            .chain(read)
            .filter(|file| seen.insert(file.clone()))
            .collect()
    }
}

/// Read a saved file, waiting up to `wait` ([`EMPTY_SAVE_WAIT`]) while it is empty (see
/// [`SourceLoader`]).
fn read_saved(path: &Path, wait: Duration) -> std::io::Result<String> {
    let deadline = Instant::now() + wait;
    loop {
        let code = std::fs::read_to_string(path)?;
        if !code.is_empty() || Instant::now() >= deadline {
            return Ok(code);
        }
        std::thread::sleep(EMPTY_SAVE_POLL);
    }
}

/// The file `name` in `dir` or its nearest ancestor that has one.
fn nearest_named(dir: &Path, name: &str) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join(name))
        .find(|candidate| candidate.is_file())
}

impl rolldown::plugin::Plugin for SourceLoader {
    fn name(&self) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("arkor:source-loader")
    }

    async fn load(
        &self,
        _ctx: rolldown::plugin::SharedLoadPluginContext,
        args: &rolldown::plugin::HookLoadArgs<'_>,
    ) -> rolldown::plugin::HookLoadReturn {
        let path = Path::new(args.id);
        // Virtual modules: Rolldown's own.
        if !path.is_absolute() {
            return Ok(None);
        }
        if let Ok(mut log) = self.log.lock() {
            log.loaded.push(path.to_path_buf());
        }
        // Other file types: Rolldown's own loader.
        if !kept::is_source_file(path) {
            return Ok(None);
        }
        let read = if self.was_saved(path) {
            read_saved(path, EMPTY_SAVE_WAIT)
        } else {
            std::fs::read_to_string(path)
        };
        match read {
            Ok(code) => {
                if let Ok(mut log) = self.log.lock() {
                    log.read.push(ReadFile::new(path, code.as_bytes()));
                }
                // No module type: Rolldown derives it from the extension, as for its own reads.
                Ok(Some(rolldown::plugin::HookLoadOutput {
                    code: code.into(),
                    ..Default::default()
                }))
            }
            // Rolldown's loader tries again and reports the failure in its own words (a
            // plugin's error would read "plugin … threw an error"), and watches the file.
            Err(_) => Ok(None),
        }
    }

    fn register_hook_usage(&self) -> rolldown::plugin::HookUsage {
        rolldown::plugin::HookUsage::Load
    }
}

/// Put `staging` in place of `target` in one step: a reader opens either the old file or the
/// new one. Where the target exists, the two are swapped (`RENAME_EXCHANGE`) and the old bytes,
/// now under the staging name, are removed: a plain rename over an existing file makes ext4
/// (`auto_da_alloc`) start writing the new file back to disk first, which measured 300–400 µs
/// on every save against 35 µs for the swap. (The price: after a power cut the artifact may be
/// empty; the next build rewrites it.) Without a regular file to replace, or on a file system
/// without the swap, a plain rename.
fn replace_atomically(staging: &Path, target: &Path) -> std::io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
        // Only over a regular file: the swap would happily trade places with a folder.
        let over_a_file = std::fs::symlink_metadata(target).is_ok_and(|m| m.is_file());
        if over_a_file
            && renameat2(
                AT_FDCWD,
                staging,
                AT_FDCWD,
                target,
                RenameFlags::RENAME_EXCHANGE,
            )
            .is_ok()
        {
            if let Err(e) = std::fs::remove_file(staging) {
                tracing::debug!(
                    "cannot remove the replaced artifact {}: {e}",
                    staging.display()
                );
            }
            return Ok(());
        }
    }
    std::fs::rename(staging, target)
}

/// The name of the dedicated build thread.
const BUILD_THREAD_NAME: &str = "arkor-build";

/// Whether the calling thread is the dedicated build thread, where every panic is caught and
/// becomes a build error or a full rebuild (a panic hook can leave such panics alone).
pub fn is_build_thread() -> bool {
    std::thread::current().name() == Some(BUILD_THREAD_NAME)
}

/// The dedicated build thread: a one-thread rayon pool (so Rolldown's parallel iterators run
/// inline) whose worker drives a current-thread tokio runtime (so Rolldown's tasks do too).
struct BuildThread {
    pool: rayon::ThreadPool,
    runtime: tokio::runtime::Runtime,
}

/// The process-wide build thread, started on first use; `None` when the thread or its runtime
/// could not be created (builds then run on the caller's runtime).
fn build_thread() -> Option<&'static BuildThread> {
    static THREAD: OnceLock<Option<BuildThread>> = OnceLock::new();
    THREAD
        .get_or_init(|| match BuildThread::start() {
            Ok(thread) => Some(thread),
            Err(e) => {
                tracing::warn!("no dedicated build thread, building on the main runtime: {e}");
                None
            }
        })
        .as_ref()
}

impl BuildThread {
    fn start() -> anyhow::Result<BuildThread> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| BUILD_THREAD_NAME.to_owned())
            // Rayon aborts the process on a panic in a spawned job unless a handler exists;
            // `run` already turns a panic into a build error.
            .panic_handler(|_| tracing::error!("panic on the build thread"))
            .build()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            // Rolldown's own loader (files the SourceLoader does not take, failed reads) reads
            // on blocking threads; keep those parked between saves instead of starting new
            // ones after tokio's default 10 s.
            .thread_keep_alive(Duration::from_secs(3600))
            .build()?;
        Ok(BuildThread { pool, runtime })
    }

    /// Run the future `work` makes on this thread. Jobs run one after another in the order
    /// they were handed over. `Err`: the job panicked (the message) or the thread is gone.
    async fn run<Fut>(
        &'static self,
        work: impl FnOnce() -> Fut + Send + 'static,
    ) -> Result<Fut::Output, String>
    where
        Fut: Future,
        Fut::Output: Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.runtime.block_on(work())
            }))
            .map_err(|panic| panic_message(&*panic));
            let _ = reply.send(outcome);
        });
        answer
            .await
            .unwrap_or_else(|_| Err("the build thread stopped".to_owned()))
    }
}

/// Await `work`, turning a panic into its message (as [`BuildThread::run`] does).
async fn catch_panic<T>(work: impl Future<Output = T>) -> Result<T, String> {
    use futures::FutureExt;
    std::panic::AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .map_err(|panic| panic_message(&*panic))
}

/// The text of a panic payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

/// Run the future `work` makes on the dedicated build thread, as small builds run (for
/// benchmarks that measure Rolldown there). `Err`: no build thread, or the job panicked.
pub async fn on_build_thread<Fut>(
    work: impl FnOnce() -> Fut + Send + 'static,
) -> Result<Fut::Output, String>
where
    Fut: Future,
    Fut::Output: Send + 'static,
{
    match build_thread() {
        Some(thread) => thread.run(work).await,
        None => Err("the build thread could not be started".to_owned()),
    }
}

/// docs/protocol.md §2 external policy: an unresolved id that is neither relative nor absolute (a bare
/// package name or `node:` builtin) stays an import; everything else is bundled.
fn is_external(
    id: &str,
    _importer: Option<&str>,
    is_resolved: bool,
) -> Pin<Box<dyn Future<Output = anyhow::Result<bool>> + Send + 'static>> {
    let external = !is_resolved && !id.starts_with('.') && !Path::new(id).is_absolute();
    Box::pin(std::future::ready(Ok(external)))
}

/// The JavaScript chunk and its source map file among a build's outputs.
fn artifact_outputs(outputs: Vec<Output>) -> (Option<Output>, Option<Output>) {
    let (mut chunk, mut map) = (None, None);
    for output in outputs {
        let name = output.filename();
        if name.ends_with(".map") {
            map.get_or_insert(output);
        } else if name.ends_with(".mjs") || name.ends_with(".js") {
            chunk.get_or_insert(output);
        }
    }
    (chunk, map)
}

/// The decoded source map Rolldown attached to the chunk (moved out when nothing else holds
/// the chunk, which is the case once the bundler is closed).
fn decoded_map(chunk: Output) -> Option<rolldown_sourcemap::SourceMap> {
    match chunk {
        Output::Chunk(chunk) => match Arc::try_unwrap(chunk) {
            Ok(chunk) => chunk.map,
            Err(shared) => shared.map.clone(),
        },
        Output::Asset(_) => None,
    }
}

/// For an unresolved relative import, the absolute path it points at (without extension).
fn unresolved_relative_import(diagnostic: &mut BuildDiagnostic) -> Option<PathBuf> {
    let error = diagnostic.downcast_mut::<DiagnosableResolveError>()?;
    let specifier = match &error.importee {
        DiagnosableArcstr::String(text) => text.as_str(),
        // A span over the quoted specifier in the importer's source.
        DiagnosableArcstr::Span(span) => error
            .source
            .get(span.start as usize + 1..(span.end as usize).saturating_sub(1))?,
    };
    if !specifier.starts_with('.') {
        return None;
    }
    let importer_dir = Path::new(error.importer_id.as_str()).parent()?;
    Some(normalize(&importer_dir.join(specifier)))
}

/// The ariadne report minus its first line (which repeats the title we already print).
fn code_frame(report: &str) -> String {
    let mut lines = report.lines();
    lines.next();
    let mut frame: String = lines.map(|l| format!("{}\n", l.trim_end())).collect();
    while frame.ends_with("\n\n") {
        frame.pop();
    }
    frame
}

/// Lexically resolve `.` and `..` (the file may not exist any more).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn external_policy_matches_spec() {
        for (id, resolved, expected) in [
            ("arkor", false, true),
            ("node:fs", false, true),
            ("@scope/pkg/sub", false, true),
            ("./trainer", false, false),
            ("../shared", false, false),
            ("/abs/file.ts", false, false),
            ("arkor", true, false),
        ] {
            assert_eq!(
                is_external(id, None, resolved).await.unwrap(),
                expected,
                "{id}"
            );
        }
    }

    #[test]
    fn concurrent_publishes_never_expose_a_partial_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let builder = Builder::new(Project::at(dir.path()).unwrap());
        let out_file = builder.project().out_file.clone();
        const SIZE: usize = 4 << 20;
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let mut torn = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok(bytes) = std::fs::read(&out_file) {
                        // Every publish is SIZE copies of one byte value.
                        let whole = bytes.len() == SIZE && bytes.iter().all(|b| *b == bytes[0]);
                        torn += usize::from(!whole);
                    }
                }
                torn
            });
            let writers: Vec<_> = (0..4u8)
                .map(|id| {
                    let builder = builder.clone();
                    scope.spawn(move || {
                        for round in 0..10u8 {
                            let seq = builder.shared.started.fetch_add(1, Ordering::Relaxed) + 1;
                            // `None` (a later write already landed) is fine here.
                            builder
                                .publish(seq, &vec![id * 16 + round; SIZE], None, &[])
                                .map(drop)?;
                        }
                        Ok::<(), BuildError>(())
                    })
                })
                .collect();
            let all_published = writers
                .into_iter()
                .all(|w| w.join().is_ok_and(|published| published.is_ok()));
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            let torn = reader.join().unwrap_or(usize::MAX);
            assert!(all_published, "a publish failed");
            assert_eq!(torn, 0, "a reader saw a partial artifact");
        });
    }

    #[test]
    fn an_older_build_never_overwrites_a_newer_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let builder = Builder::new(Project::at(dir.path()).unwrap());
        let map_file = builder.project().source_map_file();
        assert!(
            builder
                .publish(2, b"newer", Some(b"map 2"), &[])
                .unwrap()
                .is_some()
        );
        assert_eq!(
            builder.publish(1, b"older", Some(b"map 1"), &[]).unwrap(),
            None
        );
        assert_eq!(
            std::fs::read(&builder.project().out_file).unwrap(),
            b"newer"
        );
        assert_eq!(std::fs::read(&map_file).unwrap(), b"map 2");
        assert!(
            builder
                .publish(3, b"newest", Some(b"map 3"), &[])
                .unwrap()
                .is_some()
        );
        assert_eq!(
            std::fs::read(&builder.project().out_file).unwrap(),
            b"newest"
        );
        assert_eq!(std::fs::read(&map_file).unwrap(), b"map 3");
        // A build without a map never leaves the previous build's map beside its artifact.
        assert!(builder.publish(4, b"no map", None, &[]).unwrap().is_some());
        assert!(!map_file.exists(), "a stale map was left in place");
        // No staging file is left behind by the refused write.
        let leftovers = std::fs::read_dir(builder.project().out_dir())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().contains("staging"))
            })
            .count();
        assert_eq!(leftovers, 0);
    }

    /// A temp project with these files in `src/arkor/`, and a builder for it.
    fn project_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Builder) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src/arkor");
        std::fs::create_dir_all(&src).unwrap();
        for (name, text) in files {
            std::fs::write(src.join(name), text).unwrap();
        }
        let builder = Builder::new(Project::at(dir.path()).unwrap());
        (dir, builder)
    }

    /// Both build paths (the dedicated thread for small graphs, the caller's runtime for
    /// large ones) produce the same artifact.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_and_large_graph_paths_build_the_same_artifact() {
        let (_dir, builder) = project_with(&[
            (
                "index.ts",
                "import { helper } from \"./helper\";\nimport { createArkor } from \"arkor\";\nexport const arkor = createArkor({ value: helper(2) });\n",
            ),
            (
                "helper.ts",
                "export const helper = (x: number): number => x * 21;\n",
            ),
        ]);
        let small = builder.build().await;
        let small_output = small.outcome.expect("small-graph build");
        assert_eq!(small.watch_files.len(), 2, "{:?}", small.watch_files);
        builder
            .shared
            .graph_files
            .store(ONE_THREAD_MAX_MODULES + 1, Ordering::Relaxed);
        let large = builder.build().await;
        let large_output = large.outcome.expect("large-graph build");
        assert_eq!(small_output.content_hash, large_output.content_hash);
        let text = std::fs::read_to_string(&large_output.out_file).unwrap();
        assert!(
            text.contains("x * 21") && text.contains("from \"arkor\""),
            "{text}"
        );
    }

    /// The hidden map changes nothing in the artifact: its bytes equal those of the same
    /// build without a map, and no comment points at the map.
    #[tokio::test]
    async fn the_hidden_source_map_leaves_the_artifact_bytes_unchanged() {
        let (_dir, builder) = project_with(&[
            (
                "index.ts",
                "import { onStep } from \"./callbacks\";\nimport { createArkor } from \"arkor\";\nexport const arkor = createArkor({ onStep });\n",
            ),
            (
                "callbacks.ts",
                "type N = number;\nexport function onStep(step: N): void {\n  if (step > 2) {\n    throw new Error(`boom at ${step}`);\n  }\n}\n",
            ),
        ]);
        let output = builder.build().await.outcome.expect("builds");
        let published = std::fs::read(&output.out_file).unwrap();

        let mut without_map = builder.bundler_options();
        without_map.sourcemap = None;
        without_map.sourcemap_exclude_sources = None;
        let mut bundler =
            Bundler::with_plugins(without_map, vec![Arc::new(SourceLoader::default())]).unwrap();
        let plain = bundler.generate().await.expect("builds without a map");
        let _ = bundler.close().await;
        let (chunk, map) = artifact_outputs(plain.assets);
        assert!(map.is_none());
        assert_eq!(
            String::from_utf8_lossy(&published),
            String::from_utf8_lossy(chunk.unwrap().content_as_bytes()),
            "the map changed the artifact"
        );
        assert!(!String::from_utf8_lossy(&published).contains("sourceMappingURL"));

        // The map on disk and the one kept in memory both name the TypeScript source.
        let map_text = std::fs::read_to_string(builder.project().source_map_file()).unwrap();
        let from_disk =
            ArtifactMap::from_json(&output.content_hash, &map_text, builder.project()).unwrap();
        let kept = builder
            .source_maps()
            .get(&output.content_hash)
            .expect("the build's map is kept by its contentHash");
        let text = String::from_utf8(published).unwrap();
        let (line, column) = text
            .lines()
            .enumerate()
            .find_map(|(i, l)| l.find("new Error").map(|c| (i as u32 + 1, c as u32 + 1)))
            .expect("the throw is in the artifact");
        for map in [&from_disk, &*kept] {
            let original = map.original(line, Some(column)).expect("mapped");
            assert_eq!(original.to_string(), "src/arkor/callbacks.ts:4:11");
        }
    }

    /// A saved file read between the editor's truncate and its write is read again once the
    /// write lands; one that stays empty is read as empty once the wait is over.
    #[test]
    fn a_saved_file_caught_empty_is_read_once_written() {
        let dir = tempfile::tempdir().unwrap();
        let saved = dir.path().join("a.ts");
        std::fs::write(&saved, "").unwrap();
        let writer = {
            let saved = saved.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(2));
                std::fs::write(saved, "export const a = 1;\n").unwrap();
            })
        };
        // Generous, so a slow machine cannot make this flaky; the read returns on the write.
        let code = read_saved(&saved, Duration::from_secs(30)).unwrap();
        writer.join().unwrap();
        assert_eq!(code, "export const a = 1;\n");

        let emptied = dir.path().join("b.ts");
        std::fs::write(&emptied, "").unwrap();
        assert_eq!(read_saved(&emptied, Duration::from_millis(1)).unwrap(), "");
    }

    #[test]
    fn normalize_resolves_dots() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d.ts")),
            PathBuf::from("/a/c/d.ts")
        );
    }
}
