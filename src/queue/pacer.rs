//! Waiting on the per-sender rate limit, on tokio's clock (so tests can pause it).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::rate::{Rate, RateLimiter};

/// Paces sends per sender: [`Pacer::until_ready`] waits until `segments` more may go from
/// `sender` (feature `tokio`).
///
/// Waits are reserved in call order, so concurrent tasks of one worker share the sender's rate
/// fairly. The limit is per worker process: with several workers, give each its share (or
/// accept the provider's queue absorbing the excess). Time is tokio's
/// [`Instant`](tokio::time::Instant), so `tokio::time::pause` makes tests deterministic.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::queue::{Pacer, Rate};
///
/// # let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?;
/// # runtime.block_on(async {
/// let pacer = Pacer::new(Some(Rate::new(Duration::from_secs(1), 1)));
/// let start = tokio::time::Instant::now();
/// pacer.until_ready("+15005550006", 1).await;
/// pacer.until_ready("+15005550006", 2).await; // waits 1 s for its first segment's slot...
/// pacer.until_ready("+15005550006", 1).await; // ...and this one 2 s more
/// assert_eq!(start.elapsed(), Duration::from_secs(3));
/// # });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Pacer {
    origin: Instant,
    limiter: Option<Mutex<RateLimiter>>,
}

impl Pacer {
    /// A pacer at `rate` per sender; `None` never waits.
    pub fn new(rate: Option<Rate>) -> Self {
        Self {
            origin: Instant::now(),
            limiter: rate.map(|r| Mutex::new(RateLimiter::new(r))),
        }
    }

    /// The rate, if any.
    pub fn rate(&self) -> Option<Rate> {
        let limiter = self.limiter.as_ref()?;
        let guard = limiter
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(guard.rate())
    }

    /// Reserves `segments` for `sender` and returns how long to wait (the reservation holds even
    /// if the caller then gives up: the slot is simply not used).
    pub fn reserve(&self, sender: &str, segments: u32) -> Duration {
        let Some(limiter) = &self.limiter else {
            return Duration::ZERO;
        };
        let now = Instant::now().saturating_duration_since(self.origin);
        // A panic while holding the lock cannot leave the limiter's plain numbers half-updated
        // in a harmful way, so a poisoned lock is used as is.
        let mut guard = limiter
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.reserve(sender, now, segments)
    }

    /// Waits until `segments` more may go from `sender`.
    pub async fn until_ready(&self, sender: &str, segments: u32) {
        let wait = self.reserve(sender, segments);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paced_on_the_paused_clock() {
        let pacer = std::sync::Arc::new(Pacer::new(Some(Rate::per_second(10.0, 5).unwrap())));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..25 {
            let pacer = pacer.clone();
            tasks.push(tokio::spawn(async move {
                pacer
                    .until_ready(if i % 5 == 0 { "other" } else { "main" }, 1)
                    .await;
                start.elapsed()
            }));
        }
        let mut main = Vec::new();
        for (i, task) in tasks.into_iter().enumerate() {
            let at = task.await.unwrap();
            if i % 5 != 0 {
                main.push(at);
            }
        }
        main.sort();
        // 20 on "main": 5 at once, then one per 100 ms; the last at 1.5 s.
        assert_eq!(main[4], Duration::ZERO);
        assert_eq!(main[5], Duration::from_millis(100));
        assert_eq!(main[19], Duration::from_millis(1500));
        let unpaced = Pacer::new(None);
        assert_eq!(unpaced.reserve("x", 100), Duration::ZERO);
        assert!(unpaced.rate().is_none());
    }
}
