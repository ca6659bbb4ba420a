//! SLA objectives, their evaluation into violations with the time each began, and alerts fired
//! once per violation and once when it clears.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::trend::{trend, window_micros};
use crate::batch::Amount;
use crate::error::{Error, Result};
use crate::queue::ErrorCategory;
use crate::time::Timestamp;

/// A message that settled, as the objectives see it.
#[derive(Clone, Debug)]
pub(crate) struct Settled {
    pub(crate) at: Timestamp,
    /// The category of a final failure (failed, undelivered).
    pub(crate) error: Option<ErrorCategory>,
    /// A delivery outcome: `true` delivered, `false` undelivered or failed.
    pub(crate) delivered: Option<bool>,
    pub(crate) estimated: Amount,
    /// The provider's price, when known (in the report's currency).
    pub(crate) actual: Option<Amount>,
}

/// What the objectives are evaluated on.
#[derive(Debug)]
pub(crate) struct SlaInput<'a> {
    pub(crate) now: Timestamp,
    pub(crate) started_at: Option<Timestamp>,
    pub(crate) done_at: Option<Timestamp>,
    /// Sorted by time.
    pub(crate) settled: &'a [Settled],
}

/// The error-rate objective: in no window of `windowSeconds` (aligned to the Unix epoch) may
/// more than `rate` of the messages that settled fail; windows with fewer than `minMessages`
/// settled messages (default 1) are not judged.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ErrorRateObjective {
    /// The largest share of failures allowed (0 to 1).
    pub rate: f64,
    /// The windows' length in whole seconds.
    pub window_seconds: u64,
    /// The fewest settled messages for a window to be judged.
    #[serde(default = "one")]
    pub min_messages: u64,
}

fn one() -> u64 {
    1
}

impl ErrorRateObjective {
    /// At most `rate` failures in windows of `window_seconds`.
    pub fn new(rate: f64, window_seconds: u64) -> Self {
        Self {
            rate,
            window_seconds,
            min_messages: 1,
        }
    }
}

/// Service-level objectives for a batch, as in the `--sla FILE` JSON:
/// `{"doneWithinSeconds": 3600, "maxErrorRate": {"rate": 0.05, "windowSeconds": 300},
/// "minDeliveryRate": 0.95, "maxCostOverEstimate": 0.10}` (every field optional, no other
/// field allowed).
///
/// - `doneWithinSeconds`: every message settled within this long of the batch's start;
/// - `maxErrorRate`: see [`ErrorRateObjective`];
/// - `minDeliveryRate`: `delivered / (delivered + undelivered + failed)` at least this;
/// - `maxCostOverEstimate`: what the provider charged at most this fraction above the estimate,
///   over the messages whose price is known (`0.1`: 10% over).
///
/// ```
/// use smsbatch::analytics::SlaObjectives;
///
/// let sla = SlaObjectives::from_json(r#"{"maxErrorRate": {"rate": 0.05, "windowSeconds": 300}}"#)?;
/// assert_eq!(sla.max_error_rate.unwrap().window_seconds, 300);
/// let err = SlaObjectives::from_json(r#"{"minDeliveryRate": 1.5}"#).unwrap_err();
/// assert!(err.to_string().contains("minDeliveryRate"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct SlaObjectives {
    /// Done within this many seconds of the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_within_seconds: Option<f64>,
    /// The error rate per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_rate: Option<ErrorRateObjective>,
    /// The delivery rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_delivery_rate: Option<f64>,
    /// The actual cost over the estimate, as a fraction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_over_estimate: Option<f64>,
}

/// One objective's name (as in the objectives' JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Objective {
    /// `doneWithinSeconds`.
    DoneWithinSeconds,
    /// `maxErrorRate`.
    MaxErrorRate,
    /// `minDeliveryRate`.
    MinDeliveryRate,
    /// `maxCostOverEstimate`.
    MaxCostOverEstimate,
}

