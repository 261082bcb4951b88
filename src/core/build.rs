//! One Rolldown build of `src/arkor/index.ts` into `.arkor/build/index.mjs` (SPEC §2).
//!
//! A fresh `Bundler` per build: a reused one caches failed resolutions, so an import of a file
//! created after the failure would keep failing (and a fresh one measured as fast).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rolldown::{
    Bundler, BundlerOptions, BundlerTransformOptions, CodeSplittingMode, Either, InputItem,
    IsExternal, LogLevel, OutputFormat, Platform,
};
use rolldown_error::{
    BuildDiagnostic, DiagnosableArcstr, DiagnosableResolveError, DiagnosticOptions, Severity,
};

use crate::core::hash;
use crate::core::project::{ENTRY_REL, Project};

/// The transform target: the published SDK's `engines.node` floor, not the host's Node.
pub const NODE_TARGET: &str = "node22.22";

/// Makes staging file names unique within the process.
static STAGING_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

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
    /// Rolldown warnings, one line each (`[KIND] message`).
    pub warnings: Vec<String>,
}

/// The result of one build plus the module graph to watch, which Rolldown reports even when
/// the build failed (so a syntax error in an imported file is still watched).
#[derive(Debug)]
pub struct BuildAttempt {
    pub outcome: Result<BuildOutput, BuildError>,
    /// Absolute paths of the files of the module graph (plus tsconfig.json when used).
    pub watch_files: Vec<PathBuf>,
}

/// Builds one project. Cheap to clone; each [`Builder::build`] is independent.
#[derive(Clone, Debug)]
pub struct Builder {
    project: Project,
}

impl Builder {
    pub fn new(project: Project) -> Self {
        Self { project }
    }

    pub fn project(&self) -> &Project {
        &self.project
    }

    /// Bundle the entry and publish it atomically (staging file + rename). On any failure the
    /// previous artifact stays in place. Needs a tokio runtime (Rolldown spawns tasks).
    pub async fn build(&self) -> BuildAttempt {
        let started = Instant::now();
        let entry = &self.project.entry;
        if !entry.is_file() {
            return BuildAttempt {
                outcome: Err(BuildError::EntryNotFound {
                    entry: entry.clone(),
                }),
                watch_files: Vec::new(),
            };
        }
        let mut bundler = match Bundler::new(self.bundler_options()) {
            Ok(bundler) => bundler,
            Err(errors) => {
                return BuildAttempt {
                    outcome: Err(self.compile_error(errors.into_vec())),
                    watch_files: Vec::new(),
                };
            }
        };
        let generated = bundler.generate().await;
        let watch_files: Vec<PathBuf> = bundler
            .watch_files()
            .iter()
            .map(|file| PathBuf::from(file.as_str()))
            .collect();
        // Closing releases the module graph now instead of at drop; its failure changes nothing.
        let _ = bundler.close().await;
        let outcome = match generated {
            Err(errors) => Err(self.compile_error(errors.into_vec())),
            Ok(output) => {
                let warnings = self.render_warnings(&output.warnings);
                let chunk = output.assets.iter().find(|asset| {
                    asset.filename().ends_with(".mjs") || asset.filename().ends_with(".js")
                });
                match chunk {
                    None => Err(BuildError::NoOutput {
                        entry: entry.clone(),
                    }),
                    Some(chunk) => {
                        self.publish(chunk.content_as_bytes())
                            .map(|(content_hash, fingerprint)| BuildOutput {
                                out_file: self.project.out_file.clone(),
                                size: chunk.content_as_bytes().len() as u64,
                                content_hash,
                                fingerprint,
                                duration: started.elapsed(),
                                warnings,
                            })
                    }
                }
            }
        };
        BuildAttempt {
            outcome,
            watch_files,
        }
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
            ..Default::default()
        }
    }

    /// Write the bytes beside the artifact and rename them over it, so readers see either the
    /// old or the new file, never a partial one. Returns (contentHash, fingerprint).
    fn publish(&self, bytes: &[u8]) -> Result<(String, String), BuildError> {
        let out_file = &self.project.out_file;
        // `index.mjs.hmr-staging.<pid>.<n>`: a name of its own per write, so two builders
        // (the watcher and an `arkor build` in another terminal) cannot rename each other's
        // half-written file into place.
        let mut staging = self.project.staging_file().into_os_string();
        staging.push(format!(
            ".{}.{}",
            std::process::id(),
            STAGING_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let staging = PathBuf::from(staging);
        let write_error = |path: &Path, source| BuildError::Write {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(self.project.out_dir())
            .map_err(|e| write_error(&self.project.out_dir(), e))?;
        if let Err(e) = std::fs::write(&staging, bytes) {
            let _ = std::fs::remove_file(&staging);
            return Err(write_error(&staging, e));
        }
        if let Err(e) = std::fs::rename(&staging, out_file) {
            let _ = std::fs::remove_file(&staging);
            return Err(write_error(out_file, e));
        }
        let content_hash = hash::content_hash(bytes);
        // The file was just renamed into place; a failed stat (deleted by someone at once)
        // still needs a token that differs from every earlier one.
        let fingerprint = hash::artifact_fingerprint(out_file).unwrap_or_else(|| {
            format!(
                "unstat-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            )
        });
        Ok((content_hash, fingerprint))
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

/// SPEC §2 external policy: an unresolved id that is neither relative nor absolute (a bare
/// package name or `node:` builtin) stays an import; everything else is bundled.
fn is_external(
    id: &str,
    _importer: Option<&str>,
    is_resolved: bool,
) -> Pin<Box<dyn Future<Output = anyhow::Result<bool>> + Send + 'static>> {
    let external = !is_resolved && !id.starts_with('.') && !Path::new(id).is_absolute();
    Box::pin(std::future::ready(Ok(external)))
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
fn normalize(path: &Path) -> PathBuf {
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
                            builder.publish(&vec![id * 16 + round; SIZE]).map(drop)?;
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
    fn normalize_resolves_dots() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d.ts")),
            PathBuf::from("/a/c/d.ts")
        );
    }
}
