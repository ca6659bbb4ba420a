//! What happens after a send: backoff with full jitter, the retry budget, attempts, the in-doubt
//! policy, "retry the failed" and the error rate that pauses a batch. Plain functions of their
//! inputs (the time and the random draw included), so the core never picks a timer.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::category::ErrorCategory;
use super::sender::{Accepted, LookupError, ProviderMessage, SendFailure, SendOutcome};
use super::state::MessageStatus;
use crate::time::Timestamp;

/// The ceiling of the `attempt`-th backoff: `min(cap, base × 2^(attempt − 1))`, attempts
/// counted from 1.
pub const fn backoff_ceiling(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let shift = if attempt == 0 { 0 } else { attempt - 1 };
    let base = base.as_nanos();
    let cap_nanos = cap.as_nanos();
    let ceiling = if shift >= 64 || base > (cap_nanos >> shift) {
        cap_nanos
    } else {
        base << shift
    };
    let ceiling = if ceiling > cap_nanos {
        cap_nanos
    } else {
        ceiling
    };
    nanos(ceiling)
}

const fn nanos(n: u128) -> Duration {
    let secs = n / 1_000_000_000;
    if secs > u64::MAX as u128 {
        Duration::MAX
    } else {
        Duration::new(secs as u64, (n % 1_000_000_000) as u32)
    }
}

/// `value × draw / 2^64`: a uniform point of `[0, value)` for a uniform 64-bit `draw`.
const fn scale(value: Duration, draw: u64) -> Duration {
    let n = value.as_nanos();
    // The product of a nanosecond count below 2^64 · 10^9 and a u64 fits a u128 only when the
    // count fits 64 bits; larger counts are split.
    let hi = n >> 64;
    let lo = n & (u64::MAX as u128);
    let scaled = hi * draw as u128 + ((lo * draw as u128) >> 64);
    nanos(scaled)
}

/// AWS's "full jitter": a delay drawn uniformly from `[0, min(cap, base × 2^(attempt − 1))]`,
/// with `draw` a uniform 64-bit random number supplied by the caller.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::queue::full_jitter;
///
/// let (base, cap) = (Duration::from_secs(1), Duration::from_secs(60));
/// assert_eq!(full_jitter(3, base, cap, u64::MAX), Duration::from_secs(4));
/// assert_eq!(full_jitter(3, base, cap, 0), Duration::ZERO);
/// assert_eq!(full_jitter(3, base, cap, 1 << 63), Duration::from_secs(2));
/// assert_eq!(full_jitter(30, base, cap, u64::MAX), cap);
/// ```
pub const fn full_jitter(attempt: u32, base: Duration, cap: Duration, draw: u64) -> Duration {
    let ceiling = backoff_ceiling(attempt, base, cap);
    if draw == u64::MAX {
        ceiling
    } else {
        scale(ceiling, draw)
    }
}

/// Capped exponential backoff with full jitter, and the provider's `Retry-After` as a floor.
///
/// The delay before retry `attempt` (the attempt that just failed, from 1) is
/// `max(full_jitter(attempt), retry_after + spread_jitter)`: a provider's explicit wait is always
/// honoured, plus up to [`Backoff::spread`] more so the workers that got the same header do not
/// come back in lockstep. The cap bounds the jitter, never the provider's wait.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::queue::Backoff;
///
/// let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
/// let d = backoff.delay(4, None, 0x1234_5678_9abc_def0);
/// assert!(d <= Duration::from_secs(8));
/// let d = backoff.delay(1, Some(Duration::from_secs(30)), 0x1234_5678_9abc_def0);
/// assert!(d >= Duration::from_secs(30) && d <= Duration::from_secs(31));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first ceiling (default 1 s).
    pub base: Duration,
    /// The largest ceiling (default 60 s).
    pub cap: Duration,
    /// The most added on top of a `Retry-After` (default 1 s).
    pub spread: Duration,
}

