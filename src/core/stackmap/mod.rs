//! Stack traces that name the TypeScript source instead of the bundled artifact.
//!
//! Every build also produces a *hidden* source map: `.arkor/build/index.mjs.map` beside the
//! artifact and no `sourceMappingURL` comment in it, so the artifact's bytes (and with them its
//! contentHash and the config the runner sees) are exactly what they are without a map. Node
//! therefore keeps printing frames that point at the artifact
//! (`at onStep (/p/.arkor/build/index.mjs:41:11)`, `file:///p/.arkor/build/index.mjs:41`);
//! a [`StackMapper`] rewrites those to `src/arkor/callbacks.ts:12:5` as the run's output becomes
//! log lines, and leaves every other byte of the line as it was.
//!
//! Which map belongs to a frame: the builder keeps the maps of its recent builds in
//! [`SourceMaps`], keyed by the artifact's contentHash. A run's first import of the artifact has
//! no query, so its frames use the map of the artifact the run started on; a hot swap re-imports
//! it as `index.mjs?t=<contentHash>`, so those frames name their build themselves. A frame whose
//! build has no map here (built by another process, or long evicted) stays as Node printed it:
//! a map is never applied to an artifact it was not built with.

mod artifact_map;
mod frames;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

pub use artifact_map::{ArtifactMap, OriginalPosition, SourceMapError};
pub use frames::StackMapper;

/// Builds whose maps are kept for hot-swapped modules (a run's own start map is held by its
/// mapper, however old it gets).
pub const KEPT_MAPS: usize = 8;

/// The source maps of the latest builds, by contentHash. Cheap to clone; clones share.
#[derive(Clone, Debug, Default)]
pub struct SourceMaps {
    maps: Arc<Mutex<VecDeque<Arc<ArtifactMap>>>>,
}

impl SourceMaps {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keep `map` as the newest (replacing one with the same contentHash).
    pub fn insert(&self, map: Arc<ArtifactMap>) {
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        maps.retain(|kept| kept.content_hash() != map.content_hash());
        maps.push_back(map);
        while maps.len() > KEPT_MAPS {
            maps.pop_front();
        }
    }

    /// The map of the artifact whose contentHash is `content_hash`, if it is still kept.
    pub fn get(&self, content_hash: &str) -> Option<Arc<ArtifactMap>> {
        let maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        maps.iter()
            .rev()
            .find(|map| map.content_hash() == content_hash)
            .cloned()
    }
}
