//! One recipient's preview, and reading the fields the preview needs from a customer row.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind};
use crate::segment::{Encoding, NonGsmChar};

use super::price::Amount;
use crate::json::kind_of;

/// Why a recipient is left out of a batch. When several apply, the first in this order is
/// reported (the order of the variants).
///
/// New reasons may be added in any release (each in its place in the order), so match with a
/// wildcard arm.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExclusionReason {
    /// The row has no `phone`, or it is empty.
    NoPhone,
    /// The phone number cannot be normalised to a valid E.164 number.
    InvalidPhone,
    /// An earlier included recipient has the same (normalised) number.
    DuplicatePhone,
    /// `opted_out` is true (or cannot be read as true or false), or the number is on the
    /// suppression list.
    OptedOut,
    /// The batch's [`Purpose`](crate::Purpose) needs consent the recipient did not give: a
    /// marketing message needs `opted_in` true.
    NoConsent,
    /// A variable the template uses is absent or null for this recipient.
    MissingVariable,
    /// The rendered message is empty or only whitespace.
    EmptyBody,
    /// The rendered message needs more segments than the configured maximum.
    TooManySegments,
}

impl ExclusionReason {
    /// Every reason, in order of precedence.
    pub const ALL: [ExclusionReason; 8] = [
        ExclusionReason::NoPhone,
        ExclusionReason::InvalidPhone,
        ExclusionReason::DuplicatePhone,
        ExclusionReason::OptedOut,
        ExclusionReason::NoConsent,
        ExclusionReason::MissingVariable,
        ExclusionReason::EmptyBody,
        ExclusionReason::TooManySegments,
    ];

    /// The camelCase name used in JSON (`"noPhone"`...).
    pub const fn code(self) -> &'static str {
        match self {
            Self::NoPhone => "noPhone",
            Self::InvalidPhone => "invalidPhone",
            Self::DuplicatePhone => "duplicatePhone",
            Self::OptedOut => "optedOut",
            Self::NoConsent => "noConsent",
            Self::MissingVariable => "missingVariable",
            Self::EmptyBody => "emptyBody",
            Self::TooManySegments => "tooManySegments",
        }
    }
}

/// What the preview says about one customer row.
///
/// Serialises (camelCase) as the object of the variant: an included recipient has `text`,
/// `encoding`, `segments`..., an excluded one `excluded` and `detail`, a failed one `error`.
/// Reads back from the same JSON (an object with `error` is failed, one with `excluded` is
/// excluded, any other included), so a store can keep results as JSON.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RecipientPreview {
    /// The recipient gets a message.
    Included(IncludedRecipient),
    /// The recipient is left out, for a reason.
    Excluded(ExcludedRecipient),
    /// The row cannot be previewed (it is not an object, has no id, or a helper rejected its
    /// data); the batch goes on without it.
    Failed(FailedRecipient),
}

impl<'de> Deserialize<'de> for RecipientPreview {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        // Dispatch on the member that tells the variants apart, so a malformed entry gets the
        // error of its own variant rather than serde's "did not match any variant".
        let value = Value::deserialize(deserializer)?;
        let Some(object) = value.as_object() else {
            return Err(D::Error::custom(format!(
                "a recipient preview is an object, not {}",
                kind_of(&value)
            )));
        };
        let result = if object.contains_key("error") {
            FailedRecipient::deserialize(value).map(Self::Failed)
        } else if object.contains_key("excluded") {
            ExcludedRecipient::deserialize(value).map(Self::Excluded)
        } else {
            IncludedRecipient::deserialize(value).map(Self::Included)
        };
        result.map_err(D::Error::custom)
    }
}

impl RecipientPreview {
    /// The row's position in the input, from 0.
    pub fn index(&self) -> u64 {
        match self {
            Self::Included(r) => r.index,
            Self::Excluded(r) => r.index,
            Self::Failed(r) => r.index,
        }
    }

    /// The row's `id`, if it has one.
    pub fn id(&self) -> Option<&Value> {
        match self {
            Self::Included(r) => Some(&r.id),
            Self::Excluded(r) => Some(&r.id),
            Self::Failed(r) => r.id.as_ref(),
        }
    }

    /// The included recipient, if this one is.
    pub fn included(&self) -> Option<&IncludedRecipient> {
        match self {
            Self::Included(r) => Some(r),
            _ => None,
        }
    }

    /// The exclusion, if this recipient is excluded.
    pub fn excluded(&self) -> Option<&ExcludedRecipient> {
        match self {
            Self::Excluded(r) => Some(r),
            _ => None,
        }
    }
}

