//! The text side shared by [`Date`](super::Date) and [`Timestamp`](super::Timestamp): parse
//! errors as fixed phrases, and one serde visitor for both.

use std::fmt;
use std::marker::PhantomData;

/// Why a text is not a date or timestamp: a fixed phrase, so the parsers stay free of formatting;
/// callers put it in a sentence with the input ([`Invalid::sentence`]) or their own context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Invalid(pub(crate) &'static str);

impl Invalid {
    /// "`<input>` is not <what>: <reason>", with long input clipped.
    pub(crate) fn sentence(self, input: &str, what: &str) -> String {
        const MAX: usize = 64;
        match input.char_indices().nth(MAX) {
            Some((cut, _)) => format!("`{}…` is not {what}: {}", &input[..cut], self.0),
            None => format!("`{input}` is not {what}: {}", self.0),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A type with a text form, shared by `FromStr` and serde.
pub(super) trait Text: Sized {
    /// What the text should be, after "is not" ("an RFC 3339 timestamp").
    const EXPECTING: &'static str;

    fn parse_text(s: &str) -> Result<Self, Invalid>;
}

/// Deserialises a [`Text`] type from a string, with the same message as its `FromStr`.
pub(super) struct TextVisitor<T>(PhantomData<T>);

impl<T> Default for TextVisitor<T> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T: Text> serde::de::Visitor<'_> for TextVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        T::parse_text(v).map_err(|e| E::custom(e.sentence(v, T::EXPECTING)))
    }
}
