//! A batch's progress as stored in its JSONB column: counts per status, rates, credits and cost,
//! an ETA within the rate limit and the send window, errors and variants; and the helpers that
//! keep it cheap (a sliding-window rate meter, a throttle for writes).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rate::Rate;
use super::state::MessageStatus;
use super::stats::ErrorStats;
use super::window::{SendWindow, ZoneRules};
use crate::batch::Amount;
use crate::time::Timestamp;

/// Messages per status (JSON: `{"pending", "processing", "sent", "delivered", "undelivered",
/// "failed", "inDoubt", "cancelled"}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct StatusCounts {
    /// Waiting to be claimed.
    pub pending: u64,
    /// Claimed by a worker.
    pub processing: u64,
    /// Accepted by the provider.
    pub sent: u64,
    /// Delivered.
    pub delivered: u64,
    /// Accepted but not delivered.
    pub undelivered: u64,
    /// Failed.
    pub failed: u64,
    /// Waiting for reconciliation.
    pub in_doubt: u64,
    /// Cancelled.
    pub cancelled: u64,
}

impl StatusCounts {
    /// No messages.
    pub const fn new() -> Self {
        Self {
            pending: 0,
            processing: 0,
            sent: 0,
            delivered: 0,
            undelivered: 0,
            failed: 0,
            in_doubt: 0,
            cancelled: 0,
        }
    }

    /// The count of `status`.
    pub const fn get(&self, status: MessageStatus) -> u64 {
        match status {
            MessageStatus::Pending => self.pending,
            MessageStatus::Processing => self.processing,
            MessageStatus::Sent => self.sent,
            MessageStatus::Delivered => self.delivered,
            MessageStatus::Undelivered => self.undelivered,
            MessageStatus::Failed => self.failed,
            MessageStatus::InDoubt => self.in_doubt,
            MessageStatus::Cancelled => self.cancelled,
        }
    }

    fn slot(&mut self, status: MessageStatus) -> &mut u64 {
        match status {
            MessageStatus::Pending => &mut self.pending,
            MessageStatus::Processing => &mut self.processing,
            MessageStatus::Sent => &mut self.sent,
            MessageStatus::Delivered => &mut self.delivered,
            MessageStatus::Undelivered => &mut self.undelivered,
            MessageStatus::Failed => &mut self.failed,
            MessageStatus::InDoubt => &mut self.in_doubt,
            MessageStatus::Cancelled => &mut self.cancelled,
        }
    }

    /// Adds `n` messages of `status` (what a store's `GROUP BY status` gives, row by row).
    pub fn add(&mut self, status: MessageStatus, n: u64) {
        let slot = self.slot(status);
        *slot = slot.saturating_add(n);
    }

    /// Moves one message from `from` to `to` (a runner's own view between two store counts).
    pub fn moved(&mut self, from: MessageStatus, to: MessageStatus) {
        let slot = self.slot(from);
        *slot = slot.saturating_sub(1);
        self.add(to, 1);
    }

    /// Every message.
    pub fn total(&self) -> u64 {
        MessageStatus::ALL.iter().map(|s| self.get(*s)).sum()
    }

    /// Messages still to be settled: pending, processing and in doubt.
    pub fn unfinished(&self) -> u64 {
        self.pending + self.processing + self.in_doubt
    }

    /// `sent + delivered` over the messages not cancelled; `None` when every message was
    /// cancelled (or there are none). The same definition as the analytics report's.
    pub fn success_rate(&self) -> Option<f64> {
        let base = self.total() - self.cancelled;
        (base > 0).then(|| (self.sent + self.delivered) as f64 / base as f64)
    }
}

/// Segments: the credits a batch spends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct Credits {
    /// Segments of every message not cancelled, as the preview counted them.
    pub estimated: u64,
    /// Segments the provider reported for the messages it accepted (where it said).
    pub actual: u64,
    /// Segments of the messages still to send (pending, processing, in doubt): what the ETA
    /// paces.
    pub remaining: u64,
}

/// Money: estimated and actual, exact.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct Cost {
    /// The preview's cost of every message not cancelled.
    pub estimated: Amount,
    /// What the provider charged, for the messages whose price is known.
    pub actual: Amount,
    /// Messages whose actual price is known.
    pub priced: u64,
    /// The price table's currency (`"credits"` for the default table).
    pub currency: String,
}