/// A recipient who gets a message, with what it says and costs.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncludedRecipient {
    /// The row's position in the input, from 0.
    pub index: u64,
    /// The row's `id`, with its JSON type.
    pub id: Value,
    /// The phone number in E.164.
    pub phone: String,
    /// The message as it is sent.
    pub text: String,
    /// Its encoding.
    pub encoding: Encoding,
    /// Segments billed.
    pub segments: u32,
    /// Septets (GSM-7) or UTF-16 units (UCS-2).
    pub units: u32,
    /// User-visible characters.
    pub graphemes: u32,
    /// `segments ×` the price of a segment for this number and encoding.
    pub cost: Amount,
    /// True when the template's static text is GSM-7 and this recipient's data made the message
    /// UCS-2.
    pub pushed_to_ucs2: bool,
    /// Segments beyond those of the template's static text, added by this recipient's data.
    pub extra_segments: u32,
    /// For a message pushed to UCS-2: the characters that forced it, with UTF-16 offsets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_gsm: Vec<NonGsmChar>,
    /// The text of each part, when the preview was asked for parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<String>>,
}

/// A recipient left out of the batch.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExcludedRecipient {
    /// The row's position in the input, from 0.
    pub index: u64,
    /// The row's `id`, with its JSON type.
    pub id: Value,
    /// Why (`"excluded"` in JSON).
    #[serde(rename = "excluded")]
    pub reason: ExclusionReason,
    /// The particulars: which variable is missing, why the number is invalid...
    pub detail: String,
}

/// A row the preview could not handle.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedRecipient {
    /// The row's position in the input, from 0.
    pub index: u64,
    /// The row's `id`, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// What went wrong; in JSON like [`Error`] (`{"kind", "message", ...}`).
    #[serde(
        serialize_with = "serialize_kind",
        deserialize_with = "deserialize_kind"
    )]
    pub error: ErrorKind,
}

fn serialize_kind<S: Serializer>(kind: &ErrorKind, s: S) -> Result<S::Ok, S::Error> {
    Error::new(kind.clone()).serialize(s)
}

fn deserialize_kind<'de, D: Deserializer<'de>>(d: D) -> Result<ErrorKind, D::Error> {
    Error::deserialize(d).map(Error::into_kind)
}

/// The row's phone field as text to normalise, or why there is none.
pub(crate) enum PhoneField<'a> {
    Text(std::borrow::Cow<'a, str>),
    Missing(String),
    Invalid(String),
}

/// Reads the phone number from the field `name`.
pub(crate) fn phone_field<'a>(row: &'a Map<String, Value>, name: &str) -> PhoneField<'a> {
    match row.get(name) {
        None => PhoneField::Missing(format!("the row has no {name}")),
        Some(Value::Null) => PhoneField::Missing(format!("{name} is null")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            PhoneField::Missing(format!("{name} is empty"))
        }
        Some(Value::String(s)) => PhoneField::Text(std::borrow::Cow::Borrowed(s.trim())),
        // Spreadsheets and some exports turn numbers into JSON numbers, as integers or as
        // floats (`447700900123.0`): the same number either way.
        Some(Value::Number(n)) if n.is_u64() => PhoneField::Text(n.to_string().into()),
        Some(Value::Number(n))
            if n.as_f64()
                .is_some_and(|f| f.fract() == 0.0 && (0.0..=9.0e15).contains(&f)) =>
        {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let whole = n.as_f64().map_or(0, |f| f as u64);
            PhoneField::Text(whole.to_string().into())
        }
        Some(Value::Number(n)) => PhoneField::Invalid(format!(
            "{name} is the number {n}, which is not a phone number: write phone numbers as \
             strings"
        )),
        Some(other) => {
            PhoneField::Invalid(format!("{name} must be a string, not {}", kind_of(other)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn phone_values() {
        assert!(matches!(
            phone_field(&obj(json!({})), "phone"),
            PhoneField::Missing(_)
        ));
        assert!(matches!(
            phone_field(&obj(json!({"phone": "  "})), "phone"),
            PhoneField::Missing(m) if m == "phone is empty"
        ));
        // Issue 10, item 10: an integer and the same number written as a float are alike.
        assert!(matches!(
            phone_field(&obj(json!({"phone": 447700900123.0})), "phone"),
            PhoneField::Text(t) if t == "447700900123"
        ));
        assert!(matches!(
            phone_field(&obj(json!({"phone": 4477009001.5})), "phone"),
            PhoneField::Invalid(m) if m.contains("not a phone number")
        ));
        assert!(matches!(
            phone_field(&obj(json!({"phone": 447700900123u64})), "phone"),
            PhoneField::Text(t) if t == "447700900123"
        ));
        assert!(matches!(
            phone_field(&obj(json!({"phone": true})), "phone"),
            PhoneField::Invalid(m) if m.contains("boolean")
        ));
    }

    #[test]
    fn reasons_are_ordered_by_precedence() {
        let mut sorted = ExclusionReason::ALL;
        sorted.sort();
        assert_eq!(sorted, ExclusionReason::ALL);
        for r in ExclusionReason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), json!(r.code()));
        }
    }
}
