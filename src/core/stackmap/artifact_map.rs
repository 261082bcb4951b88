//! One build's source map, held in memory, answering "which source line is artifact line L".

use std::path::{Path, PathBuf};

use rolldown_sourcemap::{JSONSourceMap, SourceMap};

use crate::core::build::normalize;
use crate::core::project::Project;

#[derive(Debug, thiserror::Error)]
pub enum SourceMapError {
    #[error("the source map is not valid JSON of version 3: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the source map's mappings cannot be decoded: {0}")]
    Mappings(String),
}

/// Where a position of the artifact came from, as a user reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginalPosition {
    /// The source file relative to the project root (`src/arkor/callbacks.ts`), or absolute
    /// when it lies outside the project.
    pub file: String,
    /// 1-based.
    pub line: u32,
    /// 1-based, in UTF-16 units as Node counts them; `None` when the question had none.
    pub column: Option<u32>,
}

impl std::fmt::Display for OriginalPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(column) = self.column {
            write!(f, ":{column}")?;
        }
        Ok(())
    }
}

/// The source map of the artifact with one contentHash.
pub struct ArtifactMap {
    content_hash: String,
    map: SourceMap,
    /// The folder the map's relative `sources` start from (the artifact's folder).
    map_dir: PathBuf,
    project_root: PathBuf,
}

impl std::fmt::Debug for ArtifactMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactMap")
            .field("content_hash", &self.content_hash)
            .field("tokens", &self.map.get_tokens().len())
            .field("sources", &self.map.get_sources().len())
            .finish()
    }
}

impl ArtifactMap {
    /// Wrap a decoded map (Rolldown hands one over with every build) of the artifact of
    /// `project` whose contentHash is `content_hash`.
    pub fn new(content_hash: impl Into<String>, map: SourceMap, project: &Project) -> Self {
        Self {
            content_hash: content_hash.into(),
            map,
            map_dir: project.out_dir(),
            project_root: project.root.clone(),
        }
    }

    /// Decode a map file's text (JSON, version 3, VLQ mappings).
    pub fn from_json(
        content_hash: impl Into<String>,
        json: &str,
        project: &Project,
    ) -> Result<Self, SourceMapError> {
        let raw: JSONSourceMap = serde_json::from_str(json)?;
        let map = SourceMap::from_json(raw).map_err(|e| SourceMapError::Mappings(e.to_string()))?;
        Ok(Self::new(content_hash, map, project))
    }

    pub fn content_hash(&self) -> &str {
        &self.content_hash
    }

    /// The source position of artifact `line` (1-based) and `column` (1-based; `None`: the
    /// line's first mapped position), or `None` where the artifact's code has no source
    /// (Rolldown's own helpers) or the position is past the map.
    pub fn original(&self, line: u32, column: Option<u32>) -> Option<OriginalPosition> {
        let line0 = line.checked_sub(1)?;
        let column0 = column.map_or(0, |c| c.saturating_sub(1));
        let count = self.map.get_tokens().len() as u32;
        let token_at = |index: u32| self.map.get_token(index);
        // Tokens are in artifact order: find the last one at or before the position.
        let (mut low, mut high) = (0u32, count);
        while low < high {
            let middle = low + (high - low) / 2;
            let token = token_at(middle)?;
            if (token.get_dst_line(), token.get_dst_col()) <= (line0, column0) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        let on_line = |index: u32| token_at(index).filter(|t| t.get_dst_line() == line0);
        // A column before the line's first token (indentation) takes that first token.
        let token = low
            .checked_sub(1)
            .and_then(on_line)
            .or_else(|| on_line(low))?;
        let source = self.map.get_source(token.get_source_id()?)?;
        Some(OriginalPosition {
            file: self.display_path(source),
            line: token.get_src_line() + 1,
            column: column.map(|_| token.get_src_col() + 1),
        })
    }

    /// A `sources` entry as the user reads it: relative to the project root when inside it.
    fn display_path(&self, source: &str) -> String {
        let source = match self.map.get_source_root() {
            Some(root) if !root.is_empty() => Path::new(root).join(source),
            _ => PathBuf::from(source),
        };
        let absolute = normalize(&self.map_dir.join(source));
        match absolute.strip_prefix(&self.project_root) {
            Ok(relative) if !relative.as_os_str().is_empty() => {
                relative.to_string_lossy().into_owned()
            }
            _ => absolute.to_string_lossy().into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map written by hand: artifact line 1 = `// header` (no source), line 2 maps to
    /// callbacks.ts 12:5 at column 3 and to 13:1 at column 20, line 3 maps to index.ts 1:1.
    /// VLQ: `AACA` = +0 col, source 0, line +1... built below from explicit segments.
    fn sample(project: &Project) -> ArtifactMap {
        // Segments (all fields relative to the previous segment, lines reset the column):
        // line 2: [2,0,11,4] → col 2, src 0, line 11, col 4; [17,0,1,-4] → col 19, line 12, col 0
        // line 3: [0,1,-12,0] → col 0, src 1, line 0, col 0
        let json = r#"{"version":3,"file":"index.mjs","sources":["../../src/arkor/callbacks.ts","../../src/arkor/index.ts"],"names":[],"mappings":";EAWI,iBACJ;ACZA"}"#;
        ArtifactMap::from_json("abc", json, project).expect("valid map")
    }

    fn project() -> Project {
        Project::at(Path::new("/proj")).expect("project")
    }

    #[test]
    fn positions_map_to_the_source_file_line_and_column() {
        let map = sample(&project());
        let at = |line, column| map.original(line, column).map(|p| p.to_string());
        assert_eq!(at(2, Some(3)), Some("src/arkor/callbacks.ts:12:5".into()));
        // Between two tokens: the earlier one.
        assert_eq!(at(2, Some(10)), Some("src/arkor/callbacks.ts:12:5".into()));
        assert_eq!(at(2, Some(20)), Some("src/arkor/callbacks.ts:13:1".into()));
        assert_eq!(at(2, Some(400)), Some("src/arkor/callbacks.ts:13:1".into()));
        // Before the line's first token (indentation): that first token.
        assert_eq!(at(2, Some(1)), Some("src/arkor/callbacks.ts:12:5".into()));
        // No column asked: the line's first position, no column given.
        assert_eq!(at(2, None), Some("src/arkor/callbacks.ts:12".into()));
        assert_eq!(at(3, Some(7)), Some("src/arkor/index.ts:1:1".into()));
    }

    #[test]
    fn positions_without_a_source_stay_unmapped() {
        let map = sample(&project());
        assert_eq!(map.original(1, Some(1)), None, "a line with no tokens");
        assert_eq!(map.original(4, Some(1)), None, "past the map");
        assert_eq!(map.original(0, Some(1)), None, "line 0 does not exist");
    }

    #[test]
    fn sources_outside_the_project_stay_absolute() {
        let json =
            r#"{"version":3,"sources":["../../../lib/shared.ts"],"names":[],"mappings":"AAAA"}"#;
        let map = ArtifactMap::from_json("x", json, &project()).unwrap();
        assert_eq!(
            map.original(1, Some(1)).map(|p| p.file),
            Some("/lib/shared.ts".into())
        );
    }

    #[test]
    fn malformed_maps_are_typed_errors() {
        assert!(matches!(
            ArtifactMap::from_json("x", "{", &project()),
            Err(SourceMapError::Json(_))
        ));
        assert!(matches!(
            ArtifactMap::from_json(
                "x",
                r#"{"version":3,"sources":[],"names":[],"mappings":"AAAA"}"#,
                &project()
            ),
            Err(SourceMapError::Mappings(_))
        ));
    }
}
