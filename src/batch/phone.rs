//! Phone numbers: normalisation to E.164, with libphonenumber when the `phone` feature is on.

use crate::error::{Error, ErrorKind, Result};

/// A normalised phone number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Phone {
    /// `+` and the digits.
    pub(crate) e164: String,
    /// The digits as a number: unique per E.164 number (no E.164 number starts with 0), and a
    /// quarter of the memory of the string in the duplicate check's set.
    pub(crate) key: u64,
}

/// Normalises phone numbers to E.164 (`+447700900123`).
///
/// With the `phone` feature (on by default) numbers are parsed with libphonenumber's metadata
/// (the `phonenumber` crate), so national formats (`07700 900123`) are understood given a
/// default [`region`](Self::region), and a number is valid when libphonenumber's `is_valid` says
/// so; without a region only international numbers (`+44 7700 900123`, `0044...`) can be valid.
/// Without the feature (the WebAssembly build), or with [`e164_only`](Self::e164_only), only
/// numbers already written in E.164 are accepted: `+` and 8 to 15 digits, the first not 0.
///
/// ```
/// use smsbatch::PhoneNormalizer;
///
/// let e164 = PhoneNormalizer::new().e164_only(true);
/// assert_eq!(e164.normalize("+447700900123")?, "+447700900123");
/// assert!(e164.normalize("07700 900123").is_err());
/// # #[cfg(feature = "phone")] {
/// let gb = PhoneNormalizer::new().region("GB")?;
/// assert_eq!(gb.normalize("07400 123456")?, "+447400123456");
/// // Ofcom's drama range: well formed, but no real number.
/// assert!(gb.normalize("07700 900123").is_err());
/// # }
/// # Ok::<(), smsbatch::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct PhoneNormalizer {
    #[cfg(feature = "phone")]
    region: Option<phonenumber::country::Id>,
    e164_only: bool,
}

impl PhoneNormalizer {
    /// A normaliser without a default region.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the default region (ISO 3166-1 alpha-2, such as `GB` or `us`) for numbers written
    /// without a country calling code.
    ///
    /// Errors: [`ErrorKind::InvalidRegion`] for a code libphonenumber does not know, and
    /// [`ErrorKind::InvalidInput`] when the crate is built without the `phone` feature (which
    /// has no metadata to interpret national numbers with).
    pub fn region(self, region: &str) -> Result<Self> {
        #[cfg(feature = "phone")]
        {
            let id = region
                .trim()
                .to_ascii_uppercase()
                .parse::<phonenumber::country::Id>()
                .map_err(|_| {
                    Error::new(ErrorKind::InvalidRegion {
                        region: region.to_owned(),
                    })
                })?;
            Ok(Self {
                region: Some(id),
                ..self
            })
        }
        #[cfg(not(feature = "phone"))]
        {
            let _ = self;
            Err(Error::new(ErrorKind::InvalidInput {
                message: format!(
                    "a default region ({region:?}) needs the `phone` feature; without it phone \
                     numbers must already be in E.164"
                ),
            }))
        }
    }

    /// Accepts only numbers already in E.164 and skips libphonenumber's validation, even with
    /// the `phone` feature: for stores that normalise numbers when they are saved.
    pub fn e164_only(mut self, yes: bool) -> Self {
        self.e164_only = yes;
        self
    }

    /// The number in E.164, or [`ErrorKind::InvalidPhone`] saying why it is not valid.
    pub fn normalize(&self, phone: &str) -> Result<String> {
        self.parse(phone).map(|p| p.e164).map_err(|reason| {
            Error::new(ErrorKind::InvalidPhone {
                phone: phone.to_owned(),
                reason,
            })
        })
    }

    /// The normalised number, or why it is not valid.
    pub(crate) fn parse(&self, phone: &str) -> std::result::Result<Phone, String> {
        #[cfg(feature = "phone")]
        if !self.e164_only {
            return self.parse_libphonenumber(phone);
        }
        e164_syntax(phone)
    }

