//! The compiled form of a flag: plain data with everything parsed up front (numbers, dates,
//! versions, regexes, CIDR blocks, sorted value sets), so evaluation only compares.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::net::IpAddr;

use super::context::Context;
use super::eval::{Env, Reason};
use super::hash::{ROLLOUT_SEED, VARIANT_SEED, bucket};
use super::number::parse_f64;
use super::state::Payload;
use crate::time::Timestamp;

/// A context field, resolved once from its Unleash name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    UserId,
    SessionId,
    RemoteAddress,
    Environment,
    AppName,
    CurrentTime,
    Property(Box<str>),
}

impl Field {
    pub(crate) fn new(name: &str) -> Self {
        match name {
            "userId" => Self::UserId,
            "sessionId" => Self::SessionId,
            "remoteAddress" => Self::RemoteAddress,
            "environment" => Self::Environment,
            "appName" => Self::AppName,
            "currentTime" => Self::CurrentTime,
            other => Self::Property(other.into()),
        }
    }

    fn name(&self) -> &str {
        match self {
            Self::UserId => "userId",
            Self::SessionId => "sessionId",
            Self::RemoteAddress => "remoteAddress",
            Self::Environment => "environment",
            Self::AppName => "appName",
            Self::CurrentTime => "currentTime",
            Self::Property(name) => name,
        }
    }

    /// The field's value as text. A standard field missing from the context is also looked up in
    /// the properties, as the Unleash SDKs do (`context[field] ?? context.properties[field]`).
    #[inline]
    pub(crate) fn text<'c>(&self, ctx: &'c Context) -> Option<Cow<'c, str>> {
        let standard = match self {
            Self::UserId => ctx.user_id.as_deref(),
            Self::SessionId => ctx.session_id.as_deref(),
            Self::RemoteAddress => ctx.remote_address.as_deref(),
            Self::Environment => ctx.environment.as_deref(),
            Self::AppName => ctx.app_name.as_deref(),
            Self::CurrentTime => {
                if let Some(t) = ctx.current_time {
                    return Some(Cow::Owned(t.to_string()));
                }
                None
            }
            Self::Property(_) => None,
        };
        standard
            .or_else(|| ctx.properties.get(self.name()).map(String::as_str))
            .map(Cow::Borrowed)
    }
}

/// A set of strings, sorted for binary search.
#[derive(Clone, Debug)]
pub(crate) struct StrSet(Box<[Box<str>]>);

impl StrSet {
    pub(crate) fn new<I: IntoIterator<Item = S>, S: Into<Box<str>>>(items: I) -> Self {
        let mut items: Vec<Box<str>> = items.into_iter().map(Into::into).collect();
        crate::sort::sort_by(&mut items, |a, b| a.cmp(b));
        items.dedup();
        Self(items.into_boxed_slice())
    }

    #[inline]
    pub(crate) fn contains(&self, value: &str) -> bool {
        // Short lists (the common case) are faster to scan than to bisect.
        if self.0.len() <= 4 {
            return self.0.iter().any(|item| &**item == value);
        }
        self.0.binary_search_by(|item| (**item).cmp(value)).is_ok()
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Cmp {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Cmp {
    fn holds(self, ord: Ordering) -> bool {
        match self {
            Self::Eq => ord.is_eq(),
            Self::Gt => ord.is_gt(),
            Self::Gte => ord.is_ge(),
            Self::Lt => ord.is_lt(),
            Self::Lte => ord.is_le(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum TextOp {
    StartsWith,
    EndsWith,
    Contains,
}

/// An IPv4 or IPv6 block; a bare address is a block of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cidr {
    V4 { net: u32, mask: u32 },
    V6 { net: u128, mask: u128 },
}

impl Cidr {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len.parse::<u32>().ok()?)),
            None => (text, None),
        };
        match addr.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => {
                let len = len.unwrap_or(32);
                let mask = u32::MAX.checked_shl(32 - len.min(32)).unwrap_or(0);
                (len <= 32).then_some(Self::V4 {
                    net: u32::from(a) & mask,
                    mask,
                })
            }
            IpAddr::V6(a) => {
                let len = len.unwrap_or(128);
                let mask = u128::MAX.checked_shl(128 - len.min(128)).unwrap_or(0);
                (len <= 128).then_some(Self::V6 {
                    net: u128::from(a) & mask,
                    mask,
                })
            }
        }
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Self::V4 { net, mask }, IpAddr::V4(a)) => u32::from(a) & mask == *net,
            (Self::V6 { net, mask }, IpAddr::V6(a)) => u128::from(a) & mask == *net,
            _ => false,
        }
    }
}

