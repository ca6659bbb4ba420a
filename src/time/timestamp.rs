//! [`Timestamp`]: an instant in UTC with microsecond precision, and its RFC 3339 text.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::date::{Date, ascii, digits, put_digits};
use super::text::{Invalid, Text, TextVisitor};
use crate::error::{Error, ErrorKind};

pub(crate) const MICROS_PER_SECOND: i64 = 1_000_000;
pub(crate) const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// An instant in UTC, with microsecond precision like PostgreSQL's `timestamptz`, from
/// `0000-01-01T00:00:00Z` to `9999-12-31T23:59:59.999999Z`.
///
/// Its text is RFC 3339. Parsing takes `YYYY-MM-DDTHH:MM:SS` (`T`, `t` or a space between date and
/// time; the seconds may be left out), an optional fraction of one to nine digits (after `.` or
/// `,`), and an offset: `Z`, `z`, `±HH:MM`, `±HHMM`, `±HH` or `±HH:MM:SS`. Fraction digits past
/// the sixth are dropped (truncated), a leap second `:60` reads as `:59`, and the instant must
/// fall within the range above once converted to UTC. `Display` writes UTC with `Z` and the
/// fraction without trailing zeros (`2024-05-01T09:30:00.25Z`), which PostgreSQL and JavaScript's
/// `Date` both read.
///
/// The core never reads a clock: callers pass the current time in (for example
/// `Timestamp::from_unix_millis(Date.now())` in a browser).
///
/// ```
/// use smsbatch::Timestamp;
///
/// let t: Timestamp = "2024-05-01T11:30:00.250+02:00".parse()?;
/// assert_eq!(t.to_string(), "2024-05-01T09:30:00.25Z");
/// assert_eq!(t.as_unix_millis(), 1_714_555_800_250);
/// assert_eq!(Timestamp::from_unix_millis(1_714_555_800_250), Some(t));
/// assert_eq!(t.checked_sub_days(1).map(|d| d.to_string()).as_deref(), Some("2024-04-30T09:30:00.25Z"));
/// assert_eq!(t.date().to_string(), "2024-05-01");
/// assert!(t > Timestamp::UNIX_EPOCH);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Microseconds since 1970-01-01T00:00:00Z, within `MIN_MICROS..=MAX_MICROS`.
    micros: i64,
}

/// `0000-01-01T00:00:00Z`.
const MIN_MICROS: i64 = Date::MIN.unix_days() as i64 * MICROS_PER_DAY;
/// `9999-12-31T23:59:59.999999Z`.
const MAX_MICROS: i64 = (Date::MAX.unix_days() as i64 + 1) * MICROS_PER_DAY - 1;

impl Timestamp {
    /// `1970-01-01T00:00:00Z`.
    pub const UNIX_EPOCH: Timestamp = Timestamp { micros: 0 };
    /// The first instant, `0000-01-01T00:00:00Z`.
    pub const MIN: Timestamp = Timestamp { micros: MIN_MICROS };
    /// The last instant, `9999-12-31T23:59:59.999999Z`.
    pub const MAX: Timestamp = Timestamp { micros: MAX_MICROS };

    /// The instant `micros` microseconds after the Unix epoch (before it when negative), or `None`
    /// outside [`Timestamp::MIN`]`..=`[`Timestamp::MAX`].
    pub const fn from_unix_micros(micros: i64) -> Option<Timestamp> {
        if micros < MIN_MICROS || micros > MAX_MICROS {
            None
        } else {
            Some(Timestamp { micros })
        }
    }

    /// The instant `millis` milliseconds after the Unix epoch (JavaScript's `Date.now()`), or
    /// `None` outside the range.
    pub const fn from_unix_millis(millis: i64) -> Option<Timestamp> {
        match millis.checked_mul(1000) {
            Some(micros) => Timestamp::from_unix_micros(micros),
            None => None,
        }
    }

