//! Things marked on a run's step axis: saved checkpoints, and moments the engine records
//! (a hot-swap, an early-stop request). Both are bounded.

use std::time::SystemTime;

/// Checkpoint steps kept for drawing; past this the list is thinned evenly.
pub const MAX_CHECKPOINTS: usize = 256;
/// Engine markers kept; past this the oldest go.
pub const MAX_MARKERS: usize = 256;

/// Saved checkpoints, in step order. Every `stride`-th one is kept; when the list is full,
/// every other kept one goes and the stride doubles, so a run that checkpoints every
/// second still shows, evenly across its whole length, where its checkpoints fall. The
/// newest is always known.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    kept: Vec<u64>,
    stride: u64,
    saved: u64,
    latest: Option<u64>,
}

impl Default for Checkpoints {
    fn default() -> Self {
        Self {
            kept: Vec::new(),
            stride: 1,
            saved: 0,
            latest: None,
        }
    }
}

impl Checkpoints {
    /// `false` for a step not past the last one (a replay).
    pub fn push(&mut self, step: u64) -> bool {
        if self.latest.is_some_and(|last| step <= last) {
            return false;
        }
        let ordinal = self.saved;
        self.saved += 1;
        self.latest = Some(step);
        if !ordinal.is_multiple_of(self.stride) {
            return true;
        }
        if self.kept.len() == MAX_CHECKPOINTS {
            let mut index = 0;
            self.kept.retain(|_| {
                index += 1;
                index % 2 == 1
            });
            self.stride *= 2;
            if !ordinal.is_multiple_of(self.stride) {
                return true;
            }
        }
        self.kept.push(step);
        true
    }

    pub fn latest(&self) -> Option<u64> {
        self.latest
    }

    /// The steps to mark, in order: the kept ones and the newest.
    pub fn steps(&self) -> impl Iterator<Item = u64> + '_ {
        let newest = self.latest.filter(|&l| self.kept.last() != Some(&l));
        self.kept.iter().copied().chain(newest)
    }

    /// How many checkpoints were saved in all.
    pub fn saved(&self) -> u64 {
        self.saved
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.kept.capacity() * std::mem::size_of::<u64>()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerKind {
    /// New callbacks were swapped into the running trainer.
    HotSwap,
    /// The user asked the run to stop at its next checkpoint.
    EarlyStopRequested,
}

/// A moment on the run's axis: at the latest known step (none before the first), and the
/// wall time it happened.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Marker {
    pub kind: MarkerKind,
    pub step: Option<u64>,
    pub at: SystemTime,
}

#[derive(Clone, Debug, Default)]
pub struct Markers {
    markers: Vec<Marker>,
}

impl Markers {
    pub fn push(&mut self, marker: Marker) {
        if self.markers.len() == MAX_MARKERS {
            self.markers.remove(0);
        }
        self.markers.push(marker);
    }

    pub fn all(&self) -> &[Marker] {
        &self.markers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_deduplicated_and_thinned_evenly() {
        let mut checkpoints = Checkpoints::default();
        assert!(checkpoints.push(10));
        assert!(!checkpoints.push(10));
        assert!(!checkpoints.push(5));
        for step in 2..=10_000u64 {
            checkpoints.push(step * 10);
        }
        assert_eq!(checkpoints.saved(), 10_000);
        assert_eq!(checkpoints.latest(), Some(100_000));
        let steps: Vec<u64> = checkpoints.steps().collect();
        assert!(steps.len() <= MAX_CHECKPOINTS + 1);
        assert!(steps.len() > MAX_CHECKPOINTS / 2);
        assert_eq!(steps[0], 10, "the first one stays");
        assert_eq!(steps.last(), Some(&100_000), "and the newest");
        assert!(steps.windows(2).all(|w| w[0] < w[1]));
        // Spread evenly over the whole run: equal gaps between the kept ones.
        let kept = &steps[..steps.len() - 1];
        let gap = kept[1] - kept[0];
        assert!(kept.windows(2).all(|w| w[1] - w[0] == gap), "{kept:?}");
    }

    #[test]
    fn markers_keep_the_newest() {
        let mut markers = Markers::default();
        for step in 0..(MAX_MARKERS as u64 + 10) {
            markers.push(Marker {
                kind: MarkerKind::HotSwap,
                step: Some(step),
                at: SystemTime::UNIX_EPOCH,
            });
        }
        assert_eq!(markers.all().len(), MAX_MARKERS);
        assert_eq!(markers.all()[0].step, Some(10));
    }
}
