//! Pacing: a per-sender rate limit that counts segments (GCRA), with the current time passed in.
//
// Why our own GCRA and not `governor` or `leaky-bucket` (SPEC §5 allows either, "or the one
// deterministic tests can drive"):
// - The core must take `now` as a parameter and compile to wasm32 without a clock; governor reads
//   its own clock (quanta by default) and its async `until_ready` sleeps on `futures-timer`, a
//   timer tokio's paused clock does not drive; leaky-bucket refills on tokio's clock but is a
//   single bucket, not keyed.
// - A message longer than the burst must still go (a 10-segment message under a 3-segment
//   burst): governor's `check_n` answers `InsufficientCapacity` for ever. Here it waits until the
//   bucket is full, goes, and leaves the debt to the next sender call.
// - It is about thirty lines (one u64 of state per sender, as governor's), and the async waiting
//   around it is the `tokio` feature's `Pacer`.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};

/// A rate of segments per second with a burst.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::queue::Rate;
///
/// let rate = Rate::per_second(3.0, 3)?; // a US toll-free number
/// assert_eq!(rate.interval(), Duration::from_nanos(333_333_333));
/// assert!(Rate::per_second(0.0, 1).is_err());
/// # Ok::<(), smsbatch::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    interval_nanos: u64,
    burst: u32,
}

impl Rate {
    /// One segment every `interval`, up to `burst` at once (at least 1; an interval of at least
    /// a nanosecond).
    pub const fn new(interval: Duration, burst: u32) -> Self {
        let nanos = interval.as_nanos();
        Self {
            interval_nanos: if nanos == 0 {
                1
            } else if nanos > u64::MAX as u128 {
                u64::MAX
            } else {
                nanos as u64
            },
            burst: if burst == 0 { 1 } else { burst },
        }
    }

    /// `segments_per_second` (positive and finite; fractions allowed, e.g. 0.2 for 12 a minute)
    /// with a burst of `burst` (at least 1).
    pub fn per_second(segments_per_second: f64, burst: u32) -> Result<Self> {
        if !segments_per_second.is_finite() || segments_per_second <= 0.0 {
            return Err(Error::new(ErrorKind::InvalidOptions {
                field: "rate.segmentsPerSecond".into(),
                message: format!("must be a positive number, not {segments_per_second}"),
            }));
        }
        if burst == 0 {
            return Err(Error::new(ErrorKind::InvalidOptions {
                field: "rate.burst".into(),
                message: "must be at least 1".into(),
            }));
        }
        let interval = 1e9 / segments_per_second;
        if interval < 1.0 || interval > u64::MAX as f64 {
            return Err(Error::new(ErrorKind::InvalidOptions {
                field: "rate.segmentsPerSecond".into(),
                message: format!("{segments_per_second} is out of range"),
            }));
        }
        Ok(Self::new(Duration::from_nanos(interval as u64), burst))
    }

    /// The time one segment takes.
    pub const fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_nanos)
    }

    /// Segments that may go at once.
    pub const fn burst(&self) -> u32 {
        self.burst
    }

    /// Segments per second.
    pub fn segments_per_second(&self) -> f64 {
        1e9 / self.interval_nanos as f64
    }
}

/// GCRA (the generic cell rate algorithm) for one sender: the theoretical arrival time of the
/// next segment, against a monotonic `now` measured from any fixed origin.
///
/// A send of `n` segments may go when the bucket has room for `n` (or, for `n` larger than the
/// burst, when it is full), and pushes the theoretical arrival time `n` intervals on.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::queue::{Gcra, Rate};
///
/// let mut gcra = Gcra::new(Rate::new(Duration::from_secs(1), 2));
/// let at = Duration::from_secs;
/// assert_eq!(gcra.reserve(at(0), 1), Duration::ZERO);
/// assert_eq!(gcra.reserve(at(0), 1), Duration::ZERO); // the burst
/// assert_eq!(gcra.reserve(at(0), 1), at(1));          // then one a second
/// assert_eq!(gcra.reserve(at(0), 3), at(3));          // longer than the burst: waits for a full bucket
/// assert_eq!(gcra.check(at(4), 1), Err(at(1)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gcra {
    rate: Rate,
    /// Nanoseconds from the origin; 0 = a full bucket at any `now`.
    tat: u64,
}

impl Gcra {
    /// A full bucket.
    pub const fn new(rate: Rate) -> Self {
        Self { rate, tat: 0 }
    }

    /// A bucket at `rate` whose theoretical arrival time is `tat` nanoseconds from the origin
    /// (as [`Gcra::tat`] gave it): one sender's timeline shared by callers of different rates,
    /// each reservation taking its own rate's time.
    #[cfg(feature = "tokio")]
    pub(crate) const fn resume(rate: Rate, tat: u64) -> Self {
        Self { rate, tat }
    }

    /// The theoretical arrival time, in nanoseconds from the origin.
    #[cfg(feature = "tokio")]
    pub(crate) const fn tat(&self) -> u64 {
        self.tat
    }

    /// The earliest time `cost` segments may go, and the arrival time they leave behind.
    fn plan(&self, now: u64, cost: u32) -> (u64, u64) {
        let interval = self.rate.interval_nanos;
        let cost = u64::from(cost.max(1));
        let start = self.tat.max(now);
        let next_tat = start.saturating_add(cost.saturating_mul(interval));
        let room = u64::from(self.rate.burst.max(cost as u32)).saturating_mul(interval);
        (next_tat.saturating_sub(room).max(now), next_tat)
    }