/// Parses a context address; an IPv4-mapped IPv6 address counts as the IPv4 address.
fn parse_ip(text: &str) -> Option<IpAddr> {
    text.trim()
        .parse::<IpAddr>()
        .ok()
        .map(|ip| ip.to_canonical())
}

fn in_any(blocks: &[Cidr], text: &str) -> bool {
    parse_ip(text).is_some_and(|ip| blocks.iter().any(|b| b.contains(ip)))
}

/// What a constraint checks, with its operands already parsed.
#[derive(Clone, Debug)]
pub(crate) enum Test {
    In(StrSet),
    NotIn(StrSet),
    Text {
        op: TextOp,
        values: Box<[Box<str>]>,
        ignore_case: bool,
    },
    Number {
        cmp: Cmp,
        value: f64,
    },
    Date {
        after: bool,
        value: Timestamp,
    },
    Semver {
        cmp: Cmp,
        value: semver::Version,
    },
    /// The pattern, and the longest value it is run on (longer ones do not match).
    Regex(regex_lite::Regex, usize),
    Cidr(Box<[Cidr]>),
}

#[derive(Clone, Debug)]
pub(crate) struct Constraint {
    pub(crate) field: Field,
    pub(crate) test: Test,
    pub(crate) inverted: bool,
}

impl Constraint {
    #[inline]
    pub(crate) fn matches(&self, ctx: &Context, now: Timestamp) -> bool {
        // A REGEX constraint is not run on a value past the input limit: the constraint then
        // fails whether it is inverted or not, so a long value cannot slip past an inverted
        // pattern used as a deny list (see `Operator::Regex`). Only inverted ones need the check:
        // the test below is false for such a value already.
        if self.inverted
            && let Test::Regex(_, limit) = &self.test
            && self.field.text(ctx).is_some_and(|v| v.len() > *limit)
        {
            return false;
        }
        self.test(ctx, now) != self.inverted
    }

    fn test(&self, ctx: &Context, now: Timestamp) -> bool {
        // NOT_IN is the only operator that holds for a missing value (Unleash: "a missing value is
        // not in the list"); dates fall back to `now` for `currentTime`.
        match &self.test {
            Test::NotIn(set) => self.field.text(ctx).is_none_or(|v| !set.contains(&v)),
            Test::Date { after, value } => {
                let t = match self.field {
                    Field::CurrentTime => ctx.current_time.unwrap_or(now),
                    _ => match self
                        .field
                        .text(ctx)
                        .and_then(|v| v.parse::<Timestamp>().ok())
                    {
                        Some(t) => t,
                        None => return false,
                    },
                };
                if *after { t > *value } else { t < *value }
            }
            test => {
                let Some(v) = self.field.text(ctx) else {
                    return false;
                };
                match test {
                    Test::In(set) => set.contains(&v),
                    Test::Text {
                        op,
                        values,
                        ignore_case,
                    } => {
                        let v = if *ignore_case {
                            Cow::Owned(v.to_lowercase())
                        } else {
                            v
                        };
                        values.iter().any(|item| match op {
                            TextOp::StartsWith => v.starts_with(&**item),
                            TextOp::EndsWith => v.ends_with(&**item),
                            TextOp::Contains => v.contains(&**item),
                        })
                    }
                    Test::Number { cmp, value } => match parse_f64(v.trim()) {
                        // Equality with Unleash's tolerance (yggdrasil compares within EPSILON).
                        Some(x) => match cmp {
                            Cmp::Eq => (x - value).abs() < f64::EPSILON,
                            _ => x.partial_cmp(value).is_some_and(|o| cmp.holds(o)),
                        },
                        None => false,
                    },
                    Test::Semver { cmp, value } => {
                        semver::Version::parse(&v).is_ok_and(|x| cmp.holds(x.cmp_precedence(value)))
                    }
                    Test::Regex(re, limit) => v.len() <= *limit && re.is_match(&v),
                    Test::Cidr(blocks) => in_any(blocks, &v),
                    Test::NotIn(_) | Test::Date { .. } => false, // handled above
                }
            }
        }
    }
}