    /// The instant `seconds` seconds after the Unix epoch, or `None` outside the range.
    pub const fn from_unix_seconds(seconds: i64) -> Option<Timestamp> {
        match seconds.checked_mul(MICROS_PER_SECOND) {
            Some(micros) => Timestamp::from_unix_micros(micros),
            None => None,
        }
    }

    /// The instant `micros` microseconds after the Unix epoch, clamped to
    /// [`Timestamp::MIN`]`..=`[`Timestamp::MAX`]: for reading a system clock, which a working one
    /// never takes outside the years 0000 to 9999 (where [`from_unix_micros`] would leave the
    /// caller with a `None` to invent a time for).
    ///
    /// ```
    /// use smsbatch::Timestamp;
    ///
    /// assert_eq!(Timestamp::saturating_from_unix_micros(i64::MAX), Timestamp::MAX);
    /// assert_eq!(Timestamp::saturating_from_unix_micros(0), Timestamp::UNIX_EPOCH);
    /// ```
    ///
    /// [`from_unix_micros`]: Timestamp::from_unix_micros
    pub const fn saturating_from_unix_micros(micros: i64) -> Timestamp {
        if micros < MIN_MICROS {
            Timestamp::MIN
        } else if micros > MAX_MICROS {
            Timestamp::MAX
        } else {
            Timestamp { micros }
        }
    }

    /// Like [`Timestamp::saturating_from_unix_micros`], from milliseconds (JavaScript's
    /// `Date.now()`).
    pub const fn saturating_from_unix_millis(millis: i64) -> Timestamp {
        Timestamp::saturating_from_unix_micros(millis.saturating_mul(1000))
    }

    /// For values the caller has already range-checked (a [`Date`]'s bounds).
    pub(crate) const fn from_micros_unchecked(micros: i64) -> Timestamp {
        Timestamp { micros }
    }

    /// Microseconds since the Unix epoch (negative before it).
    pub const fn as_unix_micros(self) -> i64 {
        self.micros
    }

    /// Whole milliseconds since the Unix epoch, rounded down (towards the past).
    pub const fn as_unix_millis(self) -> i64 {
        self.micros.div_euclid(1000)
    }

    /// Whole seconds since the Unix epoch, rounded down (towards the past), so that
    /// `as_unix_seconds() * 1_000_000 + subsec_micros()` is [`Timestamp::as_unix_micros`].
    pub const fn as_unix_seconds(self) -> i64 {
        self.micros.div_euclid(MICROS_PER_SECOND)
    }

    /// The microseconds past the second, `0..=999_999`.
    pub const fn subsec_micros(self) -> u32 {
        // A Euclidean remainder by 10^6 fits a u32.
        self.micros.rem_euclid(MICROS_PER_SECOND) as u32
    }

    /// The date in UTC.
    pub const fn date(self) -> Date {
        // The range keeps the day count within Date's (and an i32).
        match Date::from_unix_days(self.micros.div_euclid(MICROS_PER_DAY) as i32) {
            Some(date) => date,
            None => Date::MIN,
        }
    }

    /// Microseconds since midnight UTC, `0..86_400_000_000`.
    pub(crate) const fn micros_of_day(self) -> i64 {
        self.micros.rem_euclid(MICROS_PER_DAY)
    }

    /// The instant `days` whole days (of 86 400 s: UTC has no daylight saving) later, earlier
    /// when negative, or `None` past the range.
    pub const fn checked_add_days(self, days: i64) -> Option<Timestamp> {
        let Some(delta) = days.checked_mul(MICROS_PER_DAY) else {
            return None;
        };
        match self.micros.checked_add(delta) {
            Some(micros) => Timestamp::from_unix_micros(micros),
            None => None,
        }
    }

    /// The instant `days` whole days earlier, or `None` past the range.
    pub const fn checked_sub_days(self, days: i64) -> Option<Timestamp> {
        match days.checked_neg() {
            Some(negated) => self.checked_add_days(negated),
            None => None,
        }
    }

