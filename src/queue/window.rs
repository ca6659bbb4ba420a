//! Send windows: the local hours in which a batch may send, in a time zone whose rules are
//! passed in (the core's time is UTC; `TzdbZones`, with the `tokio` feature, reads IANA zones).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::time::Timestamp;

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: u32 = 86_400;
const MICROS_PER_DAY: i64 = SECONDS_PER_DAY as i64 * MICROS_PER_SECOND;

/// A time zone's rules, as much as send windows need: the offset from UTC at an instant.
///
/// The core computes local times from it and finds daylight-saving transitions itself, so any
/// source of offsets will do: [`FixedOffset`], a closure, or (feature `tokio`) an IANA zone from
/// `TzdbZones`.
///
/// ```
/// use smsbatch::Timestamp;
/// use smsbatch::queue::{FixedOffset, ZoneRules};
///
/// assert_eq!(FixedOffset::UTC.offset_seconds(Timestamp::UNIX_EPOCH), 0);
/// // A closure is a zone: two hours ahead from the epoch on.
/// let zone = |t: Timestamp| if t >= Timestamp::UNIX_EPOCH { 7200 } else { 3600 };
/// assert_eq!(zone.offset_seconds(Timestamp::UNIX_EPOCH), 7200);
/// ```
pub trait ZoneRules: Send + Sync {
    /// Seconds east of UTC at `at` (London in summer: 3600; New York in winter: -18000).
    fn offset_seconds(&self, at: Timestamp) -> i32;
}

impl<F: Fn(Timestamp) -> i32 + Send + Sync> ZoneRules for F {
    fn offset_seconds(&self, at: Timestamp) -> i32 {
        self(at)
    }
}

impl<Z: ZoneRules + ?Sized> ZoneRules for Arc<Z> {
    fn offset_seconds(&self, at: Timestamp) -> i32 {
        (**self).offset_seconds(at)
    }
}

/// Finds a zone's rules by IANA name (`"Europe/London"`): how a runner turns a batch's
/// `timeZone`, or a customer's own `time_zone`, into [`ZoneRules`].
pub trait ZoneSource: Send + Sync {
    /// The rules of the zone `name`; an unknown name is an error that names it.
    fn zone(&self, name: &str) -> Result<Arc<dyn ZoneRules>>;
}

/// A zone with one offset all year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedOffset {
    seconds: i32,
}

impl FixedOffset {
    /// UTC.
    pub const UTC: FixedOffset = FixedOffset { seconds: 0 };

    /// `seconds` east of UTC (within ±26 hours; clamped).
    pub const fn new(seconds: i32) -> Self {
        let limit = 26 * 3600;
        Self {
            seconds: if seconds > limit {
                limit
            } else if seconds < -limit {
                -limit
            } else {
                seconds
            },
        }
    }
}

impl ZoneRules for FixedOffset {
    fn offset_seconds(&self, _at: Timestamp) -> i32 {
        self.seconds
    }
}

/// A time of day, `00:00` to `24:00` (the end of the day, for a window's end), to the second.
///
/// Text: `HH:MM` or `HH:MM:SS`.
///
/// ```
/// use smsbatch::queue::LocalTime;
///
/// let t: LocalTime = "09:30".parse()?;
/// assert_eq!(t.seconds(), 9 * 3600 + 30 * 60);
/// assert_eq!(t.to_string(), "09:30");
/// assert_eq!("23:59:30".parse::<LocalTime>()?.to_string(), "23:59:30");
/// assert!("24:01".parse::<LocalTime>().is_err());
/// assert!("9:30".parse::<LocalTime>().is_err());
/// # Ok::<(), smsbatch::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTime {
    seconds: u32,
}

impl LocalTime {
    /// Midnight at the start of the day.
    pub const MIDNIGHT: LocalTime = LocalTime { seconds: 0 };
    /// The end of the day, `24:00`.
    pub const END_OF_DAY: LocalTime = LocalTime {
        seconds: SECONDS_PER_DAY,
    };

    /// `hour:minute`, or `None` past `24:00`.
    pub const fn new(hour: u8, minute: u8, second: u8) -> Option<LocalTime> {
        if minute > 59 || second > 59 {
            return None;
        }
        let seconds = hour as u32 * 3600 + minute as u32 * 60 + second as u32;
        if seconds > SECONDS_PER_DAY {
            None
        } else {
            Some(LocalTime { seconds })
        }
    }

