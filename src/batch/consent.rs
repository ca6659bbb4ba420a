//! Consent: what a message's purpose asks of a customer, read from the customer's row.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a batch's messages are for, which decides whose consent they need.
///
/// A customer has `opted_in` (nullable: explicit consent to marketing messages) and `opted_out`
/// (the customer asked to stop, e.g. replied STOP; null counts as false). A number on the
/// suppression list counts as opted out. Nobody who opted out gets a message, whatever the
/// purpose; a marketing message also needs `opted_in` true.
///
/// | `opted_out` | `opted_in` | marketing | transactional |
/// |---|---|---|---|
/// | true, or suppressed | any | `optedOut` | `optedOut` |
/// | false, null, absent | true | sent | sent |
/// | false, null, absent | false, null, absent | `noConsent` | sent |
///
/// JSON: `"marketing"` or `"transactional"`. The default is marketing, the stricter rule, so a
/// preview that forgets to say what it sends never texts customers who did not agree to it.
///
/// ```
/// use serde_json::json;
/// use smsbatch::{ExclusionReason, PreviewConfig, Purpose, Template};
///
/// let template = Template::compile("Your order {{order}} is ready")?;
/// let rows = [
///     json!({"id": 1, "phone": "+447400123456", "order": 7, "opted_in": null}),
///     json!({"id": 2, "phone": "+447400123457", "order": 8, "opted_out": true}),
/// ];
/// let marketing = PreviewConfig::new().e164_only(true).build(&template)?;
/// let preview = marketing.preview(&rows)?;
/// assert_eq!(preview.recipients[0].excluded().unwrap().reason, ExclusionReason::NoConsent);
///
/// let transactional = PreviewConfig::new()
///     .purpose(Purpose::Transactional)
///     .e164_only(true)
///     .build(&template)?;
/// let preview = transactional.preview(&rows)?;
/// assert!(preview.recipients[0].included().is_some());
/// assert_eq!(preview.recipients[1].excluded().unwrap().reason, ExclusionReason::OptedOut);
/// # Ok::<(), smsbatch::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Purpose {
    /// Offers, newsletters, win-back campaigns: only customers with `opted_in` true who did not
    /// opt out.
    #[default]
    Marketing,
    /// Messages about something the customer is in the middle of (an order is ready, an
    /// appointment tomorrow): every customer who did not opt out.
    Transactional,
}

impl Purpose {
    /// The name used in JSON and on the command line: `"marketing"` or `"transactional"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Marketing => "marketing",
            Self::Transactional => "transactional",
        }
    }
}

/// What a row's consent fields say for a purpose.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Consent {
    /// The message may be sent.
    Given,
    /// The customer opted out (or the field cannot be read: when in doubt, do not send).
    OptedOut(String),
    /// The purpose needs consent the row does not give.
    Missing(String),
}

/// Checks a row's `opted_out` and, for marketing, `opted_in` (under the configured names).
pub(crate) fn consent(
    row: &Map<String, Value>,
    purpose: Purpose,
    opted_in: &str,
    opted_out: &str,
) -> Consent {
    match flag(row, opted_out) {
        Flag::True => return Consent::OptedOut(format!("{opted_out} is true")),
        Flag::Unreadable(why) => return Consent::OptedOut(format!("{why}; treated as opted out")),
        Flag::False | Flag::Null | Flag::Absent => {}
    }
    if purpose == Purpose::Transactional {
        return Consent::Given;
    }
    let needs = || format!("a marketing message needs {opted_in} true");
    match flag(row, opted_in) {
        Flag::True => Consent::Given,
        Flag::False => Consent::Missing(format!("{}, and it is false", needs())),
        Flag::Null => Consent::Missing(format!("{}, and it is null", needs())),
        Flag::Absent => Consent::Missing(format!("{}, and the row has no {opted_in}", needs())),
        Flag::Unreadable(why) => Consent::Missing(format!("{}; {why}", needs())),
    }
}

/// A boolean field as customer exports write it.
#[derive(Debug, PartialEq, Eq)]
enum Flag {
    True,
    False,
    /// `null`, or an empty string (an empty CSV cell).
    Null,
    Absent,
    /// Neither true nor false; says why.
    Unreadable(String),
}