/// One variant's share of a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct VariantProgress {
    /// Its messages per status.
    pub counts: StatusCounts,
    /// Their estimated segments.
    pub segments: u64,
}

/// How fast a batch can go, for its ETA.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct Pace<'a> {
    /// Messages completed per second lately ([`RateMeter::per_second`], or from the store).
    pub messages_per_second: f64,
    /// The per-sender rate limit, if any.
    pub rate: Option<Rate>,
    /// How many rate limits apply at once: distinct senders × workers sending (each worker
    /// paces its own senders). At least 1.
    pub lanes: u32,
    /// The batch's send window and its zone.
    pub window: Option<(&'a SendWindow, &'a dyn ZoneRules)>,
}

impl<'a> Pace<'a> {
    /// The observed rate only.
    pub fn new(messages_per_second: f64) -> Self {
        Self {
            messages_per_second,
            rate: None,
            lanes: 1,
            window: None,
        }
    }

    /// A rate limit applying `lanes` times over (senders × workers).
    pub fn rate(mut self, rate: Option<Rate>, lanes: u32) -> Self {
        self.rate = rate;
        self.lanes = lanes.max(1);
        self
    }

    /// The send window in its zone.
    pub fn window(mut self, window: &'a SendWindow, zone: &'a dyn ZoneRules) -> Self {
        self.window = Some((window, zone));
        self
    }
}

impl std::fmt::Debug for Pace<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pace")
            .field("messages_per_second", &self.messages_per_second)
            .field("rate", &self.rate)
            .field("lanes", &self.lanes)
            .field("window", &self.window.map(|(w, _)| w))
            .finish()
    }
}

/// A batch's progress: what `smsbatch batch status` prints and the batch row's JSONB holds
/// (camelCase JSON, money as exact amounts).
///
/// The store's counts are the source of truth: a runner fills `counts`, `credits`, `cost` and
/// `variants` from the store's aggregates, merges its error stats, then calls
/// [`Progress::refresh`] for the derived fields.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::Timestamp;
/// use smsbatch::queue::{MessageStatus, Pace, Progress, Rate};
///
/// let now: Timestamp = "2025-05-01T10:00:00Z".parse()?;
/// let mut progress = Progress::new("USD");
/// progress.counts.add(MessageStatus::Pending, 600);
/// progress.counts.add(MessageStatus::Delivered, 400);
/// progress.credits.estimated = 1000;
/// progress.credits.remaining = 600;
/// // Observed 50 messages a second, but the sender may only send 10 segments a second.
/// let rate = Rate::per_second(10.0, 10)?;
/// progress.refresh(now, Pace::new(50.0).rate(Some(rate), 1));
/// assert_eq!(progress.success_rate, Some(0.4));
/// assert_eq!(progress.eta.unwrap().to_string(), "2025-05-01T10:01:00Z");
/// let json = serde_json::to_value(&progress)?;
/// assert_eq!(json["counts"]["inDoubt"], 0);
/// assert_eq!(json["messagesPerSecond"], 50.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct Progress {
    /// Messages per status.
    pub counts: StatusCounts,
    /// Every message of the batch.
    pub messages: u64,
    /// `sent + delivered` over the messages not cancelled ([`StatusCounts::success_rate`]).
    pub success_rate: Option<f64>,
    /// Messages completed per second over the recent window.
    pub messages_per_second: f64,
    /// Segments.
    pub credits: Credits,
    /// Money.
    pub cost: Cost,
    /// When the batch should be done, within its rate limit and send window; `None` when it
    /// cannot be told (nothing is moving and there is no rate limit).
    pub eta: Option<Timestamp>,
    /// Failures per category with samples.
    pub errors: ErrorStats,
    /// Per variant of an A/B batch (by variant name; `disabled` for recipients who got none).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: BTreeMap<String, VariantProgress>,
    /// When this was computed.
    pub updated_at: Option<Timestamp>,
}

impl Progress {
    /// Nothing counted yet, money in `currency`.
    pub fn new(currency: impl Into<String>) -> Self {
        Self {
            cost: Cost {
                currency: currency.into(),
                ..Cost::default()
            },
            ..Self::default()
        }
    }