impl Backoff {
    /// Base and cap; spread 1 s.
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            spread: Duration::from_secs(1),
        }
    }

    /// The most added on top of a `Retry-After`.
    pub const fn spread(mut self, spread: Duration) -> Self {
        self.spread = spread;
        self
    }

    /// The delay after failed attempt `attempt` (from 1), from one uniform 64-bit `draw`.
    pub const fn delay(&self, attempt: u32, retry_after: Option<Duration>, draw: u64) -> Duration {
        // Two independent-enough halves of one draw: the jitter's from the whole draw, the
        // spread's from its bits rotated.
        let jitter = full_jitter(attempt, self.base, self.cap, draw);
        match retry_after {
            None => jitter,
            Some(floor) => {
                let spread = scale(self.spread, draw.rotate_left(32));
                let floor = floor.saturating_add(spread);
                if jitter.as_nanos() > floor.as_nanos() {
                    jitter
                } else {
                    floor
                }
            }
        }
    }
}

impl Default for Backoff {
    /// Base 1 s, cap 60 s, spread 1 s (the design notes' recommendation).
    fn default() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(60))
    }
}

/// A retry budget: retries may be at most a fraction of first attempts over a sliding window,
/// plus a small floor per second, so a provider incident cannot multiply the traffic (Google SRE
/// "Handling Overload"; tower's `TpsBudget`).
///
/// Every first attempt [`deposits`](RetryBudget::deposit); every retry must
/// [`withdraw`](RetryBudget::withdraw). The window is cut into one-second slots that expire as
/// time passes, so the budget recovers on its own.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::Timestamp;
/// use smsbatch::queue::RetryBudget;
///
/// let mut budget = RetryBudget::new(10, 0, Duration::from_secs(10));
/// let now = Timestamp::UNIX_EPOCH;
/// for _ in 0..100 {
///     budget.deposit(now);
/// }
/// let granted = (0..100).filter(|_| budget.withdraw(now)).count();
/// assert_eq!(granted, 10);
/// ```
#[derive(Clone, Debug)]
pub struct RetryBudget {
    percent: u32,
    min_per_second: u32,
    /// `(second, deposits, withdrawals)` per slot, oldest first.
    slots: Vec<(i64, u64, u64)>,
    window_seconds: i64,
}

impl RetryBudget {
    /// Retries up to `percent` % of first attempts plus `min_per_second` per second, over
    /// `window` (whole seconds, at least one).
    pub fn new(percent: u32, min_per_second: u32, window: Duration) -> Self {
        Self {
            percent,
            min_per_second,
            slots: Vec::new(),
            window_seconds: window.as_secs().clamp(1, 3600) as i64,
        }
    }

    fn slot(&mut self, now: Timestamp) -> &mut (i64, u64, u64) {
        let second = now.as_unix_seconds();
        let oldest = second - self.window_seconds + 1;
        self.slots.retain(|s| s.0 >= oldest);
        match self.slots.iter().position(|s| s.0 == second) {
            Some(i) => &mut self.slots[i],
            None => {
                self.slots.push((second, 0, 0));
                let at = self.slots.len() - 1;
                &mut self.slots[at]
            }
        }
    }

    /// Counts a first attempt.
    pub fn deposit(&mut self, now: Timestamp) {
        self.slot(now).1 += 1;
    }

    /// Asks for one retry; false when the budget is spent (the retry then waits the backoff's
    /// cap: see [`Next::Retry`]).
    pub fn withdraw(&mut self, now: Timestamp) -> bool {
        let available = self.available(now);
        if available == 0 {
            return false;
        }
        self.slot(now).2 += 1;
        true
    }

    /// Retries still allowed now.
    pub fn available(&mut self, now: Timestamp) -> u64 {
        self.slot(now);
        let deposits: u64 = self.slots.iter().map(|s| s.1).sum();
        let withdrawals: u64 = self.slots.iter().map(|s| s.2).sum();
        let allowed = deposits * u64::from(self.percent) / 100
            + u64::from(self.min_per_second) * self.window_seconds as u64;
        allowed.saturating_sub(withdrawals)
    }
}

impl Default for RetryBudget {
    /// 10 % of first attempts plus 1 per second, over 10 s.
    fn default() -> Self {
        Self::new(10, 1, Duration::from_secs(10))
    }
}

