//! [`BatchAnalyzer`]: one pass over a batch's messages (and log) in any order, then the report.

use std::collections::BTreeMap;
use std::time::Duration;

use uuid::Uuid;

use super::percentile::LatencyStats;
use super::report::{
    BatchAnalysis, BatchReport, CostSummary, CreditLine, Credits, Latency, LogSummary, Throughput,
    VariantReport,
};
use super::sla::{Settled, SlaInput, SlaObjectives};
use super::trend::{Accepted, series, trend};
use crate::batch::Amount;
use crate::error::{Error, ErrorKind, Result};
use crate::queue::{
    ErrorCategory, ErrorSample, ErrorStats, MessageId, MessageStatus, SampleLimits, StatusCounts,
};
use crate::store::{Batch, BatchLog, Message, MessageQuery, MessageScan, Store};
use crate::time::Timestamp;

/// The currency of a report when neither the batch nor any price names one: segments counted
/// as credits, as the default price table does.
pub const DEFAULT_CURRENCY: &str = "credits";

/// Counts, segments and money of a set of messages (a batch, a variant, a period, a slice).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    pub(crate) counts: StatusCounts,
    pub(crate) segments: u64,
    pub(crate) actual_segments: u64,
    pub(crate) estimated: Amount,
    pub(crate) actual: Amount,
}

/// What one message contributes, worked out once.
#[derive(Clone, Debug)]
pub(crate) struct Facts {
    pub(crate) status: MessageStatus,
    pub(crate) segments: u64,
    /// Segments of an accepted message as billed (the provider's count, else the estimate).
    pub(crate) billed_segments: Option<u64>,
    pub(crate) estimated: Amount,
    /// The provider's price in the report's currency.
    pub(crate) actual: Option<Amount>,
    /// When it settled (accepted, delivered, undelivered, failed, cancelled).
    pub(crate) settled_at: Option<Timestamp>,
}

pub(crate) fn overflow(what: &str) -> Error {
    Error::new(ErrorKind::AmountOverflow {
        message: format!("the {what} passed the largest amount"),
    })
}

pub(crate) fn add(sum: &mut Amount, amount: Amount, what: &str) -> Result<()> {
    *sum = sum.checked_add(amount).ok_or_else(|| overflow(what))?;
    Ok(())
}

impl Tally {
    pub(crate) fn add(&mut self, f: &Facts) -> Result<()> {
        self.counts.add(f.status, 1);
        if f.status != MessageStatus::Cancelled {
            self.segments += f.segments;
            add(&mut self.estimated, f.estimated, "estimated cost")?;
        }
        if let Some(billed) = f.billed_segments {
            self.actual_segments += billed;
        }
        if let Some(price) = f.actual {
            add(&mut self.actual, price, "actual cost")?;
        }
        Ok(())
    }

    pub(crate) fn delivery_rate(&self) -> Option<f64> {
        delivery_rate(&self.counts)
    }

    pub(crate) fn cost(&self, currency: &str) -> CostSummary {
        CostSummary {
            estimated: self.estimated,
            actual: self.actual,
            currency: currency.to_owned(),
        }
    }

    pub(crate) fn line(&self) -> CreditLine {
        CreditLine {
            messages: self.counts.total() - self.counts.cancelled,
            segments: self.segments,
            actual_segments: self.actual_segments,
            estimated_cost: self.estimated,
            actual_cost: self.actual,
        }
    }
}

/// `delivered` over `delivered + undelivered + failed`; `None` when that is zero.
pub fn delivery_rate(counts: &StatusCounts) -> Option<f64> {
    let base = counts.delivered + counts.undelivered + counts.failed;
    (base > 0).then(|| counts.delivered as f64 / base as f64)
}

/// When a message settled: accepted (still unconfirmed), delivered, undelivered, failed or
/// cancelled; `None` while it is pending, processing or in doubt.
pub(crate) fn settled_at(m: &Message) -> Option<Timestamp> {
    match m.status {
        MessageStatus::Sent => Some(m.accepted_at.unwrap_or(m.updated_at)),
        MessageStatus::Delivered => Some(m.delivered_at.or(m.accepted_at).unwrap_or(m.updated_at)),
        MessageStatus::Undelivered | MessageStatus::Failed | MessageStatus::Cancelled => {
            Some(m.updated_at)
        }
        _ => None,
    }
}

