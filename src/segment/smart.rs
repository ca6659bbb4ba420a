//! Smart encoding: look-alike replacements that keep a message in GSM-7.
//!
//! Word processors and phones put typographic punctuation into templates (curly quotes, dashes,
//! ellipses, no-break spaces); any one of them makes the whole message UCS-2 and can double its
//! cost. The table below maps each to the GSM-7 text a reader would not tell apart. It covers
//! punctuation, spaces and invisible characters only: letters are never transliterated, since
//! changing a name's spelling is not ours to decide.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// One replacement smart encoding made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replacement {
    /// The character that was replaced.
    pub from: char,
    /// What replaced it (may be empty: invisible characters are removed).
    pub to: String,
    /// UTF-16 offset of `from` in the original text (as JavaScript indexes strings).
    pub index: u32,
}

/// The replacement for `c`, if smart encoding has one.
pub(crate) fn replacement(c: char) -> Option<&'static str> {
    Some(match c {
        // Double quotation marks.
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}'
        | '\u{00BB}' | '\u{301D}' | '\u{301E}' | '\u{301F}' | '\u{FF02}' => "\"",
        // Single quotation marks, apostrophes, primes and the grave accent.
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{2035}'
        | '\u{00B4}' | '\u{02BC}' | '\u{02B9}' | '\u{FF07}' | '`' => "'",
        '\u{2039}' => "<",
        '\u{203A}' => ">",
        // Hyphens, dashes and the minus sign.
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
        | '\u{2212}' | '\u{2043}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => "-",
        '\u{2026}' => "...",
        '\u{2022}' => "-",
        '\u{02C6}' | '\u{2038}' => "^",
        '\u{02DC}' | '\u{FF5E}' => "~",
        '\u{2044}' | '\u{2215}' | '\u{FF0F}' => "/",
        '\u{2216}' | '\u{FF3C}' => "\\",
        '\u{00A6}' | '\u{FF5C}' => "|",
        // Spaces of every width, and the tab.
        '\t' | '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => " ",
        // Invisible characters carry nothing a reader sees.
        '\u{00AD}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' => "",
        _ => return None,
    })
}

/// Applies every replacement to `text`, returning the new text and what changed.
pub(crate) fn apply(text: &str) -> (Cow<'_, str>, Vec<Replacement>) {
    if !text.chars().any(|c| replacement(c).is_some()) {
        return (Cow::Borrowed(text), Vec::new());
    }
    let mut out = String::with_capacity(text.len());
    let mut replacements = Vec::new();
    let mut index = 0u32;
    for c in text.chars() {
        match replacement(c) {
            Some(to) => {
                out.push_str(to);
                replacements.push(Replacement {
                    from: c,
                    to: to.to_owned(),
                    index,
                });
            }
            None => out.push(c),
        }
        index = index.saturating_add(c.len_utf16() as u32);
    }
    (Cow::Owned(out), replacements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::gsm7::default_cost;

    #[test]
    fn every_replacement_is_gsm7() {
        for c in (0u32..0x1_0000).filter_map(char::from_u32) {
            if let Some(to) = replacement(c) {
                assert_eq!(default_cost(c), 0, "{c:?} is GSM-7 already");
                assert!(to.chars().all(|t| default_cost(t) > 0), "{c:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn reports_each_change_with_utf16_index() {
        let (text, reps) = apply("😀 “Hi” it’s…");
        assert_eq!(text, "😀 \"Hi\" it's...");
        let got: Vec<_> = reps
            .iter()
            .map(|r| (r.from, r.to.as_str(), r.index))
            .collect();
        assert_eq!(
            got,
            vec![
                ('“', "\"", 3),
                ('”', "\"", 6),
                ('’', "'", 10),
                ('…', "...", 12)
            ]
        );
    }

    #[test]
    fn untouched_text_is_borrowed() {
        let (text, reps) = apply("plain text");
        assert!(matches!(text, Cow::Borrowed(_)));
        assert!(reps.is_empty());
    }
}