    #[cfg(feature = "phone")]
    fn parse_libphonenumber(&self, phone: &str) -> std::result::Result<Phone, String> {
        use phonenumber::ParseError;
        let number = phonenumber::parse(self.region, phone).map_err(|e| match e {
            ParseError::NoNumber => "not a phone number".to_owned(),
            ParseError::InvalidCountryCode if self.region.is_none() => {
                "not an international number (+ and a country calling code), and no default \
                 region was given"
                    .to_owned()
            }
            ParseError::InvalidCountryCode => "unknown country calling code".to_owned(),
            ParseError::TooShortAfterIdd | ParseError::TooShortNsn => "too short".to_owned(),
            ParseError::TooLong => "too long".to_owned(),
            other => other.to_string(),
        })?;
        if number.extension().is_some() {
            return Err("has an extension, which a text message cannot reach".to_owned());
        }
        // libphonenumber reads letters as keypad digits (`1-800-FLOWERS`), so a typo such as the
        // letter O for a zero would reach somebody else's number.
        // (A `tel:` URI's scheme and parameters are not the number.)
        let written = phone.trim();
        let written = match written.get(..4) {
            Some(scheme) if scheme.eq_ignore_ascii_case("tel:") => &written[4..],
            _ => written,
        };
        let written = written.split(';').next().unwrap_or_default();
        if let Some(c) = written.chars().find(|c| c.is_alphabetic()) {
            return Err(format!(
                "contains the letter {}: a phone number is written in digits",
                crate::json::quote(c.encode_utf8(&mut [0; 4]))
            ));
        }
        if !phonenumber::is_valid(&number) {
            return Err(format!(
                "not a valid number with calling code +{} (libphonenumber's is_valid)",
                number.code().value()
            ));
        }
        // What `number.format().mode(Mode::E164)` prints, without the formatter's search for a
        // national format (which E.164 does not use).
        let e164 = format!("+{}{}", number.code().value(), number.national());
        e164_syntax(&e164)
    }
}

/// Checks that `phone` is written in E.164: `+`, then 8 to 15 digits, the first not 0.
pub(crate) fn e164_syntax(phone: &str) -> std::result::Result<Phone, String> {
    let Some(digits) = phone.strip_prefix('+') else {
        return Err("not in E.164 form: it must start with + and the country calling code".into());
    };
    if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
        return Err(format!(
            "not in E.164 form: only digits may follow the + (found {})",
            crate::json::quote(c.encode_utf8(&mut [0; 4]))
        ));
    }
    if digits.starts_with('0') {
        return Err("not in E.164 form: a country calling code never starts with 0".into());
    }
    if !(8..=15).contains(&digits.len()) {
        return Err(format!(
            "not in E.164 form: {} digits after the +, where E.164 has 8 to 15",
            digits.len()
        ));
    }
    // OK because at most 15 ASCII digits always fit in a u64.
    let key = digits.parse::<u64>().map_err(|e| e.to_string())?;
    Ok(Phone {
        e164: phone.to_owned(),
        key,
    })
}

