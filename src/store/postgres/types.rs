//! Binary conversions between the crate's types and PostgreSQL's: `timestamptz`, `date`,
//! `numeric` (exact decimals), and the filter's SQL parameters with their real types.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use crate::batch::Amount;
use crate::filter::SqlParam;
use crate::filter::{Scalar, number_text};
use crate::time::{Date, Timestamp};

type BoxError = Box<dyn StdError + Sync + Send>;

/// Seconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_SECONDS: i64 = 946_684_800;
/// Days from the Unix epoch to PostgreSQL's.
const PG_EPOCH_DAYS: i32 = 10_957;

impl ToSql for Timestamp {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.as_unix_micros() - PG_EPOCH_SECONDS * 1_000_000);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Timestamp {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let bytes: [u8; 8] = raw.try_into().map_err(|_| "a timestamptz is 8 bytes")?;
        let micros = i64::from_be_bytes(bytes);
        micros
            .checked_add(PG_EPOCH_SECONDS * 1_000_000)
            .and_then(Timestamp::from_unix_micros)
            .ok_or_else(|| "the timestamp is outside years 0000 to 9999 (or infinite)".into())
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ
    }
}

impl ToSql for Date {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i32(self.unix_days() - PG_EPOCH_DAYS);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::DATE
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Date {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let bytes: [u8; 4] = raw.try_into().map_err(|_| "a date is 4 bytes")?;
        i32::from_be_bytes(bytes)
            .checked_add(PG_EPOCH_DAYS)
            .and_then(Date::from_unix_days)
            .ok_or_else(|| "the date is outside years 0000 to 9999 (or infinite)".into())
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::DATE
    }
}

/// A `numeric` as its exact decimal text (`-12.50`, `0`, `1000000`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decimal(pub(crate) String);

