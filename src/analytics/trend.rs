//! The error trend (error rates per category) and the series (throughput and cumulative cost)
//! over consecutive windows aligned to the Unix epoch.

use std::collections::BTreeMap;
use std::time::Duration;

use super::analyzer::{add, overflow};
use super::report::{CategoryRate, ErrorTrend, Series, SeriesWindow, TrendWindow};
use super::sla::Settled;
use crate::batch::Amount;
use crate::error::Result;
use crate::time::Timestamp;

/// One accepted message, as the series counts it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Accepted {
    /// When the provider accepted it.
    pub(crate) at: Timestamp,
    /// Its segments as billed.
    pub(crate) segments: u64,
    /// Its estimated cost.
    pub(crate) estimated: Amount,
    /// What the provider charged, in the report's currency, once priced.
    pub(crate) actual: Option<Amount>,
}

/// The series of `accepted` (sorted by time) over windows of `window`.
pub(crate) fn series(accepted: &[Accepted], window: Duration, currency: &str) -> Result<Series> {
    let w = window_micros(window);
    let bounds = |index: i64| {
        (
            Timestamp::saturating_from_unix_micros(index.saturating_mul(w)),
            Timestamp::saturating_from_unix_micros(index.saturating_add(1).saturating_mul(w)),
        )
    };
    let (first, last) = match (accepted.first(), accepted.last()) {
        (Some(f), Some(l)) => (window_index(f.at, w), window_index(l.at, w)),
        _ => {
            return Ok(Series {
                window_seconds: window.as_secs().max(1),
                currency: currency.to_owned(),
                windows: Vec::new(),
            });
        }
    };
    // Empty windows are filled in (a chart then shows the pauses) unless there are too many.
    let fill = last.saturating_sub(first) < Series::MAX_WINDOWS;
    let (mut estimated, mut actual) = (Amount::from_nanos(0), Amount::from_nanos(0));
    let mut windows: Vec<SeriesWindow> = Vec::new();
    let mut next = first;
    let mut i = 0;
    while i < accepted.len() {
        let index = window_index(accepted[i].at, w);
        if fill {
            while next < index {
                let (start, end) = bounds(next);
                windows.push(SeriesWindow {
                    start,
                    end,
                    accepted: 0,
                    segments: 0,
                    estimated_cost: estimated,
                    actual_cost: actual,
                });
                next += 1;
            }
        }
        let (mut count, mut segments) = (0, 0);
        while i < accepted.len() && window_index(accepted[i].at, w) == index {
            let a = &accepted[i];
            count += 1;
            segments += a.segments;
            add(&mut estimated, a.estimated, "estimated cost")?;
            if let Some(price) = a.actual {
                add(&mut actual, price, "actual cost")?;
            }
            i += 1;
        }
        let (start, end) = bounds(index);
        windows.push(SeriesWindow {
            start,
            end,
            accepted: count,
            segments,
            estimated_cost: estimated,
            actual_cost: actual,
        });
        next = index
            .checked_add(1)
            .ok_or_else(|| overflow("series' windows"))?;
    }
    Ok(Series {
        window_seconds: window.as_secs().max(1),
        currency: currency.to_owned(),
        windows,
    })
}

/// The window of `at`: its index since the epoch (windows are half-open, `[start, end)`, so an
/// instant on an edge opens the later window).
pub(crate) fn window_index(at: Timestamp, window_micros: i64) -> i64 {
    at.as_unix_micros().div_euclid(window_micros)
}

pub(crate) fn window_micros(window: Duration) -> i64 {
    i64::try_from(window.as_secs().max(1)).unwrap_or(i64::MAX / 1_000_000) * 1_000_000
}

/// The trend of `settled` (sorted by time) over windows of `window`.
pub(crate) fn trend(settled: &[Settled], window: Duration) -> ErrorTrend {
    let w = window_micros(window);
    let mut windows: Vec<TrendWindow> = Vec::new();
    let mut current: Option<(i64, u64, u64, BTreeMap<_, u64>)> = None;
    let close = |(index, messages, errors, by): (i64, u64, u64, BTreeMap<_, u64>)| TrendWindow {
        start: Timestamp::saturating_from_unix_micros(index.saturating_mul(w)),
        end: Timestamp::saturating_from_unix_micros(index.saturating_add(1).saturating_mul(w)),
        messages,
        errors,
        error_rate: errors as f64 / messages.max(1) as f64,
        by_category: by
            .into_iter()
            .map(|(c, n)| {
                (
                    c,
                    CategoryRate {
                        count: n,
                        rate: n as f64 / messages.max(1) as f64,
                    },
                )
            })
            .collect(),
    };
    for s in settled {
        let index = window_index(s.at, w);
        match &mut current {
            Some(c) if c.0 == index => {}
            _ => {
                if let Some(done) = current.take() {
                    windows.push(close(done));
                }
                current = Some((index, 0, 0, BTreeMap::new()));
            }
        }
        if let Some(c) = &mut current {
            c.1 += 1;
            if let Some(category) = s.error {
                c.2 += 1;
                *c.3.entry(category).or_default() += 1;
            }
        }
    }
    if let Some(done) = current.take() {
        windows.push(close(done));
    }
    ErrorTrend {
        window_seconds: window.as_secs().max(1),
        windows,
    }
}
