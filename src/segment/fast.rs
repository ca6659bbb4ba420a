//! The count-only hot path for the default GSM alphabet: encoding, units and segments without
//! building parts, graphemes or strings.
//!
//! A preview of a million recipients calls this once per rendered message, so it is written for
//! throughput: ASCII is classified 32 bytes at a time with branch-free arithmetic the compiler
//! vectorises, non-ASCII characters are decoded only where they occur, and greedy packing walks
//! the text only when an escape pair, a surrogate pair or a grapheme cluster could straddle a part
//! boundary. Grapheme boundaries are checked only where a cut falls. `Segmenter::segment` packs the
//! same way character by character; a property test holds the two to the same answers.

use super::gsm7::{ASCII_COST, default_cost};
use super::ucs2::{byte_units, grapheme_safe_cut, utf16_len};

const CHUNK: usize = 32;

/// Outcome of classifying a text against the default alphabet.
pub(crate) enum Scan {
    /// Every character is in the default alphabet.
    Gsm {
        /// Septets.
        units: usize,
        /// Characters from the extension table (2 septets each).
        escapes: usize,
    },
    /// Some character is not: the message is UCS-2.
    Ucs2,
}

/// Escape characters in a 32-byte block of ASCII, or `None` if the block holds anything else
/// (non-ASCII bytes, or ASCII the default alphabet lacks: control characters other than LF, CR
/// and FF, the backtick, DEL).
#[inline(always)]
fn ascii_block(block: &[u8; CHUNK]) -> Option<usize> {
    let mut escapes = 0u8;
    let mut bad = 0u8;
    for &b in block {
        // `^ [ \ ]` are 0x5B..=0x5E and `{ | } ~` are 0x7B..=0x7E: one range once bit 5 is cleared.
        let folded = b & 0xDF;
        let extension = u8::from(folded.wrapping_sub(0x5B) < 4) | u8::from(b == 0x0C);
        let allowed_control = u8::from(b == b'\n') | u8::from(b == b'\r') | u8::from(b == 0x0C);
        let control = u8::from(b < 0x20) & (allowed_control ^ 1);
        bad |= control | u8::from(b == b'`') | u8::from(b >= 0x7F);
        escapes += extension;
    }
    (bad == 0).then_some(usize::from(escapes))
}