/// Messages and segments accepted between `from` and `to` (the last acceptance), per second;
/// the rates are `None` for an empty span.
pub(crate) fn throughput(
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    messages: u64,
    segments: u64,
) -> Throughput {
    match (from, to) {
        (Some(from), Some(to)) => {
            let seconds = to
                .as_unix_micros()
                .saturating_sub(from.as_unix_micros())
                .max(0) as f64
                / 1e6;
            let rate = |n: u64| (seconds > 0.0).then(|| n as f64 / seconds);
            Throughput {
                from: Some(from),
                to: Some(to),
                seconds,
                messages,
                segments,
                messages_per_second: rate(messages),
                segments_per_second: rate(segments),
            }
        }
        _ => Throughput {
            from,
            messages,
            segments,
            ..Throughput::default()
        },
    }
}

pub(crate) fn is_accepted(status: MessageStatus) -> bool {
    matches!(
        status,
        MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Undelivered
    )
}

/// Analyses one batch: feed it the batch's messages with [`BatchAnalyzer::message`] (in any
/// order, a page at a time: it keeps counts and one small record per message for the exact
/// percentiles and the trend, never the messages), its log with [`BatchAnalyzer::log`], then
/// [`BatchAnalyzer::finish`] at a time of your choosing (the core reads no clock).
///
/// ```
/// use smsbatch::analytics::BatchAnalyzer;
/// use smsbatch::store::{Message, Uuid};
///
/// let batch = Uuid::from_u128(1);
/// let message: Message = serde_json::from_value(serde_json::json!({
///     "id": 1, "batchId": batch, "customerId": 7, "phone": "+447400123456", "sender": null,
///     "countryCode": "44", "body": "Hello", "encoding": "GSM-7", "segments": 1,
///     "estimatedCost": "0.04", "variant": null, "timeZone": null, "status": "delivered",
///     "claimToken": null, "leaseExpiresAt": null, "attempts": 1, "maxAttempts": null,
///     "runAt": "2025-05-01T10:00:00Z", "claimedAt": "2025-05-01T10:00:00Z",
///     "sendStartedAt": "2025-05-01T10:00:00Z", "acceptedAt": "2025-05-01T10:00:00.250Z",
///     "deliveredAt": "2025-05-01T10:00:03Z", "providerId": "SM1", "providerStatus": "delivered",
///     "providerSegments": 1, "errorCategory": null, "errorCode": null, "errorMessage": null,
///     "price": "0.0375", "priceCurrency": "USD",
///     "createdAt": "2025-05-01T09:59:00Z", "updatedAt": "2025-05-01T10:00:03Z"
/// }))?;
/// let mut analyzer = BatchAnalyzer::new(batch).currency("USD");
/// analyzer.message(&message)?;
/// let analysis = analyzer.finish("2025-05-01T11:00:00Z".parse()?)?;
/// let report = &analysis.report;
/// assert_eq!((report.messages, report.by_state.delivered), (1, 1));
/// assert_eq!(report.delivery_rate, Some(1.0));
/// assert_eq!(report.cost.actual.to_string(), "0.0375");
/// assert_eq!(report.latency.claim_to_accepted.unwrap().p50, 0.25);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BatchAnalyzer {
    batch: Uuid,
    currency: Option<String>,
    started_at: Option<Timestamp>,
    completed_at: Option<Timestamp>,
    window: Duration,
    objectives: Option<SlaObjectives>,
    total: Tally,
    errors: ErrorStats,
    variants: BTreeMap<String, Tally>,
    by_encoding: BTreeMap<String, Tally>,
    by_country: BTreeMap<String, Tally>,
    by_variant: BTreeMap<String, Tally>,
    other_currencies: BTreeMap<String, Amount>,
    first_claim: Option<Timestamp>,
    last_accept: Option<Timestamp>,
    last_settled: Option<Timestamp>,
    claim_to_accepted: Vec<i64>,
    accepted_to_delivered: Vec<i64>,
    settled: Vec<Settled>,
    accepted: Vec<Accepted>,
    log: LogSummary,
}

impl BatchAnalyzer {
    /// An analyzer of batch `batch`: error-trend windows of one minute, no SLA objectives, five
    /// first and five sampled failures per category, money in the currency of the first price
    /// seen (`"credits"` when none).
    pub fn new(batch: Uuid) -> Self {
        Self {
            batch,
            currency: None,
            started_at: None,
            completed_at: None,
            window: Duration::from_secs(60),
            objectives: None,
            total: Tally::default(),
            errors: ErrorStats::new(SampleLimits::new()),
            variants: BTreeMap::new(),
            by_encoding: BTreeMap::new(),
            by_country: BTreeMap::new(),
            by_variant: BTreeMap::new(),
            other_currencies: BTreeMap::new(),
            first_claim: None,
            last_accept: None,
            last_settled: None,
            claim_to_accepted: Vec::new(),
            accepted_to_delivered: Vec::new(),
            settled: Vec::new(),
            accepted: Vec::new(),
            log: LogSummary::default(),
        }
    }