/// Where a rollout or a variant split takes its sticky value from.
#[derive(Clone, Debug)]
pub(crate) enum Stickiness {
    /// `default`: userId, else sessionId, else random.
    Default,
    /// `random`.
    Random,
    /// A context field; a missing value means off for a rollout, random for a variant split.
    Field(Field),
}

impl Stickiness {
    pub(crate) fn new(name: Option<&str>) -> Self {
        match name.map(str::trim) {
            None | Some("" | "default") => Self::Default,
            Some("random") => Self::Random,
            Some(other) => Self::Field(Field::new(other)),
        }
    }

    /// The sticky value, or `None` when a random draw stands in for it.
    #[inline]
    fn value<'c>(&self, ctx: &'c Context) -> Sticky<'c> {
        match self {
            Self::Default => match Field::UserId
                .text(ctx)
                .or_else(|| Field::SessionId.text(ctx))
            {
                Some(v) => Sticky::Value(v),
                None => Sticky::Random,
            },
            Self::Random => Sticky::Random,
            Self::Field(field) => match field.text(ctx) {
                Some(v) => Sticky::Value(v),
                None => Sticky::Missing,
            },
        }
    }
}

enum Sticky<'c> {
    Value(Cow<'c, str>),
    Random,
    Missing,
}

/// The strategy-specific part of a strategy (its constraints are separate).
#[derive(Clone, Debug)]
pub(crate) enum Gate {
    Always,
    UserIds(StrSet),
    /// On when the bucket (1 to 100) is at most `percent`.
    Rollout {
        percent: u32,
        stickiness: Stickiness,
        group: Box<str>,
    },
    Addresses(Box<[Cidr]>),
    /// A malformed or unsupported strategy: always off (a warning says why).
    Never,
}