impl ToSql for Decimal {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        encode_numeric(&self.0, out)?;
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Decimal {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        decode_numeric(raw).map(Decimal)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

impl ToSql for Amount {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        Decimal(self.to_string()).to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Amount {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let text = Decimal::from_sql(ty, raw)?.0;
        text.parse::<Amount>()
            .map_err(|e| format!("the numeric {text} is not an amount: {e}").into())
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// Each parameter is bound with the type its cast in the SQL gives it, so no statement has to be
/// prepared with text types.
impl ToSql for SqlParam {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match (&self.value, ty) {
            (Scalar::Str(s), _) => s.as_str().to_sql(ty, out),
            (Scalar::Num(f, _), t) if *t == Type::INT8 => {
                if f.fract() != 0.0 || f.abs() > 9.2e18 {
                    return Err(format!("{f} is not a bigint").into());
                }
                (*f as i64).to_sql(ty, out)
            }
            (Scalar::Num(f, _), _) => Decimal(number_text(*f)).to_sql(ty, out),
            (Scalar::Date(d), _) => d.to_sql(ty, out),
            (Scalar::Ts(t), _) => t.to_sql(ty, out),
            (Scalar::Bool(b), _) => b.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        [
            Type::TEXT,
            Type::NUMERIC,
            Type::INT8,
            Type::DATE,
            Type::TIMESTAMPTZ,
            Type::BOOL,
        ]
        .contains(ty)
    }

    fn to_sql_checked(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let expected = match (&self.value, self.ty) {
            (Scalar::Str(_), _) => Type::TEXT,
            (Scalar::Num(..), "bigint") => Type::INT8,
            (Scalar::Num(..), _) => Type::NUMERIC,
            (Scalar::Date(_), _) => Type::DATE,
            (Scalar::Ts(_), _) => Type::TIMESTAMPTZ,
            (Scalar::Bool(_), _) => Type::BOOL,
        };
        if *ty != expected {
            return Err(format!(
                "the parameter {} is a {expected}, but the statement expects a {ty}",
                self.text()
            )
            .into());
        }
        self.to_sql(ty, out)
    }
}

/// Writes a decimal (`-12.345`, `1e3`) in `numeric`'s binary form: base-10000 digits with a
/// weight, a sign and the display scale.
pub(crate) fn encode_numeric(text: &str, out: &mut BytesMut) -> Result<(), BoxError> {
    let bad = || -> BoxError { format!("{text:?} is not a decimal number").into() };
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        || exponent.unsigned_abs() > 100_000
    {
        return Err(bad());
    }
    // All digits, and the position of the decimal point in them, after the exponent.
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    let mut point = i64::from(exponent) + int.len() as i64;
    let scale = (frac.len() as i64 - i64::from(exponent)).max(0);
    if point < 0 {
        let pad = usize::try_from(-point).map_err(|_| bad())?;
        digits.splice(0..0, std::iter::repeat_n(0, pad));
        point = 0;
    }
    let point = usize::try_from(point).map_err(|_| bad())?;
    if digits.len() < point {
        digits.resize(point, 0);
    }
    // Align to groups of four around the point.
    let lead = (4 - point % 4) % 4;
    digits.splice(0..0, std::iter::repeat_n(0, lead));
    let point = point + lead;
    let tail = (4 - (digits.len() - point) % 4) % 4;
    digits.resize(digits.len() + tail, 0);
    let groups: Vec<i16> = digits
        .chunks(4)
        .map(|c| c.iter().fold(0i16, |acc, &d| acc * 10 + i16::from(d)))
        .collect();
    let mut weight = (point / 4) as i64 - 1;
    let first = groups.iter().position(|&g| g != 0);
    let last = groups.iter().rposition(|&g| g != 0);
    let (groups, sign) = match (first, last) {
        (Some(first), Some(last)) => {
            weight -= first as i64;
            (&groups[first..=last], if negative { 0x4000u16 } else { 0 })
        }
        _ => {
            weight = 0;
            (&groups[..0], 0)
        }
    };
    let weight = i16::try_from(weight).map_err(|_| bad())?;
    let ndigits = i16::try_from(groups.len()).map_err(|_| bad())?;
    let scale = u16::try_from(scale).map_err(|_| bad())?;
    out.put_i16(ndigits);
    out.put_i16(weight);
    out.put_u16(sign);
    out.put_u16(scale);
    for g in groups {
        out.put_i16(*g);
    }
    Ok(())
}

/// Reads `numeric`'s binary form as decimal text with its display scale (`12.50`).
pub(crate) fn decode_numeric(raw: &[u8]) -> Result<String, BoxError> {
    let word = |i: usize| -> Result<i32, BoxError> {
        raw.get(i..i + 2)
            .map(|b| i32::from(i16::from_be_bytes([b[0], b[1]])))
            .ok_or_else(|| "a truncated numeric".into())
    };
    let ndigits = usize::try_from(word(0)?).map_err(|_| "a negative digit count")?;
    let weight = word(2)?;
    let sign = (word(4)? as u16) & 0xF000;
    let scale = usize::from(word(6)? as u16);
    if sign == 0xC000 {
        return Err("NaN is not a number this crate stores".into());
    }
    if sign == 0xD000 || sign == 0xF000 {
        return Err("an infinite numeric is not a number this crate stores".into());
    }
    let digits = (0..ndigits)
        .map(|i| word(8 + 2 * i))
        .collect::<Result<Vec<i32>, BoxError>>()?;
    let digit_at = |w: i32| -> i32 {
        // The group of weight `w` (10000^w).
        let i = weight - w;
        if i < 0 {
            0
        } else {
            usize::try_from(i)
                .ok()
                .and_then(|i| digits.get(i))
                .copied()
                .unwrap_or(0)
        }
    };
    let mut text = String::new();
    if sign == 0x4000 && !digits.iter().all(|&d| d == 0) {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for w in (0..=weight).rev() {
            if w == weight {
                text.push_str(&digit_at(w).to_string());
            } else {
                text.push_str(&format!("{:04}", digit_at(w)));
            }
        }
    }
    if scale > 0 {
        text.push('.');
        let mut frac = String::new();
        let mut w = -1;
        while frac.len() < scale {
            frac.push_str(&format!("{:04}", digit_at(w)));
            w -= 1;
        }
        frac.truncate(scale);
        text.push_str(&frac);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(text: &str) -> String {
        let mut buf = BytesMut::new();
        encode_numeric(text, &mut buf).unwrap();
        decode_numeric(&buf).unwrap()
    }

    #[test]
    fn numeric_round_trips() {
        for (input, output) in [
            ("0", "0"),
            ("0.00", "0.00"),
            ("12", "12"),
            ("-12.50", "-12.50"),
            ("10000", "10000"),
            ("123456789.000123456", "123456789.000123456"),
            ("0.0079", "0.0079"),
            ("0.00000001", "0.00000001"),
            ("1e3", "1000"),
            ("1.5e-3", "0.0015"),
            ("-0", "0"),
            ("99999999999999999999", "99999999999999999999"),
            (".5", "0.5"),
        ] {
            assert_eq!(round(input), output, "{input}");
        }
        let mut buf = BytesMut::new();
        assert!(encode_numeric("1.2.3", &mut buf).is_err());
        assert!(encode_numeric("", &mut buf).is_err());
        assert!(encode_numeric("1e999999", &mut buf).is_err());
    }

    #[test]
    fn numeric_encoding_matches_postgres() {
        // 1234.5 is digits [1234, 5000], weight 0, scale 1 (what PostgreSQL sends for it).
        let mut buf = BytesMut::new();
        encode_numeric("1234.5", &mut buf).unwrap();
        assert_eq!(
            buf.as_ref(),
            [0, 2, 0, 0, 0, 0, 0, 1, 0x04, 0xD2, 0x13, 0x88]
        );
        let mut buf = BytesMut::new();
        encode_numeric("0.0001", &mut buf).unwrap();
        assert_eq!(buf.as_ref(), [0, 1, 0xFF, 0xFF, 0, 0, 0, 4, 0, 1]);
    }
}