/// Decodes the UTF-8 character starting at `bytes[i]` (a lead byte of valid UTF-8).
#[inline(always)]
pub(crate) fn decode_at(bytes: &[u8], i: usize) -> (char, usize) {
    let b0 = u32::from(bytes[i]);
    let cont = |k: usize| u32::from(bytes[i + k] & 0x3F);
    let (cp, len) = if b0 < 0x80 {
        (b0, 1)
    } else if b0 < 0xE0 {
        (((b0 & 0x1F) << 6) | cont(1), 2)
    } else if b0 < 0xF0 {
        (((b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2), 3)
    } else {
        (
            ((b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3),
            4,
        )
    };
    // The bytes come from a `str`, so this is always a scalar value; the fallback only keeps the
    // function total.
    (
        char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER),
        len,
    )
}

/// Classifies `text` against the default alphabet, counting septets on the way.
pub(crate) fn scan_default(text: &str) -> Scan {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut i = 0;
    let mut units = 0;
    let mut escapes = 0;
    while i < n {
        let mut end = n;
        if let Some(block) = bytes[i..].first_chunk::<CHUNK>() {
            if let Some(e) = ascii_block(block) {
                units += CHUNK + e;
                escapes += e;
                i += CHUNK;
                continue;
            }
            end = i + CHUNK;
        }
        // Character by character to the end of the block (or of the text).
        while i < end {
            let b = bytes[i];
            let (cost, len) = if b < 0x80 {
                (ASCII_COST[usize::from(b)], 1)
            } else {
                let (c, len) = decode_at(bytes, i);
                (default_cost(c), len)
            };
            if cost == 0 {
                return Scan::Ucs2;
            }
            units += usize::from(cost);
            escapes += usize::from(cost == 2);
            i += len;
        }
    }
    Scan::Gsm { units, escapes }
}

/// Segments of a default-alphabet message of `units` septets with `escapes` extension characters.
pub(crate) fn gsm_segments(
    text: &str,
    units: usize,
    escapes: usize,
    single: usize,
    concat: usize,
) -> usize {
    if units <= single {
        1
    } else if escapes == 0 {
        units.div_ceil(concat)
    } else {
        gsm_greedy(text, concat)
    }
}

/// Greedy packing of default-alphabet text into parts of `cap` septets, never splitting an escape
/// pair. Skips whole ASCII blocks while they cannot reach the end of the part.
fn gsm_greedy(text: &str, cap: usize) -> usize {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut segments = 1;
    let mut part = 0;
    let mut i = 0;
    while i < n {
        if part + 2 * CHUNK <= cap
            && let Some(block) = bytes[i..].first_chunk::<CHUNK>()
            && let Some(e) = ascii_block(block)
        {
            part += CHUNK + e;
            i += CHUNK;
            continue;
        }
        let b = bytes[i];
        let (cost, len) = if b < 0x80 {
            (usize::from(ASCII_COST[usize::from(b)]), 1)
        } else {
            let (c, len) = decode_at(bytes, i);
            (usize::from(default_cost(c)), len)
        };
        if part + cost > cap {
            segments += 1;
            part = 0;
        }
        part += cost;
        i += len;
    }
    segments
}

/// UTF-16 units and segments of a UCS-2 message.
pub(crate) fn ucs2_count(
    text: &str,
    graphemes: bool,
    single: usize,
    concat: usize,
) -> (usize, usize) {
    let bytes = text.as_bytes();
    let units = utf16_len(bytes);
    if units <= single {
        return (units, 1);
    }
    // Without surrogate pairs and without the grapheme rule every cut is exact.
    if !graphemes && !bytes.iter().any(|&b| b >= 0xF0) {
        return (units, units.div_ceil(concat));
    }
    let n = bytes.len();
    let mut segments = 1;
    let mut part = 0;
    let mut part_start = 0;
    let mut i = 0;
    while i < n {
        // A block of k bytes carries at most k + 1 units (a 4-byte lead in its last byte is
        // charged both of its units): skip it whole while it cannot overflow the part.
        if part + CHUNK < concat
            && let Some(block) = bytes[i..].first_chunk::<CHUNK>()
        {
            part += utf16_len(block);
            i += CHUNK;
            continue;
        }
        let u = byte_units(bytes[i]);
        if part + u > concat {
            // `i` is a lead byte here (u > 0), so it is a code point boundary.
            let cut = if graphemes {
                grapheme_safe_cut(text, part_start, i)
            } else {
                i
            };
            segments += 1;
            part = utf16_len(&bytes[cut..i]);
            part_start = cut;
        }
        part += u;
        i += 1;
    }
    (units, segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_classification() {
        let mut block = [b'a'; CHUNK];
        assert_eq!(ascii_block(&block), Some(0));
        block[3] = b'{';
        block[9] = b'~';
        block[10] = 0x0C;
        assert_eq!(ascii_block(&block), Some(3));
        for bad in [b'`', b'\t', 0x1B, 0x7F, 0x00, 0xC3] {
            block[5] = bad;
            assert_eq!(ascii_block(&block), None, "{bad:#x}");
        }
        block[5] = b'\n';
        assert_eq!(ascii_block(&block), Some(3));
    }

    #[test]
    fn block_agrees_with_the_table_for_every_byte() {
        for b in 0u8..=255 {
            let block = [b; CHUNK];
            let expected = match ASCII_COST.get(usize::from(b)) {
                Some(0) | None => None,
                Some(1) => Some(0),
                Some(_) => Some(CHUNK),
            };
            assert_eq!(ascii_block(&block), expected, "{b:#x}");
        }
    }

    #[test]
    fn decode_matches_std() {
        let s = "aé中😀";
        let mut i = 0;
        for c in s.chars() {
            assert_eq!(decode_at(s.as_bytes(), i), (c, c.len_utf8()));
            i += c.len_utf8();
        }
    }
}
