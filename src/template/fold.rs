//! Case and accent folding for template search: `"Crème BRÛLÉE"` → `"creme brulee"`.
//!
//! A compact table stands in for Unicode normalisation (NFD, then dropping the marks), which
//! brought about 110 KB of decomposition tables into the WebAssembly package for one search box.
//! The table covers the letters people's names and template texts use in European languages and
//! Vietnamese: every precomposed letter of Latin-1 Supplement (U+00C0..U+00FF), Latin Extended-A
//! (U+0100..U+017F), Latin Extended-B (U+0180..U+024F: the pinyin carons, Romanian `ș`/`ț`, the
//! horned `ơ`/`ư`...) and Latin Extended Additional (U+1E00..U+1EFF: Vietnamese and Welsh, among
//! others). Over those letters and ASCII, and for decomposed text (a letter followed by marks from
//! U+0300..U+036F), [`fold`] gives exactly what NFD-and-drop-marks gives: a test checks every one
//! against `unicode-normalization`.
//!
//! What it does not do, by choice: letters of other scripts keep their marks (Greek `ά`, Cyrillic
//! `й`, precomposed Hangul stay as they are; before, NFD took them apart), and so do the marks of
//! other scripts (Hebrew points, Arabic harakat, Indic vowel signs, which the old folding
//! dropped). Letters that are not a base letter plus marks (`ø`, `ł`, `đ`, `æ`, `ß`) were kept
//! before too.

/// Lowercase without accents. Letters with diacritics fold to their base letter (`É` → `e`,
/// `Ș` → `s`, `Ự` → `u`); combining marks from the Combining Diacritical Marks blocks are dropped;
/// everything else is lowercased (`str::to_lowercase` per character) and kept.
pub(crate) fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        // Lowercase first: `İ` lowercases to `i` + U+0307, whose mark is then dropped, and the
        // Kelvin and Ångström signs lowercase to `k` and `å`, which the table then folds.
        for l in c.to_lowercase() {
            if !is_mark(l) {
                out.push(base_letter(l));
            }
        }
    }
    out
}

/// The Combining Diacritical Marks blocks: the basic one (U+0300..U+036F, every mark Latin
/// decompositions use), Extended, Supplement, for Symbols, and Half Marks.
fn is_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// The base letter of a Latin letter with diacritics (lowercase), or `c` itself.
fn base_letter(c: char) -> char {
    let cp = u32::from(c);
    let (table, first): (&[[u8; 16]], u32) = match cp {
        0x00C0..=0x024F => (&LATIN, 0x00C0),
        0x1E00..=0x1EFF => (&LATIN_ADDITIONAL, 0x1E00),
        _ => return c,
    };
    // In range by the match above; `get` keeps even a wrong table from panicking.
    let i = (cp - first) as usize;
    match table.get(i / 16).and_then(|row| row.get(i % 16)) {
        Some(b'1') => 'æ',
        Some(b'2') => 'ø',
        Some(b'3') => 'ʒ',
        Some(b'4') => 'ſ',
        Some(&letter) if letter.is_ascii_lowercase() => char::from(letter),
        _ => c,
    }
}

// One byte per code point, 16 to a row: the lowercase base letter of the canonical decomposition
// (`.` when the character has none, so it stays; `1` æ, `2` ø, `3` ʒ, `4` ſ for the four
// non-ASCII bases: `ǣ`, `ǿ`, `ǯ`, `ẛ`). Generated from the Unicode Character Database
// (`unicodedata.normalize("NFD", c)` without combining characters, lowercased); the test below
// rechecks every entry against `unicode-normalization`.

/// U+00C0..U+024F: Latin-1 Supplement letters, Latin Extended-A and Latin Extended-B.
const LATIN: [[u8; 16]; 25] = [
    *b"aaaaaa.ceeeeiiii", // U+00C0
    *b".nooooo..uuuuy..", // U+00D0
    *b"aaaaaa.ceeeeiiii", // U+00E0
    *b".nooooo..uuuuy.y", // U+00F0
    *b"aaaaaaccccccccdd", // U+0100
    *b"..eeeeeeeeeegggg", // U+0110
    *b"gggghh..iiiiiiii", // U+0120
    *b"i...jjkk.llllll.", // U+0130
    *b"...nnnnnn...oooo", // U+0140
    *b"oo..rrrrrrssssss", // U+0150
    *b"sstttt..uuuuuuuu", // U+0160
    *b"uuuuwwyyyzzzzzz.", // U+0170
    *b"................", // U+0180
    *b"................", // U+0190
    *b"oo.............u", // U+01A0
    *b"u...............", // U+01B0
    *b".............aai", // U+01C0
    *b"ioouuuuuuuuuu.aa", // U+01D0
    *b"aa11..ggkkoooo33", // U+01E0
    *b"j...gg..nnaa1122", // U+01F0
    *b"aaaaeeeeiiiioooo", // U+0200
    *b"rrrruuuusstt..hh", // U+0210
    *b"......aaeeoooooo", // U+0220
    *b"ooyy............", // U+0230
    *b"................", // U+0240
];

