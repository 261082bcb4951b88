//! A bounded series of `(step, value)` points for a chart, downsampled so spikes survive.
//!
//! Points fill fixed-width buckets in step order. When every bucket is in use, neighbours
//! merge pairwise and the width doubles, so memory stays at `capacity` buckets whatever
//! the run's length, and resolution is uniform across the run. Each bucket keeps its
//! lowest and its highest point (with their steps) and a mean, so a one-step loss spike
//! deep in a long run is still drawn at its height.

/// One plotted point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub step: u64,
    pub value: f64,
}

/// Summary of a run of consecutive points.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    pub first_step: u64,
    pub last_step: u64,
    pub count: u64,
    pub min: Point,
    pub max: Point,
    sum: f64,
}

impl Bucket {
    fn new(point: Point) -> Self {
        Self {
            first_step: point.step,
            last_step: point.step,
            count: 1,
            min: point,
            max: point,
            sum: point.value,
        }
    }

    fn add(&mut self, point: Point) {
        self.last_step = point.step;
        self.count += 1;
        self.sum += point.value;
        if point.value < self.min.value {
            self.min = point;
        }
        if point.value > self.max.value {
            self.max = point;
        }
    }

    fn merge(self, later: Bucket) -> Bucket {
        Bucket {
            first_step: self.first_step,
            last_step: later.last_step,
            count: self.count + later.count,
            min: if later.min.value < self.min.value {
                later.min
            } else {
                self.min
            },
            max: if later.max.value > self.max.value {
                later.max
            } else {
                self.max
            },
            sum: self.sum + later.sum,
        }
    }

    pub fn mean(&self) -> f64 {
        self.sum / self.count as f64
    }

    /// The points to draw for this bucket: its extremes in step order (one point when the
    /// bucket holds one, or when min and max are the same point).
    pub fn extremes(&self) -> impl Iterator<Item = Point> + use<> {
        let (a, b) = if self.min.step <= self.max.step {
            (self.min, self.max)
        } else {
            (self.max, self.min)
        };
        std::iter::once(a).chain((b.step != a.step).then_some(b))
    }
}

/// Buckets kept per series unless told otherwise: up to twice as many points plotted,
/// comparable to the browser Studio's 2,000-point cap.
pub const DEFAULT_BUCKETS: usize = 1024;

#[derive(Clone, Debug)]
pub struct MinMaxSeries {
    buckets: Vec<Bucket>,
    capacity: usize,
    /// Points per bucket (a power of two).
    width: u64,
    len: u64,
    last: Option<Point>,
    lowest: Option<f64>,
    highest: Option<f64>,
}

impl Default for MinMaxSeries {
    fn default() -> Self {
        Self::with_buckets(DEFAULT_BUCKETS)
    }
}

impl MinMaxSeries {
    /// A series of at most `buckets` buckets (rounded up to an even number, at least 2).
    pub fn with_buckets(buckets: usize) -> Self {
        let capacity = buckets.max(2).next_multiple_of(2);
        Self {
            buckets: Vec::with_capacity(capacity),
            capacity,
            width: 1,
            len: 0,
            last: None,
            lowest: None,
            highest: None,
        }
    }

    /// Append a point. Refused (`false`) when the value is not finite or the step is not
    /// past the last accepted one (a duplicate or an out-of-order replay).
    pub fn push(&mut self, step: u64, value: f64) -> bool {
        if !value.is_finite() || self.last.is_some_and(|last| step <= last.step) {
            return false;
        }
        let point = Point { step, value };
        match self.buckets.last_mut() {
            Some(bucket) if bucket.count < self.width => bucket.add(point),
            _ => {
                if self.buckets.len() == self.capacity {
                    self.merge_pairs();
                }
                self.buckets.push(Bucket::new(point));
            }
        }
        self.len += 1;
        self.last = Some(point);
        self.lowest = Some(self.lowest.map_or(value, |low| low.min(value)));
        self.highest = Some(self.highest.map_or(value, |high| high.max(value)));
        true
    }

    /// Halve the bucket count, in place: each even bucket absorbs its right neighbour.
    fn merge_pairs(&mut self) {
        let pairs = self.buckets.len() / 2;
        for i in 0..pairs {
            self.buckets[i] = self.buckets[2 * i].merge(self.buckets[2 * i + 1]);
        }
        // The capacity is even and merging only happens when full: no odd one out.
        self.buckets.truncate(pairs);
        self.width *= 2;
    }