    /// Recomputes the derived fields at `now`: messages, success rate, rate and ETA.
    pub fn refresh(&mut self, now: Timestamp, pace: Pace<'_>) {
        self.messages = self.counts.total();
        self.success_rate = self.counts.success_rate();
        self.messages_per_second = if pace.messages_per_second.is_finite() {
            pace.messages_per_second.max(0.0)
        } else {
            0.0
        };
        let segments_per_message = if self.messages > 0 && self.credits.estimated > 0 {
            self.credits.estimated as f64 / (self.messages - self.counts.cancelled).max(1) as f64
        } else {
            1.0
        };
        self.eta = eta(
            now,
            self.credits.remaining,
            self.messages_per_second * segments_per_message,
            pace,
        );
        self.updated_at = Some(now);
    }
}

/// When `remaining_segments` will have been sent at `observed` segments per second, no faster
/// than the rate limit allows, counting only the open hours of the send window. `now` when
/// nothing remains; `None` when nothing moves and no limit gives a pace, or past ten years.
pub fn eta(
    now: Timestamp,
    remaining_segments: u64,
    observed_segments_per_second: f64,
    pace: Pace<'_>,
) -> Option<Timestamp> {
    if remaining_segments == 0 {
        return Some(now);
    }
    let limit = pace
        .rate
        .map(|r| r.segments_per_second() * f64::from(pace.lanes.max(1)));
    let observed = (observed_segments_per_second.is_finite() && observed_segments_per_second > 0.0)
        .then_some(observed_segments_per_second);
    let speed = match (observed, limit) {
        (Some(o), Some(l)) => o.min(l),
        (Some(s), None) | (None, Some(s)) => s,
        (None, None) => return None,
    };
    let seconds = remaining_segments as f64 / speed;
    if !seconds.is_finite() || seconds > 1e10 {
        return None;
    }
    let work = Duration::from_secs_f64(seconds);
    match pace.window {
        Some((window, zone)) => window.finish_time(now, work, zone),
        None => now.checked_add(work),
    }
}

/// Completions per second over a sliding window of whole seconds, for one process.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::Timestamp;
/// use smsbatch::queue::RateMeter;
///
/// let mut meter = RateMeter::new(Duration::from_secs(10));
/// let t = |s| Timestamp::from_unix_seconds(s).unwrap();
/// for s in 0..10 {
///     meter.record(t(s), 5);
/// }
/// assert_eq!(meter.per_second(t(9)), 5.0);
/// assert_eq!(meter.per_second(t(100)), 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct RateMeter {
    window_seconds: i64,
    first: Option<i64>,
    /// `(second, count)`, oldest first.
    slots: Vec<(i64, u64)>,
}

impl RateMeter {
    /// A meter over `window` (whole seconds, at least 1).
    pub fn new(window: Duration) -> Self {
        Self {
            window_seconds: window.as_secs().clamp(1, 86_400) as i64,
            first: None,
            slots: Vec::new(),
        }
    }

    fn expire(&mut self, second: i64) {
        let oldest = second - self.window_seconds + 1;
        self.slots.retain(|s| s.0 >= oldest);
    }

    /// Counts `n` completions at `now`.
    pub fn record(&mut self, now: Timestamp, n: u64) {
        let second = now.as_unix_seconds();
        self.expire(second);
        self.first.get_or_insert(second);
        match self.slots.last_mut() {
            Some(last) if last.0 == second => last.1 += n,
            _ => self.slots.push((second, n)),
        }
    }

    /// Completions per second over the window (over the time since the first record while that
    /// is shorter, so a young batch is not under-reported).
    pub fn per_second(&mut self, now: Timestamp) -> f64 {
        let second = now.as_unix_seconds();
        self.expire(second);
        let count: u64 = self.slots.iter().map(|s| s.1).sum();
        let span = match self.first {
            Some(first) => (second - first + 1).clamp(1, self.window_seconds),
            None => return 0.0,
        };
        count as f64 / span as f64
    }
}

/// Lets progress be written at most once per interval (writes on state changes can bypass it).
///
/// ```
/// use std::time::Duration;
/// use smsbatch::Timestamp;
/// use smsbatch::queue::ProgressThrottle;
///
/// let mut throttle = ProgressThrottle::new(Duration::from_secs(2));
/// let t = |ms| Timestamp::from_unix_millis(ms).unwrap();
/// assert!(throttle.ready(t(0)));
/// assert!(!throttle.ready(t(1_999)));
/// assert!(throttle.ready(t(2_000)));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ProgressThrottle {
    interval: Duration,
    last: Option<Timestamp>,
}