impl Gate {
    #[inline]
    fn open(&self, ctx: &Context, env: &mut Env<'_>) -> bool {
        match self {
            Self::Always => true,
            Self::UserIds(ids) => Field::UserId.text(ctx).is_some_and(|id| ids.contains(&id)),
            Self::Rollout {
                percent,
                stickiness,
                group,
            } => {
                if *percent == 0 {
                    return false;
                }
                match stickiness.value(ctx) {
                    Sticky::Value(_) if *percent >= 100 => true,
                    Sticky::Value(v) => bucket(group, &v, 100, ROLLOUT_SEED) <= *percent,
                    Sticky::Random => env.draw(100) <= *percent,
                    Sticky::Missing => false,
                }
            }
            Self::Addresses(blocks) => Field::RemoteAddress
                .text(ctx)
                .is_some_and(|a| in_any(blocks, &a)),
            Self::Never => false,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Strategy {
    pub(crate) gate: Gate,
    pub(crate) constraints: Box<[Constraint]>,
    pub(crate) variants: Option<VariantSet>,
    /// The reason reported when this strategy is the one that turned the flag on.
    pub(crate) reason: Reason,
    /// Index of the warning that turned this strategy off, if it is malformed.
    pub(crate) problem: Option<usize>,
}

impl Strategy {
    #[inline]
    pub(crate) fn matches(&self, ctx: &Context, env: &mut Env<'_>) -> bool {
        let now = env.now;
        self.constraints.iter().all(|c| c.matches(ctx, now)) && self.gate.open(ctx, env)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct VariantDef {
    pub(crate) name: Box<str>,
    pub(crate) weight: u32,
    pub(crate) payload: Option<Payload>,
    pub(crate) overrides: Box<[(Field, StrSet)]>,
}

/// Variants with their split settings; `total` is the sum of the weights and never zero.
#[derive(Clone, Debug)]
pub(crate) struct VariantSet {
    pub(crate) variants: Box<[VariantDef]>,
    pub(crate) total: u32,
    pub(crate) stickiness: Stickiness,
    pub(crate) group: Box<str>,
}

impl VariantSet {
    /// An override match first, else the weighted split
    /// (`murmur3("group:value", 86028157) % total + 1` against the running weight sum).
    pub(crate) fn select(&self, ctx: &Context, env: &mut Env<'_>) -> Option<(&VariantDef, Reason)> {
        for variant in &*self.variants {
            for (field, values) in &*variant.overrides {
                if field.text(ctx).is_some_and(|v| values.contains(&v)) {
                    return Some((variant, Reason::TargetingMatch));
                }
            }
        }
        let target = match self.stickiness.value(ctx) {
            Sticky::Value(v) => bucket(&self.group, &v, self.total, VARIANT_SEED),
            Sticky::Random | Sticky::Missing => env.draw(self.total),
        };
        let mut sum = 0u32;
        for variant in &*self.variants {
            sum = sum.saturating_add(variant.weight);
            if sum >= target {
                let split = self.variants.iter().filter(|v| v.weight > 0).count() > 1;
                let reason = if split { Reason::Split } else { Reason::Static };
                return Some((variant, reason));
            }
        }
        None
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Dependency {
    /// The parent's index; `None` when it is missing or has dependencies of its own (Unleash
    /// supports one level only), which makes the dependency unsatisfiable.
    pub(crate) parent: Option<usize>,
    pub(crate) enabled: bool,
    pub(crate) variants: Box<[Box<str>]>,
}

#[derive(Clone, Debug)]
pub(crate) struct Flag {
    pub(crate) name: Box<str>,
    pub(crate) enabled: bool,
    pub(crate) strategies: Box<[Strategy]>,
    pub(crate) variants: Option<VariantSet>,
    /// Index of the warning that turned the flag-level variants off.
    pub(crate) variants_problem: Option<usize>,
    pub(crate) dependencies: Box<[Dependency]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks() {
        let block = Cidr::parse("160.33.0.0/16").unwrap();
        assert!(block.contains("160.33.0.33".parse().unwrap()));
        assert!(!block.contains("160.34.0.1".parse().unwrap()));
        let host = Cidr::parse(" 127.0.0.1 ").unwrap();
        assert!(host.contains("127.0.0.1".parse().unwrap()));
        assert!(!host.contains("127.0.0.2".parse().unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:0:1::42".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        // Host bits in the network part are ignored, as in every CIDR library.
        assert_eq!(Cidr::parse("10.1.2.3/8"), Cidr::parse("10.0.0.0/8"));
        for bad in [
            "127.invalid",
            "bad::cidr",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
        // An IPv4-mapped IPv6 caller is the IPv4 caller.
        assert!(in_any(&[host], "::ffff:127.0.0.1"));
    }

    #[test]
    fn str_set_small_and_large() {
        let small = StrSet::new(["b", "a", "a"]);
        assert!(small.contains("a") && small.contains("b") && !small.contains("c"));
        let large = StrSet::new((0..50).map(|i| i.to_string()));
        assert!(large.contains("42") && !large.contains("50"));
        assert!(!StrSet::new(Vec::<String>::new()).contains(""));
    }

    #[test]
    fn standard_fields_fall_back_to_properties() {
        let ctx = Context::new()
            .property("userId", "7")
            .property("plan", "pro");
        assert_eq!(Field::UserId.text(&ctx).as_deref(), Some("7"));
        assert_eq!(Field::new("plan").text(&ctx).as_deref(), Some("pro"));
        let ctx = ctx.user_id("8");
        assert_eq!(Field::UserId.text(&ctx).as_deref(), Some("8"));
        assert_eq!(Field::SessionId.text(&ctx), None);
    }
}
