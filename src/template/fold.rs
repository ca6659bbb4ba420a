//! Case and accent folding for template search: `"Crème BRÛLÉE"` → `"creme brulee"`.
//!
//! A compact table stands in for Unicode normalisation (NFD, then dropping the marks), which
//! needs Unicode's whole decomposition tables in the WebAssembly package for one search box.
//! The table covers the alphabets of European languages and Vietnamese: every precomposed
//! character of Latin-1 Supplement (U+00C0..U+00FF), Latin Extended-A and -B (U+0100..U+024F: the
//! pinyin carons, Romanian `ș`/`ț`, the horned `ơ`/`ư`...), Greek and Coptic (U+0370..U+03FF),
//! Cyrillic (U+0400..U+04FF: `ё`, `й`, `ї`, `ў`...), Latin Extended Additional (U+1E00..U+1EFF:
//! Vietnamese, Welsh...) and Greek Extended (U+1F00..U+1FFF, polytonic Greek). Over those blocks
//! and ASCII, and for decomposed text (a letter followed by marks from the Combining Diacritical
//! Marks blocks), [`fold`] gives exactly what NFD-and-drop-marks gave: a test checks every code
//! point against `unicode-normalization`.
//!
//! What it no longer does, by choice: decompose the characters of other scripts (Arabic `أ`
//! stays `أ`, kana `が` stays `が`, precomposed Hangul stays whole) and drop their marks (Hebrew
//! points, Arabic harakat, Indic vowel signs, kana voicing marks). Letters that are not a base
//! letter plus marks (`ø`, `ł`, `đ`, `æ`, `ß`) were kept before too.

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

/// The combining marks the covered scripts use: the Combining Diacritical Marks blocks (basic,
/// Extended, Supplement, for Symbols, Half Marks; whole blocks, so marks Unicode assigns there
/// later are dropped too) and the Cyrillic combining marks (titlo and the like, U+0483..U+0489).
fn is_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{0483}'..='\u{0489}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// The base of a character with diacritics (lowercase), or `c` itself.
fn base_letter(c: char) -> char {
    let cp = u32::from(c);
    // Rows start at multiples of 16; every covered block is in the Basic Multilingual Plane.
    let Ok(start) = u16::try_from(cp & !0xF) else {
        return c;
    };
    let row = BASES
        .binary_search_by_key(&start, |&(first, _)| first)
        .ok()
        .and_then(|i| BASES.get(i));
    match row.and_then(|(_, bases)| bases.chars().nth((cp & 0xF) as usize)) {
        Some('.') | None => c,
        Some(base) => base,
    }
}

