//! The serde report types that the command line, the web app and the WebAssembly package show.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::percentile::LatencyStats;
use super::sla::SlaReport;
use crate::batch::Amount;
use crate::queue::{ErrorCategory, ErrorStats, StatusCounts};
use crate::time::Timestamp;

/// One batch's report: what `smsbatch report --json` prints, exactly these fields:
/// `{"batch", "messages", "segments", "byState", "successRate", "deliveryRate", "throughput",
/// "latency", "cost": {"estimated", "actual", "currency"}, "errors": [{"category", "count",
/// "samples"}], "variants", "sla"}`.
///
/// - `segments`: the estimated segments of the messages not cancelled (the credits the batch
///   spends or spent);
/// - `byState`: messages per status; `sent` are accepted by the provider but not (yet) confirmed
///   delivered, reported apart from `delivered`;
/// - `successRate`: `sent + delivered` over the messages not cancelled; `deliveryRate`:
///   `delivered` over `delivered + undelivered + failed`; `null` when there is nothing to divide;
/// - `cost.actual`: what the provider charged, in `cost.currency`, for the messages whose price
///   is known;
/// - `errors`: final failures (`failed` and `undelivered` messages) per category, with samples;
/// - `variants`: per A/B template variant (empty for a batch without variants);
/// - `sla`: the objectives' evaluation, `null` when none were given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BatchReport {
    /// The batch's id.
    pub batch: Uuid,
    /// Every message of the batch.
    pub messages: u64,
    /// Estimated segments of the messages not cancelled.
    pub segments: u64,
    /// Messages per status.
    pub by_state: StatusCounts,
    /// `sent + delivered` over the messages not cancelled.
    pub success_rate: Option<f64>,
    /// `delivered` over `delivered + undelivered + failed`.
    pub delivery_rate: Option<f64>,
    /// Messages and segments accepted per second.
    pub throughput: Throughput,
    /// Latency percentiles.
    pub latency: Latency,
    /// Money, estimated and actual.
    pub cost: CostSummary,
    /// Final failures per category, with samples.
    pub errors: ErrorStats,
    /// Per template variant, by name.
    pub variants: BTreeMap<String, VariantReport>,
    /// The SLA objectives' evaluation, when objectives were given.
    pub sla: Option<SlaReport>,
}

/// How fast the provider accepted a batch's messages: from `from` (when the batch started
/// sending, else its first claim) to `to` (the last acceptance). JSON `{"from", "to", "seconds",
/// "messages", "segments", "messagesPerSecond", "segmentsPerSecond"}`; the rates are `null` when
/// the span is empty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Throughput {
    /// The start of the span.
    pub from: Option<Timestamp>,
    /// The last acceptance.
    pub to: Option<Timestamp>,
    /// The span in seconds.
    pub seconds: f64,
    /// Messages the provider accepted (sent, delivered or undelivered).
    pub messages: u64,
    /// Their segments (as the provider counted them where it said, else as estimated).
    pub segments: u64,
    /// `messages / seconds`.
    pub messages_per_second: Option<f64>,
    /// `segments / seconds`.
    pub segments_per_second: Option<f64>,
}

/// Latency percentiles: JSON `{"claimToAccepted", "acceptedToDelivered"}`, each
/// [`LatencyStats`] or `null` when no message had both instants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Latency {
    /// From the (last) claim of a message to its acceptance by the provider.
    pub claim_to_accepted: Option<LatencyStats>,
    /// From acceptance to the confirmed delivery.
    pub accepted_to_delivered: Option<LatencyStats>,
}

/// Money: JSON `{"estimated", "actual", "currency"}` (amounts as exact decimal strings).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CostSummary {
    /// The preview's cost of the messages not cancelled.
    pub estimated: Amount,
    /// What the provider charged (messages whose price is known, in `currency`).
    pub actual: Amount,
    /// The currency.
    pub currency: String,
}