impl Objective {
    /// The name in JSON.
    pub const fn code(self) -> &'static str {
        match self {
            Self::DoneWithinSeconds => "doneWithinSeconds",
            Self::MaxErrorRate => "maxErrorRate",
            Self::MinDeliveryRate => "minDeliveryRate",
            Self::MaxCostOverEstimate => "maxCostOverEstimate",
        }
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Where an objective stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ObjectiveStatus {
    /// Met so far.
    Met,
    /// Violated (at least one violation in the report).
    Violated,
    /// Nothing to judge yet (the batch has not started, nothing settled, no price known).
    Pending,
}

/// One objective's evaluation: JSON `{"objective", "status", "limit", "observed"}`; `observed`
/// is the elapsed seconds, the worst window's error rate, the delivery rate, the cost's overrun
/// fraction (`null` while pending).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ObjectiveResult {
    /// Which.
    pub objective: Objective,
    /// Where it stands.
    pub status: ObjectiveStatus,
    /// The objective's limit.
    pub limit: f64,
    /// What was observed.
    pub observed: Option<f64>,
}

/// A breach of an objective: JSON `{"objective", "beganAt", "endedAt", "observed", "limit",
/// "message"}`. `endedAt` is `null` while it lasts.
///
/// - `doneWithinSeconds`: began at the deadline, ends when the last message settles;
/// - `maxErrorRate`: one per run of windows over the limit (windows without enough messages in
///   between do not end it); began at the first such window's start, ended at the start of the
///   next window within the limit (or the last bad window's end once the batch is done);
///   `observed` is the worst window's rate;
/// - `minDeliveryRate` and `maxCostOverEstimate`: judged on the running totals; at most one,
///   current, violation, which began when the running value last crossed the limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Violation {
    /// Which objective.
    pub objective: Objective,
    /// When it began.
    pub began_at: Timestamp,
    /// When it ended, if it has.
    pub ended_at: Option<Timestamp>,
    /// The value that breached the limit (the worst one for an error-rate run).
    pub observed: f64,
    /// The limit.
    pub limit: f64,
    /// A sentence for people.
    pub message: String,
}

/// The objectives' evaluation: JSON `{"met", "objectives": [...], "violations": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SlaReport {
    /// No violation.
    pub met: bool,
    /// Each objective given, in the order of [`Objective`].
    pub objectives: Vec<ObjectiveResult>,
    /// Each violation, by objective then start.
    pub violations: Vec<Violation>,
}

fn bad(field: &str, why: String) -> Error {
    Error::invalid_input(format!("SLA objectives: `{field}` {why}"))
}

fn fraction(field: &str, v: f64) -> Result<()> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(bad(
            field,
            format!("must be a fraction between 0 and 1, not {v}"),
        ))
    }
}