    /// Seconds since midnight.
    pub const fn seconds(self) -> u32 {
        self.seconds
    }
}

impl FromStr for LocalTime {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let invalid = || {
            Error::new(ErrorKind::InvalidInput {
                message: format!(
                    "invalid time of day {s:?}: expected HH:MM or HH:MM:SS, from 00:00 to 24:00"
                ),
            })
        };
        let b = s.as_bytes();
        let two = |at: usize| -> Option<u8> {
            let (h, l) = (*b.get(at)?, *b.get(at + 1)?);
            (h.is_ascii_digit() && l.is_ascii_digit()).then(|| (h - b'0') * 10 + (l - b'0'))
        };
        let (hour, minute, second) = match b.len() {
            5 if b[2] == b':' => (two(0), two(3), Some(0)),
            8 if b[2] == b':' && b[5] == b':' => (two(0), two(3), two(6)),
            _ => return Err(invalid()),
        };
        match (hour, minute, second) {
            (Some(h), Some(m), Some(sec)) => LocalTime::new(h, m, sec).ok_or_else(invalid),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (
            self.seconds / 3600,
            self.seconds / 60 % 60,
            self.seconds % 60,
        );
        if s == 0 {
            write!(f, "{h:02}:{m:02}")
        } else {
            write!(f, "{h:02}:{m:02}:{s:02}")
        }
    }
}

impl Serialize for LocalTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The local hours in which messages may be sent: from `start` (included) to `end` (excluded),
/// across midnight when `end` is earlier than `start` (`22:00`–`06:00`).
///
/// Every question takes the instant in UTC and the zone's rules, so the same window serves the
/// batch's zone and each customer's own. Daylight-saving changes are followed exactly: on the
/// night clocks go forward, a window opening inside the skipped hour opens when the clocks jump;
/// on the night they go back, the repeated hour counts twice.
///
/// ```
/// use smsbatch::Timestamp;
/// use smsbatch::queue::{FixedOffset, SendWindow};
///
/// let window = SendWindow::new("09:00".parse()?, "20:00".parse()?)?;
/// let new_york_winter = FixedOffset::new(-5 * 3600);
/// let now: Timestamp = "2025-01-15T23:30:00Z".parse()?; // 18:30 in New York
/// assert!(window.contains(now, &new_york_winter));
/// let close = window.next_close(now, &new_york_winter).unwrap();
/// assert_eq!(close.to_string(), "2025-01-16T01:00:00Z"); // 20:00 there
/// let open = window.next_open(close, &new_york_winter).unwrap();
/// assert_eq!(open.to_string(), "2025-01-16T14:00:00Z"); // 09:00 the next morning
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendWindow {
    start: LocalTime,
    end: LocalTime,
}

impl SendWindow {
    /// The window from `start` to `end`; they must differ, and `start` must be before `24:00`.
    pub fn new(start: LocalTime, end: LocalTime) -> Result<Self> {
        let error = |field: &str, message: &str| {
            Error::new(ErrorKind::InvalidOptions {
                field: format!("sendWindow.{field}"),
                message: message.into(),
            })
        };
        if start == LocalTime::END_OF_DAY {
            return Err(error("start", "a window cannot start at 24:00; use 00:00"));
        }
        let end_of_day = |t: LocalTime| t.seconds % SECONDS_PER_DAY;
        if end_of_day(start) == end_of_day(end) {
            return Err(error(
                "end",
                "the window is empty (start equals end); leave sendWindow out to send at any hour",
            ));
        }
        Ok(Self { start, end })
    }

    /// Where the window opens.
    pub const fn start(&self) -> LocalTime {
        self.start
    }

    /// Where the window closes.
    pub const fn end(&self) -> LocalTime {
        self.end
    }

    fn contains_local(&self, micros_of_day: i64) -> bool {
        let start = i64::from(self.start.seconds) * MICROS_PER_SECOND;
        let end = i64::from(self.end.seconds) * MICROS_PER_SECOND;
        if start < end {
            start <= micros_of_day && micros_of_day < end
        } else {
            micros_of_day >= start || micros_of_day < end
        }
    }