/// One template variant's share of a batch: JSON `{"messages", "segments", "byState",
/// "successRate", "deliveryRate", "cost": {"estimated", "actual", "currency"}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct VariantReport {
    /// Its messages.
    pub messages: u64,
    /// Their estimated segments (not cancelled).
    pub segments: u64,
    /// Per status.
    pub by_state: StatusCounts,
    /// `sent + delivered` over the messages not cancelled.
    pub success_rate: Option<f64>,
    /// `delivered` over `delivered + undelivered + failed`.
    pub delivery_rate: Option<f64>,
    /// Its money.
    pub cost: CostSummary,
}

/// The credits (segments) and money of one slice of a batch (an encoding, a country, a variant):
/// JSON `{"messages", "segments", "actualSegments", "estimatedCost", "actualCost"}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CreditLine {
    /// Messages not cancelled.
    pub messages: u64,
    /// Their estimated segments.
    pub segments: u64,
    /// Segments of the accepted ones, as the provider counted them where it said (else as
    /// estimated).
    pub actual_segments: u64,
    /// Their estimated cost.
    pub estimated_cost: Amount,
    /// What the provider charged for them (in the report's currency).
    pub actual_cost: Amount,
}

/// Credits by encoding (`"GSM-7"`, `"UCS-2"`), by country calling code (`"unknown"` when the
/// message has none) and by template variant (`"none"` for messages without one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Credits {
    /// By encoding.
    pub by_encoding: BTreeMap<String, CreditLine>,
    /// By country calling code.
    pub by_country: BTreeMap<String, CreditLine>,
    /// By variant.
    pub by_variant: BTreeMap<String, CreditLine>,
    /// Provider charges in currencies other than the report's, summed per currency: shown apart,
    /// never added to `cost.actual`.
    pub other_currencies: BTreeMap<String, Amount>,
}

/// One window of the error trend: JSON `{"start", "end", "messages", "errors", "errorRate",
/// "byCategory": {"filtered": {"count", "rate"}}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TrendWindow {
    /// Its start (included), a multiple of the window's length since the Unix epoch.
    pub start: Timestamp,
    /// Its end (excluded).
    pub end: Timestamp,
    /// Messages that settled in it (accepted and still unconfirmed, delivered, undelivered,
    /// failed).
    pub messages: u64,
    /// Of which failed or undelivered.
    pub errors: u64,
    /// `errors / messages`.
    pub error_rate: f64,
    /// Errors per category, each with its share of `messages`.
    pub by_category: BTreeMap<ErrorCategory, CategoryRate>,
}

/// A category's errors in a window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CategoryRate {
    /// How many.
    pub count: u64,
    /// Their share of the window's settled messages.
    pub rate: f64,
}

/// The error trend: error rates per category over consecutive windows of `windowSeconds`
/// (windows where nothing settled are left out). JSON `{"windowSeconds", "windows": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ErrorTrend {
    /// The windows' length.
    pub window_seconds: u64,
    /// The windows in time order.
    pub windows: Vec<TrendWindow>,
}

/// Throughput and cost over time, for charts: per window (the error trend's length, aligned
/// to the Unix epoch the same way), the messages the provider accepted in it and the running
/// cost of everything accepted up to its end. JSON `{"windowSeconds", "currency", "windows":
/// [{"start", "end", "accepted", "segments", "estimatedCost", "actualCost"}]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Series {
    /// The windows' length.
    pub window_seconds: u64,
    /// The costs' currency (the report's).
    pub currency: String,
    /// Every window from the first acceptance's to the last's, in time order; windows with no
    /// acceptance are there with zero `accepted` (a chart's line drops to zero), unless the
    /// span holds more than [`Series::MAX_WINDOWS`] windows, when only the windows with
    /// acceptances are kept.
    pub windows: Vec<SeriesWindow>,
}

impl Series {
    /// The most windows a series fills in (a day of one-minute windows is 1,440).
    pub const MAX_WINDOWS: i64 = 10_000;
}