    /// The instant `duration` later (to the microsecond, rounded down), or `None` past the range.
    ///
    /// ```
    /// use std::time::Duration;
    /// use smsbatch::Timestamp;
    ///
    /// let t: Timestamp = "2024-05-01T09:30:00Z".parse()?;
    /// let later = t.checked_add(Duration::from_millis(1500)).unwrap();
    /// assert_eq!(later.to_string(), "2024-05-01T09:30:01.5Z");
    /// assert_eq!(later.duration_since(t), Duration::from_millis(1500));
    /// assert_eq!(t.duration_since(later), Duration::ZERO);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn checked_add(self, duration: Duration) -> Option<Timestamp> {
        let micros = duration.as_micros();
        if micros > i64::MAX as u128 {
            return None;
        }
        match self.micros.checked_add(micros as i64) {
            Some(micros) => Timestamp::from_unix_micros(micros),
            None => None,
        }
    }

    /// The instant `duration` earlier, or `None` past the range.
    pub const fn checked_sub(self, duration: Duration) -> Option<Timestamp> {
        let micros = duration.as_micros();
        if micros > i64::MAX as u128 {
            return None;
        }
        match self.micros.checked_sub(micros as i64) {
            Some(micros) => Timestamp::from_unix_micros(micros),
            None => None,
        }
    }

    /// The instant `duration` later, or [`Timestamp::MAX`] past the range.
    pub const fn saturating_add(self, duration: Duration) -> Timestamp {
        match self.checked_add(duration) {
            Some(t) => t,
            None => Timestamp::MAX,
        }
    }

    /// The instant `duration` earlier, or [`Timestamp::MIN`] past the range.
    pub const fn saturating_sub(self, duration: Duration) -> Timestamp {
        match self.checked_sub(duration) {
            Some(t) => t,
            None => Timestamp::MIN,
        }
    }

    /// How long after `earlier` this instant is; zero when it is not later.
    pub const fn duration_since(self, earlier: Timestamp) -> Duration {
        if self.micros <= earlier.micros {
            Duration::ZERO
        } else {
            // Both lie within the range, so the difference fits an i64 and is positive.
            Duration::from_micros((self.micros - earlier.micros) as u64)
        }
    }

    /// Parses RFC 3339 text (see the type's docs) and says whether fraction digits finer than a
    /// microsecond were dropped, for callers that must reject them rather than truncate.
    pub(crate) fn parse_rfc3339(s: &str) -> Result<(Timestamp, bool), Invalid> {
        let parts = Parts::parse(s)?;
        Ok((parts.timestamp()?, parts.finer))
    }

    /// Writes the RFC 3339 text.
    fn write(self, out: &mut impl fmt::Write) -> fmt::Result {
        self.date().write(out)?;
        let seconds = self.micros_of_day() / MICROS_PER_SECOND;
        let mut buf = *b"T00:00:00.000000Z";
        // Seconds of a day fit a u32.
        put_digits(&mut buf[1..3], (seconds / 3600) as u32);
        put_digits(&mut buf[4..6], (seconds / 60 % 60) as u32);
        put_digits(&mut buf[7..9], (seconds % 60) as u32);
        let sub = self.subsec_micros();
        let end = if sub == 0 {
            9
        } else {
            put_digits(&mut buf[10..16], sub);
            // Trailing zeros of the fraction are left out, as jiff and JavaScript do.
            16 - trailing_decimal_zeros(sub)
        };
        out.write_str(ascii(&buf[..end]))?;
        out.write_str("Z")
    }
}

/// How many of the six fraction digits of `sub` (nonzero) are trailing zeros.
fn trailing_decimal_zeros(mut sub: u32) -> usize {
    let mut zeros = 0;
    while sub.is_multiple_of(10) {
        sub /= 10;
        zeros += 1;
    }
    zeros
}

impl Text for Timestamp {
    const EXPECTING: &'static str = "an RFC 3339 timestamp";

    fn parse_text(s: &str) -> Result<Timestamp, Invalid> {
        Timestamp::parse_rfc3339(s).map(|(t, _)| t)
    }
}

