//! The count-only hot path for the default GSM alphabet: encoding, units and segments without
//! building parts, graphemes or strings.
//!
//! A preview of a million recipients calls this once per rendered message, so it is written for
//! throughput. One pass classifies the text and packs it greedily at once:
//! - clean ASCII is taken 32 bytes at a time with branch-free arithmetic the compiler vectorises;
//! - a block that holds anything else is walked 8 bytes at a time with SWAR bit tricks up to the
//!   first byte that needs attention, and only that character is decoded;
//! - greedy packing looks at single characters only in the block where a part fills up.
//!
//! UCS-2 text is counted from the UTF-8 bytes the same way, and grapheme boundaries are checked
//! only where a cut falls. `Segmenter::segment` packs character by character; a property test
//! holds the two to the same answers.

use super::gsm7::{ASCII_COST, default_cost_cp};
use super::ucs2::{GraphemeCuts, byte_units, utf16_len};

/// Bytes classified per step of the GSM-7 scan: wide enough to amortise the step's reductions and
/// branches, and at most 128 septets, less than any part holds (so one cut per block suffices).
const BLOCK: usize = 64;
/// Bytes per step of the UCS-2 packing: a part holds only 66 to 70 units, so wider steps would
/// rarely fit whole and fall back to the byte walk.
const UCS2_BLOCK: usize = 32;
/// 0x80 in every byte.
const HI: u64 = 0x8080_8080_8080_8080;

/// Septets of the characters whose lead bytes lie in `block` (which starts at `bytes[start]`; a
/// character may run past the block's end, and the continuation bytes of one begun before it cost
/// nothing here), or `None` if one is outside the default alphabet.
///
/// One branch-free pass the compiler vectorises classifies every byte: ASCII outside the alphabet
/// (control characters other than LF, CR and FF, the backtick, DEL), extension characters, and
/// bytes of multi-byte characters. Only multi-byte characters are then decoded, one by one, found
/// through their lead bytes with bit tricks on 8-byte words.
#[inline(always)]
fn block_cost(bytes: &[u8], start: usize, block: &[u8; BLOCK]) -> Option<BlockCost> {
    let mut escapes = 0u8;
    let mut bad = 0u8;
    let mut high = 0u8;
    for &b in block {
        // `^ [ \ ]` are 0x5B..=0x5E and `{ | } ~` are 0x7B..=0x7E: one range once bit 5 is cleared.
        let folded = b & 0xDF;
        escapes += u8::from(folded.wrapping_sub(0x5B) < 4) | u8::from(b == 0x0C);
        let allowed_control = u8::from(b == b'\n') | u8::from(b == b'\r') | u8::from(b == 0x0C);
        let control = u8::from(b < 0x20) & (allowed_control ^ 1);
        bad |= control | u8::from(b == b'`') | u8::from(b == 0x7F);
        high += u8::from(b >= 0x80);
    }
    if bad != 0 {
        return None;
    }
    let mut cost = BLOCK - usize::from(high) + usize::from(escapes);
    let mut doubles = escapes != 0;
    if high != 0 {
        for (w, word) in block.chunks_exact(8).enumerate() {
            let mut x = [0u8; 8];
            x.copy_from_slice(word);
            let x = u64::from_le_bytes(x);
            // Lead bytes are 11xxxxxx: bit 7 and bit 6 set.
            let mut leads = x & (x << 1) & HI;
            while leads != 0 {
                let at = start + 8 * w + leads.trailing_zeros() as usize / 8;
                match default_cost_cp(decode_at(bytes, at)) {
                    0 => return None,
                    c => {
                        cost += usize::from(c);
                        doubles |= c == 2;
                    }
                }
                leads &= leads - 1;
            }
        }
    }
    Some(BlockCost { cost, doubles })
}

/// Septets of a run of characters, and whether any takes two (an escape pair).
struct BlockCost {
    cost: usize,
    doubles: bool,
}

