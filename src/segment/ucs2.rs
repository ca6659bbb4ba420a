//! UCS-2 arithmetic on UTF-8 text: UTF-16 unit counts straight from the bytes, and where a part
//! may end without splitting a grapheme cluster.
//!
//! Counting from bytes is what makes the count-only path fast: every byte that is not a UTF-8
//! continuation byte starts a code point (one UTF-16 unit), and a 4-byte lead (`0xF0..`) starts a
//! code point outside the BMP, which takes a second unit (the low surrogate). The loops below are
//! branch-free so the compiler can vectorise them.

use unicode_segmentation::GraphemeCursor;

/// UTF-16 units the byte contributes: 1 for a code point's lead byte, 2 for a 4-byte lead,
/// 0 for a continuation byte. Both units of a surrogate pair are charged to the lead byte, so a
/// part can never end between them.
#[inline(always)]
pub(crate) fn byte_units(b: u8) -> usize {
    usize::from((b & 0xC0) != 0x80) + usize::from(b >= 0xF0)
}

/// UTF-16 length of UTF-8 bytes (the bytes of a `str`).
#[inline]
pub(crate) fn utf16_len(bytes: &[u8]) -> usize {
    // Summing in u8 lanes over blocks of at most 127 bytes keeps the vectorised loop narrow
    // (a block contributes at most 2 × 127 = 254 units, which fits in a u8).
    let mut total = 0usize;
    for block in bytes.chunks(127) {
        let mut sum = 0u8;
        for &b in block {
            sum += u8::from((b & 0xC0) != 0x80) + u8::from(b >= 0xF0);
        }
        total += usize::from(sum);
    }
    total
}

/// Where to end a UCS-2 part that would overflow at byte offset `at` (a code point boundary),
/// given that the part began at `part_start`.
///
/// `at` itself when it is a grapheme boundary; otherwise the start of the cluster that `at` falls
/// in, so the whole cluster moves to the next part. When that cluster began at or before
/// `part_start` it is longer than a part can hold, and the cut falls back to the code point
/// boundary `at` (never a surrogate pair: `at` is always a code point boundary).
pub(crate) fn grapheme_safe_cut(text: &str, part_start: usize, at: usize) -> usize {
    if surely_a_boundary(text, at) {
        return at;
    }
    let mut cursor = GraphemeCursor::new(at, text.len(), true);
    match cursor.is_boundary(text, 0) {
        Ok(true) => at,
        Ok(false) => match cursor.prev_boundary(text, 0) {
            Ok(Some(start)) if start > part_start => start,
            // The cluster fills the part on its own, or the segmentation library could not
            // decide: code point boundaries are always safe to cut at.
            _ => at,
        },
        Err(_) => at,
    }
}

/// True when UAX #29 certainly breaks between the characters on either side of `at`, decided from
/// the two characters alone; false means "ask the full algorithm".
///
/// A break is certain when the character after `at` has Grapheme_Cluster_Break=Other and is
/// neither Extended_Pictographic nor an Indic conjunct consonant nor a regional indicator (no rule
/// from GB3 to GB13 can then join it to what precedes) and the character before is not Prepend
/// (GB9b) or CR. The ranges below are such characters in the scripts messages are mostly written
/// in; everything else takes the slow path, which is always right.
fn surely_a_boundary(text: &str, at: usize) -> bool {
    fn plain(c: char) -> bool {
        matches!(c,
            ' '..='~'
            | '\u{C0}'..='\u{24F}'           // Latin-1 letters, Latin Extended-A and -B
            | '\u{370}'..='\u{3FF}'          // Greek (its combining marks are U+0300..U+036F)
            | '\u{400}'..='\u{482}'          // Cyrillic before its combining marks
            | '\u{48A}'..='\u{52F}'
            | '\u{3041}'..='\u{3096}'        // Hiragana before the (semi-)voiced sound marks
            | '\u{30A1}'..='\u{30FA}'        // Katakana
            | '\u{4E00}'..='\u{9FFF}'        // CJK Unified Ideographs
        )
    }
    let (Some(before), Some(after)) = (
        text.get(..at).and_then(|t| t.chars().next_back()),
        text.get(at..).and_then(|t| t.chars().next()),
    ) else {
        return true;
    };
    plain(after) && (plain(before) || ('\n'..='\u{5FF}').contains(&before) && before != '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_len_matches_std() {
        for s in [
            "",
            "a",
            "é",
            "中文",
            "😀",
            "a😀b🇮🇹",
            "ascii only text that is long enough to cross a block boundary ................................................................................................................................",
        ] {
            assert_eq!(utf16_len(s.as_bytes()), s.encode_utf16().count(), "{s:?}");
        }
        let long = "😀".repeat(300);
        assert_eq!(utf16_len(long.as_bytes()), 600);
    }

    #[test]
    fn the_shortcut_agrees_with_uax29() {
        use unicode_segmentation::UnicodeSegmentation;
        let samples = [
            "Привет, мир! Ёлка й",
            "日本語のテキストです。ガギグ",
            "Γειά σου κόσμε",
            "Şişli İstanbul ğ ı",
            "e\u{301}a\u{308}",
            "a\u{200D}😀",
            "\r\na\rb",
            "क्षि ष",
            "🇮🇹🇬🇧",
            "\u{600}1 x\u{600}",
            "한국어 텍스트",
            "カ\u{3099}か\u{309A}",
            "😀\u{1F3FD}x",
        ];
        for text in samples {
            let boundaries: Vec<usize> = text.grapheme_indices(true).map(|(i, _)| i).collect();
            for (at, _) in text.char_indices().skip(1) {
                if surely_a_boundary(text, at) {
                    assert!(boundaries.contains(&at), "{text:?} at {at}");
                }
            }
        }
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        #[test]
        fn the_shortcut_never_claims_a_false_boundary(
            text in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::char::range('\u{0}', '\u{7FF}'),
                    proptest::char::range('\u{3000}', '\u{30FF}'),
                    proptest::char::range('\u{1F1E6}', '\u{1F1FF}'),
                    proptest::sample::select(vec!['\u{200D}', '\u{FE0F}', '😀', '\u{1F3FD}', 'क', '\u{94D}', '한', '\u{600}']),
                    proptest::char::any(),
                ],
                0..40,
            ).prop_map(|v| v.into_iter().collect::<String>())
        ) {
            use unicode_segmentation::UnicodeSegmentation;
            let boundaries: Vec<usize> = text.grapheme_indices(true).map(|(i, _)| i).collect();
            for (at, _) in text.char_indices().skip(1) {
                if surely_a_boundary(&text, at) {
                    proptest::prop_assert!(boundaries.contains(&at), "{:?} at {}", text, at);
                }
            }
        }
    }

    #[test]
    fn cut_moves_a_whole_cluster() {
        // "ab" + flag (two regional indicators): cutting between the indicators moves the flag.
        let text = "ab🇮🇹";
        let between = "ab🇮".len();
        assert_eq!(grapheme_safe_cut(text, 0, between), 2);
        // A cluster that starts the part cannot move; cut at the code point.
        assert_eq!(grapheme_safe_cut(text, 2, between), between);
        // A boundary stays where it is.
        assert_eq!(grapheme_safe_cut(text, 0, 1), 1);
    }
}