/// The next step for a message after a send, as [`RetryPolicy::next`] decides it; the runner
/// writes it with one fenced update.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// Accepted: status `sent` with the provider's id.
    Sent(Accepted),
    /// Back to `pending`, to run at `run_at`.
    Retry {
        /// When to try again.
        run_at: Timestamp,
        /// The failure, for the message's error columns and the stats.
        failure: SendFailure,
        /// True when the retry budget was spent and the retry was pushed back to the backoff's
        /// cap: a sign of a retry storm (log it; the error rate will pause the batch if it
        /// goes on).
        budget_exhausted: bool,
    },
    /// Status `failed`; add the recipient to the suppression list when `suppress` (an opt-out).
    Fail {
        /// The failure.
        failure: SendFailure,
        /// Whether the recipient opted out.
        suppress: bool,
    },
    /// Status `in_doubt`, to be reconciled from `check_at` on; never resent from here.
    InDoubt {
        /// The failure.
        failure: SendFailure,
        /// When to look it up first.
        check_at: Timestamp,
    },
    /// The message back to `pending` untouched (it was not the message's fault) and the batch
    /// paused with reason `provider`.
    HaltBatch(SendFailure),
}

/// What to do with messages whose send may have reached the provider.
///
/// Every policy first asks the provider ([`Sender::find`](super::Sender::find)): a message the
/// provider has is `sent` (or what the provider says), whatever the policy. They differ in what
/// happens when the provider does not have it. JSON: `"reconcile"`, `"markFailed"` or
/// `{"resendAfterSeconds": 600}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum InDoubtPolicy {
    /// Look it up; when the provider still has no such message after the settling time (the
    /// second verification delay, or twice the first), send it again: the provider's own list
    /// says it never arrived. A sender that cannot look up marks it failed.
    #[default]
    Reconcile,
    /// Look it up if the sender can; otherwise, or when not found, send it again once this long
    /// has passed since the send started.
    #[serde(rename = "resendAfterSeconds", with = "seconds")]
    ResendAfter(Duration),
    /// Look it up if the sender can; otherwise mark it failed (category `inDoubt`).
    MarkFailed,
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// The result of one look-up for an in-doubt message, as [`InDoubtPolicy::resolve`] takes it.
#[derive(Clone, Copy, Debug)]
pub enum Lookup<'a> {
    /// The provider has it.
    Found(&'a ProviderMessage),
    /// The look-up (or search) answered, and the provider has no such message.
    NotFound,
    /// The sender cannot look messages up.
    Unsupported,
    /// The look-up failed; try later.
    Unavailable(Option<Duration>),
}

impl<'a> Lookup<'a> {
    /// The look-up of a [`Sender::find`](super::Sender::find) answer: the best candidate of
    /// `query`, or what the error says.
    pub fn from_find(
        query: &super::sender::FindQuery,
        answer: &'a Result<Vec<ProviderMessage>, LookupError>,
    ) -> Self {
        match answer {
            Ok(candidates) => match query.best_match(candidates) {
                Some(found) => Lookup::Found(found),
                None => Lookup::NotFound,
            },
            Err(LookupError::NotFound) => Lookup::NotFound,
            Err(LookupError::Unsupported) => Lookup::Unsupported,
            Err(LookupError::Unavailable { retry_after, .. }) => Lookup::Unavailable(*retry_after),
        }
    }
}

/// What becomes of an in-doubt message after a look-up.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// The provider has it: record its id; the status is [`ProviderStatus::message_status`](super::ProviderStatus::message_status)
    /// of the found message (`sent`, `delivered`, `undelivered` or `failed`).
    Found {
        /// The message as the provider has it.
        message: ProviderMessage,
        /// Our status for it.
        status: MessageStatus,
    },
    /// The provider does not have it: back to `pending`, to run at once (a new attempt).
    Resend,
    /// Give up: status `failed` with this failure (category `inDoubt`).
    Fail(SendFailure),
    /// Not decided yet: look again at this time.
    CheckAt(Timestamp),
}

