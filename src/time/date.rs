//! [`Date`]: a day of the proleptic Gregorian calendar, stored as days since 1970-01-01.

use std::fmt;
use std::str::FromStr;

use super::text::{Invalid, Text, TextVisitor};
use super::timestamp::{MICROS_PER_DAY, Timestamp};
use crate::error::{Error, ErrorKind};

/// A civil date (no time zone) from `0000-01-01` to `9999-12-31`, the years RFC 3339 and ISO 8601
/// write with four digits; text is `YYYY-MM-DD`.
///
/// It is a count of days since 1970-01-01, so comparing and adding days cost one integer
/// operation; the year, month and day are computed when asked for (Howard Hinnant's
/// `civil_from_days`, exact over the whole range).
///
/// ```
/// use smsbatch::Date;
///
/// let d: Date = "2024-02-28".parse()?;
/// assert_eq!(d.checked_add_days(1).map(|d| d.to_string()).as_deref(), Some("2024-02-29"));
/// assert_eq!((d.year(), d.month(), d.day()), (2024, 2, 28));
/// assert_eq!(d.last_of_month().day(), 29);
/// assert_eq!(d.start().to_string(), "2024-02-28T00:00:00Z");
/// assert_eq!(Date::from_unix_days(0), Date::new(1970, 1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Days since 1970-01-01 (negative before it), within `MIN_DAYS..=MAX_DAYS`.
    days: i32,
}

