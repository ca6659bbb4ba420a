//! Exact latency percentiles by the nearest-rank method.

use serde::{Deserialize, Serialize};

/// The `p`-th percentile (0 < `p` ≤ 100) of `sorted` (ascending) by the nearest-rank method: the
/// smallest value such that at least `p`% of the values are less than or equal to it, that is
/// the value of rank ⌈p·n/100⌉ (1-based). Exact: always one of the values, never an
/// interpolation. `None` for no values.
///
/// ```
/// use smsbatch::analytics::nearest_rank;
///
/// let values = [15, 20, 35, 40, 50];
/// assert_eq!(nearest_rank(&values, 30), Some(20)); // rank ⌈1.5⌉ = 2
/// assert_eq!(nearest_rank(&values, 40), Some(20)); // rank 2 exactly
/// assert_eq!(nearest_rank(&values, 50), Some(35));
/// assert_eq!(nearest_rank(&values, 100), Some(50));
/// assert_eq!(nearest_rank::<u64>(&[], 50), None);
/// ```
pub fn nearest_rank<T: Copy>(sorted: &[T], p: u32) -> Option<T> {
    let n = sorted.len() as u128;
    if n == 0 {
        return None;
    }
    let p = u128::from(p.clamp(1, 100));
    // ⌈p·n/100⌉ in integers: no floating-point rounding at the rank boundaries.
    let rank = (p * n).div_ceil(100).max(1);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

/// The distribution of one latency over a batch, in seconds (with microsecond precision):
/// JSON `{"count", "min", "p50", "p90", "p99", "max", "mean"}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LatencyStats {
    /// How many messages had both instants.
    pub count: u64,
    /// The shortest.
    pub min: f64,
    /// The median (nearest rank).
    pub p50: f64,
    /// The 90th percentile (nearest rank).
    pub p90: f64,
    /// The 99th percentile (nearest rank).
    pub p99: f64,
    /// The longest.
    pub max: f64,
    /// The arithmetic mean.
    pub mean: f64,
}

impl LatencyStats {
    /// The stats of latencies in microseconds (sorted here); `None` for none.
    pub fn from_micros(mut micros: Vec<i64>) -> Option<Self> {
        micros.sort_unstable();
        let seconds = |m: i64| m as f64 / 1e6;
        let sum: i128 = micros.iter().map(|&m| i128::from(m)).sum();
        Some(Self {
            count: micros.len() as u64,
            min: seconds(*micros.first()?),
            p50: seconds(nearest_rank(&micros, 50)?),
            p90: seconds(nearest_rank(&micros, 90)?),
            p99: seconds(nearest_rank(&micros, 99)?),
            max: seconds(*micros.last()?),
            mean: sum as f64 / micros.len() as f64 / 1e6,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_by_hand() {
        // The textbook example (Wikipedia, "Percentile", nearest-rank method).
        let v = [15, 20, 35, 40, 50];
        assert_eq!(nearest_rank(&v, 5), Some(15));
        assert_eq!(nearest_rank(&v, 30), Some(20));
        assert_eq!(nearest_rank(&v, 40), Some(20));
        assert_eq!(nearest_rank(&v, 50), Some(35));
        assert_eq!(nearest_rank(&v, 100), Some(50));
        // 1..=100: the p-th percentile is p itself; 1..=1000: p99 is 990.
        let hundred: Vec<u32> = (1..=100).collect();
        for p in 1..=100 {
            assert_eq!(nearest_rank(&hundred, p), Some(p));
        }
        let thousand: Vec<u32> = (1..=1000).collect();
        assert_eq!(nearest_rank(&thousand, 99), Some(990));
        assert_eq!(nearest_rank(&thousand, 90), Some(900));
        // One value is every percentile.
        assert_eq!(nearest_rank(&[7], 1), Some(7));
        assert_eq!(nearest_rank(&[7], 99), Some(7));
        // Ten values: p90 is the 9th, p99 the 10th (rank ⌈9.9⌉).
        let ten: Vec<u32> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 90), Some(9));
        assert_eq!(nearest_rank(&ten, 99), Some(10));
        assert_eq!(nearest_rank(&ten, 50), Some(5));
    }

    #[test]
    fn stats_in_seconds() {
        let s = LatencyStats::from_micros(vec![3_000_000, 1_000_000, 2_000_000, 500_000]).unwrap();
        assert_eq!(s.count, 4);
        assert_eq!(
            (s.min, s.p50, s.p90, s.p99, s.max),
            (0.5, 1.0, 3.0, 3.0, 3.0)
        );
        assert_eq!(s.mean, 1.625);
        assert!(LatencyStats::from_micros(Vec::new()).is_none());
    }
}
