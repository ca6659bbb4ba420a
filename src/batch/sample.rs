//! Seeded sampling: a small PRNG and reservoir selection, identical wherever the core runs.

use serde::{Deserialize, Serialize};

use crate::random::SplitMix64;

/// Which recipients a sample preview shows.
///
/// JSON (camelCase): `{"first": 20}` or `{"seeded": {"size": 20, "seed": 7}}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Sample {
    /// The first `n` rows.
    First(usize),
    /// `size` rows chosen uniformly by a seeded reservoir (Algorithm R over splitmix64), shown in
    /// input order. The same seed over the same rows picks the same recipients on every platform,
    /// in Rust and in the browser.
    Seeded {
        /// How many rows to pick.
        size: usize,
        /// The seed.
        seed: u64,
    },
}

/// Picks the items of a [`Sample`] from a stream of unknown length, in memory for the sample
/// only: what [`Previewer::sample_results`](crate::Previewer::sample_results) runs on.
#[derive(Debug)]
pub(crate) struct Sampler<T> {
    inner: SamplerInner<T>,
}

#[derive(Debug)]
enum SamplerInner<T> {
    First { size: usize, items: Vec<(u64, T)> },
    Seeded(Reservoir<T>),
}

impl<T> Sampler<T> {
    /// A sampler for `sample`.
    pub(crate) fn new(sample: Sample) -> Self {
        Self {
            inner: match sample {
                Sample::First(size) => SamplerInner::First {
                    size,
                    items: Vec::with_capacity(size.min(1 << 16)),
                },
                Sample::Seeded { size, seed } => SamplerInner::Seeded(Reservoir::new(size, seed)),
            },
        }
    }

    /// Offers the next item; returns false when no later item can be picked (the first `n`
    /// are in), so the caller can stop reading.
    pub(crate) fn push(&mut self, item: T) -> bool {
        match &mut self.inner {
            SamplerInner::First { size, items } => {
                if items.len() < *size {
                    let index = items.len() as u64;
                    items.push((index, item));
                }
                items.len() < *size
            }
            SamplerInner::Seeded(reservoir) => {
                reservoir.push(item);
                true
            }
        }
    }

    /// The picked items with their positions in the stream (from 0), in stream order.
    pub(crate) fn into_sorted(self) -> Vec<(u64, T)> {
        match self.inner {
            SamplerInner::First { items, .. } => items,
            SamplerInner::Seeded(reservoir) => reservoir.into_sorted(),
        }
    }
}

/// A uniform sample of `size` items from a stream of unknown length, in O(size) memory.
#[derive(Debug)]
pub(crate) struct Reservoir<T> {
    size: usize,
    seen: u64,
    rng: SplitMix64,
    items: Vec<(u64, T)>,
}

impl<T> Reservoir<T> {
    pub(crate) fn new(size: usize, seed: u64) -> Self {
        Self {
            size,
            seen: 0,
            rng: SplitMix64::new(seed),
            items: Vec::with_capacity(size.min(1 << 16)),
        }
    }

    pub(crate) fn push(&mut self, item: T) {
        let index = self.seen;
        self.seen += 1;
        if self.items.len() < self.size {
            self.items.push((index, item));
        } else {
            let j = self.rng.below(self.seen);
            if let Ok(j) = usize::try_from(j)
                && let Some(slot) = self.items.get_mut(j)
            {
                *slot = (index, item);
            }
        }
    }

    /// The chosen items with their positions in the stream, in stream order.
    pub(crate) fn into_sorted(mut self) -> Vec<(u64, T)> {
        crate::sort::sort_by(&mut self.items, |a, b| a.0.cmp(&b.0));
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservoir_is_deterministic_and_ordered() {
        let pick = |seed| {
            let mut r = Reservoir::new(5, seed);
            for i in 0..1000 {
                r.push(i);
            }
            r.into_sorted()
                .into_iter()
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
        };
        let a = pick(7);
        assert_eq!(a, pick(7));
        assert_ne!(a, pick(8));
        assert_eq!(a.len(), 5);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn sampler_first_and_seeded() {
        let mut first = Sampler::new(Sample::First(2));
        assert!(
            first.push("a") && !first.push("b"),
            "false once nothing more can be picked"
        );
        assert_eq!(first.into_sorted(), [(0, "a"), (1, "b")]);

        let mut seeded = Sampler::new(Sample::Seeded { size: 3, seed: 42 });
        for i in 0..100 {
            assert!(seeded.push(i));
        }
        let picked = seeded.into_sorted();
        assert_eq!(picked.len(), 3);
        assert!(picked.iter().all(|&(index, item)| index == item as u64));
    }

    #[test]
    fn reservoir_keeps_everything_when_small() {
        let mut r = Reservoir::new(10, 1);
        for i in 0..4 {
            r.push(i);
        }
        assert_eq!(r.into_sorted(), vec![(0, 0), (1, 1), (2, 2), (3, 3)]);
    }

    #[test]
    fn reservoir_is_roughly_uniform() {
        // Each of 20 positions should be picked about 2000 × 5 / 20 = 500 times.
        let mut hits = [0u32; 20];
        for seed in 0..2000 {
            let mut r = Reservoir::new(5, seed);
            for i in 0..20 {
                r.push(i);
            }
            for (_, i) in r.into_sorted() {
                hits[i] += 1;
            }
        }
        assert!(hits.iter().all(|&h| (400..600).contains(&h)), "{hits:?}");
    }
}
