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

/// MurmurHash3 x86 32-bit of `data` with `seed`, as Austin Appleby's reference `MurmurHash3_x86_32`
/// (the tests check it against the reference vectors and the `murmur3` crate).
#[cfg(test)]
pub(crate) fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
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

/// The hash of a flag name for [`NameIndex`]: one folded 64×64→128-bit multiply per 8 bytes (the
/// mixing step of wyhash and foldhash), so every output bit depends on every input bit. Names come
/// from the flag state, which the operator controls, so collision attacks are not a concern and no
/// random seed is needed (nor wanted: the core reads no entropy).
#[inline]
fn name_hash(name: &str) -> u64 {
    #[inline]
    fn fold(a: u64, b: u64) -> u64 {
        let product = u128::from(a) * u128::from(b);
        // Truncation is the technique: the low and high halves are folded together.
        (product as u64) ^ ((product >> 64) as u64)
    }
    const K: u64 = 0x5851_f42d_4c95_7f2d;
    let bytes = name.as_bytes();
    let mut h = (bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = fold(h ^ u64::from_le_bytes(word), K);
    }
    // The last 1 to 7 bytes, read without a variable-length copy into a stack buffer (a memcpy
    // followed by a wide load stalls on store forwarding, which cost a third of a lookup).
    // Overlapping reads are fine: the length is already mixed in.
    let rest = chunks.remainder();
    let n = rest.len();
    let tail = match n {
        0 => 0,
        1..=3 => u64::from(rest[0]) | u64::from(rest[n / 2]) << 8 | u64::from(rest[n - 1]) << 16,
        _ => {
            let (mut lo, mut hi) = ([0u8; 4], [0u8; 4]);
            lo.copy_from_slice(&rest[..4]);
            hi.copy_from_slice(&rest[n - 4..]);
            u64::from(u32::from_le_bytes(lo)) | u64::from(u32::from_le_bytes(hi)) << 32
        }
    };
    fold(h ^ tail, K ^ 0xa076_1d64_78bd_642f)
}

/// The flag-name index: an open-addressing table built once (the engine is immutable), at most
/// half full, so a lookup is one hash, and usually one slot read and one name comparison; a miss
/// usually stops at the first empty slot. Measured faster than `std`'s `HashMap` with a fast hasher
/// for the unknown-flag path, which is all lookup.
#[derive(Clone, Debug, Default)]
pub(crate) struct NameIndex {
    /// `(hash, position)`; `position == u32::MAX` is an empty slot.
    slots: Box<[(u64, u32)]>,
    mask: usize,
}

const EMPTY: u32 = u32::MAX;

impl NameIndex {
    /// Indexes `names` by position. Names must be distinct (the compiler drops duplicates first).
    pub(crate) fn new<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> Self {
        let capacity = (names.len() * 2).max(4).next_power_of_two();
        let mut slots = vec![(0u64, EMPTY); capacity].into_boxed_slice();
        let mask = capacity - 1;
        for (position, name) in names.enumerate() {
            let hash = name_hash(name);
            // Truncation to the table size is the point of the mask.
            let mut i = hash as usize & mask;
            while slots[i].1 != EMPTY {
                i = (i + 1) & mask;
            }
            // Positions are below u32::MAX: a state cannot hold four billion flags in memory.
            slots[i] = (hash, u32::try_from(position).unwrap_or(EMPTY - 1));
        }
        Self { slots, mask }
    }

    /// The position of `name`, given the name at each position.
    #[inline]
    pub(crate) fn get<'n>(&self, name: &str, name_at: impl Fn(usize) -> &'n str) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let hash = name_hash(name);
        let mut i = hash as usize & self.mask;
        loop {
            let (h, position) = *self.slots.get(i)?;
            if position == EMPTY {
                return None;
            }
            if h == hash && name_at(position as usize) == name {
                return Some(position as usize);
            }
            i = (i + 1) & self.mask;
        }
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

    #[test]
    fn name_index_finds_every_name_and_nothing_else() {
        let names: Vec<String> = (0..1000).map(|i| format!("flag-{i}")).collect();
        let index = NameIndex::new(names.iter().map(String::as_str));
        for (i, name) in names.iter().enumerate() {
            assert_eq!(index.get(name, |p| &names[p]), Some(i));
        }
        for miss in ["", "flag-1000", "flag-", "Flag-1", "flag-1 "] {
            assert_eq!(index.get(miss, |p| &names[p]), None, "{miss}");
        }
        let empty = NameIndex::default();
        assert_eq!(empty.get("x", |_| unreachable!()), None);
        let none = NameIndex::new(std::iter::empty());
        assert_eq!(none.get("x", |_| unreachable!()), None);
    }

    proptest! {
        #[test]
        fn name_index_agrees_with_a_hash_set(
            names in proptest::collection::hash_set(".{0,20}", 0..60),
            probes in proptest::collection::vec(".{0,20}", 0..20),
        ) {
            let names: Vec<String> = names.into_iter().collect();
            let index = NameIndex::new(names.iter().map(String::as_str));
            for probe in names.iter().chain(&probes) {
                let want = names.iter().position(|n| n == probe);
                prop_assert_eq!(index.get(probe, |p| &names[p]), want);
            }
        }

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
