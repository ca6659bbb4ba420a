//! Decimal text to `f64` for the `NUM_*` constraints and rollout percentages: the same grammar
//! and the same correctly rounded result as `str::parse::<f64>` (which Unleash's Rust engine
//! uses), without its table of 128-bit powers of five.
//!
//! The standard library goes through the Eisel-Lemire algorithm, whose table would weigh on the
//! WebAssembly package only for flags. Flag numbers are short (`"25"`, `"2.5"`,
//! `"100"`), so here the exact fast path (Clinger's: at most 15 digits and a power of ten up to
//! 10^22, one rounding) takes nearly all of them, and the rest go through exact big-integer
//! division, which is slow but small and only as long as the input. A property test checks the
//! result bit for bit against the standard library.

/// Parses `s` exactly as `s.parse::<f64>()` does (no surrounding whitespace; `inf`, `infinity`
/// and `nan` in any case, with an optional sign); `None` where it fails.
pub(crate) fn parse_f64(s: &str) -> Option<f64> {
    let bytes = s.as_bytes();
    let (negative, rest) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    let magnitude = if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        f64::INFINITY
    } else if rest.eq_ignore_ascii_case(b"nan") {
        f64::NAN
    } else {
        decimal(rest)?
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// `digits[.digits][(e|E)[+|-]digits]` with at least one mantissa digit.
fn decimal(b: &[u8]) -> Option<f64> {
    // The mantissa's text, and where its dot is.
    let mut i = 0;
    let mut dot = None;
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => {}
            b'.' if dot.is_none() => dot = Some(i),
            _ => break,
        }
        i += 1;
    }
    let mantissa = &b[..i];
    if mantissa.len() == usize::from(dot.is_some()) {
        return None;
    }
    // The value is the mantissa's digits, read as an integer, times 10^exp10.
    let mut exp10 = -(dot.map_or(0, |d| i - d - 1) as i64);
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        let negative = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut exp: i64 = 0;
        while let Some(&c @ b'0'..=b'9') = b.get(i) {
            // Past a million the value is 0 or infinite whatever the digits; stop growing.
            exp = (exp * 10 + i64::from(c - b'0')).min(1_000_000_000);
            i += 1;
        }
        if i == start {
            return None;
        }
        exp10 += if negative { -exp } else { exp };
    }
    if i != b.len() {
        return None;
    }
    // The significant digits run from the first non-zero digit to the last; zeros after the
    // last only scale the value.
    let nonzero = |c: &u8| matches!(c, b'1'..=b'9');
    let Some(first) = mantissa.iter().position(nonzero) else {
        return Some(0.0);
    };
    let last = mantissa.iter().rposition(nonzero).unwrap_or(first);
    exp10 += mantissa[last + 1..]
        .iter()
        .filter(|c| c.is_ascii_digit())
        .count() as i64;
    let significant = mantissa[first..=last]
        .iter()
        .filter(|c| c.is_ascii_digit())
        .map(|c| c - b'0');
    if significant.clone().count() <= 15 && (-22..=22).contains(&exp10) {
        // Clinger's fast path, the one flags nearly always take (`"5"`, `"2.5"`, `"100"`), and
        // without allocating: it sits on the hot path of every `NUM_*` constraint. Both operands
        // are exact, so the one operation rounds correctly.
        let mantissa = significant.fold(0u64, |acc, d| acc * 10 + u64::from(d)) as f64;
        let power = POWERS_OF_TEN[exp10.unsigned_abs() as usize];
        return Some(if exp10 < 0 {
            mantissa / power
        } else {
            mantissa * power
        });
    }
    let mut digits: Vec<u8> = significant.collect();
    // Past 800 significant digits only whether the rest is zero matters: a halfway point between
    // two doubles has at most 767, so the rest cannot carry the value across one. (This also
    // bounds the big-integer work for hostile input.)
    let mut truncated = false;
    if digits.len() > MAX_DIGITS {
        truncated = digits[MAX_DIGITS..].iter().any(|&d| d != 0);
        exp10 += (digits.len() - MAX_DIGITS) as i64;
        digits.truncate(MAX_DIGITS);
    }
    // The value lies in [10^magnitude, 10^(magnitude + 1)).
    let magnitude = digits.len() as i64 - 1 + exp10;
    if magnitude > 308 {
        return Some(f64::INFINITY);
    }
    if magnitude < -324 {
        // Below 10^-324, less than half the smallest subnormal (4.9e-324).
        return Some(0.0);
    }
    Some(exact(&digits, exp10, truncated))
}

