//! Finding the frames of a log line that point at the artifact, and rewriting them.

use std::borrow::Cow;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{ArtifactMap, SourceMaps};

/// Rewrites the artifact positions in one run's output lines to source positions. Cheap to
/// clone (both pipe readers of a run share one).
#[derive(Clone, Debug)]
pub struct StackMapper {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The artifact's file name (`index.mjs`): a line without it is returned untouched after
    /// one substring search.
    file_name: String,
    /// The artifact's absolute path, as Node prints it in `at f (/…/index.mjs:L:C)`.
    path: String,
    /// The artifact's `file://` URL, as Node prints frames of ES modules.
    url: String,
    /// The map of the artifact the run started on (frames without a `?t=` query); cleared
    /// when that artifact becomes uncertain.
    start: Mutex<Option<Arc<ArtifactMap>>>,
    /// Recent builds' maps, for re-imported modules (`index.mjs?t=<contentHash>`).
    recent: SourceMaps,
}

impl StackMapper {
    /// A mapper for the output of a run that imported `artifact` when its map was `start`
    /// (`None`: that build's map is unknown, so only re-imported modules are mapped).
    pub fn new(artifact: &Path, start: Option<Arc<ArtifactMap>>, recent: SourceMaps) -> Self {
        let path = artifact.to_string_lossy().into_owned();
        Self {
            inner: Arc::new(Inner {
                file_name: artifact
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.clone()),
                url: file_url(&path),
                path,
                start: Mutex::new(start),
                recent,
            }),
        }
    }

    /// A build was published before the run is known to have imported the artifact: unless
    /// it has the start map's contentHash, frames of the first import are from now on left
    /// as printed (they may come from either build).
    pub fn forget_start_map_unless(&self, published: Option<&str>) {
        let mut start = self.inner.start.lock().unwrap_or_else(|e| e.into_inner());
        if start
            .as_ref()
            .is_some_and(|map| Some(map.content_hash()) != published)
        {
            *start = None;
        }
    }

    /// `line` with every artifact position whose map is known replaced by its source position
    /// (`src/arkor/callbacks.ts:12:5`); borrowed and byte-identical when nothing was replaced.
    pub fn map_line<'a>(&self, line: &'a str) -> Cow<'a, str> {
        let inner = &*self.inner;
        if !line.contains(inner.file_name.as_str()) {
            return Cow::Borrowed(line);
        }
        let mut mapped = String::new();
        let mut copied = 0;
        let mut cursor = 0;
        while let Some((start, after)) = inner.next_reference(line, cursor) {
            cursor = after;
            let Some(reference) = Reference::parse(&line[after..]) else {
                continue;
            };
            let end = after + reference.len;
            cursor = end;
            let map = match reference.build {
                None => inner.start_map(),
                Some(content_hash) => inner.recent.get(content_hash),
            };
            let Some(original) = map.and_then(|map| map.original(reference.line, reference.column))
            else {
                continue;
            };
            mapped.push_str(&line[copied..start]);
            mapped.push_str(&original.to_string());
            copied = end;
        }
        if copied == 0 {
            return Cow::Borrowed(line);
        }
        mapped.push_str(&line[copied..]);
        Cow::Owned(mapped)
    }
}

impl Inner {
    fn start_map(&self) -> Option<Arc<ArtifactMap>> {
        self.start.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// The next mention of the artifact at or after `from`: (where it starts, where its path
    /// ends). The URL form wins over the plain path inside it.
    fn next_reference(&self, line: &str, from: usize) -> Option<(usize, usize)> {
        let rest = &line[from..];
        let url = rest.find(&self.url).map(|at| (at, at + self.url.len()));
        let path = rest.find(&self.path).map(|at| (at, at + self.path.len()));
        let (start, end) = match (url, path) {
            (Some(url), Some(path)) => {
                if url.0 <= path.0 {
                    url
                } else {
                    path
                }
            }
            (one, other) => one.or(other)?,
        };
        Some((from + start, from + end))
    }
}

/// What follows the artifact's path in a frame: `[?t=<contentHash>]:<line>[:<column>]`.
struct Reference<'a> {
    /// The build a re-import names (`?t=`); `None` for the plain path.
    build: Option<&'a str>,
    line: u32,
    column: Option<u32>,
    /// Bytes from the end of the path to the end of the position.
    len: usize,
}

impl<'a> Reference<'a> {
    fn parse(text: &'a str) -> Option<Self> {
        let mut len = 0;
        let mut build = None;
        if let Some(query) = text.strip_prefix('?') {
            // Only the runner's content-addressed re-import names a build; another query
            // cannot be tied to a map.
            let end = query.find(':')?;
            build = Some(query[..end].strip_prefix("t=")?);
            len += 1 + end;
        }
        let (line, digits) = number_after_colon(&text[len..])?;
        len += digits;
        let column = match number_after_colon(&text[len..]) {
            Some((column, digits)) => {
                len += digits;
                Some(column)
            }
            None => None,
        };
        Some(Self {
            build,
            line,
            column,
            len,
        })
    }
}

/// `:<digits>` at the start of `text`: the number and the bytes it took.
fn number_after_colon(text: &str) -> Option<(u32, usize)> {
    let digits = text.strip_prefix(':')?;
    let count = digits.bytes().take_while(u8::is_ascii_digit).count();
    let number = digits[..count].parse().ok()?;
    Some((number, 1 + count))
}