impl SlaObjectives {
    /// Reads and checks objectives from JSON (the `--sla FILE` format); the error names the
    /// field.
    pub fn from_json(text: &str) -> Result<Self> {
        let mut de = serde_json::Deserializer::from_str(text);
        let objectives: Self = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                Error::invalid_input(format!("SLA objectives: {inner}"))
            } else {
                bad(&path, format!("is invalid: {inner}"))
            }
        })?;
        de.end()
            .map_err(|e| Error::invalid_input(format!("SLA objectives: {e}")))?;
        objectives.check()?;
        Ok(objectives)
    }

    /// Checks the values: seconds positive, rates between 0 and 1, overrun not negative.
    pub fn check(&self) -> Result<()> {
        if let Some(s) = self.done_within_seconds
            && !(s.is_finite() && s > 0.0 && s < 1e12)
        {
            return Err(bad(
                "doneWithinSeconds",
                format!("must be a positive number of seconds, not {s}"),
            ));
        }
        if let Some(e) = &self.max_error_rate {
            fraction("maxErrorRate.rate", e.rate)?;
            if e.window_seconds == 0 {
                return Err(bad(
                    "maxErrorRate.windowSeconds",
                    "must be at least 1".into(),
                ));
            }
        }
        if let Some(d) = self.min_delivery_rate {
            fraction("minDeliveryRate", d)?;
        }
        if let Some(c) = self.max_cost_over_estimate
            && !(c.is_finite() && c >= 0.0)
        {
            return Err(bad(
                "maxCostOverEstimate",
                format!("must be a fraction of at least 0, not {c}"),
            ));
        }
        Ok(())
    }

    pub(crate) fn evaluate(&self, input: &SlaInput<'_>) -> Result<SlaReport> {
        self.check()?;
        let mut objectives = Vec::new();
        let mut violations = Vec::new();
        let mut judge =
            |objective: Objective, limit: f64, observed: Option<f64>, found: Vec<Violation>| {
                let status = if !found.is_empty() {
                    ObjectiveStatus::Violated
                } else if observed.is_some() {
                    ObjectiveStatus::Met
                } else {
                    ObjectiveStatus::Pending
                };
                objectives.push(ObjectiveResult {
                    objective,
                    status,
                    limit,
                    observed,
                });
                violations.extend(found);
            };
        if let Some(limit) = self.done_within_seconds {
            let (observed, found) = done_within(input, limit);
            judge(Objective::DoneWithinSeconds, limit, observed, found);
        }
        if let Some(o) = self.max_error_rate {
            let (observed, found) = error_rate(input, o);
            judge(Objective::MaxErrorRate, o.rate, observed, found);
        }
        if let Some(min) = self.min_delivery_rate {
            let (observed, found) = running(
                input
                    .settled
                    .iter()
                    .filter_map(|s| s.delivered.map(|d| (s.at, u128::from(d), 1))),
                |delivered, total| delivered as f64 / total as f64,
                // delivered / total < min, without the division's rounding.
                |delivered, total| (delivered as f64) < min * total as f64,
            );
            let found = found.map(|(began_at, observed)| Violation {
                objective: Objective::MinDeliveryRate,
                began_at,
                ended_at: None,
                observed,
                limit: min,
                message: format!("the delivery rate is {observed:.4}, below {min}"),
            });
            judge(
                Objective::MinDeliveryRate,
                min,
                observed,
                found.into_iter().collect(),
            );
        }
        if let Some(max) = self.max_cost_over_estimate {
            let (observed, found) = running(
                input
                    .settled
                    .iter()
                    .filter_map(|s| s.actual.map(|a| (s.at, a.nanos(), s.estimated.nanos()))),
                |actual, estimated| {
                    if estimated == 0 {
                        if actual == 0 { 0.0 } else { f64::INFINITY }
                    } else {
                        actual as f64 / estimated as f64 - 1.0
                    }
                },
                // actual > estimated × (1 + max), as actual − estimated > max × estimated: the
                // amounts are exact integers, so the limit itself (5% over) is not a breach.
                |actual, estimated| {
                    actual > estimated && (actual - estimated) as f64 > max * estimated as f64
                },
            );
            let found = found.map(|(began_at, observed)| Violation {
                objective: Objective::MaxCostOverEstimate,
                began_at,
                ended_at: None,
                observed,
                limit: max,
                message: format!(
                    "the provider charged {:.2}% over the estimate, more than the {:.2}% allowed",
                    observed * 100.0,
                    max * 100.0
                ),
            });
            judge(
                Objective::MaxCostOverEstimate,
                max,
                observed.map(|o| if o.is_finite() { o } else { f64::MAX }),
                found.into_iter().collect(),
            );
        }
        Ok(SlaReport {
            met: violations.is_empty(),
            objectives,
            violations,
        })
    }
}

fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    to.as_unix_micros().saturating_sub(from.as_unix_micros()) as f64 / 1e6
}

fn done_within(input: &SlaInput<'_>, limit: f64) -> (Option<f64>, Vec<Violation>) {
    let Some(start) = input.started_at else {
        return (None, Vec::new());
    };
    let deadline = start.saturating_add(Duration::from_secs_f64(limit));
    let end = input.done_at.unwrap_or(input.now);
    let elapsed = seconds_between(start, end).max(0.0);
    if end <= deadline {
        return (Some(elapsed), Vec::new());
    }
    let message = match input.done_at {
        Some(_) => format!("the batch took {elapsed:.3} s, more than the {limit} s allowed"),
        None => format!("the batch is not done after {elapsed:.3} s; {limit} s were allowed"),
    };
    (
        Some(elapsed),
        vec![Violation {
            objective: Objective::DoneWithinSeconds,
            began_at: deadline,
            ended_at: input.done_at,
            observed: elapsed,
            limit,
            message,
        }],
    )
}