/// Parses RFC 3339 text; see [`Timestamp`] for what is accepted.
///
/// ```
/// use smsbatch::Timestamp;
///
/// let t: Timestamp = "2024-01-31 23:00:00.1234567-01:00".parse()?;
/// assert_eq!(t.to_string(), "2024-02-01T00:00:00.123456Z");
/// assert!("2024-01-31T23:00:00".parse::<Timestamp>().is_err(), "no offset");
/// assert!("2024-01-31".parse::<Timestamp>().is_err(), "no time");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl FromStr for Timestamp {
    type Err = Error;

    fn from_str(s: &str) -> Result<Timestamp, Error> {
        Timestamp::parse_text(s).map_err(|e| {
            Error::new(ErrorKind::InvalidInput {
                message: e.sentence(s, Self::EXPECTING),
            })
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f)
    }
}

/// The same text as `Display`: `2024-05-01T09:30:00Z`.
impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f)
    }
}

/// As RFC 3339 text.
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// From RFC 3339 text.
impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        d.deserialize_str(TextVisitor::<Timestamp>::default())
    }
}

/// The pieces of `date[(T|t| )time[offset]]`, before they become a [`Timestamp`] or a civil
/// date-time for the template `date` helper.
#[derive(Debug)]
pub(crate) struct Parts {
    pub(crate) date: Date,
    /// Microseconds since midnight, when the text has a time.
    pub(crate) time: Option<i64>,
    /// The UTC offset in seconds (east positive), when the text has one.
    pub(crate) offset: Option<i32>,
    /// Whether nonzero fraction digits finer than a microsecond were dropped.
    pub(crate) finer: bool,
}

impl Parts {
    pub(crate) fn parse(s: &str) -> Result<Parts, Invalid> {
        let b = s.as_bytes();
        let date = Date::parse_prefix(b)?;
        let mut parts = Parts {
            date,
            time: None,
            offset: None,
            finer: false,
        };
        if b.len() == 10 {
            return Ok(parts);
        }
        if !matches!(b[10], b'T' | b't' | b' ') {
            return Err(Invalid("expected `T` or a space after the date"));
        }
        let (Some(hour), Some(b':'), Some(minute)) =
            (digits(b, 11, 2), b.get(13), digits(b, 14, 2))
        else {
            return Err(Invalid("expected a time as HH:MM:SS after the date"));
        };
        let mut at = 16;
        let mut second = 0;
        let mut micros = 0;
        if b.get(at) == Some(&b':') {
            second = digits(b, at + 1, 2).ok_or(Invalid("expected two digits of seconds"))?;
            at += 3;
            if matches!(b.get(at), Some(b'.' | b',')) {
                at += 1;
                let start = at;
                while b.get(at).is_some_and(u8::is_ascii_digit) {
                    at += 1;
                }
                if at == start || at - start > 9 {
                    return Err(Invalid(
                        "expected one to nine digits after the decimal point",
                    ));
                }
                let kept = (at - start).min(6);
                // At most six digits, padded to microseconds.
                let value = digits(b, start, kept).unwrap_or(0);
                micros = value * 10u32.pow(6 - kept as u32);
                parts.finer = b[start + kept..at].iter().any(|&c| c != b'0');
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return Err(Invalid("the hour, minute or second is out of range"));
        }
        // A leap second reads as the last second of its minute (UTC has no 61st second here).
        let second = second.min(59);
        parts.time = Some(
            (i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second))
                * MICROS_PER_SECOND
                + i64::from(micros),
        );
        let Some(&sign) = b.get(at) else {
            return Ok(parts);
        };
        let offset = match sign {
            b'Z' | b'z' if b.len() == at + 1 => 0,
            b'+' | b'-' => {
                let rest = &b[at + 1..];
                let (hours, minutes, seconds) = match rest.len() {
                    2 => (digits(rest, 0, 2), Some(0), Some(0)),
                    4 => (digits(rest, 0, 2), digits(rest, 2, 2), Some(0)),
                    5 if rest[2] == b':' => (digits(rest, 0, 2), digits(rest, 3, 2), Some(0)),
                    8 if rest[2] == b':' && rest[5] == b':' => {
                        (digits(rest, 0, 2), digits(rest, 3, 2), digits(rest, 6, 2))
                    }
                    _ => (None, None, None),
                };
                let (Some(h), Some(m), Some(sec)) = (hours, minutes, seconds) else {
                    return Err(Invalid("expected an offset as `Z` or ±HH:MM at the end"));
                };
                if h > 23 || m > 59 || sec > 59 {
                    return Err(Invalid("the offset is out of range"));
                }
                // At most 23:59:59, so it fits an i32.
                let magnitude = (h * 3600 + m * 60 + sec) as i32;
                if sign == b'-' { -magnitude } else { magnitude }
            }
            _ => return Err(Invalid("expected an offset as `Z` or ±HH:MM at the end")),
        };
        parts.offset = Some(offset);
        Ok(parts)
    }