    /// Whether messages may be sent at `at` in `zone`.
    pub fn contains(&self, at: Timestamp, zone: &dyn ZoneRules) -> bool {
        self.contains_local(local_micros_of_day(at, zone.offset_seconds(at)))
    }

    /// The first instant at or after `at` when the window is open (`at` itself when it is open
    /// now); `None` past the end of time.
    pub fn next_open(&self, at: Timestamp, zone: &dyn ZoneRules) -> Option<Timestamp> {
        self.next_where(at, zone, true)
    }

    /// The first instant at or after `at` when the window is closed (`at` itself when it is
    /// closed now).
    pub fn next_close(&self, at: Timestamp, zone: &dyn ZoneRules) -> Option<Timestamp> {
        self.next_where(at, zone, false)
    }

    fn next_where(&self, at: Timestamp, zone: &dyn ZoneRules, open: bool) -> Option<Timestamp> {
        let target = i64::from(if open { self.start } else { self.end }.seconds % SECONDS_PER_DAY)
            * MICROS_PER_SECOND;
        let mut t = at;
        // Each round reaches the target time of day, or a change of offset on the way; a few
        // rounds settle any real zone (offsets change at most a few times a year).
        for _ in 0..16 {
            let offset = zone.offset_seconds(t);
            if self.contains_local(local_micros_of_day(t, offset)) == open {
                return Some(t);
            }
            let mut ahead = (target - local_micros_of_day(t, offset)).rem_euclid(MICROS_PER_DAY);
            if ahead == 0 {
                ahead = MICROS_PER_DAY;
            }
            let candidate = Timestamp::from_unix_micros(t.as_unix_micros().checked_add(ahead)?)?;
            t = if zone.offset_seconds(candidate) == offset {
                candidate
            } else {
                first_change(t, candidate, offset, zone)
            };
        }
        None
    }

    /// When `work` worth of open window has passed after `from`: the ETA of a batch that needs
    /// `work` of sending at its pace. `from` itself for no work; `None` if that is more than ten
    /// years of windows away.
    ///
    /// ```
    /// use std::time::Duration;
    /// use smsbatch::Timestamp;
    /// use smsbatch::queue::{FixedOffset, SendWindow};
    ///
    /// let window = SendWindow::new("09:00".parse()?, "17:00".parse()?)?;
    /// let monday_3pm: Timestamp = "2025-01-13T15:00:00Z".parse()?;
    /// // Three hours of sending: two today, one tomorrow morning.
    /// let done = window.finish_time(monday_3pm, Duration::from_secs(3 * 3600), &FixedOffset::UTC);
    /// assert_eq!(done.unwrap().to_string(), "2025-01-14T10:00:00Z");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish_time(
        &self,
        from: Timestamp,
        work: Duration,
        zone: &dyn ZoneRules,
    ) -> Option<Timestamp> {
        if work.is_zero() {
            return Some(from);
        }
        let mut left = work;
        let mut t = from;
        for _ in 0..3660 {
            t = self.next_open(t, zone)?;
            let close = self.next_close(t, zone)?;
            let open_for = close.duration_since(t);
            if open_for >= left {
                return t.checked_add(left);
            }
            left -= open_for;
            t = close;
        }
        None
    }
}