/// When in-doubt messages are looked up: first `verify_after` after the send started, and (for
/// [`InDoubtPolicy::Reconcile`]) given up as absent `settle` after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconcileTiming {
    /// The first look-up's delay after the send started.
    pub verify_after: Duration,
    /// How long the provider's list may lag: absence is trusted only after this.
    pub settle: Duration,
}

impl ReconcileTiming {
    /// From the batch's verification delays: settle at the second one, or twice the first.
    pub fn new(verify_after: Duration, second_verify_after: Option<Duration>) -> Self {
        Self {
            verify_after,
            settle: second_verify_after.unwrap_or(verify_after.saturating_mul(2)),
        }
    }
}

impl InDoubtPolicy {
    /// The next step for an in-doubt message whose send started at `started_at`, after the
    /// look-up `lookup` at `now`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use smsbatch::Timestamp;
    /// use smsbatch::queue::{InDoubtPolicy, Lookup, ReconcileTiming, Resolution};
    ///
    /// let timing = ReconcileTiming::new(Duration::from_secs(30), None);
    /// let started = Timestamp::UNIX_EPOCH;
    /// let at = |s| Timestamp::from_unix_seconds(s).unwrap();
    /// let policy = InDoubtPolicy::Reconcile;
    /// // Not found yet, but the provider's list may lag: look again at the settling time.
    /// assert_eq!(policy.resolve(started, at(30), Lookup::NotFound, timing), Resolution::CheckAt(at(60)));
    /// // Still not there after it: the provider never had it, so it is sent again.
    /// assert_eq!(policy.resolve(started, at(60), Lookup::NotFound, timing), Resolution::Resend);
    /// // A sender that cannot look up: never resent blindly.
    /// assert!(matches!(policy.resolve(started, at(60), Lookup::Unsupported, timing), Resolution::Fail(_)));
    /// ```
    pub fn resolve(
        self,
        started_at: Timestamp,
        now: Timestamp,
        lookup: Lookup<'_>,
        timing: ReconcileTiming,
    ) -> Resolution {
        let retry_lookup = |after: Option<Duration>| {
            Resolution::CheckAt(
                now.saturating_add(
                    after
                        .unwrap_or(timing.verify_after)
                        .max(Duration::from_secs(1)),
                ),
            )
        };
        let gave_up = |why: &str| {
            Resolution::Fail(SendFailure::new(
                ErrorCategory::InDoubt,
                format!("the send may have reached the provider, and {why}; not resent"),
            ))
        };
        if let Lookup::Found(message) = lookup {
            return Resolution::Found {
                message: message.clone(),
                status: message.status.message_status(),
            };
        }
        match self {
            Self::Reconcile => match lookup {
                Lookup::NotFound => {
                    let settled = started_at.saturating_add(timing.settle);
                    if now >= settled {
                        Resolution::Resend
                    } else {
                        Resolution::CheckAt(settled)
                    }
                }
                Lookup::Unsupported => gave_up("the sender cannot look messages up"),
                Lookup::Unavailable(after) => retry_lookup(after),
                Lookup::Found(_) => unreachable_found(),
            },
            Self::ResendAfter(delay) => match lookup {
                Lookup::NotFound | Lookup::Unsupported => {
                    let due = started_at.saturating_add(delay);
                    if now >= due {
                        Resolution::Resend
                    } else {
                        Resolution::CheckAt(due)
                    }
                }
                Lookup::Unavailable(after) => retry_lookup(after),
                Lookup::Found(_) => unreachable_found(),
            },
            Self::MarkFailed => match lookup {
                Lookup::Unavailable(after) => retry_lookup(after),
                _ => gave_up("the provider does not show it"),
            },
        }
    }
}

// Handled before the match; kept as a value (not a panic) so library code cannot panic.
fn unreachable_found() -> Resolution {
    Resolution::Resend
}

