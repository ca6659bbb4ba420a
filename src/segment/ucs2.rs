//! UCS-2 arithmetic on UTF-8 text: UTF-16 unit counts straight from the bytes, and where a part
//! may end without splitting a grapheme cluster.
//!
//! Counting from bytes is what makes the count-only path fast: every byte that is not a UTF-8
//! continuation byte starts a code point (one UTF-16 unit), and a 4-byte lead (`0xF0..`) starts a
//! code point outside the BMP, which takes a second unit (the low surrogate). The loops below are
//! branch-free so the compiler can vectorise them.

use unicode_segmentation::{GraphemeCursor, GraphemeIncomplete};

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

/// Where UCS-2 parts may end without splitting a grapheme cluster, for one text whose cuts are
/// asked for in increasing order (as packing asks for them).
///
/// A cut at a byte offset `at` (a code point boundary) that would overflow a part stays at `at`
/// when `at` is a grapheme boundary; otherwise it moves back to the start of the cluster that
/// `at` falls in, so the whole cluster goes to the next part. When that cluster began at or
/// before the part's start it is longer than a part can hold, and the cut falls back to the code
/// point boundary `at` (never a surrogate pair: `at` is always a code point boundary).
///
/// Linear in the text's length, however long its clusters: a cut first looks back a short
/// window, which settles every ordinary cluster, and a cluster longer than the window (a chain of
/// thousands of joined emoji, a letter with thousands of combining marks, a long run of regional
/// indicators whose pairing depends on where the run began) is found by one forward walk over the
/// text's cluster boundaries that never goes back. Walking back from each cut to the cluster's
/// start instead costs the cluster's length per cut: quadratic, seconds for a 100,000-character
/// cluster.
pub(crate) struct GraphemeCuts<'t> {
    text: &'t str,
    /// The forward walk, started on the first cut the window cannot settle.
    walk: Option<Walk>,
}

struct Walk {
    cursor: GraphemeCursor,
    /// The last boundary found at or before the latest cut.
    last: usize,
    /// The boundary after `last`.
    next: usize,
}

/// How far back (in bytes) a cut looks for its cluster's start before walking forward.
const WINDOW: usize = 256;

impl<'t> GraphemeCuts<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        Self { text, walk: None }
    }

    /// Where to end a part that began at `part_start` and would overflow at `at`.
    pub(crate) fn cut(&mut self, part_start: usize, at: usize) -> usize {
        if surely_a_boundary(self.text, at) {
            return at;
        }
        let mut from = at.saturating_sub(WINDOW).max(part_start);
        while !self.text.is_char_boundary(from) {
            from -= 1;
        }
        match self.look_back(from, part_start, at) {
            Some(cut) => cut,
            None => self.walk_to(part_start, at),
        }
    }

    /// The cut decided from the text between `from` and the end alone, if it can be.
    fn look_back(&self, from: usize, part_start: usize, at: usize) -> Option<usize> {
        let chunk = &self.text[from..];
        let mut cursor = GraphemeCursor::new(at, self.text.len(), true);
        match cursor.is_boundary(chunk, from) {
            Ok(true) => Some(at),
            Ok(false) => match cursor.prev_boundary(chunk, from) {
                Ok(Some(start)) if start > part_start => Some(start),
                Ok(_) => Some(at),
                // No boundary after `from`: the cluster began at or before it, which settles
                // the cut only when `from` is the part's start.
                Err(GraphemeIncomplete::PrevChunk) if from == part_start => Some(at),
                // More text before `from` is needed to place a boundary after it.
                Err(_) => None,
            },
            Err(_) => None,
        }
    }

    fn walk_to(&mut self, part_start: usize, at: usize) -> usize {
        let text = self.text;
        let walk = self.walk.get_or_insert_with(|| Walk {
            cursor: GraphemeCursor::new(0, text.len(), true),
            last: 0,
            next: 0,
        });
        while walk.next <= at && walk.next < text.len() {
            walk.last = walk.next;
            walk.next = match walk.cursor.next_boundary(text, 0) {
                Ok(Some(b)) => b,
                // The whole text is one chunk, so the cursor never asks for more.
                _ => text.len(),
            };
        }
        if walk.next <= at {
            walk.last = walk.next;
        }
        if walk.last == at || walk.last <= part_start {
            at
        } else {
            walk.last
        }
    }
}

/// The cut for one overflow (see [`GraphemeCuts`]); each call may look back to its cluster's
/// start, so packing a whole text uses [`GraphemeCuts`] instead.
#[cfg(test)]
pub(crate) fn grapheme_safe_cut(text: &str, part_start: usize, at: usize) -> usize {
    GraphemeCuts::new(text).cut(part_start, at)
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

    /// The cut as first written: walk back from `at` to its cluster's start (quadratic on long
    /// clusters, but obviously right), the reference for [`GraphemeCuts`].
    fn walk_back_cut(text: &str, part_start: usize, at: usize) -> usize {
        let mut cursor = GraphemeCursor::new(at, text.len(), true);
        match cursor.is_boundary(text, 0) {
            Ok(true) => at,
            Ok(false) => match cursor.prev_boundary(text, 0) {
                Ok(Some(start)) if start > part_start => start,
                _ => at,
            },
            Err(_) => at,
        }
    }

    /// Packs like the segmenter (67-unit parts) and records every cut both ways.
    fn cuts_agree(text: &str, cap: usize) {
        let mut cuts = GraphemeCuts::new(text);
        let (mut start, mut units) = (0, 0);
        for (i, c) in text.char_indices() {
            let cost = c.len_utf16();
            if units + cost > cap {
                let cut = cuts.cut(start, i);
                let expected = walk_back_cut(text, start, i);
                assert!(
                    cut == expected,
                    "{} chars: part at {start}, overflow at {i}: {cut} != {expected}",
                    text.chars().count()
                );
                units = text[cut..i].encode_utf16().count();
                start = cut;
            }
            units += cost;
        }
    }

    #[test]
    fn long_clusters_cut_as_walking_back_does() {
        let family = "👨\u{200D}";
        let texts = [
            family.repeat(300),
            format!("ab{}c", family.repeat(300)),
            format!("a{}", "\u{301}".repeat(2000)),
            format!("x{}y{}", "\u{301}".repeat(70), "\u{302}".repeat(500)),
            "🇮🇹".repeat(400),
            format!("a{}", "🇮🇹".repeat(400)),
            format!("🇮{}", "🇮🇹".repeat(400)),
            format!("{}{}", "क्".repeat(300), "ष"),
            "e\u{301}😀🏽 ".repeat(200),
        ];
        for text in &texts {
            for cap in [67, 66, 3] {
                cuts_agree(text, cap);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn cuts_agree_with_walking_back(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec!["a", " ", "é", "\u{301}", "\u{200D}", "👨", "🇮", "🇹", "😀", "\u{1F3FD}", "क", "\u{94D}", "\r", "\n", "\u{600}"]).prop_map(str::to_owned),
                    (proptest::sample::select(vec!["\u{301}", "👨\u{200D}", "🇮🇹", "\u{94D}क"]), 1usize..200).prop_map(|(s, n)| s.repeat(n)),
                ],
                0..30,
            ),
            cap in proptest::sample::select(vec![3usize, 66, 67]),
        ) {
            cuts_agree(&pieces.concat(), cap);
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