/// U+1E00..U+1EFF: Latin Extended Additional.
const LATIN_ADDITIONAL: [[u8; 16]; 16] = [
    *b"aabbbbbbccdddddd", // U+1E00
    *b"ddddeeeeeeeeeeff", // U+1E10
    *b"gghhhhhhhhhhiiii", // U+1E20
    *b"kkkkkkllllllllmm", // U+1E30
    *b"mmmmnnnnnnnnoooo", // U+1E40
    *b"oooopppprrrrrrrr", // U+1E50
    *b"sssssssssstttttt", // U+1E60
    *b"ttuuuuuuuuuuvvvv", // U+1E70
    *b"wwwwwwwwwwxxxxyy", // U+1E80
    *b"zzzzzzhtwy.4....", // U+1E90
    *b"aaaaaaaaaaaaaaaa", // U+1EA0
    *b"aaaaaaaaeeeeeeee", // U+1EB0
    *b"eeeeeeeeiiiioooo", // U+1EC0
    *b"oooooooooooooooo", // U+1ED0
    *b"oooouuuuuuuuuuuu", // U+1EE0
    *b"uuyyyyyyyy......", // U+1EF0
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;

    /// The folding this module replaced: NFD, marks dropped, lowercased.
    fn reference(s: &str) -> String {
        s.nfd()
            .filter(|c| !is_combining_mark(*c))
            .flat_map(char::to_lowercase)
            .collect()
    }

    /// Every character the table speaks for, plus ASCII, the marks, and the letter-like signs
    /// that lowercase into the table.
    fn covered() -> impl Iterator<Item = char> {
        (0u32..=0x024F)
            .chain(0x0300..=0x036F)
            .chain(0x1E00..=0x1EFF)
            .chain([0x212A, 0x212B])
            .filter_map(char::from_u32)
    }

    #[test]
    fn agrees_with_nfd_on_every_covered_character() {
        let mut folded = 0;
        for c in covered() {
            let s = c.to_string();
            assert_eq!(fold(&s), reference(&s), "U+{:04X} {c}", u32::from(c));
            folded += usize::from(fold(&s) != s.to_lowercase());
        }
        // Sanity: the table does work (about 600 letters fold to a base letter).
        assert!(folded > 550, "{folded}");
    }

    #[test]
    fn known_words() {
        assert_eq!(fold("Crème BRÛLÉE"), "creme brulee");
        assert_eq!(fold("São Paulo İ"), "sao paulo i");
        assert_eq!(fold("Øresund Łódź Straße"), "øresund łodz straße");
        assert_eq!(fold("Nguyễn Thị Phương"), "nguyen thi phuong");
        assert_eq!(fold("ȘTEFAN Țiriac"), "stefan tiriac");
        assert_eq!(fold("Dvořák Zürich Ærøskøbing"), "dvorak zurich ærøskøbing");
        assert_eq!(fold("Cre\u{300}me"), "creme", "decomposed input");
        assert_eq!(fold("\u{212B}ngstr\u{F6}m 5 \u{212A}"), "angstrom 5 k");
    }

    #[test]
    fn other_scripts_keep_their_marks() {
        // The documented difference from NFD: outside Latin, letters stay whole.
        assert_eq!(fold("Ά Й 한"), "ά й 한");
        assert_ne!(reference("Й"), fold("Й"));
        assert_eq!(fold("😀 ΣΑΣ"), "😀 σασ");
    }

    fn latin_text() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "a",
            "E",
            " ",
            "z",
            "ß",
            "Ø",
            "\u{301}",
            "\u{323}\u{302}",
            "\u{31B}",
            "İ",
            "ǅ",
            "ŉ",
        ]);
        let letters = covered().collect::<Vec<_>>();
        let any_letter = prop::sample::select(letters).prop_map(String::from);
        prop::collection::vec(
            prop_oneof![pieces.prop_map(str::to_owned), any_letter],
            0..24,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn agrees_with_nfd_on_latin_text(s in latin_text()) {
            prop_assert_eq!(fold(&s), reference(&s));
        }
    }
}