/// The retry rules of a batch: backoff, attempts, budget and the in-doubt policy.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::Timestamp;
/// use smsbatch::queue::{ErrorCategory, Next, RetryBudget, RetryPolicy, SendFailure, SendOutcome};
///
/// let policy = RetryPolicy::new().max_attempts(3);
/// let mut budget = RetryBudget::default();
/// let now = Timestamp::UNIX_EPOCH;
/// let busy = SendOutcome::Retry {
///     failure: SendFailure::new(ErrorCategory::RateLimited, "429").code("20429"),
///     retry_after: Some(Duration::from_secs(5)),
/// };
/// let Next::Retry { run_at, .. } = policy.next(busy.clone(), 1, now, 42, &mut budget) else { panic!() };
/// assert!(run_at >= Timestamp::from_unix_seconds(5).unwrap());
/// // The third attempt was the last.
/// assert!(matches!(policy.next(busy, 3, now, 42, &mut budget), Next::Fail { .. }));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Backoff between attempts.
    pub backoff: Backoff,
    /// Attempts per message, the first included (default 5).
    pub max_attempts: u32,
    /// Attempts for failures of category `unknown` (default 2: the notes' "retry once").
    pub max_unknown_attempts: u32,
    /// What happens to in-doubt messages.
    pub in_doubt: InDoubtPolicy,
    /// When in-doubt messages are looked up.
    pub timing: ReconcileTiming,
}

impl RetryPolicy {
    /// The default attempts per message.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

    /// Default backoff, 5 attempts (2 for unknown failures), in-doubt messages reconciled after
    /// 30 s and trusted absent after 60 s.
    pub const fn new() -> Self {
        Self {
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            max_unknown_attempts: 2,
            in_doubt: InDoubtPolicy::Reconcile,
            timing: ReconcileTiming {
                verify_after: Duration::from_secs(30),
                settle: Duration::from_secs(60),
            },
        }
    }