    /// Reserves `cost` segments and returns how long to wait from `now` before sending them
    /// (zero: send now). Reservations queue up fairly: each one waits behind the previous.
    pub fn reserve(&mut self, now: Duration, cost: u32) -> Duration {
        let now = saturating_nanos(now);
        let (at, tat) = self.plan(now, cost);
        self.tat = tat;
        Duration::from_nanos(at - now)
    }

    /// Takes `cost` segments if they may go at `now`; otherwise leaves the state alone and says
    /// how long until they could.
    pub fn check(&mut self, now: Duration, cost: u32) -> Result<(), Duration> {
        let now = saturating_nanos(now);
        let (at, tat) = self.plan(now, cost);
        if at > now {
            return Err(Duration::from_nanos(at - now));
        }
        self.tat = tat;
        Ok(())
    }
}

fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A [`Gcra`] per sender (phone number, alphanumeric id, Messaging Service), all at one rate: the
/// limit is per sender because providers limit each sender (Twilio: 1 segment a second for a US
/// long code, 3 for toll-free, 100 for a short code).
///
/// ```
/// use std::time::Duration;
/// use smsbatch::queue::{Rate, RateLimiter};
///
/// let mut limiter = RateLimiter::new(Rate::new(Duration::from_secs(1), 1));
/// assert_eq!(limiter.reserve("+15005550006", Duration::ZERO, 2), Duration::ZERO);
/// assert_eq!(limiter.reserve("+15005550006", Duration::ZERO, 1), Duration::from_secs(2));
/// assert_eq!(limiter.reserve("ACME", Duration::ZERO, 1), Duration::ZERO, "another sender");
/// ```
#[derive(Clone, Debug)]
pub struct RateLimiter {
    rate: Rate,
    senders: HashMap<String, Gcra>,
}

impl RateLimiter {
    /// A limiter giving every sender `rate`.
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            senders: HashMap::new(),
        }
    }

    /// The rate.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// [`Gcra::reserve`] for `sender`.
    pub fn reserve(&mut self, sender: &str, now: Duration, segments: u32) -> Duration {
        match self.senders.get_mut(sender) {
            Some(gcra) => gcra.reserve(now, segments),
            None => {
                let mut gcra = Gcra::new(self.rate);
                let wait = gcra.reserve(now, segments);
                self.senders.insert(sender.to_owned(), gcra);
                wait
            }
        }
    }

    /// [`Gcra::check`] for `sender`.
    pub fn check(&mut self, sender: &str, now: Duration, segments: u32) -> Result<(), Duration> {
        match self.senders.get_mut(sender) {
            Some(gcra) => gcra.check(now, segments),
            None => {
                let mut gcra = Gcra::new(self.rate);
                let answer = gcra.check(now, segments);
                self.senders.insert(sender.to_owned(), gcra);
                answer
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn steady_rate_after_the_burst() {
        let mut gcra = Gcra::new(Rate::per_second(10.0, 5).unwrap());
        let mut sent_at = Vec::new();
        let mut now = Duration::ZERO;
        for _ in 0..25 {
            now += gcra.reserve(now, 1);
            sent_at.push(now);
        }
        // 5 at once, then one every 100 ms: the 25th at 2 s.
        assert_eq!(sent_at[4], Duration::ZERO);
        assert_eq!(sent_at[5], Duration::from_millis(100));
        assert_eq!(sent_at[24], Duration::from_secs(2));
    }

    #[test]
    fn idle_time_refills_only_up_to_the_burst() {
        let mut gcra = Gcra::new(Rate::new(Duration::from_secs(1), 3));
        let at = Duration::from_secs;
        assert_eq!(gcra.check(at(0), 3), Ok(()));
        assert_eq!(gcra.check(at(0), 1), Err(at(1)));
        // A long pause fills the bucket to 3, not more.
        assert_eq!(gcra.check(at(100), 3), Ok(()));
        assert_eq!(gcra.check(at(100), 1), Err(at(1)));
    }

    proptest! {
        /// Over any run of reservations, the segments sent by time T never exceed
        /// burst + T / interval (plus the one message that may exceed the burst).
        #[test]
        fn never_faster_than_the_rate(
            costs in proptest::collection::vec(1u32..12, 1..60),
            gaps in proptest::collection::vec(0u64..3_000, 60),
            burst in 1u32..8,
            interval_ms in 1u64..2_000,
        ) {
            let interval = Duration::from_millis(interval_ms);
            let mut gcra = Gcra::new(Rate::new(interval, burst));
            let mut now = Duration::ZERO;
            let mut sends: Vec<(Duration, u32)> = Vec::new();
            for (cost, gap) in costs.iter().zip(&gaps) {
                now += Duration::from_millis(*gap);
                let at = now + gcra.reserve(now, *cost);
                sends.push((at, *cost));
            }
            // Over every window [a, b] of send times, the segments sent fit the rate.
            for i in 0..sends.len() {
                let mut total = 0u64;
                for j in i..sends.len() {
                    total += u64::from(sends[j].1);
                    let span = sends[j].0.saturating_sub(sends[i].0);
                    let allowed = u64::from(burst.max(sends[j].1).max(sends[i].1))
                        + (span.as_nanos() / interval.as_nanos()) as u64
                        + u64::from(*costs.iter().max().unwrap());
                    prop_assert!(total <= allowed, "{total} > {allowed} in {span:?}");
                }
            }
            // Reservations are served in order.
            prop_assert!(sends.windows(2).all(|w| w[0].0 <= w[1].0));
        }
    }
}