/// The first instant in `(from, to]` whose offset is not `offset` (there is one: `to` has
/// another), to the microsecond.
fn first_change(from: Timestamp, to: Timestamp, offset: i32, zone: &dyn ZoneRules) -> Timestamp {
    let (mut lo, mut hi) = (from.as_unix_micros(), to.as_unix_micros());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let mid_t = Timestamp::from_unix_micros(mid).unwrap_or(to);
        if zone.offset_seconds(mid_t) == offset {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Timestamp::from_unix_micros(hi).unwrap_or(to)
}

fn local_micros_of_day(at: Timestamp, offset_seconds: i32) -> i64 {
    (at.as_unix_micros() + i64::from(offset_seconds) * MICROS_PER_SECOND).rem_euclid(MICROS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn window(a: &str, b: &str) -> SendWindow {
        SendWindow::new(a.parse().unwrap(), b.parse().unwrap()).unwrap()
    }

    /// Europe/London's rules for 2025 as a closure: BST from 30 March 01:00 UTC to 26 October
    /// 01:00 UTC.
    fn london(at: Timestamp) -> i32 {
        if t("2025-03-30T01:00:00Z") <= at && at < t("2025-10-26T01:00:00Z") {
            3600
        } else {
            0
        }
    }

    #[test]
    fn across_midnight() {
        let w = window("22:00", "06:00");
        let utc = FixedOffset::UTC;
        assert!(w.contains(t("2025-05-01T23:00:00Z"), &utc));
        assert!(w.contains(t("2025-05-02T05:59:59Z"), &utc));
        assert!(!w.contains(t("2025-05-02T06:00:00Z"), &utc));
        assert_eq!(
            w.next_close(t("2025-05-01T23:00:00Z"), &utc),
            Some(t("2025-05-02T06:00:00Z"))
        );
        assert_eq!(
            w.next_open(t("2025-05-02T06:00:00Z"), &utc),
            Some(t("2025-05-02T22:00:00Z"))
        );
        // Whole nights of 8 hours.
        assert_eq!(
            w.finish_time(
                t("2025-05-01T12:00:00Z"),
                Duration::from_secs(10 * 3600),
                &utc
            ),
            Some(t("2025-05-03T00:00:00Z"))
        );
    }

    #[test]
    fn end_of_day() {
        let w = window("18:00", "24:00");
        let utc = FixedOffset::UTC;
        assert!(w.contains(t("2025-05-01T23:59:59Z"), &utc));
        assert!(!w.contains(t("2025-05-02T00:00:00Z"), &utc));
        assert_eq!(
            w.next_close(t("2025-05-01T19:00:00Z"), &utc),
            Some(t("2025-05-02T00:00:00Z"))
        );
        assert!(SendWindow::new(LocalTime::MIDNIGHT, LocalTime::END_OF_DAY).is_err());
        assert!(SendWindow::new(LocalTime::END_OF_DAY, LocalTime::MIDNIGHT).is_err());
    }

    #[test]
    fn spring_forward_in_a_closure_zone() {
        // 09:00 London is 09:00 UTC on Saturday and 08:00 UTC on Sunday.
        let w = window("09:00", "20:00");
        assert_eq!(
            w.next_open(t("2025-03-29T20:00:00Z"), &london),
            Some(t("2025-03-30T08:00:00Z"))
        );
        // A window opening inside the skipped hour (01:00–02:00 does not exist) opens at the jump.
        let w = window("01:30", "05:00");
        assert_eq!(
            w.next_open(t("2025-03-29T12:00:00Z"), &london),
            Some(t("2025-03-30T01:00:00Z"))
        );
    }

    #[test]
    fn fall_back_repeats_the_hour() {
        // 01:00–02:00 happens twice on 26 October; a 01:00–01:30 window opens twice.
        let w = window("01:00", "01:30");
        let first = w.next_open(t("2025-10-25T12:00:00Z"), &london).unwrap();
        assert_eq!(first, t("2025-10-26T00:00:00Z"));
        let close = w.next_close(first, &london).unwrap();
        assert_eq!(close, t("2025-10-26T00:30:00Z"));
        let second = w.next_open(close, &london).unwrap();
        assert_eq!(second, t("2025-10-26T01:00:00Z"));
    }

    #[test]
    fn finish_time_in_far_future_is_bounded() {
        let w = window("09:00", "09:01");
        let far = w.finish_time(
            Timestamp::UNIX_EPOCH,
            Duration::from_secs(86_400 * 365),
            &FixedOffset::UTC,
        );
        assert_eq!(far, None);
        assert_eq!(
            w.finish_time(Timestamp::UNIX_EPOCH, Duration::ZERO, &FixedOffset::UTC),
            Some(Timestamp::UNIX_EPOCH)
        );
    }

    #[test]
    fn local_time_json() {
        let lt: LocalTime = serde_json::from_str(r#""07:05""#).unwrap();
        assert_eq!(serde_json::to_string(&lt).unwrap(), r#""07:05""#);
        assert!(serde_json::from_str::<LocalTime>(r#""7:05""#).is_err());
        assert!(serde_json::from_str::<LocalTime>(r#""07:60""#).is_err());
        assert_eq!("24:00".parse::<LocalTime>().unwrap(), LocalTime::END_OF_DAY);
    }
}
