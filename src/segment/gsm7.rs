//! The GSM 7-bit alphabets: the default table and its extension (3GPP TS 23.038 §6.2.1 and
//! §6.2.1.1), and the national language locking and single shift tables for Turkish, Spanish and
//! Portuguese (TS 23.038 Annex A.2.1–A.2.3 and A.3.1, A.3.3).
//!
//! The tables are written out by code point so they can be checked line by line against the
//! standard. The hot path never touches them directly: [`ASCII_COST`] and [`default_cost`] answer
//! for the default alphabet, and national alphabets are flattened into an [`Alphabet`] once, when a
//! segmenter is built.

use super::NationalLanguage;

/// An entry that is not a character: the escape code (0x1B) of a table, or an unused position of
/// a single shift table.
const NONE: char = '\0';

/// TS 23.038 §6.2.1, the GSM 7-bit default alphabet, indexed by septet value.
/// 0x1B is the escape to the extension table, not a character.
pub(crate) const DEFAULT_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', NONE, 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// TS 23.038 §6.2.1.1, the default extension table as (septet after ESC, character).
pub(crate) const DEFAULT_EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'), // FORM FEED
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// TS 23.038 A.3.1, the Turkish national language locking shift table.
const TURKISH_LOCKING: [char; 128] = [
    '@', '£', '$', '¥', '€', 'é', 'ù', 'ı', 'ò', 'Ç', '\n', 'Ğ', 'ğ', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', NONE, 'Ş', 'ş', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    'İ', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    'ç', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// TS 23.038 A.3.3, the Portuguese national language locking shift table.
const PORTUGUESE_LOCKING: [char; 128] = [
    '@', '£', '$', '¥', 'ê', 'é', 'ú', 'í', 'ó', 'ç', '\n', 'Ô', 'ô', '\r', 'Á', 'á', //
    'Δ', '_', 'ª', 'Ç', 'À', '∞', '^', '\\', '€', 'Ó', '|', NONE, 'Â', 'â', 'Ê', 'É', //
    ' ', '!', '"', '#', 'º', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    'Í', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ã', 'Õ', 'Ú', 'Ü', '§', //
    '~', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ã', 'õ', '`', 'ü', 'à', //
];

/// TS 23.038 A.2.1, the Turkish national language single shift table (septet after ESC, char).
const TURKISH_SINGLE: [(u8, char); 17] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x47, 'Ğ'),
    (0x49, 'İ'),
    (0x53, 'Ş'),
    (0x63, 'ç'),
    (0x65, '€'),
    (0x67, 'ğ'),
    (0x69, 'ı'),
    (0x73, 'ş'),
];

/// TS 23.038 A.2.2, the Spanish national language single shift table (Spanish has no locking
/// shift table).
const SPANISH_SINGLE: [(u8, char); 19] = [
    (0x09, 'ç'),
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x41, 'Á'),
    (0x49, 'Í'),
    (0x4F, 'Ó'),
    (0x55, 'Ú'),
    (0x61, 'á'),
    (0x65, '€'),
    (0x69, 'í'),
    (0x6F, 'ó'),
    (0x75, 'ú'),
];

/// TS 23.038 A.2.3, the Portuguese national language single shift table.
const PORTUGUESE_SINGLE: [(u8, char); 37] = [
    (0x05, 'ê'),
    (0x09, 'ç'),
    (0x0A, '\u{0C}'),
    (0x0B, 'Ô'),
    (0x0C, 'ô'),
    (0x0E, 'Á'),
    (0x0F, 'á'),
    (0x12, 'Φ'),
    (0x13, 'Γ'),
    (0x14, '^'),
    (0x15, 'Ω'),
    (0x16, 'Π'),
    (0x17, 'Ψ'),
    (0x18, 'Σ'),
    (0x19, 'Θ'),
    (0x1F, 'Ê'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x41, 'À'),
    (0x49, 'Í'),
    (0x4F, 'Ó'),
    (0x55, 'Ú'),
    (0x5B, 'Ã'),
    (0x5C, 'Õ'),
    (0x61, 'Â'),
    (0x65, '€'),
    (0x69, 'í'),
    (0x6F, 'ó'),
    (0x75, 'ú'),
    (0x7B, 'ã'),
    (0x7C, 'õ'),
    (0x7F, 'â'),
];

/// Septets an ASCII byte costs in the default alphabet: 1 in the basic table, 2 in the extension
/// table (ESC + code), 0 when the default alphabet cannot encode it.
pub(crate) static ASCII_COST: [u8; 128] = build_ascii_cost(&DEFAULT_BASIC, &DEFAULT_EXTENSION);

const fn build_ascii_cost(basic: &[char; 128], single: &[(u8, char)]) -> [u8; 128] {
    let mut cost = [0u8; 128];
    let mut i = 0;
    while i < single.len() {
        let c = single[i].1 as u32;
        if c != 0 && c < 128 {
            cost[c as usize] = 2;
        }
        i += 1;
    }
    i = 0;
    while i < 128 {
        let c = basic[i] as u32;
        if c != 0 && c < 128 {
            cost[c as usize] = 1;
        }
        i += 1;
    }
    // '@' sits at septet 0, which the loop above writes like any other entry; NUL itself is
    // never a character of any table.
    cost[0] = 0;
    cost
}

/// Septets `c` costs in the default alphabet (1 or 2), or 0 when it forces UCS-2.
#[inline]
pub(crate) fn default_cost(c: char) -> u8 {
    default_cost_cp(c as u32)
}

/// [`default_cost`] by code point, with table lookups for the only ranges that hold default
/// alphabet characters outside ASCII: Latin-1, the Greek capitals, and `€`.
#[inline]
pub(crate) fn default_cost_cp(cp: u32) -> u8 {
    if cp < 0x80 {
        ASCII_COST[cp as usize]
    } else if cp < 0x100 {
        LATIN1_COST[(cp - 0x80) as usize]
    } else if (GREEK_FIRST..GREEK_FIRST + 32).contains(&cp) {
        GREEK_COST[(cp - GREEK_FIRST) as usize]
    } else if cp == 0x20AC {
        2
    } else {
        0
    }
}

const GREEK_FIRST: u32 = 0x0390;

/// Cost of U+0080..=U+00FF in the default alphabet.
static LATIN1_COST: [u8; 128] = build_range_cost(0x80);
/// Cost of U+0390..=U+03AF (the ten Greek capitals of the basic table live here).
static GREEK_COST: [u8; 32] = build_range_cost(GREEK_FIRST);

const fn build_range_cost<const N: usize>(first: u32) -> [u8; N] {
    let mut cost = [0u8; N];
    let mut i = 0;
    while i < 128 {
        let c = DEFAULT_BASIC[i] as u32;
        if c >= first && c < first + N as u32 {
            cost[(c - first) as usize] = 1;
        }
        i += 1;
    }
    cost
}

/// One 7-bit alphabet: a locking table (the default one unless a national locking shift is
/// used) and a single shift table (the default extension unless a national single shift is used).
#[derive(Clone, Debug)]
pub(crate) struct Alphabet {
    pub(crate) locking: Option<NationalLanguage>,
    pub(crate) single: Option<NationalLanguage>,
    ascii: [u8; 128],
    /// Non-ASCII characters and their cost, sorted by character for binary search.
    other: Vec<(char, u8)>,
}

impl Alphabet {
    /// The alphabet made of the given locking and single shift tables, or `None` when the language
    /// has no such table (Spanish has no locking shift table).
    pub(crate) fn new(
        locking: Option<NationalLanguage>,
        single: Option<NationalLanguage>,
    ) -> Option<Self> {
        let basic: &[char; 128] = match locking {
            None => &DEFAULT_BASIC,
            Some(NationalLanguage::Turkish) => &TURKISH_LOCKING,
            Some(NationalLanguage::Portuguese) => &PORTUGUESE_LOCKING,
            Some(NationalLanguage::Spanish) => return None,
        };
        let shift: &[(u8, char)] = match single {
            None => &DEFAULT_EXTENSION,
            Some(NationalLanguage::Turkish) => &TURKISH_SINGLE,
            Some(NationalLanguage::Spanish) => &SPANISH_SINGLE,
            Some(NationalLanguage::Portuguese) => &PORTUGUESE_SINGLE,
        };
        let ascii = build_ascii_cost(basic, shift);
        let mut other: Vec<(char, u8)> = Vec::new();
        for &(_, c) in shift {
            if c != NONE && !c.is_ascii() {
                other.push((c, 2));
            }
        }
        // Basic entries win over shift entries: a character in both costs one septet.
        for &c in basic {
            if c != NONE && !c.is_ascii() {
                other.retain(|&(o, _)| o != c);
                other.push((c, 1));
            }
        }
        crate::sort::sort_by(&mut other, |a, b| a.cmp(b));
        other.dedup_by_key(|e| e.0);
        Some(Self {
            locking,
            single,
            ascii,
            other,
        })
    }

    /// Number of shift information elements this alphabet adds to the user data header.
    pub(crate) fn shift_elements(&self) -> u32 {
        u32::from(self.locking.is_some()) + u32::from(self.single.is_some())
    }

    /// Septets `c` costs in this alphabet, or 0 when it cannot encode it.
    #[inline]
    pub(crate) fn cost(&self, c: char) -> u8 {
        if c.is_ascii() {
            return self.ascii[c as usize];
        }
        match self.other.binary_search_by_key(&c, |e| e.0) {
            Ok(i) => self.other[i].1,
            Err(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_has_128_positions_and_one_escape() {
        assert_eq!(DEFAULT_BASIC.iter().filter(|&&c| c == NONE).count(), 1);
        assert_eq!(DEFAULT_BASIC[0x1B], NONE);
        assert_eq!(DEFAULT_BASIC[0x00], '@');
        assert_eq!(DEFAULT_BASIC[0x24], '¤');
    }

    #[test]
    fn ascii_costs() {
        for c in ' '..='~' {
            let expected = match c {
                '`' => 0,
                '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' => 2,
                _ => 1,
            };
            assert_eq!(ASCII_COST[c as usize], expected, "{c:?}");
        }
        assert_eq!(ASCII_COST[b'\n' as usize], 1);
        assert_eq!(ASCII_COST[b'\r' as usize], 1);
        assert_eq!(ASCII_COST[0x0C], 2, "form feed is in the extension table");
        assert_eq!(ASCII_COST[b'\t' as usize], 0);
        assert_eq!(ASCII_COST[0x1B], 0, "ESC is a code, not a character");
        assert_eq!(ASCII_COST[0x00], 0);
        assert_eq!(ASCII_COST[0x7F], 0);
    }

    #[test]
    fn default_cost_matches_the_table() {
        for (i, &c) in DEFAULT_BASIC.iter().enumerate() {
            if c != NONE {
                assert_eq!(default_cost(c), 1, "septet {i:#04x} {c:?}");
            }
        }
        for &(_, c) in &DEFAULT_EXTENSION {
            assert_eq!(default_cost(c), 2, "{c:?}");
        }
        for c in ['ç', 'á', 'Α', '`', '\t', '\u{a0}', '…', '😀'] {
            assert_eq!(default_cost(c), 0, "{c:?}");
        }
        // Exactly the 10 Greek capitals of the basic table.
        let greek = ('Α'..='Ω').filter(|&c| default_cost(c) == 1).count();
        assert_eq!(greek, 10);
    }

    #[test]
    fn default_alphabet_agrees_with_fast_path() {
        let a = Alphabet::new(None, None).unwrap();
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            assert_eq!(a.cost(c), default_cost(c), "{c:?}");
        }
    }

    #[test]
    fn national_tables() {
        use NationalLanguage::*;
        let tr_single = Alphabet::new(None, Some(Turkish)).unwrap();
        assert_eq!(tr_single.cost('ş'), 2);
        assert_eq!(tr_single.cost('è'), 1, "the default basic table stays");
        assert_eq!(tr_single.cost('€'), 2);
        let tr_lock = Alphabet::new(Some(Turkish), None).unwrap();
        assert_eq!(tr_lock.cost('ş'), 1);
        assert_eq!(
            tr_lock.cost('€'),
            1,
            "€ is at 0x04 of the Turkish locking table"
        );
        assert_eq!(
            tr_lock.cost('è'),
            0,
            "è is replaced in the Turkish locking table"
        );
        assert_eq!(tr_lock.cost('{'), 2, "the default extension table stays");
        let pt_lock = Alphabet::new(Some(Portuguese), None).unwrap();
        assert_eq!(pt_lock.cost('|'), 1);
        assert_eq!(pt_lock.cost('`'), 1);
        assert_eq!(pt_lock.cost('ã'), 1);
        assert_eq!(pt_lock.cost('Ø'), 0);
        let es = Alphabet::new(None, Some(Spanish)).unwrap();
        assert_eq!(es.cost('ó'), 2);
        assert_eq!(es.cost('ç'), 2);
        assert!(Alphabet::new(Some(Spanish), None).is_none());
        assert_eq!(es.shift_elements(), 1);
        assert_eq!(pt_lock.shift_elements(), 1);
        let both = Alphabet::new(Some(Turkish), Some(Portuguese)).unwrap();
        assert_eq!(both.shift_elements(), 2);
        assert_eq!(both.cost('ã'), 2);
        assert_eq!(both.cost('ş'), 1);
    }
}
