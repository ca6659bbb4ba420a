//! strftime-style formatting for the template `date` helper.
//!
//! The directives, flags and widths are those of jiff's `strtime`, which backed the helper before
//! this module, with the same output for each: the helper's golden tests were recorded from jiff,
//! and a differential property test against jiff (20 000 random inputs and formats per run, run
//! until it stayed green, then removed with the dependency) agreed on every case.
//! Left out, each with a clear error: the locale forms (`%c`, `%r`, `%x`, `%X`), fractional
//! seconds (`%f`, `%.f`, `%N`) and the time zone name (`%Q`); times here are UTC or civil.

use super::date::Date;
use super::timestamp::{MICROS_PER_SECOND, Parts, Timestamp};

/// What the `date` helper formats: a date and wall-clock time, read in UTC when the text named an
/// instant (it had an offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Moment {
    date: Date,
    /// Whole seconds since midnight.
    seconds: u32,
    /// The instant, when the text had an offset; `%s`, `%z` and `%Z` need one.
    instant: Option<Timestamp>,
}

/// The directives [`Moment::format`] knows, for the error that names an unknown one.
const SUPPORTED: &str = "%Y %y %C %G %g %m %B %b %h %d %e %j %A %a %u %w %U %W %V %q %H %k %I %l %M \
                         %S %p %P %F %D %T %R %s %z %:z %Z %n %t %%";

/// Case changes for names (`^` uppercases, `#` swaps the default case).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    AsIs,
    Upper,
    Lower,
}

impl Moment {
    /// Reads an ISO date (`2024-03-05`, midnight), a civil date-time (`2024-03-05T10:15[:00]`) or
    /// an RFC 3339 timestamp (read in UTC); `None` for anything else.
    pub(crate) fn parse(s: &str) -> Option<Moment> {
        let parts = Parts::parse(s).ok()?;
        if parts.offset.is_none() {
            let micros = parts.time.unwrap_or(0);
            return Some(Moment {
                date: parts.date,
                // Less than a day of seconds.
                seconds: (micros / MICROS_PER_SECOND) as u32,
                instant: None,
            });
        }
        let t = parts.timestamp().ok()?;
        Some(Moment {
            date: t.date(),
            seconds: (t.micros_of_day() / MICROS_PER_SECOND) as u32,
            instant: Some(t),
        })
    }

    /// Appends `self` formatted with strftime directives to `out`: `%` then an optional flag
    /// (`-` no padding, `_` spaces, `0` zeros, `^` uppercase, `#` swapped case), an optional
    /// minimum width (below 256, padding capped at 20) and the directive. Errors say what is
    /// wrong with the format.
    pub(crate) fn format(&self, format: &str, out: &mut String) -> Result<(), String> {
        let b = format.as_bytes();
        let mut i = 0;
        while let Some(pos) = b[i..].iter().position(|&c| c == b'%') {
            out.push_str(&format[i..i + pos]);
            i += pos + 1;
            let mut flag = None;
            let mut width = None;
            let mut colons = 0;
            if b.get(i).is_some_and(|c| !c.is_ascii_alphabetic()) {
                if let Some(&c @ (b'_' | b'0' | b'-' | b'^' | b'#')) = b.get(i) {
                    flag = Some(c);
                    i += 1;
                }
                let start = i;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                if i > start {
                    let n = format[start..i].parse::<u8>().map_err(|_| {
                        format!("the width `{}` is not below 256", &format[start..i])
                    })?;
                    width = Some(n);
                }
                while colons < 3 && b.get(i) == Some(&b':') {
                    colons += 1;
                    i += 1;
                }
            }
            let Some(&directive) = b.get(i) else {
                return Err(
                    "the format ends inside a directive; write `%%` for a percent sign".to_owned(),
                );
            };
            self.directive(directive, flag, width, colons, out)
                .map_err(|what| match what {
                    Unusable::Unknown => {
                        // `i` is at a character boundary: everything before it is ASCII or
                        // copied literal text.
                        let ch = format[i..].chars().next().unwrap_or('%');
                        format!("`%{ch}` is not a supported directive (supported: {SUPPORTED})")
                    }
                    Unusable::NeedsInstant => format!(
                        "`%{}` needs a timestamp with an offset, not a date or a local date-time",
                        char::from(directive)
                    ),
                })?;
            i += 1;
        }
        out.push_str(&format[i..]);
        Ok(())
    }

