//! Prices per segment and exact money arithmetic.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::segment::Encoding;

/// Billionths of a unit per unit.
const NANOS: u128 = 1_000_000_000;

/// An exact, non-negative amount of money (or credits), counted in billionths of the unit.
///
/// Prices are read from their decimal text (`0.0079` is exactly 7,900,000 billionths), and costs
/// are sums of `segments × price` in integers, so a million recipients add up to the same total
/// in any order, with no floating-point drift. Arithmetic is checked: a product or a sum past
/// [`Amount::MAX`] (about 3.4 × 10^29 units) is `None`, and the preview reports it as
/// [`ErrorKind::AmountOverflow`], never as a rounded or saturated number.
///
/// In JSON an amount is a decimal string (`"0.0079"`, `"3"`), so that no reader on the way (a
/// JavaScript `number`, a `double` column) can round it; it reads back from that string, or from
/// a JSON integer. [`Display`] and [`FromStr`] are the same exact decimal.
///
/// ```
/// use smsbatch::Amount;
///
/// let price: Amount = "0.0079".parse()?;
/// assert_eq!(price.nanos(), 7_900_000);
/// let cost = price.checked_mul(3).unwrap();
/// assert_eq!(cost.to_string(), "0.0237");
/// assert_eq!(serde_json::to_string(&cost)?, r#""0.0237""#);
/// assert_eq!(serde_json::from_str::<Amount>(r#""0.0237""#)?, cost);
/// assert_eq!(Amount::MAX.checked_add(Amount::ONE), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`Display`]: fmt::Display
/// [`FromStr`]: std::str::FromStr
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount {
    nanos: u128,
}

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount { nanos: 0 };

    /// One unit (the price of a segment counted in credits).
    pub const ONE: Amount = Amount { nanos: NANOS };

    /// The largest amount: `u128::MAX` billionths, about 3.4 × 10^29 units.
    pub const MAX: Amount = Amount { nanos: u128::MAX };

    /// The amount of `nanos` billionths of a unit.
    pub const fn from_nanos(nanos: u128) -> Self {
        Self { nanos }
    }

    /// The amount in billionths of a unit.
    pub const fn nanos(self) -> u128 {
        self.nanos
    }

    /// `self × n`, or `None` past [`Amount::MAX`].
    pub const fn checked_mul(self, n: u64) -> Option<Self> {
        match self.nanos.checked_mul(n as u128) {
            Some(nanos) => Some(Self { nanos }),
            None => None,
        }
    }

    /// `self + other`, or `None` past [`Amount::MAX`].
    pub const fn checked_add(self, other: Amount) -> Option<Self> {
        match self.nanos.checked_add(other.nanos) {
            Some(nanos) => Some(Self { nanos }),
            None => None,
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.nanos / NANOS;
        let frac = self.nanos % NANOS;
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let digits = format!("{frac:09}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl std::str::FromStr for Amount {
    type Err = Error;

    /// Parses a non-negative decimal (`12`, `0.0079`, `7.9e-3`) with at most nine decimal
    /// places once the exponent is applied; errors with [`ErrorKind::InvalidPrice`].
    fn from_str(s: &str) -> Result<Self> {
        parse_decimal(s.trim()).map_err(|why| {
            Error::new(ErrorKind::InvalidPrice {
                message: format!("{} {why}", crate::json::quote(s)),
            })
        })
    }
}

fn parse_decimal(s: &str) -> std::result::Result<Amount, String> {
    let bad = || "is not a non-negative decimal number".to_owned();
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (s, 0),
    };
    let mantissa = mantissa.strip_prefix('+').unwrap_or(mantissa);
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    // digits × 10^(exponent − frac.len()) in billionths: shift by 9 more.
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    let shift = i64::from(exponent) - frac.len() as i64 + 9;
    if digits.is_empty() {
        return Ok(Amount::ZERO);
    }
    let too_large = || format!("is larger than the largest amount ({})", Amount::MAX);
    if shift < 0 {
        let cut = usize::try_from(-shift).map_err(|_| bad())?;
        let (keep, dropped) = digits.split_at(digits.len().saturating_sub(cut));
        // `digits` has no leading zero, so fewer digits than `cut` means a non-zero below 10^-9.
        if digits.len() < cut || dropped.bytes().any(|b| b != b'0') {
            return Err("has more than 9 decimal places".to_owned());
        }
        let keep = if keep.is_empty() { "0" } else { keep };
        return keep
            .parse::<u128>()
            .map(Amount::from_nanos)
            .map_err(|_| too_large());
    }
    let zeros = usize::try_from(shift).map_err(|_| too_large())?;
    if digits.len() + zeros > 39 {
        return Err(too_large());
    }
    format!("{digits}{}", "0".repeat(zeros))
        .parse::<u128>()
        .map(Amount::from_nanos)
        .map_err(|_| too_large())
}

impl Serialize for Amount {
    /// The exact decimal as a string: `"0.0079"`, `"3"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    /// Reads a decimal string (`"0.0079"`) or a non-negative integer. A number with a fraction
    /// is refused: by the time a reader hands it over it may be a double that lost digits (a
    /// price table is the exception; see [`PriceTable`]).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount as a decimal string such as \"0.0079\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Amount, E> {
                Ok(Amount::from_nanos(u128::from(v) * NANOS))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Amount, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("amount {v} is negative")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Amount, E> {
                Err(E::custom(format!(
                    "amount {v} is a JSON number with a fraction, which may have lost digits on \
                     the way; write it as a decimal string such as \"0.0079\""
                )))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Amount, E> {
                parse_decimal(v.trim())
                    .map_err(|why| E::custom(format!("amount {} {why}", crate::json::quote(v))))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Reads a price from its JSON text: a decimal string, or a number whose text is exact.
///
/// A JSON number is read from its own digits (serde_json's `raw_value`), never through `f64`.
/// serde_json's `arbitrary_precision` would keep the digits too, but it changes `Number` and
/// `Value` for every crate in a build that uses serde_json; `RawValue` is an addition only.
/// Integers are exact at any size the text has. A number with a fraction or an exponent must
/// have at most 15 significant digits: every such decimal survives a trip through a double (a
/// JavaScript `number`, a [`serde_json::Value`] parsed without `arbitrary_precision`), so a
/// table gives the same prices read from text, from a `Value` or from JavaScript; longer ones are
/// refused rather than rounded.
fn price<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Amount, D::Error> {
    let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
    price_from_json(raw.get()).map_err(serde::de::Error::custom)
}

fn price_from_json(text: &str) -> std::result::Result<Amount, String> {
    let text = text.trim();
    match text.bytes().next() {
        Some(b'"') => {
            let s: String = serde_json::from_str(text).map_err(|e| e.to_string())?;
            parse_decimal(s.trim()).map_err(|why| format!("price {} {why}", crate::json::quote(&s)))
        }
        Some(b'-') => Err(format!("price {} is negative", crate::json::clip(text))),
        Some(b'0'..=b'9') => {
            let (mantissa, exact_integer) = match text.find(['.', 'e', 'E']) {
                None => (text, true),
                Some(_) => (text.split(['e', 'E']).next().unwrap_or(text), false),
            };
            if !exact_integer {
                let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
                let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
                if significant > 15 {
                    return Err(format!(
                        "price {} has {significant} significant digits, more than a JSON \
                         number carries exactly (15); write it as a decimal string",
                        crate::json::clip(text)
                    ));
                }
            }
            parse_decimal(text).map_err(|why| format!("price {} {why}", crate::json::clip(text)))
        }
        _ => Err(format!(
            "a price is a decimal string or a number, not {}",
            crate::json::clip(text)
        )),
    }
}

/// The price of one segment in each encoding.
///
/// JSON: `{"GSM-7": "0.0079", "UCS-2": "0.0079"}`; each price is read as [`PriceTable`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncodingPrices {
    /// Price of a GSM-7 segment.
    #[serde(rename = "GSM-7", deserialize_with = "price")]
    pub gsm7: Amount,
    /// Price of a UCS-2 segment.
    #[serde(rename = "UCS-2", deserialize_with = "price")]
    pub ucs2: Amount,
}

impl EncodingPrices {
    /// The same price for both encodings.
    pub const fn flat(price: Amount) -> Self {
        Self {
            gsm7: price,
            ucs2: price,
        }
    }

    /// The price of a segment in `encoding`.
    pub const fn get(&self, encoding: Encoding) -> Amount {
        match encoding {
            Encoding::Gsm7 => self.gsm7,
            Encoding::Ucs2 => self.ucs2,
        }
    }
}

/// Prices per segment, per encoding, optionally per country calling code.
///
/// JSON (camelCase): `{"currency": "USD", "default": {"GSM-7": "0.0079", "UCS-2": "0.0079"},
/// "byCountry": {"44": {"GSM-7": "0.04", "UCS-2": "0.04"}}}`. A recipient's calling code is the
/// `byCountry` key that prefixes their E.164 number (calling codes are prefix-free, so at most
/// one real code matches; the longest key wins); others pay the default.
/// [`PriceTable::credits`] (the default) prices every segment at 1 credit.
///
/// A table serialises its prices as decimal strings, like every [`Amount`]. When reading one, a
/// price may also be a JSON number, taken from its own digits rather than through `f64`: any
/// integer, or a number with a fraction or an exponent of at most 15 significant digits (the
/// most a JavaScript `number` carries exactly, so a table reads the same from text, from a
/// [`serde_json::Value`] and from the browser). A longer one is an error, never rounded. Prices
/// are read through serde_json, so a table deserialises from JSON (text or `Value`) only.
///
/// ```
/// use smsbatch::{Encoding, PriceTable};
///
/// let table = PriceTable::from_json(r#"{"currency": "USD",
///     "default": {"GSM-7": 0.0079, "UCS-2": 0.0079},
///     "byCountry": {"44": {"GSM-7": 0.04, "UCS-2": 0.05}}}"#)?;
/// assert_eq!(table.price("+447700900123", Encoding::Ucs2).to_string(), "0.05");
/// assert_eq!(table.price("+12125550123", Encoding::Gsm7).to_string(), "0.0079");
/// # Ok::<(), smsbatch::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    try_from = "RawPriceTable"
)]
pub struct PriceTable {
    currency: String,
    default: EncodingPrices,
    by_country: BTreeMap<String, EncodingPrices>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPriceTable {
    currency: String,
    default: EncodingPrices,
    #[serde(default)]
    by_country: BTreeMap<String, EncodingPrices>,
}

impl TryFrom<RawPriceTable> for PriceTable {
    type Error = String;

    fn try_from(raw: RawPriceTable) -> std::result::Result<Self, String> {
        let mut table = PriceTable::new(raw.currency, raw.default);
        for (code, prices) in raw.by_country {
            table = table
                .country(&code, prices)
                .map_err(|e| match e.into_kind() {
                    ErrorKind::InvalidPrice { message } => message,
                    other => other.to_string(),
                })?;
        }
        Ok(table)
    }
}

impl Default for PriceTable {
    fn default() -> Self {
        Self::credits()
    }
}

impl PriceTable {
    /// One credit per segment, whatever the encoding or country (currency `"credits"`).
    pub fn credits() -> Self {
        Self::new("credits", EncodingPrices::flat(Amount::ONE))
    }

    /// A table with `default` prices in `currency` and no country prices.
    pub fn new(currency: impl Into<String>, default: EncodingPrices) -> Self {
        Self {
            currency: currency.into(),
            default,
            by_country: BTreeMap::new(),
        }
    }

    /// Adds prices for a country calling code (`"44"`, `"1"`): 1 to 3 digits, not starting
    /// with 0. Errors with [`ErrorKind::InvalidPrice`].
    pub fn country(mut self, calling_code: &str, prices: EncodingPrices) -> Result<Self> {
        let valid = (1..=3).contains(&calling_code.len())
            && calling_code.bytes().all(|b| b.is_ascii_digit())
            && !calling_code.starts_with('0');
        if !valid {
            return Err(Error::new(ErrorKind::InvalidPrice {
                message: format!(
                    "byCountry key {} is not a country calling code (1 to 3 digits, not \
                     starting with 0, such as \"44\")",
                    crate::json::quote(calling_code)
                ),
            }));
        }
        self.by_country.insert(calling_code.to_owned(), prices);
        Ok(self)
    }

    /// Reads a table from its JSON; errors with [`ErrorKind::InvalidPrice`].
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| {
            Error::new(ErrorKind::InvalidPrice {
                message: e.to_string(),
            })
        })
    }

    /// The currency prices are in (`"credits"` for [`PriceTable::credits`]).
    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// The price of one segment in `encoding` for the E.164 number `phone`.
    pub fn price(&self, phone: &str, encoding: Encoding) -> Amount {
        self.prices_for(phone).get(encoding)
    }

    fn prices_for(&self, phone: &str) -> &EncodingPrices {
        if self.by_country.is_empty() {
            return &self.default;
        }
        let digits = phone.strip_prefix('+').unwrap_or(phone);
        (1..=3)
            .rev()
            .filter_map(|n| digits.get(..n))
            .find_map(|code| self.by_country.get(code))
            .unwrap_or(&self.default)
    }
}