    /// Points accepted so far (not the number kept).
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most recent point, at full precision.
    pub fn last(&self) -> Option<Point> {
        self.last
    }

    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    /// How many original points each bucket stands for now.
    pub fn bucket_width(&self) -> u64 {
        self.width
    }

    /// The points to draw, in step order: every point while the series is short, the
    /// extremes of each bucket once it has been downsampled.
    pub fn points(&self) -> impl Iterator<Item = Point> + '_ {
        self.buckets.iter().flat_map(Bucket::extremes)
    }

    /// The lowest and highest value ever accepted (for the chart's y axis).
    pub fn value_bounds(&self) -> Option<(f64, f64)> {
        self.lowest.zip(self.highest)
    }

    /// The first and last step (for the chart's x axis).
    pub fn step_bounds(&self) -> Option<(u64, u64)> {
        Some((self.buckets.first()?.first_step, self.last?.step))
    }

    /// Bytes held, for memory budgets.
    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_series_keep_every_point() {
        let mut series = MinMaxSeries::with_buckets(8);
        for step in 1..=8 {
            assert!(series.push(step, step as f64 / 10.0));
        }
        let steps: Vec<u64> = series.points().map(|p| p.step).collect();
        assert_eq!(steps, (1..=8).collect::<Vec<_>>());
        assert_eq!(series.bucket_width(), 1);
    }

    #[test]
    fn downsampling_keeps_the_extremes_of_every_bucket() {
        let mut series = MinMaxSeries::with_buckets(16);
        for step in 0..10_000u64 {
            // A slowly falling curve with one spike and one dip.
            let value = match step {
                4_321 => 50.0,
                7_777 => -3.0,
                _ => 2.0 - step as f64 / 10_000.0,
            };
            series.push(step, value);
        }
        assert_eq!(series.len(), 10_000);
        assert!(series.buckets().len() <= 16);
        let points: Vec<Point> = series.points().collect();
        assert!(
            points.contains(&Point {
                step: 4_321,
                value: 50.0
            }),
            "the spike survives"
        );
        assert!(
            points.contains(&Point {
                step: 7_777,
                value: -3.0
            }),
            "the dip survives"
        );
        assert_eq!(series.value_bounds(), Some((-3.0, 50.0)));
        assert_eq!(series.step_bounds(), Some((0, 9_999)));
        assert_eq!(
            series.last(),
            Some(Point {
                step: 9_999,
                value: 2.0 - 0.9999
            })
        );
        // Steps stay in order and every bucket covers a contiguous, non-overlapping range.
        assert!(points.windows(2).all(|w| w[0].step < w[1].step));
        let buckets = series.buckets();
        assert!(buckets.windows(2).all(|w| w[0].last_step < w[1].first_step));
        assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 10_000);
        // Each bucket's mean sits between its extremes.
        assert!(
            buckets
                .iter()
                .all(|b| b.min.value <= b.mean() && b.mean() <= b.max.value)
        );
    }

    #[test]
    fn memory_is_bounded_by_the_bucket_count() {
        let mut series = MinMaxSeries::default();
        for step in 0..100_000u64 {
            series.push(step, (step as f64).sin());
        }
        let kept = series.heap_bytes();
        for step in 100_000..1_000_000u64 {
            series.push(step, (step as f64).sin());
        }
        assert_eq!(
            series.heap_bytes(),
            kept,
            "ten times the points, the same memory"
        );
        assert!(series.buckets().len() <= DEFAULT_BUCKETS);
        assert!(kept <= 64 * 1024, "{kept} bytes");
        assert!(series.points().count() <= 2 * DEFAULT_BUCKETS);
    }

    #[test]
    fn duplicates_out_of_order_steps_and_non_finite_values_are_refused() {
        let mut series = MinMaxSeries::with_buckets(4);
        assert!(series.push(5, 1.0));
        assert!(!series.push(5, 0.5), "same step");
        assert!(!series.push(3, 0.5), "older step");
        assert!(!series.push(6, f64::NAN));
        assert!(!series.push(7, f64::INFINITY));
        assert!(!series.push(8, f64::NEG_INFINITY));
        assert!(series.push(9, 0.25));
        assert_eq!(series.len(), 2);
        assert_eq!(series.value_bounds(), Some((0.25, 1.0)));
        assert!(series.points().all(|p| p.value.is_finite()));
    }

    #[test]
    fn an_empty_series_has_no_bounds() {
        let series = MinMaxSeries::default();
        assert!(series.is_empty());
        assert_eq!(series.value_bounds(), None);
        assert_eq!(series.step_bounds(), None);
        assert_eq!(series.points().count(), 0);
    }
}