    /// The instant, for text with a time and an offset.
    pub(crate) fn timestamp(&self) -> Result<Timestamp, Invalid> {
        let (Some(time), Some(offset)) = (self.time, self.offset) else {
            return Err(Invalid(if self.time.is_none() {
                "expected a time after the date (`T` then HH:MM:SS)"
            } else {
                "expected an offset after the time (`Z` or ±HH:MM)"
            }));
        };
        let micros = i64::from(self.date.unix_days()) * MICROS_PER_DAY + time
            - i64::from(offset) * MICROS_PER_SECOND;
        Timestamp::from_unix_micros(micros).ok_or(Invalid(
            "the instant is outside the years 0000 to 9999 in UTC",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn accepted_forms() {
        let cases = [
            ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
            ("2024-01-01t00:00:00z", "2024-01-01T00:00:00Z"),
            ("2024-01-01 00:00:00Z", "2024-01-01T00:00:00Z"),
            ("2024-01-01T00:00Z", "2024-01-01T00:00:00Z"),
            ("2024-01-01T00:00:00.5Z", "2024-01-01T00:00:00.5Z"),
            ("2024-01-01T00:00:00,5Z", "2024-01-01T00:00:00.5Z"),
            ("2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00Z"),
            ("2024-01-01T00:00:00.120Z", "2024-01-01T00:00:00.12Z"),
            ("2024-01-01T00:00:00.000001Z", "2024-01-01T00:00:00.000001Z"),
            (
                "2024-01-01T00:00:00.123456789Z",
                "2024-01-01T00:00:00.123456Z",
            ),
            ("2024-01-01T00:00:00.0000001Z", "2024-01-01T00:00:00Z"),
            ("2024-01-01T00:00:00+05:30", "2023-12-31T18:30:00Z"),
            ("2024-01-01T00:00:00+0530", "2023-12-31T18:30:00Z"),
            ("2024-01-01T00:00:00+05", "2023-12-31T19:00:00Z"),
            ("2024-01-01T00:00:00+05:30:15", "2023-12-31T18:29:45Z"),
            ("2024-01-01T00:00:00-00:00", "2024-01-01T00:00:00Z"),
            ("2024-01-01T00:00:00+23:59", "2023-12-31T00:01:00Z"),
            ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59Z"),
            ("1969-12-31T23:59:59.9Z", "1969-12-31T23:59:59.9Z"),
            ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"),
            ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
            (
                "9999-12-31T23:59:59.9999999Z",
                "9999-12-31T23:59:59.999999Z",
            ),
            ("0000-01-01T00:59:59+00:59", "0000-01-01T00:00:59Z"),
        ];
        for (input, shown) in cases {
            assert_eq!(ts(input).to_string(), shown, "{input}");
        }
        assert_eq!(Timestamp::MIN, ts("0000-01-01T00:00:00Z"));
        assert_eq!(Timestamp::MAX, ts("9999-12-31T23:59:59.999999Z"));
        assert_eq!(
            format!("{:?}", Timestamp::UNIX_EPOCH),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn rejected_forms_say_why() {
        let cases = [
            ("", "YYYY-MM-DD"),
            ("2024-01-01", "expected a time"),
            ("2024-01-01T00:00:00", "expected an offset"),
            ("2024-01-01X00:00:00Z", "`T` or a space"),
            ("2024-01-01T0:00:00Z", "HH:MM:SS"),
            ("2024-01-01T00Z", "HH:MM:SS"),
            ("2024-01-01T00:00:0Z", "two digits of seconds"),
            ("2024-01-01T24:00:00Z", "out of range"),
            ("2024-01-01T00:60:00Z", "out of range"),
            ("2024-01-01T00:00:61Z", "out of range"),
            ("2024-01-01T00:00:00.Z", "one to nine digits"),
            ("2024-01-01T00:00:00.1234567890Z", "one to nine digits"),
            ("2024-01-01T00:00:00+1:00", "offset"),
            ("2024-01-01T00:00:00+01:60", "offset is out of range"),
            ("2024-01-01T00:00:00+24:00", "offset is out of range"),
            ("2024-01-01T00:00:00Z ", "offset"),
            ("2024-01-01T00:00:00Z[UTC]", "offset"),
            (" 2024-01-01T00:00:00Z", "YYYY-MM-DD"),
            ("+002024-01-01T00:00:00Z", "YYYY-MM-DD"),
            ("2024-02-30T00:00:00Z", "out of range"),
            ("0000-01-01T00:00:00+01:00", "outside the years"),
            ("9999-12-31T23:59:59-01:00", "outside the years"),
        ];
        for (input, why) in cases {
            let err = input.parse::<Timestamp>().unwrap_err();
            let text = err.to_string();
            assert_eq!(err.kind().code(), "invalidInput");
            assert!(text.contains("is not an RFC 3339 timestamp"), "{text}");
            assert!(text.contains(why), "{input}: {text}");
        }
        // Long input is clipped in the message.
        let long = "x".repeat(500);
        assert!(long.parse::<Timestamp>().unwrap_err().to_string().len() < 200);
    }

    #[test]
    fn sub_microsecond_digits_are_reported() {
        assert!(
            !Timestamp::parse_rfc3339("2024-01-01T00:00:00.1234560Z")
                .unwrap()
                .1
        );
        assert!(
            Timestamp::parse_rfc3339("2024-01-01T00:00:00.1234561Z")
                .unwrap()
                .1
        );
        assert!(!Timestamp::parse_rfc3339("2024-01-01T00:00:00Z").unwrap().1);
    }

    #[test]
    fn unix_conversions() {
        let t = ts("1969-12-31T23:59:59.9995Z");
        assert_eq!(t.as_unix_micros(), -500);
        assert_eq!(t.as_unix_millis(), -1);
        assert_eq!(t.as_unix_seconds(), -1);
        assert_eq!(t.subsec_micros(), 999_500);
        assert_eq!(t.date().to_string(), "1969-12-31");
        assert_eq!(
            Timestamp::from_unix_seconds(86_400).map(Timestamp::date),
            Date::new(1970, 1, 2)
        );
        assert_eq!(
            Timestamp::from_unix_millis(-1).map(|t| t.as_unix_micros()),
            Some(-1000)
        );
        assert_eq!(Timestamp::from_unix_seconds(i64::MAX), None);
        assert_eq!(Timestamp::from_unix_millis(i64::MIN), None);
        assert_eq!(Timestamp::from_unix_micros(MAX_MICROS + 1), None);
        assert_eq!(Timestamp::from_unix_micros(MIN_MICROS - 1), None);
        assert_eq!(Timestamp::MAX.checked_add_days(1), None);
        assert_eq!(Timestamp::MIN.checked_sub_days(1), None);
        assert_eq!(Timestamp::MIN.checked_add_days(i64::MAX), None);
        assert_eq!(Timestamp::MIN.checked_sub_days(i64::MIN), None);
        assert_eq!(
            ts("2024-03-01T12:00:00Z").checked_sub_days(1),
            Some(ts("2024-02-29T12:00:00Z"))
        );
    }

    #[test]
    fn serde_is_the_text() {
        let t = ts("2025-01-10T09:00:00.5+01:00");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2025-01-10T08:00:00.5Z\""
        );
        assert_eq!(
            serde_json::from_str::<Timestamp>("\"2025-01-10T08:00:00.5Z\"").unwrap(),
            t
        );
        let err = serde_json::from_str::<Timestamp>("\"yesterday\"").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`yesterday` is not an RFC 3339 timestamp: "),
            "{err}"
        );
        let err = serde_json::from_str::<Timestamp>("1700000000").unwrap_err();
        assert!(err.to_string().contains("an RFC 3339 timestamp"), "{err}");
    }

    fn any_timestamp() -> impl Strategy<Value = Timestamp> {
        prop_oneof![
            (MIN_MICROS..=MAX_MICROS).prop_map(|micros| Timestamp { micros }),
            // Whole seconds and days too, where trailing-zero trimming matters.
            (MIN_MICROS / 1_000_000..=MAX_MICROS / 1_000_000).prop_map(|s| Timestamp {
                micros: s * 1_000_000
            }),
        ]
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(t in any_timestamp()) {
            let text = t.to_string();
            prop_assert_eq!(text.parse::<Timestamp>().unwrap(), t);
            if t.subsec_micros() == 0 {
                prop_assert_eq!(text.len(), 20);
            } else {
                prop_assert!(text.contains('.') && !text.ends_with("0Z"), "{}", text);
            }
            prop_assert_eq!(&text[..10], t.date().to_string());
        }

        #[test]
        fn any_offset_names_the_same_instant(t in any_timestamp(), offset_minutes in -1439i64..=1439) {
            // Write the UTC wall-clock time shifted by the offset, then the offset: the same instant.
            let shifted = Timestamp::from_unix_micros(t.as_unix_micros() + offset_minutes * 60_000_000);
            prop_assume!(shifted.is_some());
            let local = shifted.unwrap().to_string();
            let sign = if offset_minutes < 0 { '-' } else { '+' };
            let m = offset_minutes.abs();
            let text = format!("{}{sign}{:02}:{:02}", &local[..local.len() - 1], m / 60, m % 60);
            prop_assert_eq!(text.parse::<Timestamp>().unwrap(), t, "{}", text);
        }

        #[test]
        fn order_is_the_order_of_the_instants(a in any_timestamp(), b in any_timestamp()) {
            prop_assert_eq!(a.cmp(&b), a.as_unix_micros().cmp(&b.as_unix_micros()));
            // Same-length UTC texts sort like the instants (the fraction's length varies).
            let (x, y) = (a.to_string(), b.to_string());
            if x.len() == y.len() {
                prop_assert_eq!(a.cmp(&b), x.cmp(&y));
            }
        }

        #[test]
        fn day_arithmetic_keeps_the_time_of_day(t in any_timestamp(), days in -4_000i64..4_000) {
            match t.checked_add_days(days) {
                Some(later) => {
                    prop_assert_eq!(later.micros_of_day(), t.micros_of_day());
                    prop_assert_eq!(
                        later.date().unix_days() as i64,
                        t.date().unix_days() as i64 + days
                    );
                    prop_assert_eq!(t.date().checked_add_days(days), Some(later.date()));
                    prop_assert_eq!(later.checked_sub_days(days), Some(t));
                }
                None => prop_assert!(t.date().checked_add_days(days).is_none()),
            }
        }

        #[test]
        fn unix_parts_recombine(t in any_timestamp()) {
            prop_assert_eq!(
                t.as_unix_seconds() * 1_000_000 + i64::from(t.subsec_micros()),
                t.as_unix_micros()
            );
            prop_assert_eq!(Timestamp::from_unix_seconds(t.as_unix_seconds()).map(|s| s <= t), Some(true));
            prop_assert_eq!(t.date().start() <= t && t <= t.date().end(), true);
        }
    }
}