impl ProgressThrottle {
    /// At most one write per `interval`.
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
        }
    }

    /// True (and counted as a write) when the last write was at least the interval ago.
    pub fn ready(&mut self, now: Timestamp) -> bool {
        let due = self
            .last
            .is_none_or(|last| now.duration_since(last) >= self.interval || now < last);
        if due {
            self.last = Some(now);
        }
        due
    }

    /// Counts a write made regardless (on a state change).
    pub fn wrote(&mut self, now: Timestamp) {
        self.last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::window::FixedOffset;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn counts_and_rates() {
        let mut c = StatusCounts::new();
        for s in MessageStatus::ALL {
            c.add(s, 1);
        }
        assert_eq!(c.total(), 8);
        assert_eq!(c.unfinished(), 3);
        // sent + delivered over 7 not cancelled.
        assert_eq!(c.success_rate(), Some(2.0 / 7.0));
        c.moved(MessageStatus::Pending, MessageStatus::Processing);
        assert_eq!((c.pending, c.processing), (0, 2));
        assert_eq!(StatusCounts::new().success_rate(), None);
    }

    #[test]
    fn eta_respects_the_window() {
        let window = SendWindow::new("09:00".parse().unwrap(), "17:00".parse().unwrap()).unwrap();
        let utc = FixedOffset::UTC;
        // 10 segments a second for 8 hours is 288,000 segments: one full day from 09:00.
        let pace = Pace::new(0.0)
            .rate(Some(Rate::per_second(10.0, 1).unwrap()), 1)
            .window(&window, &utc);
        assert_eq!(
            eta(t("2025-05-01T16:00:00Z"), 288_000, 0.0, pace),
            Some(t("2025-05-02T16:00:00Z"))
        );
        // Without a window, eight hours straight.
        let pace = Pace::new(0.0).rate(Some(Rate::per_second(10.0, 1).unwrap()), 1);
        assert_eq!(
            eta(t("2025-05-01T16:00:00Z"), 288_000, 0.0, pace),
            Some(t("2025-05-02T00:00:00Z"))
        );
        // Faster observed than allowed: the limit (times 2 lanes) wins; slower: the observed.
        let pace = Pace::new(0.0).rate(Some(Rate::per_second(10.0, 1).unwrap()), 2);
        assert_eq!(
            eta(t("2025-05-01T00:00:00Z"), 2000, 100.0, pace),
            Some(t("2025-05-01T00:01:40Z"))
        );
        assert_eq!(
            eta(t("2025-05-01T00:00:00Z"), 2000, 5.0, pace),
            Some(t("2025-05-01T00:06:40Z"))
        );
        assert_eq!(eta(t("2025-05-01T00:00:00Z"), 1, 0.0, Pace::new(0.0)), None);
        assert_eq!(
            eta(t("2025-05-01T00:00:00Z"), 0, 0.0, Pace::new(0.0)),
            Some(t("2025-05-01T00:00:00Z"))
        );
    }

    #[test]
    fn progress_json_round_trips() {
        let mut p = Progress::new("USD");
        p.counts.add(MessageStatus::InDoubt, 2);
        p.cost.estimated = "0.0158".parse().unwrap();
        p.variants.insert(
            "a".into(),
            VariantProgress {
                counts: p.counts,
                segments: 2,
            },
        );
        p.refresh(t("2025-05-01T00:00:00Z"), Pace::new(1.5));
        let json = serde_json::to_value(&p).unwrap();
        for key in [
            "counts",
            "messages",
            "successRate",
            "messagesPerSecond",
            "credits",
            "cost",
            "eta",
            "errors",
            "variants",
            "updatedAt",
        ] {
            assert!(json.get(key).is_some(), "{key} in {json}");
        }
        assert_eq!(json["counts"]["inDoubt"], 2);
        assert_eq!(json["cost"]["currency"], "USD");
        let back: Progress = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
        // An empty JSONB object reads as no progress.
        assert_eq!(
            serde_json::from_str::<Progress>("{}").unwrap(),
            Progress::default()
        );
    }

    #[test]
    fn meter_is_young_aware() {
        let mut meter = RateMeter::new(Duration::from_secs(60));
        let s = |n| Timestamp::from_unix_seconds(n).unwrap();
        meter.record(s(0), 10);
        meter.record(s(1), 10);
        assert_eq!(meter.per_second(s(1)), 10.0);
        assert_eq!(meter.per_second(s(59)), 20.0 / 60.0);
        assert_eq!(meter.per_second(s(61)), 0.0);
    }
}
