//! [`PeriodAnalyzer`]: messages of many batches counted per period (hour, day...).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use uuid::Uuid;

use super::analyzer::{DEFAULT_CURRENCY, Facts, Tally, add, settled_at};
use super::report::PeriodReport;
use super::trend::{window_index, window_micros};
use crate::batch::Amount;
use crate::error::Result;
use crate::queue::MessageStatus;
use crate::store::Message;
use crate::time::Timestamp;

/// Counts the messages of any number of batches per period of a fixed length aligned to the
/// Unix epoch (UTC days for `Duration::from_secs(86_400)`): messages per status, rates, segments
/// and cost estimated vs actual. A message counts in the period it settled in (accepted,
/// delivered, failed...), or, unsettled, the one it last changed in.
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
    periods: BTreeMap<i64, (Tally, BTreeSet<Uuid>)>,
    other_currencies: BTreeMap<String, Amount>,
}

impl PeriodAnalyzer {
    /// Periods of `period` (whole seconds, at least one), money in `currency` (prices in other
    /// currencies are summed apart, [`PeriodAnalyzer::other_currencies`]).
    pub fn new(period: Duration, currency: impl Into<String>) -> Self {
        Self {
            period: window_micros(period),
            currency: currency.into(),
            periods: BTreeMap::new(),
            other_currencies: BTreeMap::new(),
        }
    }

    /// Daily periods in `"credits"`.
    pub fn daily() -> Self {
        Self::new(Duration::from_secs(86_400), DEFAULT_CURRENCY)
    }

    /// Counts one message.
    pub fn message(&mut self, m: &Message) -> Result<()> {
        let actual = match (&m.price, &m.price_currency) {
            (Some(price), Some(c)) if *c != self.currency => {
                add(
                    self.other_currencies.entry(c.clone()).or_default(),
                    *price,
                    "actual cost",
                )?;
                None
            }
            (price, _) => *price,
        };
        let settled = settled_at(m);
        let accepted = matches!(
            m.status,
            MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Undelivered
        );
        let facts = Facts {
            status: m.status,
            segments: u64::from(m.segments),
            billed_segments: accepted.then(|| u64::from(m.provider_segments.unwrap_or(m.segments))),
            estimated: m.estimated_cost,
            actual,
            settled_at: settled,
        };
        let at = settled.unwrap_or(m.updated_at);
        let (tally, batches) = self
            .periods
            .entry(window_index(at, self.period))
            .or_default();
        tally.add(&facts)?;
        batches.insert(m.batch_id);
        Ok(())
    }

    /// Provider charges in currencies other than the report's, per currency.
    pub fn other_currencies(&self) -> &BTreeMap<String, Amount> {
        &self.other_currencies
    }

    /// The periods that had messages, in time order.
    pub fn finish(&self) -> Vec<PeriodReport> {
        self.periods
            .iter()
            .map(|(index, (t, batches))| PeriodReport {
                start: Timestamp::saturating_from_unix_micros(index.saturating_mul(self.period)),
                end: Timestamp::saturating_from_unix_micros(
                    index.saturating_add(1).saturating_mul(self.period),
                ),
                batches: batches.len() as u64,
                messages: t.counts.total(),
                segments: t.segments,
                by_state: t.counts,
                success_rate: t.counts.success_rate(),
                delivery_rate: t.delivery_rate(),
                cost: t.cost(&self.currency),
            })
            .collect()
    }
}
