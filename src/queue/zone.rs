//! IANA time zones from jiff's bundled database, for send windows (feature `tokio`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::window::{ZoneRules, ZoneSource};
use crate::error::{Error, ErrorKind, Result};
use crate::time::Timestamp;

/// One IANA time zone's rules (feature `tokio`).
#[derive(Clone, Debug)]
pub struct TzdbZone {
    name: String,
    zone: jiff::tz::TimeZone,
}

impl TzdbZone {
    /// The zone `name` (`"Europe/London"`, `"America/New_York"`, `"UTC"`), from the time-zone
    /// database bundled into the binary: the same answers on every machine, no system files read.
    pub fn get(name: &str) -> Result<Self> {
        let zone = jiff::tz::TimeZone::get(name).map_err(|e| {
            Error::new(ErrorKind::InvalidInput {
                message: format!("unknown time zone {name:?}: {e}"),
            })
        })?;
        Ok(Self {
            name: name.to_owned(),
            zone,
        })
    }

    /// Its name as asked for.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl ZoneRules for TzdbZone {
    fn offset_seconds(&self, at: Timestamp) -> i32 {
        // Every core Timestamp (years 0000 to 9999) is within jiff's range.
        match jiff::Timestamp::from_microsecond(at.as_unix_micros()) {
            Ok(t) => self.zone.to_offset(t).seconds(),
            Err(_) => 0,
        }
    }
}

/// Zones by name, loaded once each (feature `tokio`): the [`ZoneSource`] a runner uses for the
/// batch's `timeZone` and the customers' own `time_zone`.
///
/// ```
/// use smsbatch::Timestamp;
/// use smsbatch::queue::{SendWindow, TzdbZones, ZoneSource};
///
/// let zones = TzdbZones::new();
/// let london = zones.zone("Europe/London")?;
/// let window = SendWindow::new("09:00".parse()?, "20:00".parse()?)?;
/// // The clocks go forward on 30 March 2025: 09:00 is 09:00 UTC on Saturday, 08:00 UTC on Sunday.
/// let saturday_night: Timestamp = "2025-03-29T20:00:00Z".parse()?;
/// let sunday_open = window.next_open(saturday_night, &*london).unwrap();
/// assert_eq!(sunday_open.to_string(), "2025-03-30T08:00:00Z");
/// assert!(zones.zone("Mars/Olympus_Mons").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct TzdbZones {
    cache: Mutex<HashMap<String, Arc<TzdbZone>>>,
}

impl TzdbZones {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ZoneSource for TzdbZones {
    fn zone(&self, name: &str) -> Result<Arc<dyn ZoneRules>> {
        // The cache holds plain values: a panic elsewhere cannot leave it inconsistent.
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(zone) = cache.get(name) {
            return Ok(zone.clone());
        }
        let zone = Arc::new(TzdbZone::get(name)?);
        cache.insert(name.to_owned(), zone.clone());
        Ok(zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::SendWindow;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn offsets_follow_daylight_saving() {
        let zones = TzdbZones::new();
        let ny = zones.zone("America/New_York").unwrap();
        assert_eq!(ny.offset_seconds(t("2025-01-15T12:00:00Z")), -5 * 3600);
        assert_eq!(ny.offset_seconds(t("2025-07-15T12:00:00Z")), -4 * 3600);
        let london = zones.zone("Europe/London").unwrap();
        assert_eq!(london.offset_seconds(t("2025-03-30T00:59:59Z")), 0);
        assert_eq!(london.offset_seconds(t("2025-03-30T01:00:00Z")), 3600);
        let err = zones.zone("Nowhere/Town").err().unwrap();
        assert!(err.to_string().contains("Nowhere/Town"), "{err}");
    }

    #[test]
    fn new_york_spring_forward_and_a_night_window() {
        let zones = TzdbZones::new();
        let ny = zones.zone("America/New_York").unwrap();
        // Clocks go forward at 02:00 on 9 March 2025 (07:00 UTC). A 22:00–06:00 window: Saturday
        // night opens at 22:00 EST (03:00 UTC Sunday) and closes at 06:00 EDT (10:00 UTC).
        let w = SendWindow::new("22:00".parse().unwrap(), "06:00".parse().unwrap()).unwrap();
        let open = w.next_open(t("2025-03-08T20:00:00Z"), &*ny).unwrap();
        assert_eq!(open, t("2025-03-09T03:00:00Z"));
        let close = w.next_close(open, &*ny).unwrap();
        assert_eq!(close, t("2025-03-09T10:00:00Z"));
        // The night was an hour short: 7 hours of sending, not 8.
        assert_eq!(close.duration_since(open).as_secs(), 7 * 3600);
    }
}