/// `0000-01-01` as days since the epoch.
const MIN_DAYS: i32 = -719_528;
/// `9999-12-31` as days since the epoch.
const MAX_DAYS: i32 = 2_932_896;

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const WEEKDAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl Date {
    /// The first date, `0000-01-01`.
    pub const MIN: Date = Date { days: MIN_DAYS };
    /// The last date, `9999-12-31`.
    pub const MAX: Date = Date { days: MAX_DAYS };

    /// The date `year-month-day`, or `None` when it does not exist (`2023-02-29`) or the year is
    /// outside `0..=9999`.
    ///
    /// ```
    /// use smsbatch::Date;
    ///
    /// assert!(Date::new(2024, 2, 29).is_some());
    /// assert!(Date::new(2023, 2, 29).is_none());
    /// assert!(Date::new(10_000, 1, 1).is_none());
    /// ```
    pub const fn new(year: i16, month: u8, day: u8) -> Option<Date> {
        if year < 0 || year > 9999 || month < 1 || month > 12 {
            return None;
        }
        if day < 1 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date {
            days: days_from_civil(year, month, day),
        })
    }

    /// The date `days` days after 1970-01-01 (before it when negative), or `None` outside
    /// [`Date::MIN`]`..=`[`Date::MAX`].
    pub const fn from_unix_days(days: i32) -> Option<Date> {
        if days < MIN_DAYS || days > MAX_DAYS {
            None
        } else {
            Some(Date { days })
        }
    }

    /// Days since 1970-01-01 (negative before it).
    pub const fn unix_days(self) -> i32 {
        self.days
    }

    /// The year, `0..=9999`.
    pub const fn year(self) -> i16 {
        civil_from_days(self.days).0
    }

    /// The month, `1..=12`.
    pub const fn month(self) -> u8 {
        civil_from_days(self.days).1
    }

    /// The day of the month, `1..=31`.
    pub const fn day(self) -> u8 {
        civil_from_days(self.days).2
    }

    /// The day of the week, ISO 8601 style: 1 for Monday to 7 for Sunday.
    ///
    /// ```
    /// use smsbatch::Date;
    ///
    /// assert_eq!(Date::new(2024, 3, 5).map(Date::iso_weekday), Some(2)); // a Tuesday
    /// ```
    pub const fn iso_weekday(self) -> u8 {
        // 1970-01-01 was a Thursday (4); the remainder is in 0..7, so the cast is exact.
        ((self.days as i64 + 3).rem_euclid(7) + 1) as u8
    }

    /// The day of the year, `1..=366`.
    pub const fn day_of_year(self) -> u16 {
        let first = days_from_civil(self.year(), 1, 1);
        // At most 365 days after the first of January, so the cast is exact.
        (self.days - first + 1) as u16
    }

    /// How many days the date's month has (28 to 31).
    pub const fn days_in_month(self) -> u8 {
        let (year, month, _) = civil_from_days(self.days);
        days_in_month(year, month)
    }

    /// The first day of the date's month.
    pub const fn first_of_month(self) -> Date {
        Date {
            days: self.days - self.day() as i32 + 1,
        }
    }

    /// The last day of the date's month.
    pub const fn last_of_month(self) -> Date {
        let (_, _, day) = civil_from_days(self.days);
        Date {
            days: self.days - day as i32 + self.days_in_month() as i32,
        }
    }

    /// The date `days` days later (earlier when negative), or `None` past [`Date::MIN`] or
    /// [`Date::MAX`].
    pub const fn checked_add_days(self, days: i64) -> Option<Date> {
        let sum = self.days as i64 + days;
        if sum < MIN_DAYS as i64 || sum > MAX_DAYS as i64 {
            None
        } else {
            // In MIN_DAYS..=MAX_DAYS, so it fits an i32.
            Some(Date { days: sum as i32 })
        }
    }

    /// The date `days` days earlier, or `None` past [`Date::MIN`] or [`Date::MAX`].
    pub const fn checked_sub_days(self, days: i64) -> Option<Date> {
        match days.checked_neg() {
            Some(negated) => self.checked_add_days(negated),
            None => None,
        }
    }

    /// The instant the day starts in UTC (`T00:00:00Z`).
    pub const fn start(self) -> Timestamp {
        Timestamp::from_micros_unchecked(self.days as i64 * MICROS_PER_DAY)
    }

    /// The last instant of the day in UTC (`T23:59:59.999999Z`): the inclusive end, which exists
    /// for [`Date::MAX`] too. The exclusive end is the next day's [`Date::start`].
    pub const fn end(self) -> Timestamp {
        Timestamp::from_micros_unchecked((self.days as i64 + 1) * MICROS_PER_DAY - 1)
    }

    /// The ISO 8601 week-numbering year and week (`1..=53`): weeks start on Monday and week 1
    /// holds the year's first Thursday.
    pub(crate) const fn iso_week(self) -> (i16, u8) {
        // The week's Thursday decides its year; near the range's ends it may fall in year -1 or
        // 10000, which the day arithmetic below handles like any other year.
        let thursday = self.days + 4 - self.iso_weekday() as i32;
        let (year, _, _) = civil_from_days(thursday);
        let week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
        // At most 53.
        (year, week as u8)
    }

    /// The month's English name (`"March"`), as strftime's `%B` writes it.
    pub(crate) fn month_name(self) -> &'static str {
        MONTH_NAMES[usize::from(self.month() - 1)]
    }

    /// The weekday's English name (`"Tuesday"`), as strftime's `%A` writes it.
    pub(crate) fn weekday_name(self) -> &'static str {
        WEEKDAY_NAMES[usize::from(self.iso_weekday() - 1)]
    }

    /// Parses the date at the start of `b` (`YYYY-MM-DD`, exactly ten bytes).
    pub(crate) fn parse_prefix(b: &[u8]) -> Result<Date, Invalid> {
        let shape = b.len() >= 10 && b[4] == b'-' && b[7] == b'-';
        let (Some(year), Some(month), Some(day)) = (
            digits(b, 0, 4),
            digits(b, 5, 2).filter(|_| shape),
            digits(b, 8, 2).filter(|_| shape),
        ) else {
            return Err(Invalid("expected a date as YYYY-MM-DD"));
        };
        // Four digits fit an i16 and two a u8.
        Date::new(year as i16, month as u8, day as u8)
            .ok_or(Invalid("the month or the day is out of range"))
    }

    /// Writes `YYYY-MM-DD`.
    pub(crate) fn write(self, out: &mut impl fmt::Write) -> fmt::Result {
        let (year, month, day) = civil_from_days(self.days);
        let mut buf = *b"0000-00-00";
        put_digits(&mut buf[0..4], year as u32);
        put_digits(&mut buf[5..7], u32::from(month));
        put_digits(&mut buf[8..10], u32::from(day));
        out.write_str(ascii(&buf))
    }
}

impl Text for Date {
    const EXPECTING: &'static str = "a date";

    fn parse_text(s: &str) -> Result<Date, Invalid> {
        if s.len() == 10 {
            Date::parse_prefix(s.as_bytes())
        } else {
            Err(Invalid("expected a date as YYYY-MM-DD"))
        }
    }
}

/// Parses a strict `YYYY-MM-DD` date (four-digit year `0000` to `9999`).
///
/// ```
/// use smsbatch::Date;
///
/// assert!("2024-02-29".parse::<Date>().is_ok());
/// for bad in ["2023-02-29", "2024-2-29", "20240229", "2024-02-29T00:00:00Z", " 2024-02-29"] {
///     assert!(bad.parse::<Date>().is_err(), "{bad}");
/// }
/// ```
impl FromStr for Date {
    type Err = Error;