/// Decodes the UTF-8 character starting at `bytes[i]` (a lead byte of valid UTF-8) into its code
/// point.
#[inline(always)]
fn decode_at(bytes: &[u8], i: usize) -> u32 {
    let b0 = u32::from(bytes[i]);
    let cont = |k: usize| u32::from(bytes[i + k] & 0x3F);
    if b0 < 0x80 {
        b0
    } else if b0 < 0xE0 {
        ((b0 & 0x1F) << 6) | cont(1)
    } else if b0 < 0xF0 {
        ((b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2)
    } else {
        ((b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3)
    }
}

/// Greedy packing state: septets in the current part and parts so far, at one part capacity.
struct Packer {
    cap: usize,
    part: usize,
    parts: usize,
    /// Whether an escape pair has been seen; until then every part is filled exactly and a cut
    /// can be computed instead of searched for.
    doubles: bool,
}

impl Packer {
    /// Adds the characters whose lead bytes lie in `bytes[start..end]`, costing `cost` septets in
    /// all: at once when they fit the current part; otherwise walks to the character that no
    /// longer fits (never splitting an escape pair) and starts the next part there. A run costs at
    /// most 128 septets, less than any part holds, so one cut is enough.
    #[inline(always)]
    fn push_run(&mut self, bytes: &[u8], start: usize, end: usize, run: &BlockCost) {
        let cost = run.cost;
        self.doubles |= run.doubles;
        if self.part + cost <= self.cap {
            self.part += cost;
            return;
        }
        let room = self.cap - self.part;
        if !self.doubles {
            self.parts += 1;
            self.part = cost - room;
            return;
        }
        let mut used = 0;
        for i in start..end {
            let b = bytes[i];
            let c = if b < 0x80 {
                usize::from(ASCII_COST[usize::from(b)])
            } else if b >= 0xC0 {
                usize::from(default_cost_cp(decode_at(bytes, i)))
            } else {
                continue;
            };
            if used + c > room {
                self.parts += 1;
                self.part = cost - used;
                return;
            }
            used += c;
        }
        // Not reached: `cost > room` means some character does not fit.
        self.part += cost;
    }
}

/// Septets of `text` in the default alphabet and the parts greedy packing at `concat` septets
/// gives, or `None` when a character outside the alphabet makes the message UCS-2.
pub(crate) fn scan_default(text: &str, concat: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut i = 0;
    let mut units = 0;
    let mut packer = Packer {
        cap: concat,
        part: 0,
        parts: 1,
        doubles: false,
    };
    while let Some(block) = bytes[i..].first_chunk::<BLOCK>() {
        let run = block_cost(bytes, i, block)?;
        units += run.cost;
        packer.push_run(bytes, i, i + BLOCK, &run);
        i += BLOCK;
    }
    if i < n {
        // The tail, padded with a plain one-septet letter whose cost is taken off again.
        let tail = &bytes[i..];
        let mut block = [b'a'; BLOCK];
        block[..tail.len()].copy_from_slice(tail);
        let mut run = block_cost(bytes, i, &block)?;
        run.cost -= BLOCK - tail.len();
        units += run.cost;
        packer.push_run(bytes, i, n, &run);
    }
    Some((units, packer.parts))
}

/// UTF-16 units the word's bytes carry (see [`byte_units`]).
#[inline(always)]
fn word_units(x: u64) -> usize {
    // A byte starts a code point unless it is 10xxxxxx; a 4-byte lead is 11110xxx.
    let continuation = x & !(x << 1) & HI;
    let four = x & (x << 1) & (x << 2) & (x << 3) & HI;
    8 - byte_flags_sum(continuation) + byte_flags_sum(four)
}

/// How many bytes of `flags` have bit 7 set (and no other bit): a multiply gathers the eight
/// 0/1 values into the top byte, cheaper than a software popcount on baseline x86-64.
#[inline(always)]
fn byte_flags_sum(flags: u64) -> usize {
    ((flags >> 7).wrapping_mul(0x0101_0101_0101_0101) >> 56) as usize
}

/// UTF-16 units the block's bytes carry (see [`byte_units`]); branch-free, vectorised.
#[inline(always)]
fn block_units(block: &[u8; UCS2_BLOCK]) -> usize {
    let mut sum = 0u8;
    for &b in block {
        sum += u8::from((b & 0xC0) != 0x80) + u8::from(b >= 0xF0);
    }
    usize::from(sum)
}

/// UTF-16 units and segments of a UCS-2 message, in one pass: units are summed block by block
/// while greedy packing at the concatenated capacity runs alongside, looking at single bytes only
/// in the block where a part fills up.
pub(crate) fn ucs2_count(
    text: &str,
    graphemes: bool,
    single: usize,
    concat: usize,
) -> (usize, usize) {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut units = 0;
    let mut segments = 1;
    let mut part = 0;
    let mut part_start = 0;
    let mut cuts = GraphemeCuts::new(text);
    let mut i = 0;
    while i < n {
        let end = (i + UCS2_BLOCK).min(n);
        let u = match bytes[i..].first_chunk::<UCS2_BLOCK>() {
            Some(block) => block_units(block),
            None => utf16_len(&bytes[i..]),
        };
        units += u;
        // Units are charged to lead bytes, so a run whose units fit what is left of the part
        // cannot hold a cut.
        if part + u <= concat {
            part += u;
            i = end;
            continue;
        }
        // A whole block of one-unit characters is ASCII, and UAX #29 breaks between any two
        // ASCII characters but CR LF: the cut is plain arithmetic. (At the block's first byte the
        // character before is not in the block, so that case takes the walk below.)
        let take = concat - part;
        if end - i == UCS2_BLOCK
            && u == UCS2_BLOCK
            && take > 0
            && !(graphemes && bytes[i + take - 1] == b'\r' && bytes[i + take] == b'\n')
        {
            segments += 1;
            part = u - take;
            part_start = i + take;
            i = end;
            continue;
        }
        let mut j = i;
        while j < end {
            if let Some(word) = bytes[j..end].first_chunk::<8>() {
                let u = word_units(u64::from_le_bytes(*word));
                if part + u <= concat {
                    part += u;
                    j += 8;
                    continue;
                }
            }
            let u = byte_units(bytes[j]);
            if part + u > concat {
                // `j` is a lead byte here (u > 0), so it is a code point boundary.
                let cut = if graphemes {
                    cuts.cut(part_start, j)
                } else {
                    j
                };
                segments += 1;
                part = utf16_len(&bytes[cut..j]);
                part_start = cut;
            }
            part += u;
            j += 1;
        }
        i = end;
    }
    if units <= single {
        (units, 1)
    } else {
        (units, segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_cost_agrees_with_the_table_for_every_ascii_byte() {
        for b in 0u8..0x80 {
            let block = [b; BLOCK];
            let expected = match ASCII_COST[usize::from(b)] {
                0 => None,
                c => Some(BLOCK * usize::from(c)),
            };
            assert_eq!(
                block_cost(&block, 0, &block).map(|r| r.cost),
                expected,
                "{b:#x}"
            );
        }
    }

    #[test]
    fn block_cost_decodes_multibyte_characters() {
        // é (2 bytes, 1 septet), € (3 bytes, 2 septets), Δ (2 bytes, 1): a block in all.
        let text = format!("é€Δ{}", "a".repeat(BLOCK - 7));
        let bytes = text.as_bytes();
        let block: &[u8; BLOCK] = bytes.first_chunk().unwrap();
        let run = block_cost(bytes, 0, block).unwrap();
        assert_eq!((run.cost, run.doubles), (4 + BLOCK - 7, true));
        let ucs = format!("ç{}", "a".repeat(BLOCK));
        let block: &[u8; BLOCK] = ucs.as_bytes().first_chunk().unwrap();
        assert!(block_cost(ucs.as_bytes(), 0, block).is_none());
    }

    #[test]
    fn word_units_match_utf16() {
        for s in ["abcdefgh", "éé€a", "😀😀", "a😀bcd", "中文字x"] {
            let w: [u8; 8] = s.as_bytes()[..8].try_into().unwrap();
            let expected: usize = w.iter().map(|&b| byte_units(b)).sum();
            assert_eq!(word_units(u64::from_le_bytes(w)), expected, "{s}");
        }
    }

    #[test]
    fn block_units_match_utf16() {
        let text = "a😀bcd中文字xyzé€Δ and some more text!";
        let block: &[u8; UCS2_BLOCK] = text.as_bytes().first_chunk().unwrap();
        let expected: usize = block.iter().map(|&b| byte_units(b)).sum();
        assert_eq!(block_units(block), expected);
    }

    #[test]
    fn decode_matches_std() {
        let s = "aé中😀";
        let mut i = 0;
        for c in s.chars() {
            assert_eq!(decode_at(s.as_bytes(), i), c as u32);
            i += c.len_utf8();
        }
    }

    #[test]
    fn short_tails_are_padded() {
        assert_eq!(scan_default("ab{", 153), Some((4, 1)));
        assert_eq!(scan_default("ab`", 153), None);
        assert_eq!(scan_default("", 153), Some((0, 1)));
    }
}
