//! Failures counted per category, with samples: the first few, plus a seeded reservoir of the
//! rest, so a report shows both how it started and what it looked like throughout.

use serde::{Deserialize, Serialize};

use super::category::ErrorCategory;
use super::sender::{MessageId, SendFailure};
use crate::random::mix;
use crate::time::Timestamp;

/// One failed message, as a report shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ErrorSample {
    /// Our id of the message.
    pub message_id: MessageId,
    /// The provider's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The provider's message.
    pub message: String,
    /// When it happened.
    pub at: Timestamp,
}

impl ErrorSample {
    /// A sample of `failure` on `message_id` at `at`.
    pub fn new(message_id: MessageId, failure: &SendFailure, at: Timestamp) -> Self {
        Self {
            message_id,
            code: failure.code.clone(),
            message: failure.message.clone(),
            at,
        }
    }
}

/// The failures of one category: how many, and samples (the first ones, then a uniform sample of
/// the others).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CategoryStats {
    /// The category.
    pub category: ErrorCategory,
    /// How many failures.
    pub count: u64,
    /// The first [`SampleLimits::first`] failures in the order they were recorded, then up to
    /// [`SampleLimits::reservoir`] chosen uniformly among the later ones.
    pub samples: Vec<ErrorSample>,
}

/// How many samples [`ErrorStats`] keeps per category, and the seed of its reservoir.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleLimits {
    /// The first failures kept (default 5).
    pub first: usize,
    /// The later failures kept by reservoir sampling (default 5).
    pub reservoir: usize,
    /// The reservoir's seed (default 0): the same failures in the same order keep the same
    /// samples on every platform.
    pub seed: u64,
}

impl SampleLimits {
    /// 5 first, 5 in the reservoir, seed 0.
    pub const fn new() -> Self {
        Self {
            first: 5,
            reservoir: 5,
            seed: 0,
        }
    }

    /// The first failures kept.
    pub const fn first(mut self, n: usize) -> Self {
        self.first = n;
        self
    }

    /// The later failures kept.
    pub const fn reservoir(mut self, n: usize) -> Self {
        self.reservoir = n;
        self
    }

    /// The reservoir's seed.
    pub const fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

impl Default for SampleLimits {
    fn default() -> Self {
        Self::new()
    }
}

/// Failures per category with samples, in the order of [`ErrorCategory::ALL`]; JSON is the list
/// `[{"category", "count", "samples": [{"messageId", "code", "message", "at"}]}]` (categories
/// without failures are left out).
///
/// The reservoir draws from a hash of the seed, the category and the count, not from a
/// generator's state, so stats read back from JSON go on exactly as they would have, and
/// [`ErrorStats::merge`] combines the stats of several workers.
///
/// ```
/// use smsbatch::Timestamp;
/// use smsbatch::queue::{ErrorCategory, ErrorStats, MessageId, SampleLimits, SendFailure};
///
/// let mut stats = ErrorStats::new(SampleLimits::new().first(2).reservoir(3).seed(7));
/// for i in 0..100_i64 {
///     let failure = SendFailure::new(ErrorCategory::Filtered, "filtered").code("30007");
///     stats.record(MessageId::from(i), &failure, Timestamp::UNIX_EPOCH);
/// }
/// let filtered = stats.get(ErrorCategory::Filtered).unwrap();
/// assert_eq!((filtered.count, filtered.samples.len()), (100, 5));
/// assert_eq!(filtered.samples[0].message_id.as_str(), "0");
/// assert_eq!(stats.total(), 100);
/// let json = serde_json::to_value(&stats)?;
/// assert_eq!(json[0]["category"], "filtered");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorStats {
    categories: Vec<CategoryStats>,
    #[serde(skip)]
    limits: SampleLimits,
}

impl ErrorStats {
    /// Empty stats keeping samples as `limits` say.
    pub fn new(limits: SampleLimits) -> Self {
        Self {
            categories: Vec::new(),
            limits,
        }
    }