    fn directive(
        &self,
        directive: u8,
        flag: Option<u8>,
        width: Option<u8>,
        colons: u8,
        out: &mut String,
    ) -> Result<(), Unusable> {
        let date = self.date;
        let year = i64::from(date.year());
        let hour = i64::from(self.seconds / 3600);
        let minute = i64::from(self.seconds / 60 % 60);
        let second = i64::from(self.seconds % 60);
        let hour12 = match hour {
            0 => 12,
            13.. => hour - 12,
            _ => hour,
        };
        // Sunday is 0 here, as `%w` counts.
        let sunday0 = i64::from(date.iso_weekday() % 7);
        let day_of_year = i64::from(date.day_of_year());
        let int = |pad: u8, default_width: u8, n: i64, out: &mut String| {
            write_int(flag, width, pad, default_width, n, out);
            Ok(())
        };
        let name = |default: Case, s: &str, out: &mut String| {
            let case = match flag {
                Some(b'^') => Case::Upper,
                Some(b'#') => match default {
                    Case::Upper => Case::Lower,
                    Case::Lower => Case::Upper,
                    Case::AsIs => Case::AsIs,
                },
                _ => default,
            };
            match case {
                Case::AsIs => out.push_str(s),
                Case::Upper => out.extend(s.chars().map(|c| c.to_ascii_uppercase())),
                Case::Lower => out.extend(s.chars().map(|c| c.to_ascii_lowercase())),
            }
            Ok(())
        };
        let instant = self.instant.ok_or(Unusable::NeedsInstant);
        match directive {
            b'Y' => int(b'0', 4, year, out),
            b'y' => int(b'0', 2, year % 100, out),
            b'C' => int(b' ', 0, year / 100, out),
            b'G' => int(b'0', 4, i64::from(date.iso_week().0), out),
            b'g' => int(b'0', 2, i64::from(date.iso_week().0) % 100, out),
            b'm' => int(b'0', 2, i64::from(date.month()), out),
            b'q' => int(b'0', 0, i64::from(date.month() + 2) / 3, out),
            b'd' => int(b'0', 2, i64::from(date.day()), out),
            b'e' => int(b' ', 2, i64::from(date.day()), out),
            b'j' => int(b'0', 3, day_of_year, out),
            b'u' => int(b' ', 0, i64::from(date.iso_weekday()), out),
            b'w' => int(b' ', 0, sunday0, out),
            // Week 1 starts on the year's first Sunday (`%U`) or Monday (`%W`); days before it
            // are in week 0.
            b'U' => int(b'0', 2, (day_of_year + 6 - sunday0) / 7, out),
            b'W' => int(b'0', 2, (day_of_year + 6 - (sunday0 + 6) % 7) / 7, out),
            b'V' => int(b'0', 2, i64::from(date.iso_week().1), out),
            b'H' => int(b'0', 2, hour, out),
            b'k' => int(b' ', 2, hour, out),
            b'I' => int(b'0', 2, hour12, out),
            b'l' => int(b' ', 2, hour12, out),
            b'M' => int(b'0', 2, minute, out),
            b'S' => int(b'0', 2, second, out),
            // jiff's `%s` counts whole seconds towards zero.
            b's' => int(b' ', 0, instant?.as_unix_micros() / MICROS_PER_SECOND, out),
            b'B' => name(Case::AsIs, date.month_name(), out),
            b'b' | b'h' => name(Case::AsIs, &date.month_name()[..3], out),
            b'A' => name(Case::AsIs, date.weekday_name(), out),
            b'a' => name(Case::AsIs, &date.weekday_name()[..3], out),
            b'p' => {
                // `#` asks for the other case of the uppercase default.
                let am = hour < 12;
                let text = match (flag == Some(b'#'), am) {
                    (true, true) => "am",
                    (true, false) => "pm",
                    (false, true) => "AM",
                    (false, false) => "PM",
                };
                name(Case::AsIs, text, out)
            }
            b'P' => name(Case::AsIs, if hour < 12 { "am" } else { "pm" }, out),
            b'Z' => {
                instant?;
                name(Case::Upper, "UTC", out)
            }
            b'z' => {
                instant?;
                // Every instant is read in UTC, so the offset is always zero.
                out.push_str(match colons {
                    0 => "+0000",
                    1 => "+00:00",
                    2 => "+00:00:00",
                    _ => "+00",
                });
                Ok(())
            }
            b'n' => name(Case::AsIs, "\n", out),
            b't' => name(Case::AsIs, "\t", out),
            b'%' => name(Case::AsIs, "%", out),
            // The composite directives ignore flags and widths, as jiff's do.
            b'F' => {
                // Writing to a `String` cannot fail.
                let _ = date.write(out);
                Ok(())
            }
            b'D' => {
                for (n, sep) in [(i64::from(date.month()), "/"), (i64::from(date.day()), "/")] {
                    write_int(None, None, b'0', 2, n, out);
                    out.push_str(sep);
                }
                write_int(None, None, b'0', 2, year % 100, out);
                Ok(())
            }
            b'T' | b'R' => {
                write_int(None, None, b'0', 2, hour, out);
                out.push(':');
                write_int(None, None, b'0', 2, minute, out);
                if directive == b'T' {
                    out.push(':');
                    write_int(None, None, b'0', 2, second, out);
                }
                Ok(())
            }
            _ => Err(Unusable::Unknown),
        }
    }
}

/// Why a directive produced nothing.
enum Unusable {
    Unknown,
    NeedsInstant,
}