fn error_rate(input: &SlaInput<'_>, o: ErrorRateObjective) -> (Option<f64>, Vec<Violation>) {
    let window = Duration::from_secs(o.window_seconds);
    let windows = trend(input.settled, window).windows;
    let judged: Vec<_> = windows
        .iter()
        .filter(|w| w.messages >= o.min_messages.max(1))
        .collect();
    let worst = judged
        .iter()
        .map(|w| w.error_rate)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    let mut found = Vec::new();
    let mut run: Option<(Timestamp, Timestamp, f64)> = None;
    let violation = |(began_at, last_end, observed): (Timestamp, Timestamp, f64),
                     ended_at: Option<Timestamp>| {
        let _ = last_end;
        Violation {
            objective: Objective::MaxErrorRate,
            began_at,
            ended_at,
            observed,
            limit: o.rate,
            message: format!(
                "the error rate reached {observed:.4} in {} s windows, above {}",
                o.window_seconds, o.rate
            ),
        }
    };
    for w in &judged {
        if w.error_rate > o.rate {
            run = Some(match run {
                Some((began, _, worst)) => (began, w.end, worst.max(w.error_rate)),
                None => (w.start, w.end, w.error_rate),
            });
        } else if let Some(r) = run.take() {
            found.push(violation(r, Some(w.start)));
        }
    }
    if let Some(r) = run {
        let ended = input.done_at.map(|_| r.1);
        found.push(violation(r, ended));
    }
    let _ = window_micros;
    (worst, found)
}

/// Walks running totals `(at, a, b)` (sorted by time): `value(Σa, Σb)` after each, and whether
/// it breaches. Returns the last value and, when it breaches, since when (the last crossing).
fn running(
    events: impl Iterator<Item = (Timestamp, u128, u128)>,
    value: impl Fn(u128, u128) -> f64,
    breaches: impl Fn(u128, u128) -> bool,
) -> (Option<f64>, Option<(Timestamp, f64)>) {
    let (mut a, mut b) = (0u128, 0u128);
    let mut last = None;
    let mut since = None;
    for (at, da, db) in events {
        a = a.saturating_add(da);
        b = b.saturating_add(db);
        let v = value(a, b);
        last = Some(v);
        if breaches(a, b) {
            since.get_or_insert(at);
        } else {
            since = None;
        }
    }
    match (last, since) {
        (Some(v), Some(at)) => (Some(v), Some((at, v))),
        (v, _) => (v, None),
    }
}

/// Whether an alert opens or closes a violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum AlertKind {
    /// A violation began.
    Violated,
    /// It ended.
    Recovered,
}

/// An event for the alert hook: JSON `{"kind", "batch", "objective", "beganAt", "at",
/// "observed", "limit", "message"}`; `at` is when it began (`violated`) or ended
/// (`recovered`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Alert {
    /// Violated or recovered.
    pub kind: AlertKind,
    /// The batch.
    pub batch: Uuid,
    /// The objective.
    pub objective: Objective,
    /// When the violation began (it names the violation).
    pub began_at: Timestamp,
    /// When this happened.
    pub at: Timestamp,
    /// The value observed.
    pub observed: f64,
    /// The limit.
    pub limit: f64,
    /// A sentence for people.
    pub message: String,
}

/// Where alerts go: a closure `FnMut(&Alert)` or your own type (a pager, a webhook queue).
pub trait AlertHook {
    /// Receives one alert.
    fn alert(&mut self, alert: &Alert);
}

impl<F: FnMut(&Alert)> AlertHook for F {
    fn alert(&mut self, alert: &Alert) {
        self(alert)
    }
}

