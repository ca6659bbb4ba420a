//! The error trend: error rates per category over consecutive windows aligned to the Unix epoch.

use std::collections::BTreeMap;
use std::time::Duration;

use super::report::{CategoryRate, ErrorTrend, TrendWindow};
use super::sla::Settled;
use crate::time::Timestamp;

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