/// The country calling code of an E.164 number (`"+447700900123"` → `"44"`), `None` when the
/// text is not `+` and digits. Calling codes are prefix-free and at most three digits: `1` and
/// `7` are the only one-digit codes, the two-digit ones are listed (ITU-T E.164 assignments), and
/// every other code is three digits long, so the prefix alone decides.
pub(crate) fn calling_code(e164: &str) -> Option<&str> {
    const TWO_DIGITS: [&str; 44] = [
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    let digits = e164.strip_prefix('+')?;
    if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    let len = match digits.as_bytes()[0] {
        b'1' | b'7' => 1,
        _ if TWO_DIGITS.contains(&&digits[..2]) => 2,
        _ => 3,
    };
    Some(&digits[..len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_syntax_rules() {
        assert_eq!(e164_syntax("+447700900123").unwrap().key, 447_700_900_123);
        for (bad, why) in [
            ("447700900123", "must start with +"),
            ("+44 7700 900123", "only digits"),
            ("+0447700900", "never starts with 0"),
            ("+4477009", "7 digits"),
            ("+1234567890123456", "16 digits"),
            ("", "must start with +"),
        ] {
            let err = e164_syntax(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert!(e164_syntax("+12345678").is_ok());
        assert!(e164_syntax("+123456789012345").is_ok());
    }

    #[test]
    fn e164_only_skips_libphonenumber() {
        let n = PhoneNormalizer::new().e164_only(true);
        // Syntactically E.164, though no real number: accepted without metadata.
        assert_eq!(n.normalize("+99912345678").unwrap(), "+99912345678");
        let err = n.normalize("0044 7700 900123").unwrap_err();
        assert_eq!(err.kind().code(), "invalidPhone");
    }

    #[cfg(feature = "phone")]
    #[test]
    fn libphonenumber_with_and_without_region() {
        let none = PhoneNormalizer::new();
        assert_eq!(none.normalize("+44 7400 123456").unwrap(), "+447400123456");
        assert_eq!(
            none.normalize("tel:+1-212-555-0123").unwrap(),
            "+12125550123"
        );
        assert_eq!(
            none.normalize("0044 7400 123456")
                .unwrap_err()
                .kind()
                .code(),
            "invalidPhone"
        );
        let err = none.normalize("07400 123456").unwrap_err();
        assert!(err.to_string().contains("no default region"), "{err}");

        let gb = PhoneNormalizer::new().region("gb").unwrap();
        assert_eq!(gb.normalize("07400 123456").unwrap(), "+447400123456");
        assert_eq!(gb.normalize("0044 7400 123456").unwrap(), "+447400123456");
        let err = gb.normalize("07700 900123").unwrap_err();
        assert!(err.to_string().contains("not a valid number"), "{err}");
        assert_eq!(gb.normalize("+1 (212) 555-0123").unwrap(), "+12125550123");
        let err = gb.normalize("01234").unwrap_err();
        assert_eq!(err.kind().code(), "invalidPhone");
        let err = gb.normalize("banana").unwrap_err();
        assert!(err.to_string().contains("not a phone number"), "{err}");
        // Letters are not keypad digits (issue 10, item 6).
        for (typo, letter) in [
            ("+44 74OO 123456", 'O'),
            ("07400 l23457", 'l'),
            ("+44740012340A", 'A'),
        ] {
            let err = gb.normalize(typo).unwrap_err();
            assert_eq!(err.kind().code(), "invalidPhone");
            assert!(
                err.to_string()
                    .contains(&format!("the letter \"{letter}\"")),
                "{err}"
            );
        }
        let err = gb.normalize("+44 20 7946 0958 ext. 12").unwrap_err();
        assert!(err.to_string().contains("extension"), "{err}");

        let err = PhoneNormalizer::new().region("XX").unwrap_err();
        assert_eq!(err.kind().code(), "invalidRegion");
    }

    #[cfg(not(feature = "phone"))]
    #[test]
    fn without_the_feature_a_region_is_an_error() {
        assert_eq!(
            PhoneNormalizer::new()
                .region("GB")
                .unwrap_err()
                .kind()
                .code(),
            "invalidInput"
        );
        assert!(PhoneNormalizer::new().normalize("07700 900123").is_err());
    }

    #[test]
    fn calling_codes_are_read_off_the_prefix() {
        for (phone, code) in [
            ("+447700900123", Some("44")),
            ("+15551234567", Some("1")),
            ("+79161234567", Some("7")),
            ("+4915108705716", Some("49")),
            ("+34614011697", Some("34")),
            ("+353851234567", Some("353")),
            ("+35812345678", Some("358")),
            ("+8521234567", Some("852")),
            ("+8613812345678", Some("86")),
            ("+2348012345678", Some("234")),
            ("447700900123", None),
            ("+44", None),
            ("+44 7700", None),
            ("+0447700900", None),
        ] {
            assert_eq!(super::calling_code(phone), code, "{phone}");
        }
    }
}