/// Turns successive SLA reports into alerts: each violation fires [`AlertKind::Violated`] once,
/// the first time a report shows it, and [`AlertKind::Recovered`] once, when a report shows it
/// ended or no longer shows it. A violation is named by its batch, objective and start. Evaluate
/// as often as you like (after each progress update, on a timer); the same report twice fires
/// nothing new.
///
/// ```
/// use smsbatch::analytics::{Alert, AlertKind, SlaMonitor, SlaReport};
/// use smsbatch::store::Uuid;
///
/// let mut seen = Vec::new();
/// let mut monitor = SlaMonitor::new(|alert: &Alert| seen.push(alert.kind));
/// let report: SlaReport = serde_json::from_value(serde_json::json!({
///     "met": false, "objectives": [],
///     "violations": [{"objective": "minDeliveryRate", "beganAt": "2025-05-01T10:00:00Z",
///                     "endedAt": null, "observed": 0.5, "limit": 0.9, "message": "low"}]
/// }))?;
/// let now = "2025-05-01T10:05:00Z".parse()?;
/// monitor.check(Uuid::nil(), &report, now);
/// monitor.check(Uuid::nil(), &report, now); // nothing new
/// let healthy: SlaReport = serde_json::from_value(serde_json::json!({
///     "met": true, "objectives": [], "violations": []
/// }))?;
/// monitor.check(Uuid::nil(), &healthy, now);
/// drop(monitor);
/// assert_eq!(seen, [AlertKind::Violated, AlertKind::Recovered]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SlaMonitor<H> {
    hook: H,
    /// Violations alerted, with whether their recovery was too; the closed ones are kept so a
    /// later report showing the same ended violation fires nothing.
    open: BTreeMap<(Uuid, Objective, Timestamp), bool>,
}

impl<H> fmt::Debug for SlaMonitor<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlaMonitor")
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

impl<H: AlertHook> SlaMonitor<H> {
    /// A monitor sending its alerts to `hook`.
    pub fn new(hook: H) -> Self {
        Self {
            hook,
            open: BTreeMap::new(),
        }
    }

    /// The hook.
    pub fn hook(&self) -> &H {
        &self.hook
    }

    /// Fires the alerts that `report` (of `batch`, evaluated at `now`) calls for; returns how
    /// many.
    pub fn check(&mut self, batch: Uuid, report: &SlaReport, now: Timestamp) -> usize {
        let mut fired = 0;
        let mut shown = std::collections::BTreeSet::new();
        for v in &report.violations {
            let key = (batch, v.objective, v.began_at);
            shown.insert(key);
            let alert = |kind, at| Alert {
                kind,
                batch,
                objective: v.objective,
                began_at: v.began_at,
                at,
                observed: v.observed,
                limit: v.limit,
                message: v.message.clone(),
            };
            let recovered = match self.open.get(&key) {
                Some(recovered) => *recovered,
                None => {
                    self.hook.alert(&alert(AlertKind::Violated, v.began_at));
                    fired += 1;
                    self.open.insert(key, false);
                    false
                }
            };
            if let (false, Some(ended)) = (recovered, v.ended_at) {
                self.hook.alert(&alert(AlertKind::Recovered, ended));
                fired += 1;
                self.open.insert(key, true);
            }
        }
        // Violations of this batch that the report no longer shows have cleared.
        let gone: Vec<_> = self
            .open
            .iter()
            .filter(|(k, recovered)| k.0 == batch && !**recovered && !shown.contains(*k))
            .map(|(k, _)| *k)
            .collect();
        for key in gone {
            let limit = report
                .objectives
                .iter()
                .find(|o| o.objective == key.1)
                .map_or(f64::NAN, |o| o.limit);
            let observed = report
                .objectives
                .iter()
                .find(|o| o.objective == key.1)
                .and_then(|o| o.observed)
                .unwrap_or(f64::NAN);
            self.hook.alert(&Alert {
                kind: AlertKind::Recovered,
                batch,
                objective: key.1,
                began_at: key.2,
                at: now,
                observed,
                limit,
                message: format!("{} is met again", key.1),
            });
            fired += 1;
            self.open.insert(key, true);
        }
        fired
    }
}