/// The `file://` URL Node prints for an absolute path (its `pathToFileURL`, as of Node 20):
/// bytes outside the set below are percent-encoded, `~` and `^` included.
fn file_url(path: &str) -> String {
    let mut url = String::from("file://");
    for byte in path.bytes() {
        let safe = byte.is_ascii_alphanumeric() || b"/-._!$&'()*+,;=:@".contains(&byte);
        if safe {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::project::Project;

    const ARTIFACT: &str = "/proj/.arkor/build/index.mjs";
    /// Line 2 → callbacks.ts 12:5 (column 3) and 13:1 (column 20); line 3 → index.ts 1:1.
    const MAP: &str = r#"{"version":3,"sources":["../../src/arkor/callbacks.ts","../../src/arkor/index.ts"],"names":[],"mappings":";EAWI,iBACJ;ACZA"}"#;
    /// Line 1 → other.ts 5:1.
    const HOT_MAP: &str =
        r#"{"version":3,"sources":["../../src/arkor/other.ts"],"names":[],"mappings":"AAIA"}"#;

    fn mapper() -> StackMapper {
        let project = Project::at(Path::new("/proj")).unwrap();
        let start = Arc::new(ArtifactMap::from_json("aaaa", MAP, &project).unwrap());
        let recent = SourceMaps::new();
        recent.insert(Arc::new(
            ArtifactMap::from_json("bbbb", HOT_MAP, &project).unwrap(),
        ));
        StackMapper::new(Path::new(ARTIFACT), Some(start), recent)
    }

    #[test]
    fn frames_in_both_node_forms_name_the_source() {
        let m = mapper();
        assert_eq!(
            m.map_line("    at onStep (/proj/.arkor/build/index.mjs:2:3)"),
            "    at onStep (src/arkor/callbacks.ts:12:5)"
        );
        assert_eq!(
            m.map_line("    at file:///proj/.arkor/build/index.mjs:2:20"),
            "    at src/arkor/callbacks.ts:13:1"
        );
        assert_eq!(
            m.map_line("    at async run (file:///proj/.arkor/build/index.mjs:3:1)"),
            "    at async run (src/arkor/index.ts:1:1)"
        );
        // The header of an uncaught error names a line only.
        assert_eq!(
            m.map_line("file:///proj/.arkor/build/index.mjs:2"),
            "src/arkor/callbacks.ts:12"
        );
    }

    #[test]
    fn a_reimported_module_uses_the_map_of_the_build_it_names() {
        let m = mapper();
        assert_eq!(
            m.map_line("    at onLog (file:///proj/.arkor/build/index.mjs?t=bbbb:1:1)"),
            "    at onLog (src/arkor/other.ts:5:1)"
        );
        // An unknown build or another query is never mapped with a wrong map.
        for line in [
            "    at onLog (file:///proj/.arkor/build/index.mjs?t=cccc:2:3)",
            "    at onLog (file:///proj/.arkor/build/index.mjs?v=1:2:3)",
        ] {
            assert!(matches!(m.map_line(line), Cow::Borrowed(l) if l == line));
        }
    }

    #[test]
    fn several_frames_on_one_line_are_all_mapped() {
        assert_eq!(
            mapper().map_line(
                "a /proj/.arkor/build/index.mjs:2:3 b /proj/.arkor/build/index.mjs:3:9 c"
            ),
            "a src/arkor/callbacks.ts:12:5 b src/arkor/index.ts:1:1 c"
        );
    }

    #[test]
    fn everything_else_stays_byte_identical_and_borrowed() {
        let m = mapper();
        for line in [
            "step 10 loss 0.52",
            "",
            "\u{1b}[31merror\u{1b}[0m index.mjs is fine",
            "    at node:internal/modules/esm/loader:123:5",
            "    at other (/proj/node_modules/arkor/index.mjs:2:3)",
            "/proj/.arkor/build/index.mjs without a position",
            "/proj/.arkor/build/index.mjs:1:1 has no source",
            "/proj/.arkor/build/index.mjs:99:1 is past the map",
        ] {
            assert!(
                matches!(m.map_line(line), Cow::Borrowed(l) if l == line),
                "{line:?}"
            );
        }
    }

    #[test]
    fn without_the_start_map_only_named_builds_are_mapped() {
        let recent = SourceMaps::new();
        let project = Project::at(Path::new("/proj")).unwrap();
        recent.insert(Arc::new(
            ArtifactMap::from_json("bbbb", HOT_MAP, &project).unwrap(),
        ));
        let m = StackMapper::new(Path::new(ARTIFACT), None, recent);
        let plain = "    at f (/proj/.arkor/build/index.mjs:2:3)";
        assert_eq!(m.map_line(plain), plain);
        assert_eq!(
            m.map_line("    at f (file:///proj/.arkor/build/index.mjs?t=bbbb:1:4)"),
            "    at f (src/arkor/other.ts:5:1)"
        );
    }

    #[test]
    fn an_uncertain_start_build_is_never_guessed() {
        let m = mapper();
        let line = "    at f (/proj/.arkor/build/index.mjs:2:3)";
        m.forget_start_map_unless(Some("aaaa"));
        assert_eq!(m.map_line(line), "    at f (src/arkor/callbacks.ts:12:5)");
        m.forget_start_map_unless(Some("bbbb"));
        assert!(matches!(m.map_line(line), Cow::Borrowed(l) if l == line));
        // Re-imports still name their build.
        assert_eq!(
            m.map_line("at f (file:///proj/.arkor/build/index.mjs?t=bbbb:1:1)"),
            "at f (src/arkor/other.ts:5:1)"
        );
    }

    #[test]
    fn file_urls_are_percent_encoded_like_nodes() {
        assert_eq!(
            file_url("/home/a b/#x%/ü^|~/it's(1).mjs"),
            "file:///home/a%20b/%23x%25/%C3%BC%5E%7C%7E/it's(1).mjs"
        );
    }
}