    /// The same stats with other limits (stats read from JSON start with the defaults); samples
    /// already kept stay until new failures replace them.
    pub fn with_limits(mut self, limits: SampleLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The categories that had failures, in the order of [`ErrorCategory::ALL`].
    pub fn categories(&self) -> &[CategoryStats] {
        &self.categories
    }

    /// The stats of one category.
    pub fn get(&self, category: ErrorCategory) -> Option<&CategoryStats> {
        self.categories.iter().find(|c| c.category == category)
    }

    /// Failures in every category.
    pub fn total(&self) -> u64 {
        self.categories.iter().map(|c| c.count).sum()
    }

    fn entry(&mut self, category: ErrorCategory) -> &mut CategoryStats {
        let at = self
            .categories
            .iter()
            .position(|c| c.category >= category)
            .unwrap_or(self.categories.len());
        if self
            .categories
            .get(at)
            .is_none_or(|c| c.category != category)
        {
            self.categories.insert(
                at,
                CategoryStats {
                    category,
                    count: 0,
                    samples: Vec::new(),
                },
            );
        }
        &mut self.categories[at]
    }

    /// Counts a failure of `failure.category` on `message_id` and maybe keeps it as a sample.
    pub fn record(&mut self, message_id: MessageId, failure: &SendFailure, at: Timestamp) {
        let sample = ErrorSample::new(message_id, failure, at);
        self.record_sample(failure.category, sample);
    }

    /// Counts a failure of `category` described by `sample`.
    pub fn record_sample(&mut self, category: ErrorCategory, sample: ErrorSample) {
        let limits = self.limits;
        let stats = self.entry(category);
        stats.count += 1;
        let firsts = stats.samples.len().min(limits.first);
        if (stats.count as usize) <= limits.first || stats.samples.len() < limits.first {
            // Still among the first (or samples were trimmed by other limits): keep it in order.
            stats.samples.insert(firsts, sample);
            stats.samples.truncate(limits.first + limits.reservoir);
            return;
        }
        // Algorithm R over the failures after the first ones: the k-th of them replaces a random
        // slot with probability reservoir / k.
        let k = stats.count - limits.first as u64;
        let kept = stats.samples.len() - firsts;
        if kept < limits.reservoir {
            stats.samples.push(sample);
        } else {
            let draw = mix(limits.seed ^ mix(category as u64 + 1) ^ mix(stats.count));
            let j = ((u128::from(draw) * u128::from(k)) >> 64) as usize;
            if let Some(slot) = stats.samples.get_mut(firsts + j)
                && j < limits.reservoir
            {
                *slot = sample;
            }
        }
    }

    /// Replaces the counts with `counts` (per category, e.g. the store's count of messages by
    /// error category): a category not in `counts` is dropped, one without stats is added
    /// without samples, and the samples of the others stay. Counts merged by several workers
    /// into a shared document can lose an update; a count made by the store cannot.
    ///
    /// ```
    /// use smsbatch::Timestamp;
    /// use smsbatch::queue::{ErrorCategory, ErrorStats, MessageId, SampleLimits, SendFailure};
    ///
    /// let mut stats = ErrorStats::new(SampleLimits::new());
    /// let failure = SendFailure::new(ErrorCategory::Filtered, "filtered");
    /// stats.record(MessageId::from(1_i64), &failure, Timestamp::UNIX_EPOCH);
    /// stats.set_counts(&[(ErrorCategory::Filtered, 4), (ErrorCategory::OptedOut, 2)]);
    /// assert_eq!(stats.get(ErrorCategory::Filtered).unwrap().count, 4);
    /// assert_eq!(stats.get(ErrorCategory::Filtered).unwrap().samples.len(), 1);
    /// assert_eq!(stats.get(ErrorCategory::OptedOut).unwrap().count, 2);
    /// assert_eq!(stats.total(), 6);
    /// ```
    pub fn set_counts(&mut self, counts: &[(ErrorCategory, u64)]) {
        self.categories
            .retain(|c| counts.iter().any(|&(k, n)| k == c.category && n > 0));
        for &(category, n) in counts {
            if n > 0 {
                self.entry(category).count = n;
            }
        }
    }

    /// Adds `other`'s failures (another worker's) to these. Counts add up; the first samples are
    /// the earliest of both (by time, then message id); the reservoir is a weighted sample of the
    /// rest, each sample standing for as many failures as its side's reservoir represented, so
    /// it stays a uniform sample of the later failures.
    pub fn merge(&mut self, other: &ErrorStats) {
        let limits = self.limits;
        for theirs in &other.categories {
            let seed = limits.seed ^ mix(theirs.category as u64 + 101);
            let ours = self.entry(theirs.category);
            let mut firsts: Vec<(ErrorSample, f64)> = Vec::new();
            let mut pool: Vec<(ErrorSample, f64)> = Vec::new();
            for stats in [&*ours, theirs] {
                let n_first = stats.samples.len().min(limits.first);
                let rest = &stats.samples[n_first..];
                let represented = stats.count.saturating_sub(n_first as u64) as f64;
                let weight = if rest.is_empty() {
                    0.0
                } else {
                    represented / rest.len() as f64
                };
                firsts.extend(stats.samples[..n_first].iter().cloned().map(|s| (s, 1.0)));
                pool.extend(rest.iter().cloned().map(|s| (s, weight)));
            }
            crate::sort::sort_by(&mut firsts, |a, b| {
                (a.0.at, &a.0.message_id).cmp(&(b.0.at, &b.0.message_id))
            });
            let spill = firsts.split_off(firsts.len().min(limits.first));
            pool.extend(spill);
            // Efraimidis–Spirakis: keep the items with the largest u^(1/w); u from a hash, so the
            // merge is deterministic.
            let mut keyed: Vec<(f64, ErrorSample)> = pool
                .into_iter()
                .enumerate()
                .filter(|(_, (_, w))| *w > 0.0)
                .map(|(i, (s, w))| {
                    let u = ((mix(seed ^ mix(i as u64)) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
                    (u.ln() / w, s)
                })
                .collect();
            crate::sort::sort_by(&mut keyed, |a, b| b.0.total_cmp(&a.0));
            keyed.truncate(limits.reservoir);
            ours.count += theirs.count;
            ours.samples = firsts
                .into_iter()
                .map(|(s, _)| s)
                .chain(keyed.into_iter().map(|(_, s)| s))
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(category: ErrorCategory) -> SendFailure {
        SendFailure::new(category, "x")
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_unix_seconds(s).unwrap()
    }

    #[test]
    fn first_then_reservoir() {
        let mut stats = ErrorStats::new(SampleLimits::new().first(3).reservoir(2).seed(1));
        for i in 0..1000 {
            stats.record(MessageId::from(i), &failure(ErrorCategory::Unknown), at(i));
        }
        let s = stats.get(ErrorCategory::Unknown).unwrap();
        let ids: Vec<&str> = s.samples.iter().map(|s| s.message_id.as_str()).collect();
        assert_eq!(&ids[..3], ["0", "1", "2"]);
        assert_eq!(ids.len(), 5);
        assert!(ids[3..].iter().all(|id| id.parse::<u32>().unwrap() >= 3));
    }

    #[test]
    fn reservoir_is_roughly_uniform_and_seeded() {
        // 20 failures after the first 2; a reservoir of 2 over 2000 seeds picks each about 200 times.
        let mut hits = [0u32; 20];
        for seed in 0..2000 {
            let mut stats = ErrorStats::new(SampleLimits::new().first(2).reservoir(2).seed(seed));
            for i in 0..22 {
                stats.record(MessageId::from(i), &failure(ErrorCategory::Blocked), at(i));
            }
            for s in &stats.get(ErrorCategory::Blocked).unwrap().samples[2..] {
                hits[s.message_id.as_str().parse::<usize>().unwrap() - 2] += 1;
            }
        }
        assert!(hits.iter().all(|&h| (140..260).contains(&h)), "{hits:?}");
    }

    #[test]
    fn json_round_trip_continues_identically() {
        let limits = SampleLimits::new().first(2).reservoir(3).seed(9);
        let mut a = ErrorStats::new(limits);
        for i in 0..50 {
            let category = if i % 3 == 0 {
                ErrorCategory::Filtered
            } else {
                ErrorCategory::OptedOut
            };
            a.record(MessageId::from(i), &failure(category), at(i));
        }
        let json = serde_json::to_string(&a).unwrap();
        let mut b: ErrorStats = serde_json::from_str::<ErrorStats>(&json)
            .unwrap()
            .with_limits(limits);
        assert_eq!(a, b);
        for i in 50..200 {
            a.record(MessageId::from(i), &failure(ErrorCategory::Filtered), at(i));
            b.record(MessageId::from(i), &failure(ErrorCategory::Filtered), at(i));
        }
        assert_eq!(a, b);
        // Categories come in the order of ErrorCategory::ALL.
        let order: Vec<_> = a.categories().iter().map(|c| c.category).collect();
        assert_eq!(order, [ErrorCategory::OptedOut, ErrorCategory::Filtered]);
    }

    #[test]
    fn merge_adds_counts_and_keeps_the_earliest() {
        let limits = SampleLimits::new().first(2).reservoir(2);
        let mut a = ErrorStats::new(limits);
        let mut b = ErrorStats::new(limits);
        for i in 0..10 {
            a.record(
                MessageId::from(i * 2),
                &failure(ErrorCategory::Unknown),
                at(i * 2),
            );
            b.record(
                MessageId::from(i * 2 + 1),
                &failure(ErrorCategory::Unknown),
                at(i * 2 + 1),
            );
        }
        b.record(
            MessageId::from(99),
            &failure(ErrorCategory::Content),
            at(99),
        );
        a.merge(&b);
        let u = a.get(ErrorCategory::Unknown).unwrap();
        assert_eq!(u.count, 20);
        assert_eq!(u.samples.len(), 4);
        assert_eq!(u.samples[0].message_id.as_str(), "0");
        assert_eq!(u.samples[1].message_id.as_str(), "1");
        assert_eq!(a.get(ErrorCategory::Content).unwrap().count, 1);
        assert_eq!(a.total(), 21);
    }
}