/// A price table indexed by numeric calling code, for the per-recipient hot path (no string
/// map lookups). Keys never start with 0, so a code's numeric value identifies it.
#[derive(Clone, Debug)]
pub(crate) struct PriceIndex {
    default: EncodingPrices,
    /// Indexed by calling code (below 1000); empty when the table has no country prices.
    by_code: Vec<Option<EncodingPrices>>,
}

impl PriceIndex {
    pub(crate) fn new(table: &PriceTable) -> Self {
        let mut by_code = Vec::new();
        if !table.by_country.is_empty() {
            by_code = vec![None; 1000];
            for (code, prices) in &table.by_country {
                if let Ok(i) = code.parse::<usize>()
                    && let Some(slot) = by_code.get_mut(i)
                {
                    *slot = Some(*prices);
                }
            }
        }
        Self {
            default: table.default,
            by_code,
        }
    }

    /// The price of one segment in `encoding` for the E.164 number `phone`, as
    /// [`PriceTable::price`] gives it.
    pub(crate) fn price(&self, phone: &str, encoding: Encoding) -> Amount {
        if self.by_code.is_empty() {
            return self.default.get(encoding);
        }
        let digits = phone.strip_prefix('+').unwrap_or(phone).as_bytes();
        let mut best = None;
        let mut code = 0usize;
        for &d in digits.iter().take(3) {
            if !d.is_ascii_digit() {
                break;
            }
            code = code * 10 + usize::from(d - b'0');
            if let Some(Some(prices)) = self.by_code.get(code) {
                best = Some(prices);
            }
        }
        best.unwrap_or(&self.default).get(encoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_agrees_with_the_table() {
        let t = PriceTable::new("EUR", EncodingPrices::flat(amount("0.05")))
            .country("44", EncodingPrices::flat(amount("0.04")))
            .unwrap()
            .country("1", EncodingPrices::flat(amount("0.0079")))
            .unwrap()
            .country("1242", EncodingPrices::flat(Amount::ONE))
            .err()
            .map(|_| ());
        assert!(t.is_some(), "4-digit keys are refused");
        let t = PriceTable::new("EUR", EncodingPrices::flat(amount("0.05")))
            .country("44", EncodingPrices::flat(amount("0.04")))
            .unwrap()
            .country("1", EncodingPrices::flat(amount("0.0079")))
            .unwrap()
            .country("124", EncodingPrices::flat(amount("0.2")))
            .unwrap();
        let index = PriceIndex::new(&t);
        for phone in [
            "+447400123456",
            "+12125550123",
            "+12425550123",
            "+33612345678",
            "+4",
            "",
        ] {
            for e in [Encoding::Gsm7, Encoding::Ucs2] {
                assert_eq!(index.price(phone, e), t.price(phone, e), "{phone}");
            }
        }
        let credits = PriceIndex::new(&PriceTable::credits());
        assert_eq!(credits.price("+447400123456", Encoding::Ucs2), Amount::ONE);
    }

    fn amount(s: &str) -> Amount {
        s.parse().unwrap()
    }

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(amount("0.0079").nanos(), 7_900_000);
        assert_eq!(amount("12").nanos(), 12 * NANOS);
        assert_eq!(amount("0.000000001").nanos(), 1);
        assert_eq!(amount("7.9e-3").nanos(), 7_900_000);
        assert_eq!(amount("1e2").nanos(), 100 * NANOS);
        assert_eq!(amount("0.10000000000").nanos(), 100_000_000);
        assert_eq!(amount(".5").nanos(), 500_000_000);
        assert_eq!(amount("0").nanos(), 0);
        for bad in ["-1", "abc", "", "1.2.3", "0.0000000001", "1e-10", "1e40"] {
            assert!(bad.parse::<Amount>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn display_is_exact() {
        let times = |s: &str, n| amount(s).checked_mul(n).unwrap().to_string();
        assert_eq!(times("0.0079", 1_000_000), "7900");
        assert_eq!(times("0.0079", 3), "0.0237");
        assert_eq!(Amount::ZERO.to_string(), "0");
        assert_eq!(
            Amount::MAX.to_string(),
            "340282366920938463463374607431.768211455"
        );
        assert_eq!(amount(&Amount::MAX.to_string()), Amount::MAX);
        assert!(
            "340282366920938463463374607431.768211456"
                .parse::<Amount>()
                .is_err()
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Amount::MAX.checked_add(Amount::from_nanos(1)), None);
        assert_eq!(Amount::MAX.checked_mul(2), None);
        assert_eq!(Amount::MAX.checked_mul(1), Some(Amount::MAX));
        assert_eq!(Amount::ONE.checked_mul(0), Some(Amount::ZERO));
        let max_price = amount("18446744073709551615");
        assert_eq!(
            max_price.checked_mul(10).unwrap().to_string(),
            "184467440737095516150"
        );
    }

    #[test]
    fn a_million_small_prices_add_up_exactly() {
        // 0.1 + 0.2 ≠ 0.3 in floating point; here it does, a million times over.
        let mut total = Amount::ZERO;
        for i in 0..1_000_000u64 {
            total = total
                .checked_add(amount(if i % 2 == 0 { "0.1" } else { "0.2" }))
                .unwrap();
        }
        assert_eq!(total.to_string(), "150000");
    }

    #[test]
    fn amounts_are_decimal_strings_in_json() {
        assert_eq!(
            serde_json::to_string(&amount("0.0237")).unwrap(),
            r#""0.0237""#
        );
        assert_eq!(serde_json::to_string(&amount("3")).unwrap(), r#""3""#);
        let read = |json: &str| serde_json::from_str::<Amount>(json);
        assert_eq!(read(r#""0.0237""#).unwrap(), amount("0.0237"));
        assert_eq!(read("3").unwrap(), amount("3"));
        assert_eq!(
            read("18446744073709551615").unwrap(),
            amount("18446744073709551615")
        );
        let err = read("0.5").unwrap_err().to_string();
        assert!(err.contains("decimal string"), "{err}");
        assert!(read("-1").is_err());
        assert!(read(r#""-1""#).is_err());
        assert!(read("null").is_err());
    }

    #[test]
    fn prices_read_json_numbers_from_their_digits() {
        let read = |json: &str| serde_json::from_str::<EncodingPrices>(json);
        let p = read(r#"{"GSM-7": 0.0079, "UCS-2": "0.01"}"#).unwrap();
        assert_eq!(p.gsm7.nanos(), 7_900_000);
        assert_eq!(p.ucs2.nanos(), 10_000_000);
        // Integers are exact at any size; the same through a `Value`.
        let big = r#"{"GSM-7": 18446744073709551615, "UCS-2": 100000000000000000000}"#;
        let p = read(big).unwrap();
        assert_eq!(p.gsm7.to_string(), "18446744073709551615");
        assert_eq!(p.ucs2.to_string(), "100000000000000000000");
        let value: serde_json::Value = serde_json::from_str(big).unwrap();
        assert_eq!(EncodingPrices::deserialize(&value).unwrap(), p);
        // 15 significant digits survive a double; 17 may not, and are refused, not rounded.
        let p = read(r#"{"GSM-7": 0.123456789, "UCS-2": 1.50000000000000000000}"#).unwrap();
        assert_eq!(p.gsm7.to_string(), "0.123456789");
        assert_eq!(p.ucs2.to_string(), "1.5");
        let err = read(r#"{"GSM-7": 0.30000000000000001, "UCS-2": 1}"#).unwrap_err();
        assert!(err.to_string().contains("significant digits"), "{err}");
        // From a `Value`, a number is the double's shortest decimal: the same prices.
        let value = serde_json::json!({"GSM-7": 0.0079, "UCS-2": 0.04});
        let p = EncodingPrices::deserialize(&value).unwrap();
        assert_eq!(
            (p.gsm7.to_string(), p.ucs2.to_string()),
            ("0.0079".into(), "0.04".into())
        );
        for bad in [
            r#"{"GSM-7": -1, "UCS-2": 1}"#,
            r#"{"GSM-7": 1}"#,
            r#"{"GSM-7": true, "UCS-2": 1}"#,
            r#"{"GSM-7": 0.0000000001, "UCS-2": 1}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
        // Serialised as strings, read back the same.
        let p = read(r#"{"GSM-7": 0.0079, "UCS-2": 0.04}"#).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"GSM-7":"0.0079","UCS-2":"0.04"}"#);
        assert_eq!(read(&json).unwrap(), p);
    }

    use proptest::prelude::*;

    proptest! {
        /// Any amounts, summed with checked arithmetic, give the exact integer sum (or `None`
        /// exactly when it passes the maximum), and every amount and sum reads back from its
        /// JSON and its text unchanged.
        #[test]
        fn sums_and_json_round_trip_exactly(
            nanos in proptest::collection::vec(
                prop_oneof![
                    0u128..1_000_000_000_000,
                    any::<u128>(),
                    (0u64..=u64::MAX).prop_map(|units| u128::from(units) * NANOS),
                ],
                0..20,
            )
        ) {
            let amounts: Vec<Amount> = nanos.iter().copied().map(Amount::from_nanos).collect();
            let mut total = Some(Amount::ZERO);
            let mut exact = Some(0u128);
            for (a, n) in amounts.iter().zip(&nanos) {
                total = total.and_then(|t| t.checked_add(*a));
                exact = exact.and_then(|e| e.checked_add(*n));
            }
            prop_assert_eq!(total.map(Amount::nanos), exact);
            for a in amounts.iter().chain(total.as_ref()) {
                let json = serde_json::to_string(a).unwrap();
                prop_assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), *a);
                prop_assert_eq!(a.to_string().parse::<Amount>().unwrap(), *a);
                let value = serde_json::to_value(a).unwrap();
                prop_assert_eq!(Amount::deserialize(&value).unwrap(), *a);
            }
        }
    }

    #[test]
    fn table_lookup_by_calling_code() {
        let t = PriceTable::new("EUR", EncodingPrices::flat(amount("0.05")))
            .country(
                "44",
                EncodingPrices {
                    gsm7: amount("0.04"),
                    ucs2: amount("0.06"),
                },
            )
            .unwrap()
            .country("1", EncodingPrices::flat(amount("0.0079")))
            .unwrap();
        assert_eq!(t.price("+447700900123", Encoding::Gsm7), amount("0.04"));
        assert_eq!(t.price("+447700900123", Encoding::Ucs2), amount("0.06"));
        assert_eq!(t.price("+12125550123", Encoding::Ucs2), amount("0.0079"));
        assert_eq!(t.price("+33612345678", Encoding::Gsm7), amount("0.05"));
        assert!(
            t.clone()
                .country("044", EncodingPrices::flat(Amount::ONE))
                .is_err()
        );
        assert!(
            t.country("4444", EncodingPrices::flat(Amount::ONE))
                .is_err()
        );
    }

    #[test]
    fn table_json() {
        let t = PriceTable::from_json(
            r#"{"currency": "USD", "default": {"GSM-7": 0.0079, "UCS-2": 0.0079},
                "byCountry": {"44": {"GSM-7": 0.04, "UCS-2": 0.04}}}"#,
        )
        .unwrap();
        assert_eq!(t.currency(), "USD");
        let round = PriceTable::from_json(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(round, t);
        let err = PriceTable::from_json(r#"{"currency": "USD", "default": {"GSM-7": 1, "UCS-2": 1}, "byCountry": {"+44": {"GSM-7": 1, "UCS-2": 1}}}"#).unwrap_err();
        assert_eq!(err.kind().code(), "invalidPrice");
        assert!(err.to_string().contains("\"+44\""), "{err}");
        let err = PriceTable::from_json(r#"{"currency": "USD"}"#).unwrap_err();
        assert!(err.to_string().contains("default"), "{err}");
        assert_eq!(
            PriceTable::credits().price("+1", Encoding::Ucs2),
            Amount::ONE
        );
    }
}