/// One window of a [`Series`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SeriesWindow {
    /// Its start (included), a multiple of the window's length since the Unix epoch.
    pub start: Timestamp,
    /// Its end (excluded).
    pub end: Timestamp,
    /// Messages the provider accepted in it (by `acceptedAt`): the throughput is
    /// `accepted / windowSeconds` per second.
    pub accepted: u64,
    /// Their segments as billed (the provider's count, else the estimate).
    pub segments: u64,
    /// The estimated cost of every message accepted up to the window's end (cumulative).
    pub estimated_cost: Amount,
    /// What the provider charged for the messages accepted up to the window's end, as far as
    /// it has priced them (cumulative, in the report's currency).
    pub actual_cost: Amount,
}

/// What the batch's log holds: events per level and per name, the first and the last.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LogSummary {
    /// Events per level (`"info"`, `"warn"`...).
    pub by_level: BTreeMap<String, u64>,
    /// Events per name (`"paused"`...).
    pub by_event: BTreeMap<String, u64>,
    /// The first event's time.
    pub first: Option<Timestamp>,
    /// The last event's time.
    pub last: Option<Timestamp>,
}

/// Everything the analysis of a batch found: the [`BatchReport`] (the command line's JSON
/// contract) and the details a person drills into: credits by encoding, country and variant,
/// the error trend, the unconfirmed messages, the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BatchAnalysis {
    /// The report.
    pub report: BatchReport,
    /// Credits and money by slice.
    pub credits: Credits,
    /// Error rates per category over time.
    pub error_trend: ErrorTrend,
    /// Throughput and cumulative cost over time, in the error trend's windows (absent from
    /// analyses serialised before it existed, hence the default).
    #[serde(default)]
    pub series: Series,
    /// Messages accepted by the provider whose delivery is not confirmed (status `sent`).
    pub unconfirmed: u64,
    /// Messages not settled yet: pending, processing, in doubt.
    pub unfinished: u64,
    /// When the last message settled, if every message has (the batch is done).
    pub done_at: Option<Timestamp>,
    /// The batch's log.
    pub log: LogSummary,
}

/// One period (an hour, a day...) across batches: JSON `{"start", "end", "batches", "messages",
/// "segments", "byState", "successRate", "deliveryRate", "cost": {"estimated", "actual",
/// "currency"}, "throughput", "latency", "settled", "errors", "errorRate", "errorsByCategory",
/// "credits"}`. What counts in which period is in [`PeriodAnalyzer`](super::PeriodAnalyzer)'s
/// docs: the counts by when messages settled, the throughput and latency by when they were
/// accepted (and delivered).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PeriodReport {
    /// Its start (included).
    pub start: Timestamp,
    /// Its end (excluded).
    pub end: Timestamp,
    /// How many batches had messages in it.
    pub batches: u64,
    /// Messages counted in it (by when they settled, else when they last changed).
    pub messages: u64,
    /// Their estimated segments (not cancelled).
    pub segments: u64,
    /// Per status.
    pub by_state: StatusCounts,
    /// `sent + delivered` over the messages not cancelled.
    pub success_rate: Option<f64>,
    /// `delivered` over `delivered + undelivered + failed`.
    pub delivery_rate: Option<f64>,
    /// Money, estimated and actual.
    pub cost: CostSummary,
    /// Messages and segments the provider accepted in the period, per second of its sending
    /// span within the period.
    pub throughput: Throughput,
    /// Claim to acceptance of the messages accepted in the period; acceptance to delivery of
    /// those delivered in it.
    pub latency: Latency,
    /// Messages that settled in it, not cancelled (accepted and unconfirmed, delivered,
    /// undelivered, failed): the error rate's base.
    pub settled: u64,
    /// Of which failed or undelivered.
    pub errors: u64,
    /// `errors / settled`; `null` when nothing settled.
    pub error_rate: Option<f64>,
    /// Errors per category, each with its share of `settled` (the error trend, a period a
    /// window).
    pub errors_by_category: BTreeMap<ErrorCategory, CategoryRate>,
    /// Credits and money by encoding, country and variant, and charges in other currencies.
    pub credits: Credits,
}