    fn from_str(s: &str) -> Result<Date, Error> {
        Date::parse_text(s).map_err(|e| {
            Error::new(ErrorKind::InvalidInput {
                message: e.sentence(s, Self::EXPECTING),
            })
        })
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f)
    }
}

/// The same text as `Display`: `2024-03-05`.
impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f)
    }
}

/// As `YYYY-MM-DD` text.
impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// From `YYYY-MM-DD` text.
impl<'de> serde::Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        d.deserialize_str(TextVisitor::<Date>::default())
    }
}

/// Whether `year` has a 29th of February.
pub(crate) const fn is_leap_year(year: i16) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1..=12) of `year`.
const fn days_in_month(year: i16, month: u8) -> u8 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a valid date (Hinnant, "chrono-Compatible Low-Level Date
/// Algorithms": March-based years make the leap day the last day of the year).
const fn days_from_civil(year: i16, month: u8, day: u8) -> i32 {
    let y = year as i32 - if month <= 2 { 1 } else { 0 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`], for days in `MIN_DAYS..=MAX_DAYS`.
const fn civil_from_days(days: i32) -> (i16, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    // The range keeps the year in 0..=9999, the month in 1..=12 and the day in 1..=31.
    (year as i16, month as u8, day as u8)
}

/// The number written by the `n` ASCII digits at `b[at..]`, if they are all digits.
pub(crate) fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let slice = b.get(at..at + n)?;
    slice.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Writes `n` zero-padded into all of `buf` (which is ASCII digits afterwards).
pub(crate) fn put_digits(buf: &mut [u8], mut n: u32) {
    for slot in buf.iter_mut().rev() {
        // `n % 10` is a single digit.
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// The text of a buffer this module filled with ASCII.
pub(crate) fn ascii(buf: &[u8]) -> &str {
    // Only ever called on ASCII digits and punctuation, so the fallback is unreachable.
    std::str::from_utf8(buf).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The slow, obviously right calendar: walk day by day from the epoch.
    fn naive_from_days(days: i32) -> (i16, u8, u8) {
        let (mut y, mut m, mut d) = (1970i16, 1u8, 1u8);
        if days >= 0 {
            for _ in 0..days {
                if d < days_in_month(y, m) {
                    d += 1;
                } else if m < 12 {
                    (m, d) = (m + 1, 1);
                } else {
                    (y, m, d) = (y + 1, 1, 1);
                }
            }
        } else {
            for _ in 0..-days {
                if d > 1 {
                    d -= 1;
                } else if m > 1 {
                    m -= 1;
                    d = days_in_month(y, m);
                } else {
                    (y, m, d) = (y - 1, 12, 31);
                }
            }
        }
        (y, m, d)
    }

    #[test]
    fn every_day_of_the_range_against_a_day_by_day_walk() {
        // One pass over all 3.65 million days: the walk and the closed form must agree on
        // every one, and the round trip through `new` must be exact.
        let (mut y, mut m, mut d) = (0i16, 1u8, 1u8);
        for days in MIN_DAYS..=MAX_DAYS {
            assert_eq!(civil_from_days(days), (y, m, d), "{days}");
            assert_eq!(days_from_civil(y, m, d), days);
            if d < days_in_month(y, m) {
                d += 1;
            } else if m < 12 {
                (m, d) = (m + 1, 1);
            } else {
                (y, m, d) = (y + 1, 1, 1);
            }
        }
        assert_eq!((y, m, d), (10_000, 1, 1));
        assert_eq!(naive_from_days(0), (1970, 1, 1));
        assert_eq!(naive_from_days(-1), (1969, 12, 31));
        assert_eq!(naive_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn limits_and_known_dates() {
        assert_eq!(Date::MIN.to_string(), "0000-01-01");
        assert_eq!(Date::MAX.to_string(), "9999-12-31");
        assert_eq!(Date::new(0, 1, 1), Some(Date::MIN));
        assert_eq!(Date::new(9999, 12, 31), Some(Date::MAX));
        assert_eq!(Date::new(-1, 12, 31), None);
        assert_eq!(Date::new(2024, 0, 1), None);
        assert_eq!(Date::new(2024, 13, 1), None);
        assert_eq!(Date::new(2024, 4, 31), None);
        assert_eq!(Date::new(1900, 2, 29), None, "not a leap year");
        assert!(Date::new(2000, 2, 29).is_some(), "a leap year");
        assert_eq!(Date::from_unix_days(MIN_DAYS - 1), None);
        assert_eq!(Date::from_unix_days(MAX_DAYS + 1), None);
        assert_eq!(Date::MAX.checked_add_days(1), None);
        assert_eq!(Date::MIN.checked_sub_days(1), None);
        assert_eq!(Date::MIN.checked_sub_days(i64::MIN), None);
        assert_eq!(Date::MIN.checked_add_days(i64::MAX), None);
        let d = Date::new(2024, 3, 5).unwrap();
        assert_eq!(d.unix_days(), 19_787);
        assert_eq!((d.iso_weekday(), d.day_of_year()), (2, 65));
        assert_eq!((d.month_name(), d.weekday_name()), ("March", "Tuesday"));
        assert_eq!(d.first_of_month().to_string(), "2024-03-01");
        assert_eq!(d.last_of_month().to_string(), "2024-03-31");
        assert_eq!(Date::new(2023, 2, 10).unwrap().last_of_month().day(), 28);
        assert_eq!(Date::new(2024, 12, 31).unwrap().day_of_year(), 366);
        assert_eq!(d.start().to_string(), "2024-03-05T00:00:00Z");
        assert_eq!(d.end().to_string(), "2024-03-05T23:59:59.999999Z");
        assert_eq!(Date::MAX.end(), Timestamp::MAX);
        assert_eq!(Date::MIN.start(), Timestamp::MIN);
        assert_eq!(format!("{d:?}"), "2024-03-05");
    }

    #[test]
    fn parsing_is_strict() {
        assert_eq!("0000-01-01".parse::<Date>().unwrap(), Date::MIN);
        for bad in [
            "",
            "2024",
            "2024-1-01",
            "2024-01-1",
            "2024/01/01",
            "+2024-01-01",
            "2024-01-01 ",
            "２０２４-01-01",
            "2024-00-10",
            "2024-02-30",
            "-001-01-01",
            "2024-01-01T00:00:00Z",
        ] {
            let err = bad.parse::<Date>().unwrap_err();
            assert_eq!(err.kind().code(), "invalidInput", "{bad}");
            assert!(err.to_string().contains("is not a date"), "{err}");
        }
    }

    #[test]
    fn serde_is_the_text() {
        let d = Date::new(2024, 3, 5).unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"2024-03-05\"");
        assert_eq!(serde_json::from_str::<Date>("\"2024-03-05\"").unwrap(), d);
        let err = serde_json::from_str::<Date>("\"2024-3-5\"").unwrap_err();
        assert!(err.to_string().contains("is not a date"), "{err}");
        assert!(serde_json::from_str::<Date>("20240305").is_err());
    }

    fn any_date() -> impl Strategy<Value = Date> {
        (MIN_DAYS..=MAX_DAYS).prop_map(|days| Date { days })
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(d in any_date()) {
            let text = d.to_string();
            prop_assert_eq!(text.len(), 10);
            prop_assert_eq!(text.parse::<Date>().unwrap(), d);
            prop_assert_eq!(Date::new(d.year(), d.month(), d.day()), Some(d));
        }

        #[test]
        fn order_is_the_order_of_the_text(a in any_date(), b in any_date()) {
            prop_assert_eq!(a.cmp(&b), a.to_string().cmp(&b.to_string()));
        }

        #[test]
        fn adding_days_matches_a_day_by_day_walk(
            start in -40_000i32..40_000,
            step in -3_000i64..3_000,
        ) {
            let d = Date::from_unix_days(start).unwrap();
            let later = d.checked_add_days(step).unwrap();
            prop_assert_eq!(later.unix_days() as i64, start as i64 + step);
            let (y, m, day) = naive_from_days(later.unix_days());
            prop_assert_eq!((later.year(), later.month(), later.day()), (y, m, day));
            prop_assert_eq!(later.checked_sub_days(step), Some(d));
            let weekday_shift = (i64::from(d.iso_weekday()) - 1 + step).rem_euclid(7) + 1;
            prop_assert_eq!(i64::from(later.iso_weekday()), weekday_shift);
        }

        #[test]
        fn month_bounds(d in any_date()) {
            let (first, last) = (d.first_of_month(), d.last_of_month());
            prop_assert!(first <= d && d <= last);
            prop_assert_eq!((first.day(), first.month(), first.year()), (1, d.month(), d.year()));
            prop_assert_eq!((last.day(), last.month()), (d.days_in_month(), d.month()));
            prop_assert!(last.checked_add_days(1).is_none_or(|next| next.day() == 1));
        }
    }
}
