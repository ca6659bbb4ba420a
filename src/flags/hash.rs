//! MurmurHash3 (x86, 32-bit) and Unleash's bucketing on top of it.
//!
//! Our own implementation rather than the `murmur3` crate: it hashes `groupId`, `:` and the sticky
//! value as three slices without building the joined string, so bucketing allocates nothing.

/// Seed of the rollout buckets (`flexibleRollout`, `gradualRollout*`).
pub(crate) const ROLLOUT_SEED: u32 = 0;
/// Seed of the variant buckets, as every Unleash SDK uses it.
pub(crate) const VARIANT_SEED: u32 = 86_028_157;

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// MurmurHash3 x86 32-bit of `data` with `seed`, as Austin Appleby's reference `MurmurHash3_x86_32`.
///
/// ```
/// use smsbatch::flags::murmur3_x86_32;
///
/// assert_eq!(murmur3_x86_32(b"", 1), 0x514E_28B7);
/// assert_eq!(murmur3_x86_32(b"Hello, world!", 0x9747_b28c), 0x2488_4CBA);
/// ```
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    let mut m = Murmur::new(seed);
    m.write(data);
    m.finish()
}

/// The rollout bucket (1 to 100) of a sticky value in a group, as every Unleash SDK computes it:
/// `murmur3_x86_32("groupId:value", 0) % 100 + 1`. A rollout of `p` percent includes the value
/// when its bucket is at most `p`.
///
/// ```
/// use smsbatch::flags::rollout_bucket;
///
/// // From the Unleash client specification (03-gradual-rollout-user-id-strategy): at 50 percent
/// // in group "AB12A", user 122 is in and user 155 is out.
/// assert!(rollout_bucket("AB12A", "122") <= 50);
/// assert!(rollout_bucket("AB12A", "155") > 50);
/// ```
pub fn rollout_bucket(group_id: &str, value: &str) -> u32 {
    bucket(group_id, value, 100, ROLLOUT_SEED)
}

/// `murmur3_x86_32("group:value", seed) % modulus + 1`; a zero modulus counts as 1 so this never
/// divides by zero (the compiler never passes one: a zero total weight is rejected with a warning).
pub(crate) fn bucket(group: &str, value: &str, modulus: u32, seed: u32) -> u32 {
    let mut m = Murmur::new(seed);
    m.write(group.as_bytes());
    m.write(b":");
    m.write(value.as_bytes());
    m.finish() % modulus.max(1) + 1
}

/// Streaming state: whole 4-byte blocks are mixed as they arrive, a partial block waits in `tail`.
struct Murmur {
    h: u32,
    tail: u32,
    tail_len: u32,
    len: u32,
}