/// Significant digits kept for the exact path.
const MAX_DIGITS: usize = 800;

/// 10^0 to 10^22, every one exactly representable in an `f64`.
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `digits × 10^exp10`, correctly rounded (round half to even), for values within the range the
/// caller checked: the quotient of two big integers, to 66 bits plus a sticky bit.
fn exact(digits: &[u8], exp10: i64, truncated: bool) -> f64 {
    let mut numerator = Big::from_digits(digits);
    let mut denominator = Big::one();
    // |exp10| is at most about 1 130 here (the caller bounded the magnitude and kept at most 800
    // digits), so the integers stay below 4 000 bits.
    if exp10 >= 0 {
        numerator.mul_pow10(exp10.unsigned_abs());
    } else {
        denominator.mul_pow10(exp10.unsigned_abs());
    }
    // Scale so the quotient has 65 or 66 bits: then value = quotient × 2^-shift.
    let shift = 65 - (numerator.bits() as i64 - denominator.bits() as i64);
    if shift >= 0 {
        numerator.shl(shift.unsigned_abs());
    } else {
        denominator.shl(shift.unsigned_abs());
    }
    let (quotient, remainder) = numerator.div_small_quotient(&denominator);
    let inexact = remainder || truncated;
    let bits = 128 - i64::from(quotient.leading_zeros());
    // value ∈ [2^exponent, 2^(exponent + 1)).
    let exponent = bits - 1 - shift;
    if exponent > 1023 {
        return f64::INFINITY;
    }
    // 53 significant bits for normal numbers, fewer below 2^-1022.
    let precision = if exponent >= -1022 {
        53
    } else {
        53 - (-1022 - exponent)
    };
    let dropped = bits - precision;
    // At least 12 bits are dropped (the quotient has 65 or more), at most all of them and more.
    let (mut kept, half, rest_nonzero) = if dropped > 127 {
        (0u128, false, quotient != 0 || inexact)
    } else {
        let dropped = dropped as u32;
        let kept = quotient >> dropped;
        let remainder = quotient & ((1u128 << dropped) - 1);
        let half_bit = 1u128 << (dropped - 1);
        (
            kept,
            remainder & half_bit != 0,
            remainder & (half_bit - 1) != 0 || inexact,
        )
    };
    if half && (rest_nonzero || kept & 1 == 1) {
        kept += 1;
    }
    // The least significant kept bit is worth 2^(exponent - precision + 1); rounding up may have
    // carried into a new bit, which the multiplication absorbs exactly.
    let unit = exponent - precision + 1;
    if kept == 0 {
        return 0.0;
    }
    // `kept` has at most 54 bits, so the conversion is exact.
    let value = kept as f64 * power_of_two(unit);
    if value.is_infinite() {
        f64::INFINITY
    } else {
        value
    }
}

/// 2^e for e in -1074..=1023 (an exact `f64`), saturating outside.
fn power_of_two(e: i64) -> f64 {
    if e > 1023 {
        f64::INFINITY
    } else if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else if e >= -1074 {
        f64::from_bits(1u64 << (e + 1074))
    } else {
        0.0
    }
}

/// An unsigned big integer, little-endian 32-bit limbs, just enough for [`exact`].
#[derive(Clone, Debug)]
struct Big(Vec<u32>);

impl Big {
    fn one() -> Self {
        Big(vec![1])
    }

    fn from_digits(digits: &[u8]) -> Self {
        let mut n = Big(Vec::new());
        for chunk in digits.chunks(9) {
            let value = chunk.iter().fold(0u32, |acc, &d| acc * 10 + u32::from(d));
            n.mul_add(10u32.pow(chunk.len() as u32), value);
        }
        n
    }