    /// An analyzer of this batch row: its id, currency, start and end.
    pub fn for_batch(batch: &Batch) -> Self {
        let mut a = Self::new(batch.id);
        a.currency = batch.currency.clone();
        a.started_at = batch.started_at;
        a.completed_at = batch.completed_at;
        a
    }

    /// The report's currency: prices in another currency are summed apart
    /// ([`Credits::other_currencies`]). Set it before the first message.
    pub fn currency(mut self, currency: impl Into<String>) -> Self {
        self.currency = Some(currency.into());
        self
    }

    /// When the batch started sending (the start of the throughput span and of `doneWithin`);
    /// by default the earliest claim of its messages.
    pub fn started_at(mut self, at: Timestamp) -> Self {
        self.started_at = Some(at);
        self
    }

    /// The length of the windows of the error trend and the series (at least a second; whole
    /// seconds).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = Duration::from_secs(window.as_secs().max(1));
        self
    }

    /// Objectives to evaluate into [`BatchReport::sla`].
    pub fn objectives(mut self, objectives: SlaObjectives) -> Self {
        self.objectives = Some(objectives);
        self
    }

    /// How many failures to keep as samples per category.
    pub fn samples(mut self, limits: SampleLimits) -> Self {
        self.errors = ErrorStats::new(limits);
        self
    }

    /// The batch analysed.
    pub fn batch(&self) -> Uuid {
        self.batch
    }

    /// Reads the batch's messages and log from `store`, a page at a time, and finishes at
    /// `now`.
    pub async fn run(mut self, store: &Store, now: Timestamp) -> Result<BatchAnalysis> {
        const PAGE: u32 = 1000;
        let mut scan =
            MessageScan::new(store.messages.clone(), MessageQuery::new(self.batch, PAGE));
        while let Some(page) = scan.next_chunk().await? {
            for m in &page {
                self.message(m)?;
            }
        }
        let mut after = None;
        loop {
            let page = store.logs.list(self.batch, after, PAGE).await?;
            for e in &page {
                self.log(e);
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => after = Some(last.id),
                _ => break,
            }
        }
        self.finish(now)
    }

    /// Counts one message; an error for a message of another batch, or a sum past the largest
    /// amount.
    pub fn message(&mut self, m: &Message) -> Result<()> {
        if m.batch_id != self.batch {
            return Err(Error::invalid_input(format!(
                "message {} belongs to batch {}, not to the analysed batch {}",
                m.id, m.batch_id, self.batch
            )));
        }
        let actual = match (&m.price, &m.price_currency) {
            (None, _) => None,
            (Some(price), currency) => {
                let report = self.currency.get_or_insert_with(|| {
                    currency.clone().unwrap_or_else(|| DEFAULT_CURRENCY.into())
                });
                match currency {
                    Some(c) if c != report => {
                        let sum = self.other_currencies.entry(c.clone()).or_default();
                        add(sum, *price, "actual cost")?;
                        None
                    }
                    _ => Some(*price),
                }
            }
        };
        let accepted = is_accepted(m.status);
        let facts = Facts {
            status: m.status,
            segments: u64::from(m.segments),
            billed_segments: accepted.then(|| u64::from(m.provider_segments.unwrap_or(m.segments))),
            estimated: m.estimated_cost,
            actual,
            settled_at: settled_at(m),
        };
        self.total.add(&facts)?;
        if let Some(v) = &m.variant {
            self.variants.entry(v.clone()).or_default().add(&facts)?;
        }
        let variant = m.variant.as_deref().unwrap_or("none");
        self.by_variant
            .entry(variant.to_owned())
            .or_default()
            .add(&facts)?;
        self.by_encoding
            .entry(m.encoding.as_str().to_owned())
            .or_default()
            .add(&facts)?;
        let country = m.country_code.as_deref().unwrap_or("unknown");
        self.by_country
            .entry(country.to_owned())
            .or_default()
            .add(&facts)?;

        if let Some(claimed) = m.claimed_at {
            self.first_claim = Some(self.first_claim.map_or(claimed, |f| f.min(claimed)));
        }
        if let (true, Some(accepted_at)) = (accepted, m.accepted_at) {
            self.accepted.push(Accepted {
                at: accepted_at,
                segments: facts.billed_segments.unwrap_or(facts.segments),
                estimated: facts.estimated,
                actual,
            });
            self.last_accept = Some(self.last_accept.map_or(accepted_at, |l| l.max(accepted_at)));
            if let Some(claimed) = m.claimed_at {
                self.claim_to_accepted.push(
                    accepted_at
                        .as_unix_micros()
                        .saturating_sub(claimed.as_unix_micros())
                        .max(0),
                );
            }
            if let (MessageStatus::Delivered, Some(delivered)) = (m.status, m.delivered_at) {
                self.accepted_to_delivered.push(
                    delivered
                        .as_unix_micros()
                        .saturating_sub(accepted_at.as_unix_micros())
                        .max(0),
                );
            }
        }
        if let Some(at) = facts.settled_at {
            self.last_settled = Some(self.last_settled.map_or(at, |l| l.max(at)));
            let error = matches!(m.status, MessageStatus::Failed | MessageStatus::Undelivered)
                .then(|| m.error_category.unwrap_or(ErrorCategory::Unknown));
            if m.status != MessageStatus::Cancelled {
                self.settled.push(Settled {
                    at,
                    error,
                    delivered: match m.status {
                        MessageStatus::Delivered => Some(true),
                        MessageStatus::Undelivered | MessageStatus::Failed => Some(false),
                        _ => None,
                    },
                    estimated: m.estimated_cost,
                    actual,
                });
            }
            if let Some(category) = error {
                let sample = ErrorSample {
                    message_id: MessageId::from(m.id),
                    code: m.error_code.clone(),
                    message: m
                        .error_message
                        .clone()
                        .or_else(|| m.provider_status.clone())
                        .unwrap_or_else(|| m.status.code().to_owned()),
                    at,
                };
                self.errors.record_sample(category, sample);
            }
        }
        Ok(())
    }

    /// Counts one event of the batch's log.
    pub fn log(&mut self, event: &BatchLog) {
        *self
            .log
            .by_level
            .entry(event.level.code().to_owned())
            .or_default() += 1;
        *self.log.by_event.entry(event.event.clone()).or_default() += 1;
        self.log.first = Some(self.log.first.map_or(event.at, |f| f.min(event.at)));
        self.log.last = Some(self.log.last.map_or(event.at, |l| l.max(event.at)));
    }

    /// The analysis as of `now` (what `doneWithin` compares with while the batch is not done).
    pub fn finish(mut self, now: Timestamp) -> Result<BatchAnalysis> {
        let currency = self
            .currency
            .clone()
            .unwrap_or_else(|| DEFAULT_CURRENCY.into());
        let counts = self.total.counts;
        let from = self.started_at.or(self.first_claim);
        let accepted = counts.sent + counts.delivered + counts.undelivered;
        let throughput = throughput(from, self.last_accept, accepted, self.total.actual_segments);
        let unfinished = counts.unfinished();
        let done_at = (unfinished == 0 && counts.total() > 0)
            .then(|| self.completed_at.or(self.last_settled))
            .flatten();
        self.settled.sort_by_key(|s| s.at);
        let sla = match &self.objectives {
            Some(objectives) => Some(objectives.evaluate(&SlaInput {
                now,
                started_at: from,
                done_at,
                settled: &self.settled,
            })?),
            None => None,
        };
        let error_trend = trend(&self.settled, self.window);
        self.accepted.sort_by_key(|a| a.at);
        let series = series(&self.accepted, self.window, &currency)?;
        let variants = self
            .variants
            .iter()
            .map(|(name, t)| {
                (
                    name.clone(),
                    VariantReport {
                        messages: t.counts.total(),
                        segments: t.segments,
                        by_state: t.counts,
                        success_rate: t.counts.success_rate(),
                        delivery_rate: t.delivery_rate(),
                        cost: t.cost(&currency),
                    },
                )
            })
            .collect();
        let lines =
            |m: &BTreeMap<String, Tally>| m.iter().map(|(k, t)| (k.clone(), t.line())).collect();
        let report = BatchReport {
            batch: self.batch,
            messages: counts.total(),
            segments: self.total.segments,
            by_state: counts,
            success_rate: counts.success_rate(),
            delivery_rate: self.total.delivery_rate(),
            throughput,
            latency: Latency {
                claim_to_accepted: LatencyStats::from_micros(std::mem::take(
                    &mut self.claim_to_accepted,
                )),
                accepted_to_delivered: LatencyStats::from_micros(std::mem::take(
                    &mut self.accepted_to_delivered,
                )),
            },
            cost: self.total.cost(&currency),
            errors: self.errors,
            variants,
            sla,
        };
        Ok(BatchAnalysis {
            report,
            credits: Credits {
                by_encoding: lines(&self.by_encoding),
                by_country: lines(&self.by_country),
                by_variant: lines(&self.by_variant),
                other_currencies: self.other_currencies,
            },
            error_trend,
            series,
            unconfirmed: counts.sent,
            unfinished,
            done_at,
            log: self.log,
        })
    }
}
