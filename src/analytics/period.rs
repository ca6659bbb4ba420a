//! [`PeriodAnalyzer`]: messages of many batches counted per period (hour, day...).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use uuid::Uuid;

use super::analyzer::{DEFAULT_CURRENCY, Facts, Tally, add, is_accepted, settled_at, throughput};
use super::percentile::LatencyStats;
use super::report::{CategoryRate, Credits, Latency, PeriodReport};
use super::trend::{window_index, window_micros};
use crate::batch::Amount;
use crate::error::{Error, Result};
use crate::queue::{ErrorCategory, MessageStatus};
use crate::store::Message;
use crate::time::Timestamp;

/// Everything one period keeps.
#[derive(Debug, Default)]
struct Period {
    /// Messages counted in the period (by when they settled, else when they last changed).
    tally: Tally,
    batches: BTreeSet<Uuid>,
    /// Of those, the ones settled and not cancelled (the error rate's base).
    settled: u64,
    /// Final failures per category.
    errors: BTreeMap<ErrorCategory, u64>,
    by_encoding: BTreeMap<String, Tally>,
    by_country: BTreeMap<String, Tally>,
    by_variant: BTreeMap<String, Tally>,
    other_currencies: BTreeMap<String, Amount>,
    /// Acceptances in the period (by when the provider accepted), and their billed segments.
    accepted: u64,
    accepted_segments: u64,
    /// The earliest claim of a message accepted in the period, and the last acceptance.
    first_claim: Option<Timestamp>,
    last_accept: Option<Timestamp>,
    /// Claim to acceptance of the messages accepted in the period, in microseconds.
    claim_to_accepted: Vec<i64>,
    /// Acceptance to delivery of the messages delivered in the period, in microseconds.
    accepted_to_delivered: Vec<i64>,
}

/// Counts the messages of any number of batches per period of a fixed length aligned to the
/// Unix epoch (UTC days for `Duration::from_secs(86_400)`, UTC hours for 3 600 s).
///
/// Each figure of a period counts what happened in it:
///
/// - messages per status, rates, segments, cost, credits and errors: a message counts in the
///   period it settled in (accepted and unconfirmed, delivered, undelivered, failed,
///   cancelled), or, unsettled, the one it last changed in;
/// - throughput: the messages the provider accepted in the period, from the earliest (last)
///   claim of those messages (not before the period's start) to the last acceptance;
/// - latency: claim to acceptance of the messages accepted in the period, acceptance to
///   delivery of those delivered in it (nearest-rank percentiles, exact).
///
/// With [`PeriodAnalyzer::since`] and [`PeriodAnalyzer::until`], only what happened in that
/// range counts (the periods at its edges then hold only part of their span).
///
/// ```
/// use std::time::Duration;
/// use smsbatch::analytics::PeriodAnalyzer;
///
/// let mut days = PeriodAnalyzer::new(Duration::from_secs(86_400), "USD");
/// // days.message(&message)? for every message of every batch of interest...
/// assert!(days.finish().is_empty());
/// ```
#[derive(Debug)]
pub struct PeriodAnalyzer {
    period: i64,
    currency: String,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    periods: BTreeMap<i64, Period>,
    other_currencies: BTreeMap<String, Amount>,
}

impl PeriodAnalyzer {
    /// Periods of `period` (whole seconds, at least one), money in `currency` (prices in other
    /// currencies are summed apart, [`PeriodAnalyzer::other_currencies`]).
    pub fn new(period: Duration, currency: impl Into<String>) -> Self {
        Self {
            period: window_micros(period),
            currency: currency.into(),
            since: None,
            until: None,
            periods: BTreeMap::new(),
            other_currencies: BTreeMap::new(),
        }
    }

    /// Daily periods in `"credits"`.
    pub fn daily() -> Self {
        Self::new(Duration::from_secs(86_400), DEFAULT_CURRENCY)
    }

    /// Hourly periods in `"credits"`.
    pub fn hourly() -> Self {
        Self::new(Duration::from_secs(3_600), DEFAULT_CURRENCY)
    }

    /// Counts only what happened at or after `since`.
    pub fn since(mut self, since: Timestamp) -> Self {
        self.since = Some(since);
        self
    }

    /// Counts only what happened before `until`.
    pub fn until(mut self, until: Timestamp) -> Self {
        self.until = Some(until);
        self
    }

    /// The periods' length in seconds.
    pub fn period_seconds(&self) -> u64 {
        (self.period / 1_000_000) as u64
    }

    /// The period of `at`, when `at` is in the range counted.
    fn slot(&mut self, at: Timestamp) -> Option<&mut Period> {
        if self.since.is_some_and(|s| at < s) || self.until.is_some_and(|u| at >= u) {
            return None;
        }
        Some(
            self.periods
                .entry(window_index(at, self.period))
                .or_default(),
        )
    }