    /// The backoff.
    pub const fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Attempts per message, at least 1.
    pub const fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = if n == 0 { 1 } else { n };
        self
    }

    /// The in-doubt policy.
    pub const fn in_doubt(mut self, policy: InDoubtPolicy) -> Self {
        self.in_doubt = policy;
        self
    }

    /// When in-doubt messages are looked up.
    pub const fn timing(mut self, timing: ReconcileTiming) -> Self {
        self.timing = timing;
        self
    }

    /// The next step after attempt `attempt` (from 1) ended with `outcome` at `now`; `draw` is a
    /// uniform random number for the jitter. A retry withdraws from `budget`; a first attempt
    /// should have deposited into it (the runner does both).
    pub fn next(
        &self,
        outcome: SendOutcome,
        attempt: u32,
        now: Timestamp,
        draw: u64,
        budget: &mut RetryBudget,
    ) -> Next {
        match outcome {
            SendOutcome::Accepted(accepted) => Next::Sent(accepted),
            SendOutcome::Failed(failure) => Next::Fail {
                suppress: failure.category.suppresses_recipient(),
                failure,
            },
            SendOutcome::InDoubt(failure) => Next::InDoubt {
                failure,
                check_at: now.saturating_add(self.timing.verify_after),
            },
            SendOutcome::HaltBatch(failure) => Next::HaltBatch(failure),
            SendOutcome::Retry {
                mut failure,
                retry_after,
            } => {
                let limit = if failure.category == ErrorCategory::Unknown {
                    self.max_unknown_attempts.min(self.max_attempts)
                } else {
                    self.max_attempts
                };
                if attempt >= limit {
                    failure.message = format!(
                        "gave up after {attempt} attempt{}: {}",
                        if attempt == 1 { "" } else { "s" },
                        failure.message
                    );
                    return Next::Fail {
                        suppress: false,
                        failure,
                    };
                }
                let budget_exhausted = !budget.withdraw(now);
                let delay = if budget_exhausted {
                    // Pushed back to the cap (with jitter, so the deferred ones spread out).
                    self.backoff
                        .cap
                        .max(retry_after.unwrap_or_default())
                        .saturating_add(full_jitter(1, self.backoff.cap, self.backoff.cap, draw))
                } else {
                    self.backoff.delay(attempt, retry_after, draw)
                };
                Next::Retry {
                    run_at: now.saturating_add(delay),
                    failure,
                    budget_exhausted,
                }
            }
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether "retry the failed" requeues a message: status `failed` (never `undelivered`: that one
/// may have reached the handset) with a retryable category ([`ErrorCategory::is_retryable`]).
/// The message goes back to `pending` as a new attempt of the same message, with its attempt
/// count reset, so it gets the batch's full attempts again.
///
/// ```
/// use smsbatch::queue::{ErrorCategory, MessageStatus, can_retry_failed};
///
/// assert!(can_retry_failed(MessageStatus::Failed, Some(ErrorCategory::ProviderError)));
/// assert!(!can_retry_failed(MessageStatus::Failed, Some(ErrorCategory::OptedOut)));
/// assert!(!can_retry_failed(MessageStatus::Failed, Some(ErrorCategory::InDoubt)));
/// assert!(!can_retry_failed(MessageStatus::Undelivered, Some(ErrorCategory::Unknown)));
/// ```
pub const fn can_retry_failed(status: MessageStatus, category: Option<ErrorCategory>) -> bool {
    matches!(status, MessageStatus::Failed)
        && match category {
            Some(c) => c.is_retryable(),
            None => false,
        }
}

/// Pauses a batch when too many recent sends fail: the share of failures (see
/// [`ErrorCategory::counts_as_error`]) among the sends of a sliding window, once the window holds
/// enough sends to judge.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::Timestamp;
/// use smsbatch::queue::ErrorRateMonitor;
///
/// let mut monitor = ErrorRateMonitor::new(0.5, Duration::from_secs(60), 10);
/// let t = |s| Timestamp::from_unix_seconds(s).unwrap();
/// for i in 0..9 {
///     monitor.record(t(i), true);
/// }
/// assert!(!monitor.should_pause(t(9)), "9 sends are too few to judge");
/// monitor.record(t(9), false);
/// assert!(monitor.should_pause(t(9)));
/// assert!(!monitor.should_pause(t(200)), "old failures leave the window");
/// ```
#[derive(Clone, Debug)]
pub struct ErrorRateMonitor {
    threshold: f64,
    window_seconds: i64,
    min_sends: u64,
    /// `(second, sends, errors)`, oldest first.
    slots: Vec<(i64, u64, u64)>,
}

impl ErrorRateMonitor {
    /// Pause when more than `threshold` (a fraction) of the sends of the last `window` failed,
    /// once at least `min_sends` were made in it.
    pub fn new(threshold: f64, window: Duration, min_sends: u64) -> Self {
        Self {
            threshold,
            window_seconds: window.as_secs().clamp(1, 86_400) as i64,
            min_sends: min_sends.max(1),
            slots: Vec::new(),
        }
    }

    fn expire(&mut self, now: Timestamp) {
        let oldest = now.as_unix_seconds() - self.window_seconds + 1;
        self.slots.retain(|s| s.0 >= oldest);
    }

    /// Counts one send that ended at `now`; `failed` for an outcome that counts as an error.
    pub fn record(&mut self, now: Timestamp, failed: bool) {
        self.expire(now);
        let second = now.as_unix_seconds();
        let slot = match self.slots.iter().position(|s| s.0 == second) {
            Some(i) => &mut self.slots[i],
            None => {
                self.slots.push((second, 0, 0));
                let at = self.slots.len() - 1;
                &mut self.slots[at]
            }
        };
        slot.1 += 1;
        slot.2 += u64::from(failed);
    }

    /// Counts the outcome of one send.
    pub fn record_outcome(&mut self, now: Timestamp, outcome: &SendOutcome) {
        let failed = outcome
            .failure()
            .is_some_and(|f| f.category.counts_as_error());
        self.record(now, failed);
    }

    /// The share of failures in the window, when it holds enough sends.
    pub fn rate(&mut self, now: Timestamp) -> Option<f64> {
        self.expire(now);
        let sends: u64 = self.slots.iter().map(|s| s.1).sum();
        let errors: u64 = self.slots.iter().map(|s| s.2).sum();
        (sends >= self.min_sends).then(|| errors as f64 / sends as f64)
    }

    /// Whether the batch should pause (reason `errorRate`).
    pub fn should_pause(&mut self, now: Timestamp) -> bool {
        self.rate(now).is_some_and(|r| r >= self.threshold)
    }

    /// Forgets every send (after the batch resumes, so it is judged afresh).
    pub fn reset(&mut self) {
        self.slots.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{ProviderStatus, sender::FindQuery, sender::OutboundMessage};

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn t(s: i64) -> Timestamp {
        Timestamp::from_unix_seconds(s).unwrap()
    }

    #[test]
    fn ceilings_double_and_cap() {
        let (b, c) = (secs(1), secs(60));
        let got: Vec<u64> = (1..=8)
            .map(|a| backoff_ceiling(a, b, c).as_secs())
            .collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff_ceiling(0, b, c), b);
        assert_eq!(backoff_ceiling(u32::MAX, b, c), c);
        assert_eq!(
            backoff_ceiling(200, Duration::MAX, Duration::MAX),
            Duration::MAX
        );
    }

    #[test]
    fn budget_recovers_as_the_window_moves() {
        let mut budget = RetryBudget::new(20, 1, secs(10));
        for _ in 0..50 {
            budget.deposit(t(0));
        }
        // 20% of 50 plus 1/s over 10 s.
        assert_eq!(budget.available(t(0)), 20);
        let granted = (0..100).filter(|_| budget.withdraw(t(0))).count();
        assert_eq!(granted, 20);
        assert!(!budget.withdraw(t(5)));
        // Ten seconds on, the deposits and withdrawals of second 0 have expired.
        assert_eq!(budget.available(t(10)), 10);
    }

    #[test]
    fn retry_budget_stops_a_retry_storm() {
        // 1,000 sends in 10 s all fail with a retryable error: without a budget, each would be
        // retried up to 4 times; with the default budget, only 10 % + 1/s are retried soon, the
        // rest are pushed back to the cap.
        let policy = RetryPolicy::new();
        let mut budget = RetryBudget::default();
        let mut soon = 0;
        let mut deferred = 0;
        for i in 0..1000u64 {
            let now = t((i / 100) as i64);
            budget.deposit(now);
            let outcome = SendOutcome::Retry {
                failure: SendFailure::new(ErrorCategory::ProviderError, "503").http_status(503),
                retry_after: None,
            };
            match policy.next(outcome, 1, now, crate::random::mix(i), &mut budget) {
                Next::Retry {
                    run_at,
                    budget_exhausted,
                    ..
                } => {
                    if budget_exhausted {
                        deferred += 1;
                        assert!(run_at >= now.saturating_add(secs(60)));
                    } else {
                        soon += 1;
                        assert!(run_at <= now.saturating_add(secs(1)));
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        // 10 % of the deposits of the window plus 10 per window, over ten one-second steps.
        assert!(soon <= 1000 / 10 + 10 * 10, "{soon}");
        assert!(soon >= 100, "{soon}");
        assert_eq!(soon + deferred, 1000);
    }

    #[test]
    fn outcomes_map_to_steps() {
        let policy = RetryPolicy::new();
        let mut budget = RetryBudget::default();
        let now = t(100);
        let failed = SendFailure::new(ErrorCategory::OptedOut, "STOP").code("21610");
        assert_eq!(
            policy.next(SendOutcome::Failed(failed.clone()), 1, now, 0, &mut budget),
            Next::Fail {
                failure: failed,
                suppress: true
            }
        );
        let doubt = SendFailure::new(ErrorCategory::ProviderError, "500").http_status(500);
        assert_eq!(
            policy.next(SendOutcome::InDoubt(doubt.clone()), 1, now, 0, &mut budget),
            Next::InDoubt {
                failure: doubt,
                check_at: t(130)
            }
        );
        let halt = SendFailure::new(ErrorCategory::Account, "auth");
        assert_eq!(
            policy.next(SendOutcome::HaltBatch(halt.clone()), 1, now, 0, &mut budget),
            Next::HaltBatch(halt)
        );
        // Unknown failures are retried once.
        let unknown = SendOutcome::Retry {
            failure: SendFailure::new(ErrorCategory::Unknown, "30008").code("30008"),
            retry_after: None,
        };
        assert!(matches!(
            policy.next(unknown.clone(), 1, now, 0, &mut budget),
            Next::Retry { .. }
        ));
        let Next::Fail { failure, .. } = policy.next(unknown, 2, now, 0, &mut budget) else {
            panic!()
        };
        assert_eq!(failure.message, "gave up after 2 attempts: 30008");
    }

    #[test]
    fn in_doubt_policies() {
        let timing = ReconcileTiming::new(secs(30), Some(secs(300)));
        let started = t(0);
        let found = ProviderMessage::new("SM1", ProviderStatus::Delivered);
        for policy in [
            InDoubtPolicy::Reconcile,
            InDoubtPolicy::ResendAfter(secs(600)),
            InDoubtPolicy::MarkFailed,
        ] {
            assert_eq!(
                policy.resolve(started, t(30), Lookup::Found(&found), timing),
                Resolution::Found {
                    message: found.clone(),
                    status: MessageStatus::Delivered
                },
                "{policy:?}"
            );
            assert_eq!(
                policy.resolve(started, t(30), Lookup::Unavailable(Some(secs(7))), timing),
                Resolution::CheckAt(t(37)),
                "{policy:?}"
            );
        }
        let r = InDoubtPolicy::Reconcile;
        assert_eq!(
            r.resolve(started, t(30), Lookup::NotFound, timing),
            Resolution::CheckAt(t(300))
        );
        assert_eq!(
            r.resolve(started, t(301), Lookup::NotFound, timing),
            Resolution::Resend
        );
        let resend = InDoubtPolicy::ResendAfter(secs(600));
        assert_eq!(
            resend.resolve(started, t(30), Lookup::Unsupported, timing),
            Resolution::CheckAt(t(600))
        );
        assert_eq!(
            resend.resolve(started, t(600), Lookup::Unsupported, timing),
            Resolution::Resend
        );
        let Resolution::Fail(f) =
            InDoubtPolicy::MarkFailed.resolve(started, t(30), Lookup::NotFound, timing)
        else {
            panic!()
        };
        assert_eq!(f.category, ErrorCategory::InDoubt);
    }

    #[test]
    fn lookup_from_find_answers() {
        let m = OutboundMessage::new(1_i64, "+447700900123", "ACME", "hi");
        let q = FindQuery::around(&m, t(0), secs(60));
        let hit = Ok(vec![
            ProviderMessage::new("SM9", ProviderStatus::Sent).addressed(
                "+447700900123",
                "ACME",
                "hi",
            ),
        ]);
        assert!(matches!(Lookup::from_find(&q, &hit), Lookup::Found(f) if f.provider_id == "SM9"));
        let miss = Ok(vec![]);
        assert!(matches!(Lookup::from_find(&q, &miss), Lookup::NotFound));
        let down = Err(LookupError::Unavailable {
            message: "503".into(),
            retry_after: None,
        });
        assert!(matches!(
            Lookup::from_find(&q, &down),
            Lookup::Unavailable(None)
        ));
    }

    #[test]
    fn in_doubt_policy_json() {
        for (policy, json) in [
            (InDoubtPolicy::Reconcile, r#""reconcile""#),
            (InDoubtPolicy::MarkFailed, r#""markFailed""#),
            (
                InDoubtPolicy::ResendAfter(secs(600)),
                r#"{"resendAfterSeconds":600}"#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&policy).unwrap(), json);
            assert_eq!(serde_json::from_str::<InDoubtPolicy>(json).unwrap(), policy);
        }
    }

    #[test]
    fn error_rate_ignores_rate_limits() {
        let mut monitor = ErrorRateMonitor::new(0.25, secs(60), 4);
        let busy = SendOutcome::Retry {
            failure: SendFailure::new(ErrorCategory::RateLimited, "429"),
            retry_after: None,
        };
        for _ in 0..10 {
            monitor.record_outcome(t(0), &busy);
        }
        assert_eq!(monitor.rate(t(0)), Some(0.0));
        let filtered = SendOutcome::Failed(SendFailure::new(ErrorCategory::Filtered, "30007"));
        for _ in 0..4 {
            monitor.record_outcome(t(1), &filtered);
        }
        assert!(monitor.should_pause(t(1)));
        monitor.reset();
        assert_eq!(monitor.rate(t(1)), None);
    }
}