/// Sixteen code points to a row, keyed by the first: each character is the lowercase base of
/// the canonical decomposition (the decomposition without its marks), `.` where the code point
/// has none and stays as it is. Rows without any decomposition are left out. Generated from the
/// Unicode Character Database (`unicodedata.normalize("NFD", c)`, marks dropped, lowercased);
/// the test below rechecks every entry against `unicode-normalization`.
const BASES: [(u16, &str); 70] = [
    (0x00C0, "aaaaaa.ceeeeiiii"),
    (0x00D0, ".nooooo..uuuuy.."),
    (0x00E0, "aaaaaa.ceeeeiiii"),
    (0x00F0, ".nooooo..uuuuy.y"),
    (0x0100, "aaaaaaccccccccdd"),
    (0x0110, "..eeeeeeeeeegggg"),
    (0x0120, "gggghh..iiiiiiii"),
    (0x0130, "i...jjkk.llllll."),
    (0x0140, "...nnnnnn...oooo"),
    (0x0150, "oo..rrrrrrssssss"),
    (0x0160, "sstttt..uuuuuuuu"),
    (0x0170, "uuuuwwyyyzzzzzz."),
    (0x01A0, "oo.............u"),
    (0x01B0, "u..............."),
    (0x01C0, ".............aai"),
    (0x01D0, "ioouuuuuuuuuu.aa"),
    (0x01E0, "aaææ..ggkkooooʒʒ"),
    (0x01F0, "j...gg..nnaaææøø"),
    (0x0200, "aaaaeeeeiiiioooo"),
    (0x0210, "rrrruuuusstt..hh"),
    (0x0220, "......aaeeoooooo"),
    (0x0230, "ooyy............"),
    (0x0370, "....ʹ.........;."),
    (0x0380, ".....¨α·εηι.ο.υω"),
    (0x0390, "ι..............."),
    (0x03A0, "..........ιυαεηι"),
    (0x03B0, "υ..............."),
    (0x03C0, "..........ιυουω."),
    (0x03D0, "...ϒϒ..........."),
    (0x0400, "ее.г...і....киу."),
    (0x0410, ".........и......"),
    (0x0430, ".........и......"),
    (0x0450, "ее.г...і....киу."),
    (0x0470, "......ѵѵ........"),
    (0x04C0, ".жж............."),
    (0x04D0, "аааа..ее..әәжжзз"),
    (0x04E0, "..ииииоо..өөээуу"),
    (0x04F0, "уууучч..ыы......"),
    (0x1E00, "aabbbbbbccdddddd"),
    (0x1E10, "ddddeeeeeeeeeeff"),
    (0x1E20, "gghhhhhhhhhhiiii"),
    (0x1E30, "kkkkkkllllllllmm"),
    (0x1E40, "mmmmnnnnnnnnoooo"),
    (0x1E50, "oooopppprrrrrrrr"),
    (0x1E60, "sssssssssstttttt"),
    (0x1E70, "ttuuuuuuuuuuvvvv"),
    (0x1E80, "wwwwwwwwwwxxxxyy"),
    (0x1E90, "zzzzzzhtwy.ſ...."),
    (0x1EA0, "aaaaaaaaaaaaaaaa"),
    (0x1EB0, "aaaaaaaaeeeeeeee"),
    (0x1EC0, "eeeeeeeeiiiioooo"),
    (0x1ED0, "oooooooooooooooo"),
    (0x1EE0, "oooouuuuuuuuuuuu"),
    (0x1EF0, "uuyyyyyyyy......"),
    (0x1F00, "αααααααααααααααα"),
    (0x1F10, "εεεεεε..εεεεεε.."),
    (0x1F20, "ηηηηηηηηηηηηηηηη"),
    (0x1F30, "ιιιιιιιιιιιιιιιι"),
    (0x1F40, "οοοοοο..οοοοοο.."),
    (0x1F50, "υυυυυυυυ.υ.υ.υ.υ"),
    (0x1F60, "ωωωωωωωωωωωωωωωω"),
    (0x1F70, "ααεεηηιιοουυωω.."),
    (0x1F80, "αααααααααααααααα"),
    (0x1F90, "ηηηηηηηηηηηηηηηη"),
    (0x1FA0, "ωωωωωωωωωωωωωωωω"),
    (0x1FB0, "ααααα.ααααααα.ι."),
    (0x1FC0, ".¨ηηη.ηηεεηηη᾿᾿᾿"),
    (0x1FD0, "ιιιι..ιιιιιι.῾῾῾"),
    (0x1FE0, "υυυυρρυυυυυυρ¨¨`"),
    (0x1FF0, "..ωωω.ωωοοωωω´.."),
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
            .chain(0x0300..=0x04FF)
            .chain(0x1AB0..=0x1AFF)
            .chain(0x1DC0..=0x1FFF)
            .chain(0x20D0..=0x20FF)
            .chain(0xFE20..=0xFE2F)
            .chain([0x212A, 0x212B])
            .filter_map(char::from_u32)
            // Code points of the mark blocks that Unicode has not assigned yet: NFD keeps them,
            // the folding drops the whole block.
            .filter(|&c| !is_mark(c) || is_combining_mark(c))
    }

    #[test]
    fn agrees_with_nfd_on_every_covered_character() {
        let mut folded = 0;
        for c in covered() {
            let s = c.to_string();
            assert_eq!(fold(&s), reference(&s), "U+{:04X} {c}", u32::from(c));
            folded += usize::from(fold(&s) != s.to_lowercase());
        }
        // Sanity: the table does work (about 1 000 characters fold to a base).
        assert!(folded > 900, "{folded}");
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
    fn greek_and_cyrillic() {
        assert_eq!(fold("Καλημέρα Ἀθῆναι ΐ"), "καλημερα αθηναι ι");
        assert_eq!(fold("Ёлкин Йошкар-Ола Їжак"), "елкин иошкар-ола іжак");
        assert_eq!(fold("😀 ΣΑΣ"), "😀 σασ");
    }

    #[test]
    fn other_scripts_keep_their_marks() {
        // The documented difference from NFD: outside the covered blocks, characters stay whole.
        for (s, nfd) in [
            ("أمير", "امير"),
            ("が", "か"),
            ("한", "\u{1112}\u{1161}\u{11AB}"),
            ("שָׁלוֹם", "שלום"),
        ] {
            assert_eq!(fold(s), s);
            assert_eq!(reference(s), nfd);
        }
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
            "Σ",
            "\u{345}",
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