    /// Counts one message; an error for a sum past the largest amount.
    pub fn message(&mut self, m: &Message) -> Result<()> {
        let other_currency = match (&m.price, &m.price_currency) {
            (Some(price), Some(c)) if *c != self.currency => Some((c.clone(), *price)),
            _ => None,
        };
        let actual = if other_currency.is_some() {
            None
        } else {
            m.price
        };
        let settled = settled_at(m);
        let accepted = is_accepted(m.status);
        let facts = Facts {
            status: m.status,
            segments: u64::from(m.segments),
            billed_segments: accepted.then(|| u64::from(m.provider_segments.unwrap_or(m.segments))),
            estimated: m.estimated_cost,
            actual,
            settled_at: settled,
        };
        let error = matches!(m.status, MessageStatus::Failed | MessageStatus::Undelivered)
            .then(|| m.error_category.unwrap_or(ErrorCategory::Unknown));
        if let Some(p) = self.slot(settled.unwrap_or(m.updated_at)) {
            p.tally.add(&facts)?;
            p.batches.insert(m.batch_id);
            if settled.is_some() && m.status != MessageStatus::Cancelled {
                p.settled += 1;
            }
            if let Some(category) = error {
                *p.errors.entry(category).or_default() += 1;
            }
            let variant = m.variant.as_deref().unwrap_or("none");
            p.by_variant
                .entry(variant.to_owned())
                .or_default()
                .add(&facts)?;
            p.by_encoding
                .entry(m.encoding.as_str().to_owned())
                .or_default()
                .add(&facts)?;
            let country = m.country_code.as_deref().unwrap_or("unknown");
            p.by_country
                .entry(country.to_owned())
                .or_default()
                .add(&facts)?;
            if let Some((currency, price)) = &other_currency {
                add(
                    p.other_currencies.entry(currency.clone()).or_default(),
                    *price,
                    "actual cost",
                )?;
                add(
                    self.other_currencies.entry(currency.clone()).or_default(),
                    *price,
                    "actual cost",
                )?;
            }
        }
        if let (true, Some(accepted_at)) = (accepted, m.accepted_at) {
            let period_start = Timestamp::saturating_from_unix_micros(
                window_index(accepted_at, self.period).saturating_mul(self.period),
            );
            let start = self.since.map_or(period_start, |s| s.max(period_start));
            if let Some(p) = self.slot(accepted_at) {
                p.accepted += 1;
                p.accepted_segments += facts.billed_segments.unwrap_or(0);
                p.last_accept = Some(p.last_accept.map_or(accepted_at, |l| l.max(accepted_at)));
                if let Some(claimed) = m.claimed_at {
                    // A claim before the period (or before `since`) starts its span at the edge:
                    // the span measures this period's sending only.
                    let from = claimed.max(start);
                    p.first_claim = Some(p.first_claim.map_or(from, |f| f.min(from)));
                    p.claim_to_accepted.push(
                        accepted_at
                            .as_unix_micros()
                            .saturating_sub(claimed.as_unix_micros())
                            .max(0),
                    );
                }
            }
            if let (MessageStatus::Delivered, Some(delivered)) = (m.status, m.delivered_at)
                && let Some(p) = self.slot(delivered)
            {
                p.accepted_to_delivered.push(
                    delivered
                        .as_unix_micros()
                        .saturating_sub(accepted_at.as_unix_micros())
                        .max(0),
                );
            }
        }
        Ok(())
    }

    /// Provider charges in currencies other than the report's, per currency (over every
    /// period).
    pub fn other_currencies(&self) -> &BTreeMap<String, Amount> {
        &self.other_currencies
    }

    /// The periods that had messages or acceptances, in time order.
    pub fn finish(&self) -> Vec<PeriodReport> {
        self.periods
            .iter()
            .map(|(index, p)| {
                let t = &p.tally;
                let base = p.settled;
                let lines = |m: &BTreeMap<String, Tally>| {
                    m.iter().map(|(k, t)| (k.clone(), t.line())).collect()
                };
                let start_micros = index.saturating_mul(self.period);
                PeriodReport {
                    start: Timestamp::saturating_from_unix_micros(start_micros),
                    end: Timestamp::saturating_from_unix_micros(
                        start_micros.saturating_add(self.period),
                    ),
                    batches: p.batches.len() as u64,
                    messages: t.counts.total(),
                    segments: t.segments,
                    by_state: t.counts,
                    success_rate: t.counts.success_rate(),
                    delivery_rate: t.delivery_rate(),
                    cost: t.cost(&self.currency),
                    throughput: throughput(
                        p.first_claim,
                        p.last_accept,
                        p.accepted,
                        p.accepted_segments,
                    ),
                    latency: Latency {
                        claim_to_accepted: LatencyStats::from_micros(p.claim_to_accepted.clone()),
                        accepted_to_delivered: LatencyStats::from_micros(
                            p.accepted_to_delivered.clone(),
                        ),
                    },
                    settled: base,
                    errors: p.errors.values().sum(),
                    error_rate: (base > 0)
                        .then(|| p.errors.values().sum::<u64>() as f64 / base as f64),
                    errors_by_category: p
                        .errors
                        .iter()
                        .map(|(c, &count)| {
                            (
                                *c,
                                CategoryRate {
                                    count,
                                    rate: count as f64 / base.max(1) as f64,
                                },
                            )
                        })
                        .collect(),
                    credits: Credits {
                        by_encoding: lines(&p.by_encoding),
                        by_country: lines(&p.by_country),
                        by_variant: lines(&p.by_variant),
                        other_currencies: p.other_currencies.clone(),
                    },
                }
            })
            .collect()
    }
}

/// The period length of a name: `hour` (3 600 s) or `day` (86 400 s, UTC days); an error naming
/// the accepted names otherwise.
///
/// ```
/// use std::time::Duration;
/// use smsbatch::analytics::period_length;
///
/// assert_eq!(period_length("day")?, Duration::from_secs(86_400));
/// assert!(period_length("week").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn period_length(name: &str) -> Result<Duration> {
    match name {
        "hour" => Ok(Duration::from_secs(3_600)),
        "day" => Ok(Duration::from_secs(86_400)),
        other => Err(Error::invalid_input(format!(
            "unknown period {other:?}: expected \"hour\" or \"day\""
        ))),
    }
}