/// Reads `name` leniently, as spreadsheets and CSV files write booleans: true is `true`, `1`,
/// and the strings `true`, `t`, `yes`, `y`, `1` (any case); false is `false`, `0`, and `false`,
/// `f`, `no`, `n`, `0`.
fn flag(row: &Map<String, Value>, name: &str) -> Flag {
    match row.get(name) {
        None => Flag::Absent,
        Some(Value::Null) => Flag::Null,
        Some(Value::Bool(true)) => Flag::True,
        Some(Value::Bool(false)) => Flag::False,
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Flag::True,
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Flag::False,
        Some(Value::String(s)) => {
            // Compared without lowercasing a copy: CSV rows put a string here on every row.
            let text = s.trim();
            let is = |words: &[&str]| words.iter().any(|w| text.eq_ignore_ascii_case(w));
            if is(&["true", "t", "yes", "y", "1"]) {
                Flag::True
            } else if is(&["false", "f", "no", "n", "0"]) {
                Flag::False
            } else if text.is_empty() {
                Flag::Null
            } else {
                Flag::Unreadable(format!(
                    "{name} is {}, which is neither true nor false",
                    crate::json::quote(s)
                ))
            }
        }
        Some(other) => Flag::Unreadable(format!(
            "{name} is {other}, which is neither true nor false"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn flags_read_like_spreadsheets_write_them() {
        for (v, expected) in [
            (json!({}), Flag::Absent),
            (json!({"f": null}), Flag::Null),
            (json!({"f": ""}), Flag::Null),
            (json!({"f": true}), Flag::True),
            (json!({"f": "TRUE"}), Flag::True),
            (json!({"f": " yes "}), Flag::True),
            (json!({"f": 1}), Flag::True),
            (json!({"f": "false"}), Flag::False),
            (json!({"f": "N"}), Flag::False),
            (json!({"f": 0}), Flag::False),
        ] {
            assert_eq!(flag(&row(v.clone()), "f"), expected, "{v}");
        }
        for v in [json!({"f": "maybe"}), json!({"f": 2}), json!({"f": [true]})] {
            assert!(
                matches!(flag(&row(v.clone()), "f"), Flag::Unreadable(_)),
                "{v}"
            );
        }
    }

    #[test]
    fn the_rule_for_each_purpose() {
        let check = |v: Value, purpose| consent(&row(v), purpose, "opted_in", "opted_out");
        use Purpose::*;
        assert_eq!(check(json!({"opted_in": true}), Marketing), Consent::Given);
        assert_eq!(check(json!({}), Transactional), Consent::Given);
        assert_eq!(
            check(json!({"opted_in": true, "opted_out": true}), Transactional),
            Consent::OptedOut("opted_out is true".into())
        );
        assert_eq!(
            check(json!({"opted_out": "maybe"}), Transactional),
            Consent::OptedOut(
                "opted_out is \"maybe\", which is neither true nor false; treated as opted out"
                    .into()
            )
        );
        assert_eq!(
            check(json!({"opted_in": null}), Marketing),
            Consent::Missing("a marketing message needs opted_in true, and it is null".into())
        );
        assert_eq!(
            check(json!({}), Marketing),
            Consent::Missing(
                "a marketing message needs opted_in true, and the row has no opted_in".into()
            )
        );
        assert_eq!(
            check(json!({"opted_in": "x"}), Transactional),
            Consent::Given
        );
        assert_eq!(
            consent(
                &row(json!({"stop": 1, "ok": true})),
                Marketing,
                "ok",
                "stop"
            ),
            Consent::OptedOut("stop is true".into())
        );
    }

    #[test]
    fn purpose_json() {
        assert_eq!(
            serde_json::to_value(Purpose::Transactional).unwrap(),
            json!("transactional")
        );
        assert_eq!(
            serde_json::from_value::<Purpose>(json!("marketing")).unwrap(),
            Purpose::Marketing
        );
        assert!(serde_json::from_value::<Purpose>(json!("Marketing")).is_err());
        assert_eq!(Purpose::default(), Purpose::Marketing);
        assert_eq!(Purpose::Transactional.as_str(), "transactional");
    }
}