#[inline]
fn mix_k(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

#[inline]
fn mix_h(h: u32, k: u32) -> u32 {
    (h ^ mix_k(k))
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

impl Murmur {
    #[inline]
    fn new(seed: u32) -> Self {
        Self {
            h: seed,
            tail: 0,
            tail_len: 0,
            len: 0,
        }
    }

    #[inline]
    fn write(&mut self, mut bytes: &[u8]) {
        // The reference adds the length as a 32-bit value, so wrapping is the specified behaviour.
        self.len = self.len.wrapping_add(bytes.len() as u32);
        while self.tail_len > 0 {
            let Some((&b, rest)) = bytes.split_first() else {
                return;
            };
            self.tail |= u32::from(b) << (8 * self.tail_len);
            self.tail_len += 1;
            bytes = rest;
            if self.tail_len == 4 {
                self.h = mix_h(self.h, self.tail);
                self.tail = 0;
                self.tail_len = 0;
            }
        }
        let mut blocks = bytes.chunks_exact(4);
        for block in &mut blocks {
            let k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
            self.h = mix_h(self.h, k);
        }
        for &b in blocks.remainder() {
            self.tail |= u32::from(b) << (8 * self.tail_len);
            self.tail_len += 1;
        }
    }

    #[inline]
    fn finish(self) -> u32 {
        let mut h = self.h;
        if self.tail_len > 0 {
            h ^= mix_k(self.tail);
        }
        h ^= self.len;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^ (h >> 16)
    }
}

/// The Fx hash (rustc's): a fast hasher for the flag-name index. Names come from the flag state,
/// which the operator controls, so collision attacks are not a concern there.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Published vectors for the reference implementation (SMHasher's `MurmurHash3_x86_32`, as
    /// collected in the well-known test-vector lists).
    const VECTORS: &[(&[u8], u32, u32)] = &[
        (b"", 0, 0),
        (b"", 1, 0x514E_28B7),
        (b"", 0xffff_ffff, 0x81F1_6F39),
        (b"\0\0\0\0", 0, 0x2362_F9DE),
        (b"\0\0\0", 0, 0x85F0_B427),
        (b"\0\0", 0, 0x30F4_C306),
        (b"\0", 0, 0x514E_28B7),
        (b"\xff\xff\xff\xff", 0, 0x7629_3B50),
        (b"\x21\x43\x65\x87", 0, 0xF55B_516B),
        (b"\x21\x43\x65\x87", 0x5082_EDEE, 0x2362_F9DE),
        (b"\x21\x43\x65", 0, 0x7E4A_8634),
        (b"\x21\x43", 0, 0xA0F7_B07A),
        (b"\x21", 0, 0x7266_1CF4),
        (b"aaaa", 0x9747_b28c, 0x5A97_808A),
        (b"aaa", 0x9747_b28c, 0x283E_0130),
        (b"aa", 0x9747_b28c, 0x5D21_1726),
        (b"a", 0x9747_b28c, 0x7FA0_9EA6),
        (b"abcd", 0x9747_b28c, 0xF047_8627),
        (b"abc", 0x9747_b28c, 0xC84A_62DD),
        (b"ab", 0x9747_b28c, 0x7487_5592),
        (b"Hello, world!", 0x9747_b28c, 0x2488_4CBA),
        ("ππππππππ".as_bytes(), 0x9747_b28c, 0xD580_63C1),
        (b"abc", 0, 0xB3DD_93FA),
        (
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            0,
            0xEE92_5B90,
        ),
        (
            b"The quick brown fox jumps over the lazy dog",
            0x9747_b28c,
            0x2FA8_26CD,
        ),
    ];

    #[test]
    fn known_vectors() {
        for &(data, seed, want) in VECTORS {
            assert_eq!(murmur3_x86_32(data, seed), want, "{data:?} seed {seed:#x}");
        }
        assert_eq!(murmur3_x86_32(&[b'a'; 256], 0x9747_b28c), 0x3740_5BDC);
    }

    #[test]
    fn unleash_buckets_from_the_specification() {
        // 03-gradual-rollout-user-id-strategy and 04-...-session-id: 50 % of group AB12A.
        assert!(rollout_bucket("AB12A", "122") <= 50);
        assert!(rollout_bucket("AB12A", "155") > 50);
        // 16-strategy-variants: two variants of weight 1 in group "a" with the variant seed.
        assert_eq!(bucket("a", "5", 2, VARIANT_SEED), 1);
        assert_eq!(bucket("a", "0", 2, VARIANT_SEED), 2);
    }

    #[test]
    fn zero_modulus_does_not_divide_by_zero() {
        assert_eq!(bucket("g", "v", 0, 0), 1);
    }

    proptest! {
        #[test]
        fn agrees_with_the_murmur3_crate(data in proptest::collection::vec(any::<u8>(), 0..64), seed: u32) {
            let want = murmur3::murmur3_32(&mut std::io::Cursor::new(&data), seed).unwrap();
            prop_assert_eq!(murmur3_x86_32(&data, seed), want);
        }

        #[test]
        fn streaming_equals_one_shot(group in ".{0,12}", value in ".{0,12}", seed: u32) {
            let joined = format!("{group}:{value}");
            prop_assert_eq!(
                bucket(&group, &value, 1000, seed),
                murmur3_x86_32(joined.as_bytes(), seed) % 1000 + 1
            );
        }
    }
}