    /// self = self × factor + addend.
    fn mul_add(&mut self, factor: u32, addend: u32) {
        let mut carry = u64::from(addend);
        for limb in &mut self.0 {
            let product = u64::from(*limb) * u64::from(factor) + carry;
            *limb = product as u32;
            carry = product >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow10(&mut self, mut exp: u64) {
        while exp >= 9 {
            self.mul_add(1_000_000_000, 0);
            exp -= 9;
        }
        if exp > 0 {
            self.mul_add(10u32.pow(exp as u32), 0);
        }
    }

    fn bits(&self) -> u64 {
        match self.0.iter().rposition(|&l| l != 0) {
            Some(top) => top as u64 * 32 + u64::from(32 - self.0[top].leading_zeros()),
            None => 0,
        }
    }

    fn shl(&mut self, bits: u64) {
        let limbs = (bits / 32) as usize;
        let bits = (bits % 32) as u32;
        if bits > 0 {
            let mut carry = 0u32;
            for limb in &mut self.0 {
                let next = *limb >> (32 - bits);
                *limb = (*limb << bits) | carry;
                carry = next;
            }
            if carry != 0 {
                self.0.push(carry);
            }
        }
        self.0.splice(0..0, std::iter::repeat_n(0, limbs));
    }

    fn cmp(&self, other: &Big) -> std::cmp::Ordering {
        let len = self.0.len().max(other.0.len());
        for i in (0..len).rev() {
            let (a, b) = (
                self.0.get(i).copied().unwrap_or(0),
                other.0.get(i).copied().unwrap_or(0),
            );
            if a != b {
                return a.cmp(&b);
            }
        }
        std::cmp::Ordering::Equal
    }

    /// self -= other, for other <= self.
    fn sub(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let difference =
                i64::from(*limb) - i64::from(other.0.get(i).copied().unwrap_or(0)) - borrow;
            *limb = difference.rem_euclid(1 << 32) as u32;
            borrow = i64::from(difference < 0);
        }
    }

    /// The quotient self / divisor, known to be below 2^67, and whether a remainder was left;
    /// binary long division, one bit at a time.
    fn div_small_quotient(mut self, divisor: &Big) -> (u128, bool) {
        let mut quotient = 0u128;
        for bit in (0..67u64).rev() {
            let mut shifted = divisor.clone();
            shifted.shl(bit);
            if self.cmp(&shifted) != std::cmp::Ordering::Less {
                self.sub(&shifted);
                quotient |= 1 << bit;
            }
        }
        (quotient, self.0.iter().any(|&l| l != 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same(s: &str) {
        let ours = parse_f64(s);
        let std = s.parse::<f64>().ok();
        match (ours, std) {
            (Some(a), Some(b)) if a.is_nan() && b.is_nan() => {}
            (Some(a), Some(b)) => assert_eq!(a.to_bits(), b.to_bits(), "{s:?}: {a:e} vs {b:e}"),
            (a, b) => assert_eq!(a.is_some(), b.is_some(), "{s:?}: {a:?} vs {b:?}"),
        }
    }

    #[test]
    fn grammar_like_the_standard_library() {
        for s in [
            "0",
            "-0",
            "+0",
            "1",
            "25",
            "2.5",
            "-3",
            "100",
            "12.0",
            "1.",
            ".5",
            "+.5",
            "-.5e-3",
            "1.e5",
            "1e5",
            "1E+05",
            "1e-5",
            "0.1",
            "00012.5000",
            "1e",
            "e5",
            ".",
            "+",
            "-",
            "",
            "1e+",
            "1e-",
            "inf",
            "INF",
            "+inf",
            "-Infinity",
            "infinity",
            "infinit",
            "nan",
            "NaN",
            "-nan",
            "+NaN",
            "1_0",
            "0x10",
            " 1",
            "1 ",
            "١",
            "1.2.3",
            "--1",
            "1e5.5",
            "1ee5",
            "abc",
            "12abc",
            "4e-320",
            "2e-324",
            "3e-324",
            "1e-400",
            "1.7976931348623157e308",
            "1.7976931348623159e308",
            "1e309",
            "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791.9999999",
            "2.2250738585072011e-308",
            "2.2250738585072014e-308",
            "4.9406564584124654e-324",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "0.000000000000000000000000000000000000000000000000000000000000000000000000001e80",
            "123456789012345678901234567890",
            "9007199254740993",
            "9007199254740992.5",
            "1e22",
            "1e23",
            "1234567890123456e10",
        ] {
            same(s);
        }
    }

    /// The fast path's edges: 15 and 16 significant digits, trailing and inner zeros (which
    /// count only when a digit follows them), and powers of ten at and past 10^±22.
    #[test]
    fn fast_path_edges() {
        for s in [
            "123456789012345",
            "1234567890123456",
            "12345678901234.5",
            "1.23456789012345",
            "0.000000000000000000000123456789012345",
            "100000000000000000000000",
            "10000000000000000000000",
            "1000000000000000000000.0",
            "0.0000000000000000000001",
            "0.00000000000000000000001",
            "100000000000000000000001",
            "120.00",
            "1000000000000001",
            "100000000000001",
            "000",
            "0.0",
            ".0",
            "0.",
            "007",
        ] {
            same(s);
        }
        assert_eq!(parse_f64("12.5"), Some(12.5));
        assert_eq!(parse_f64("10000000000000000000000"), Some(1e22));
        assert_eq!(
            parse_f64("-0.0").map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
    }

    /// Exact halfway points between adjacent doubles (and a hair either side), written out in
    /// decimal: where an inexact method rounds the wrong way.
    #[test]
    fn halfway_cases() {
        let cases = [
            (1u64 << 52, 0i32),
            ((1 << 53) - 1, -20),
            (4_503_599_627_370_497, 10),
            (6_755_399_441_055_745, -30),
            (6_755_399_441_055_744, -31),
        ];
        for (mantissa, exp2) in cases {
            // Between m × 2^e and (m + 1) × 2^e lies (2m + 1) × 2^(e - 1) = digits × 10^exp10.
            let odd = 2 * u128::from(mantissa) + 1;
            let (digits, exp10) = if exp2 >= 1 {
                (odd << (exp2 - 1), 0)
            } else {
                let k = (1 - exp2) as u32;
                (odd * 5u128.pow(k), -(k as i32))
            };
            same(&format!("{digits}e{exp10}"));
            same(&format!("{digits}1e{}", exp10 - 1));
            same(&format!("{}9e{}", digits - 1, exp10 - 1));
        }
        // Subnormal halfway points: k × 2^-1075 for odd k, that is k × 5^1075 × 10^-1075 (the
        // first lies halfway between 0 and the smallest subnormal; ties go to even).
        for k in [1u32, 3, 5, (1 << 20) + 1] {
            let mut digits = vec![k];
            for _ in 0..1075 {
                let mut carry = 0;
                for d in &mut digits {
                    let v = *d * 5 + carry;
                    *d = v % 10;
                    carry = v / 10;
                }
                while carry > 0 {
                    digits.push(carry % 10);
                    carry /= 10;
                }
            }
            let text: String = digits
                .iter()
                .rev()
                .map(|d| char::from(b'0' + *d as u8))
                .collect();
            same(&format!("{text}e-1075"));
            same(&format!("{text}1e-1076"));
            same(&format!("0.{text}e-1074"));
        }
    }

    #[test]
    fn long_input_is_cut_not_slow() {
        // 200 000 digits: only 800 of them are kept, with whether the rest is zero.
        let long = format!("1.{}e5", "3".repeat(200_000));
        same(&long);
        same(&format!("0.{}1", "0".repeat(200_000)));
        same(&format!("{}e-199990", "9".repeat(200_000)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn any_decimal_text(
            int in "[0-9]{0,25}",
            frac in proptest::option::of("[0-9]{0,25}"),
            exp in proptest::option::of(-420i32..420),
            sign in "[+-]?",
        ) {
            let mut s = format!("{sign}{int}");
            if let Some(frac) = frac {
                s.push('.');
                s.push_str(&frac);
            }
            if let Some(exp) = exp {
                s.push_str(&format!("e{exp}"));
            }
            same(&s);
        }

        #[test]
        fn any_double_written_out(bits in any::<u64>(), digits in 1usize..25) {
            let x = f64::from_bits(bits);
            same(&format!("{x:e}"));
            same(&format!("{x:.digits$e}"));
            same(&format!("{x}"));
        }
    }
}