/// Writes `n` padded like jiff: the flag picks the pad byte (`0`, `_`) or turns padding off (`-`);
/// the width (default `default_width`) counts the sign, and padding stops at 20 characters.
fn write_int(
    flag: Option<u8>,
    width: Option<u8>,
    pad: u8,
    default_width: u8,
    n: i64,
    out: &mut String,
) {
    const MAX_PAD: u8 = 20;
    let pad = match flag {
        Some(b'0') => b'0',
        Some(b'_') => b' ',
        _ => pad,
    };
    let width = if flag == Some(b'-') {
        0
    } else {
        width.unwrap_or(default_width)
    };
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut rest = n.unsigned_abs();
    loop {
        // `rest % 10` is one digit; a u64 has at most 20.
        digits[19 - len] = b'0' + (rest % 10) as u8;
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut padded = width.min(MAX_PAD);
    if n < 0 {
        // The sign takes one column of the width: spaces go before it, zeros after it.
        let width = width.saturating_sub(1);
        if pad == b' ' {
            let spaces = usize::from(width).saturating_sub(len);
            out.extend(std::iter::repeat_n(' ', spaces));
            padded = 0;
        } else {
            padded = width.min(MAX_PAD);
        }
        out.push('-');
    }
    let fill = usize::from(padded).saturating_sub(len);
    out.extend(std::iter::repeat_n(char::from(pad), fill));
    out.push_str(super::date::ascii(&digits[20 - len..]));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(input: &str, format: &str) -> Result<String, String> {
        let m = Moment::parse(input).ok_or_else(|| "unparsed".to_owned())?;
        let mut out = String::new();
        m.format(format, &mut out).map(|()| out)
    }

    #[test]
    fn parse_reads_dates_local_times_and_instants() {
        let m = Moment::parse("2024-03-05T23:30:00-05:00").unwrap();
        assert_eq!(m.date.to_string(), "2024-03-06");
        assert_eq!(m.seconds, 4 * 3600 + 30 * 60);
        assert!(m.instant.is_some());
        let m = Moment::parse("2024-03-05T10:15").unwrap();
        assert_eq!((m.seconds, m.instant), (10 * 3600 + 15 * 60, None));
        assert_eq!(Moment::parse("2024-03-05").map(|m| m.seconds), Some(0));
        assert_eq!(Moment::parse("2024-03-05T10"), None);
        assert_eq!(Moment::parse("0000-01-01T00:00:00+01:00"), None);
    }

    #[test]
    fn integers_pad_like_jiff() {
        let mut out = String::new();
        write_int(None, Some(30), b'0', 0, 7, &mut out);
        assert_eq!(out, format!("{}7", "0".repeat(19)), "padding stops at 20");
        out.clear();
        write_int(None, Some(30), b' ', 0, -1, &mut out);
        assert_eq!(
            out,
            format!("{}-1", " ".repeat(28)),
            "space padding before the sign"
        );
        out.clear();
        write_int(None, Some(30), b'0', 0, -1, &mut out);
        assert_eq!(out, format!("-{}1", "0".repeat(19)));
        out.clear();
        write_int(Some(b'-'), Some(9), b'0', 2, i64::MIN, &mut out);
        assert_eq!(out, i64::MIN.to_string());
    }

    #[test]
    fn extremes_of_the_range() {
        assert_eq!(
            fmt("0000-01-01", "%Y %y %C %G %g %V %U %W %j %A").unwrap(),
            "0000 00 0 -001 -1 52 00 00 001 Saturday"
        );
        assert_eq!(
            fmt("9999-12-31T23:59:59Z", "%F %T %G %V %s").unwrap(),
            "9999-12-31 23:59:59 9999 52 253402300799"
        );
        assert_eq!(fmt("0000-01-01T00:00:00Z", "%s").unwrap(), "-62167219200");
    }

    #[test]
    fn errors_name_the_directive() {
        let err = fmt("2024-03-05", "%K").unwrap_err();
        assert!(
            err.starts_with("`%K` is not a supported directive (supported: %Y"),
            "{err}"
        );
        assert!(
            fmt("2024-03-05", "%é")
                .unwrap_err()
                .starts_with("`%é` is not")
        );
        assert!(fmt("2024-03-05", "%f").unwrap_err().contains("`%f`"));
        assert!(fmt("2024-03-05", "%c").unwrap_err().contains("`%c`"));
        assert!(fmt("2024-03-05", "%Q").unwrap_err().contains("`%Q`"));
        assert!(
            fmt("2024-03-05", "%z")
                .unwrap_err()
                .contains("`%z` needs a timestamp")
        );
        assert!(fmt("2024-03-05", "%300d").unwrap_err().contains("256"));
        assert!(fmt("2024-03-05", "%").unwrap_err().contains("%%"));
        assert!(fmt("2024-03-05", "%_").unwrap_err().contains("%%"));
        assert_eq!(fmt("2024-03-05", "").unwrap(), "");
        assert_eq!(
            fmt("2024-03-05", "no directives ✓").unwrap(),
            "no directives ✓"
        );
    }
}
