//! Evaluation: [`Engine::is_enabled`], [`Engine::variant`] and their OpenFeature-style
//! [`Details`], with time and randomness supplied by the caller through an [`Env`].

use serde::{Deserialize, Serialize};

use super::compile::Engine;
use super::context::Context;
use super::rule::{Dependency, VariantDef};
use super::state::Payload;
use crate::random::SplitMix64;
use crate::time::Timestamp;

/// A source of uniformly distributed random numbers, for `gradualRolloutRandom`, `random`
/// stickiness and the random fallback of the `default` stickiness.
///
/// The library never reads a global random generator: bring your own, or use [`SeededRandom`].
/// Any `FnMut() -> u32` closure is a source.
///
/// ```
/// use smsbatch::flags::RandomSource;
///
/// struct Counter(u32);
///
/// impl RandomSource for Counter {
///     fn next_u32(&mut self) -> u32 {
///         self.0 = self.0.wrapping_add(1);
///         self.0
///     }
/// }
///
/// let mut counter = Counter(0);
/// assert_eq!(counter.next_u32(), 1);
/// let mut constant = || 4u32; // chosen by fair dice roll
/// assert_eq!(constant.next_u32(), 4);
/// ```
pub trait RandomSource {
    /// The next uniformly distributed 32-bit number.
    fn next_u32(&mut self) -> u32;
}

impl<F: FnMut() -> u32> RandomSource for F {
    fn next_u32(&mut self) -> u32 {
        self()
    }
}

/// A small, fast, seeded generator (SplitMix64), deterministic for a given seed.
///
/// Fine for rollouts and splits; not for secrets.
#[derive(Clone, Debug)]
pub struct SeededRandom(SplitMix64);

impl SeededRandom {
    /// A generator starting from `seed`.
    pub const fn new(seed: u64) -> Self {
        Self(SplitMix64::new(seed))
    }
}

impl RandomSource for SeededRandom {
    fn next_u32(&mut self) -> u32 {
        // The high half: SplitMix64's best bits.
        (self.0.next_u64() >> 32) as u32
    }
}

/// What an evaluation needs besides the context: the current time and a random source.
///
/// `now` is used by date constraints on `currentTime` when the context has no `currentTime`.
pub struct Env<'r> {
    pub(crate) now: Timestamp,
    random: &'r mut dyn RandomSource,
}

impl<'r> Env<'r> {
    /// An environment at `now`, drawing from `random`.
    pub fn new(now: Timestamp, random: &'r mut dyn RandomSource) -> Self {
        Self { now, random }
    }

    /// The time date constraints use when the context has no `currentTime`.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// A random draw from 1 to `modulus` (modulo bias below 10^-7 for a modulus of 1000 or less).
    #[inline]
    pub(crate) fn draw(&mut self, modulus: u32) -> u32 {
        self.random.next_u32() % modulus.max(1) + 1
    }
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// Why an evaluation gave its value (OpenFeature's resolution reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Reason {
    /// The value does not depend on the context (a `default` strategy, no strategies, a 100 %
    /// rollout on the default stickiness, a single variant).
    Static,
    /// A strategy's targeting (constraints, user ids, addresses) or a variant override matched.
    TargetingMatch,
    /// A percentage rollout or a weighted variant split decided.
    Split,
    /// Nothing matched (or a dependency was not met): the flag's default, off.
    Default,
    /// The flag is switched off.
    Disabled,
    /// Evaluation could not proceed normally; see the error code.
    Error,
}

impl Reason {
    /// OpenFeature's name for the reason (`STATIC`, `TARGETING_MATCH`, ...).
    pub fn open_feature_name(self) -> &'static str {
        match self {
            Self::Static => "STATIC",
            Self::TargetingMatch => "TARGETING_MATCH",
            Self::Split => "SPLIT",
            Self::Default => "DEFAULT",
            Self::Disabled => "DISABLED",
            Self::Error => "ERROR",
        }
    }
}

/// What went wrong when the reason is [`Reason::Error`] (OpenFeature's error codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ErrorCode {
    /// No flag has that name: the caller's default was returned.
    FlagNotFound,
    /// The flag is off because a strategy (or its variants) is malformed; the message is the
    /// compiler's warning.
    ParseError,
}

impl ErrorCode {
    /// OpenFeature's name for the code (`FLAG_NOT_FOUND`, `PARSE_ERROR`).
    pub fn open_feature_name(self) -> &'static str {
        match self {
            Self::FlagNotFound => "FLAG_NOT_FOUND",
            Self::ParseError => "PARSE_ERROR",
        }
    }
}

/// A resolved value with the reason for it, in the style of OpenFeature's evaluation details.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Details<T> {
    /// The value: the flag's decision, or the caller's default when the flag does not exist.
    pub value: T,
    /// The variant's name, for variant evaluations that handed one out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Why this value.
    pub reason: Reason,
    /// Set when the reason is [`Reason::Error`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
    /// A sentence about the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// The variant a flag hands out, in exactly the shape of the Unleash client specification's
/// `expectedResult` (an outside format, hence `feature_enabled` in snake case).
///
/// ```
/// use smsbatch::flags::Variant;
///
/// let v = Variant::disabled(true);
/// assert_eq!(
///     serde_json::to_string(&v)?,
///     r#"{"name":"disabled","enabled":false,"feature_enabled":true}"#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// The variant's name; `disabled` when there is none.
    pub name: String,
    /// The variant's payload, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    /// Whether a real variant was handed out.
    pub enabled: bool,
    /// Whether the flag itself is on.
    #[serde(rename = "feature_enabled", alias = "featureEnabled")]
    pub feature_enabled: bool,
}

impl Variant {
    /// The `disabled` variant Unleash hands out when there is no variant to give.
    pub fn disabled(feature_enabled: bool) -> Self {
        Self {
            name: "disabled".into(),
            payload: None,
            enabled: false,
            feature_enabled,
        }
    }

    fn from_def(def: &VariantDef) -> Self {
        Self {
            name: def.name.as_ref().into(),
            payload: def.payload.clone(),
            enabled: true,
            feature_enabled: true,
        }
    }
}

impl Default for Variant {
    /// The `disabled` variant of a flag that is off.
    fn default() -> Self {
        Self::disabled(false)
    }
}

/// The result of evaluating a flag's switch, dependencies and strategies.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    enabled: bool,
    reason: Reason,
    /// The strategy that turned the flag on.
    strategy: Option<usize>,
    /// The warning of a malformed strategy, when the flag ended up off.
    problem: Option<usize>,
}

impl Outcome {
    const fn off(reason: Reason) -> Self {
        Self {
            enabled: false,
            reason,
            strategy: None,
            problem: None,
        }
    }
}

impl Engine {
    /// Whether the flag `name` is on for `ctx`; an unknown flag is off.
    ///
    /// ```
    /// use smsbatch::Timestamp;
    /// use smsbatch::flags::{Context, Engine, Env, SeededRandom};
    ///
    /// let engine = Engine::from_json(r#"{"features": [{"name": "kill-switch", "enabled": true,
    ///     "strategies": [{"name": "default", "constraints": [
    ///         {"contextName": "environment", "operator": "IN", "values": ["prod"]}]}]}]}"#)?;
    /// let mut random = SeededRandom::new(7);
    /// let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut random);
    /// assert!(engine.is_enabled("kill-switch", &Context::new().environment("prod"), &mut env));
    /// assert!(!engine.is_enabled("kill-switch", &Context::new(), &mut env));
    /// assert!(!engine.is_enabled("no-such-flag", &Context::new(), &mut env));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_enabled(&self, name: &str, ctx: &Context, env: &mut Env<'_>) -> bool {
        self.is_enabled_at(self.index_of(name), ctx, env)
    }

    /// The variant of the flag `name` for `ctx`: the matching strategy's variants if it has any,
    /// else the flag's (overrides first, then the weighted split); `disabled` when the flag is off,
    /// has no variants, or does not exist.
    ///
    /// ```
    /// use smsbatch::Timestamp;
    /// use smsbatch::flags::{Context, Engine, Env, SeededRandom};
    ///
    /// let engine = Engine::from_json(r#"{"features": [{"name": "template-ab", "enabled": true,
    ///     "strategies": [{"name": "default"}],
    ///     "variants": [{"name": "short", "weight": 500}, {"name": "long", "weight": 500,
    ///                   "overrides": [{"contextName": "userId", "values": ["vip"]}]}]}]}"#)?;
    /// let mut random = SeededRandom::new(7);
    /// let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut random);
    /// let v = engine.variant("template-ab", &Context::new().user_id("vip"), &mut env);
    /// assert_eq!((v.name.as_str(), v.enabled, v.feature_enabled), ("long", true, true));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn variant(&self, name: &str, ctx: &Context, env: &mut Env<'_>) -> Variant {
        self.variant_at(self.index_of(name), ctx, env)
    }

    /// [`Engine::is_enabled`] with the reason; an unknown flag gives `default`, reason
    /// [`Reason::Error`] and [`ErrorCode::FlagNotFound`].
    ///
    /// ```
    /// use smsbatch::Timestamp;
    /// use smsbatch::flags::{Context, Engine, Env, ErrorCode, Reason, SeededRandom};
    ///
    /// let engine = Engine::default();
    /// let mut random = SeededRandom::new(7);
    /// let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut random);
    /// let details = engine.evaluate("missing", true, &Context::new(), &mut env);
    /// assert!(details.value);
    /// assert_eq!(details.reason, Reason::Error);
    /// assert_eq!(details.error_code, Some(ErrorCode::FlagNotFound));
    /// ```
    pub fn evaluate(
        &self,
        name: &str,
        default: bool,
        ctx: &Context,
        env: &mut Env<'_>,
    ) -> Details<bool> {
        self.evaluate_at(self.index_of(name), name, default, ctx, env)
    }

    /// [`Engine::variant`] with the reason; an unknown flag gives `default`, reason
    /// [`Reason::Error`] and [`ErrorCode::FlagNotFound`].
    pub fn evaluate_variant(
        &self,
        name: &str,
        default: Variant,
        ctx: &Context,
        env: &mut Env<'_>,
    ) -> Details<Variant> {
        self.evaluate_variant_at(self.index_of(name), name, default, ctx, env)
    }

    // The evaluations by the flag's index (from `index_of`, `None` for an unknown flag), so a
    // caller that already looked the name up (`Flags`, which reports unknown flags) does not look
    // it up twice.

    pub(crate) fn is_enabled_at(
        &self,
        index: Option<usize>,
        ctx: &Context,
        env: &mut Env<'_>,
    ) -> bool {
        index.is_some_and(|i| self.outcome(i, ctx, env).enabled)
    }

    pub(crate) fn variant_at(
        &self,
        index: Option<usize>,
        ctx: &Context,
        env: &mut Env<'_>,
    ) -> Variant {
        match index {
            Some(i) => self.resolve_variant(i, ctx, env).0,
            None => Variant::disabled(false),
        }
    }

    pub(crate) fn evaluate_at(
        &self,
        index: Option<usize>,
        name: &str,
        default: bool,
        ctx: &Context,
        env: &mut Env<'_>,
    ) -> Details<bool> {
        let Some(i) = index else {
            return not_found(name, default);
        };
        let out = self.outcome(i, ctx, env);
        self.details(out.enabled, None, out.reason, out.problem)
    }

    pub(crate) fn evaluate_variant_at(
        &self,
        index: Option<usize>,
        name: &str,
        default: Variant,
        ctx: &Context,
        env: &mut Env<'_>,
    ) -> Details<Variant> {
        let Some(i) = index else {
            return not_found(name, default);
        };
        let (variant, reason, problem) = self.resolve_variant(i, ctx, env);
        let name = variant.enabled.then(|| variant.name.clone());
        self.details(variant, name, reason, problem)
    }

    fn details<T>(
        &self,
        value: T,
        variant: Option<String>,
        reason: Reason,
        problem: Option<usize>,
    ) -> Details<T> {
        let message = problem
            .and_then(|w| self.warnings.get(w))
            .map(ToString::to_string);
        Details {
            value,
            variant,
            reason,
            error_code: message.as_ref().map(|_| ErrorCode::ParseError),
            error_message: message,
        }
    }

    fn outcome(&self, i: usize, ctx: &Context, env: &mut Env<'_>) -> Outcome {
        let Some(flag) = self.flags.get(i) else {
            return Outcome::off(Reason::Default);
        };
        if !flag.enabled {
            return Outcome::off(Reason::Disabled);
        }
        for dependency in &*flag.dependencies {
            if !self.satisfied(dependency, ctx, env) {
                return Outcome::off(Reason::Default);
            }
        }
        if flag.strategies.is_empty() {
            return Outcome {
                enabled: true,
                reason: Reason::Static,
                strategy: None,
                problem: None,
            };
        }
        let mut problem = None;
        for (k, strategy) in flag.strategies.iter().enumerate() {
            if strategy.matches(ctx, env) {
                return Outcome {
                    enabled: true,
                    reason: strategy.reason,
                    strategy: Some(k),
                    problem: None,
                };
            }
            problem = problem.or(strategy.problem);
        }
        Outcome {
            enabled: false,
            reason: if problem.is_some() {
                Reason::Error
            } else {
                Reason::Default
            },
            strategy: None,
            problem,
        }
    }

    /// A parent has no dependencies of its own (the compiler makes sure), so this recursion is one
    /// level deep. The parent is evaluated with the child's context and environment.
    fn satisfied(&self, dependency: &Dependency, ctx: &Context, env: &mut Env<'_>) -> bool {
        let Some(parent) = dependency.parent else {
            return false;
        };
        let out = self.outcome(parent, ctx, env);
        if !dependency.enabled {
            return !out.enabled;
        }
        if !out.enabled {
            return false;
        }
        if dependency.variants.is_empty() {
            return true;
        }
        let name = self
            .pick(parent, &out, ctx, env)
            .map_or("disabled", |(def, _)| &*def.name);
        dependency.variants.iter().any(|v| &**v == name)
    }

    fn pick(
        &self,
        i: usize,
        out: &Outcome,
        ctx: &Context,
        env: &mut Env<'_>,
    ) -> Option<(&VariantDef, Reason)> {
        let flag = self.flags.get(i)?;
        if let Some(set) = out
            .strategy
            .and_then(|k| flag.strategies.get(k))
            .and_then(|s| s.variants.as_ref())
        {
            return set.select(ctx, env);
        }
        flag.variants.as_ref()?.select(ctx, env)
    }

    fn resolve_variant(
        &self,
        i: usize,
        ctx: &Context,
        env: &mut Env<'_>,
    ) -> (Variant, Reason, Option<usize>) {
        let out = self.outcome(i, ctx, env);
        if !out.enabled {
            return (Variant::disabled(false), out.reason, out.problem);
        }
        match self.pick(i, &out, ctx, env) {
            // A split among one variant is no split: the flag's own reason stands.
            Some((def, Reason::Static)) => (Variant::from_def(def), out.reason, None),
            Some((def, reason)) => (Variant::from_def(def), reason, None),
            None => {
                let problem = self.flags.get(i).and_then(|f| f.variants_problem);
                let reason = if problem.is_some() {
                    Reason::Error
                } else {
                    Reason::Default
                };
                (Variant::disabled(true), reason, problem)
            }
        }
    }
}

fn not_found<T>(name: &str, default: T) -> Details<T> {
    Details {
        value: default,
        variant: None,
        reason: Reason::Error,
        error_code: Some(ErrorCode::FlagNotFound),
        error_message: Some(format!("no flag is named {name:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_at(random: &mut dyn RandomSource) -> Env<'_> {
        Env::new(Timestamp::UNIX_EPOCH, random)
    }

    #[test]
    fn random_source_is_object_safe() {
        fn _obj(_: &dyn RandomSource) {}
        let mut seeded = SeededRandom::new(1);
        let source: &mut dyn RandomSource = &mut seeded;
        let a = source.next_u32();
        let b = source.next_u32();
        assert_ne!(a, b);
        assert_eq!(
            SeededRandom::new(1).next_u32(),
            a,
            "deterministic for a seed"
        );
    }

    #[test]
    fn seeded_random_is_roughly_uniform() {
        let mut r = SeededRandom::new(42);
        let mut env = env_at(&mut r);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[(env.draw(10) - 1) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn reasons_and_error_codes() {
        let engine = Engine::from_json(
            r#"{"features": [
              {"name": "off", "enabled": false, "strategies": [{"name": "default"}]},
              {"name": "static", "enabled": true},
              {"name": "targeted", "enabled": true, "strategies": [{"name": "userWithId", "parameters": {"userIds": "1"}}]},
              {"name": "split", "enabled": true, "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "99", "groupId": "g"}}]},
              {"name": "broken", "enabled": true, "strategies": [{"name": "userWithId", "parameters": {"userIds": "1"}},
                                                                  {"name": "default", "constraints": [{"contextName": "x", "operator": "NOPE"}]}]},
              {"name": "child", "enabled": true, "dependencies": [{"feature": "off"}]}
            ]}"#,
        )
        .unwrap();
        let mut r = SeededRandom::new(3);
        let mut env = env_at(&mut r);
        let ctx = Context::new().user_id("1");
        let other = Context::new().user_id("2");
        let eval =
            |name: &str, ctx: &Context, env: &mut Env<'_>| engine.evaluate(name, true, ctx, env);

        let d = eval("off", &ctx, &mut env);
        assert_eq!((d.value, d.reason), (false, Reason::Disabled));
        let d = eval("static", &ctx, &mut env);
        assert_eq!((d.value, d.reason), (true, Reason::Static));
        let d = eval("targeted", &ctx, &mut env);
        assert_eq!((d.value, d.reason), (true, Reason::TargetingMatch));
        let d = eval("targeted", &other, &mut env);
        assert_eq!(
            (d.value, d.reason, d.error_code),
            (false, Reason::Default, None)
        );
        let d = eval("split", &ctx, &mut env);
        assert_eq!(d.reason, Reason::Split);
        assert_eq!(d.value, super::super::rollout_bucket("g", "1") <= 99);
        let d = eval("broken", &ctx, &mut env);
        assert_eq!(
            (d.value, d.reason, d.error_code),
            (true, Reason::TargetingMatch, None)
        );
        let d = eval("broken", &other, &mut env);
        assert_eq!(
            (d.value, d.reason, d.error_code),
            (false, Reason::Error, Some(ErrorCode::ParseError))
        );
        assert!(
            d.error_message
                .unwrap()
                .contains("unknown operator \"NOPE\"")
        );
        let d = eval("child", &ctx, &mut env);
        assert_eq!((d.value, d.reason), (false, Reason::Default));
        let d = eval("nope", &ctx, &mut env);
        assert_eq!(
            (d.value, d.reason, d.error_code),
            (true, Reason::Error, Some(ErrorCode::FlagNotFound))
        );
        assert_eq!(
            d.error_message.as_deref(),
            Some("no flag is named \"nope\"")
        );

        let json = serde_json::to_value(engine.evaluate("nope", false, &ctx, &mut env)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"value": false, "reason": "error", "errorCode": "flagNotFound",
                               "errorMessage": "no flag is named \"nope\""})
        );
        assert_eq!(
            Reason::TargetingMatch.open_feature_name(),
            "TARGETING_MATCH"
        );
        assert_eq!(
            ErrorCode::FlagNotFound.open_feature_name(),
            "FLAG_NOT_FOUND"
        );
    }

    #[test]
    fn variant_details() {
        let engine = Engine::from_json(
            r#"{"features": [
              {"name": "ab", "enabled": true, "strategies": [{"name": "default"}],
               "variants": [{"name": "a", "weight": 1, "payload": {"type": "string", "value": "A"}},
                            {"name": "b", "weight": 1, "overrides": [{"contextName": "userId", "values": ["vip"]}]}]},
              {"name": "one", "enabled": true, "strategies": [{"name": "userWithId", "parameters": {"userIds": "1"}}],
               "variants": [{"name": "only", "weight": 10}]},
              {"name": "none", "enabled": true},
              {"name": "zero", "enabled": true, "variants": [{"name": "z", "weight": 0}]},
              {"name": "off", "enabled": false, "variants": [{"name": "z", "weight": 1}]}
            ]}"#,
        )
        .unwrap();
        let mut r = SeededRandom::new(3);
        let mut env = env_at(&mut r);
        let v = |name: &str, ctx: &Context, env: &mut Env<'_>| {
            engine.evaluate_variant(name, Variant::disabled(false), ctx, env)
        };
        let d = v("ab", &Context::new().user_id("vip"), &mut env);
        assert_eq!(
            (d.value.name.as_str(), d.reason),
            ("b", Reason::TargetingMatch)
        );
        assert_eq!(d.variant.as_deref(), Some("b"));
        let d = v("ab", &Context::new().user_id("5"), &mut env);
        assert_eq!(d.reason, Reason::Split);
        let d = v("one", &Context::new().user_id("1"), &mut env);
        assert_eq!(
            (d.value.name.as_str(), d.reason),
            ("only", Reason::TargetingMatch)
        );
        let d = v("none", &Context::new(), &mut env);
        assert_eq!(
            (d.value, d.reason, d.variant),
            (Variant::disabled(true), Reason::Default, None)
        );
        let d = v("zero", &Context::new(), &mut env);
        assert_eq!(
            (d.value, d.reason, d.error_code),
            (
                Variant::disabled(true),
                Reason::Error,
                Some(ErrorCode::ParseError)
            )
        );
        let d = v("off", &Context::new(), &mut env);
        assert_eq!(
            (d.value, d.reason),
            (Variant::disabled(false), Reason::Disabled)
        );
        let fallback = Variant {
            name: "mine".into(),
            payload: None,
            enabled: true,
            feature_enabled: true,
        };
        let d = engine.evaluate_variant("nope", fallback.clone(), &Context::new(), &mut env);
        assert_eq!(
            (d.value, d.error_code),
            (fallback, Some(ErrorCode::FlagNotFound))
        );
        assert_eq!(
            engine.variant("nope", &Context::new(), &mut env),
            Variant::disabled(false)
        );
    }

    #[test]
    fn random_stickiness_uses_the_injected_source() {
        let engine = Engine::from_json(
            r#"{"features": [{"name": "r", "enabled": true, "strategies": [
                {"name": "gradualRolloutRandom", "parameters": {"percentage": "30"}}]},
               {"name": "d", "enabled": true, "strategies": [
                {"name": "flexibleRollout", "parameters": {"rollout": "30", "stickiness": "default"}}]}]}"#,
        )
        .unwrap();
        // A source that always draws 29 is in a 30 % rollout (bucket 30), one that draws 30 is not.
        let mut low = || 29u32;
        let mut high = || 30u32;
        for name in ["r", "d"] {
            assert!(
                engine.is_enabled(name, &Context::new(), &mut env_at(&mut low)),
                "{name}"
            );
            assert!(
                !engine.is_enabled(name, &Context::new(), &mut env_at(&mut high)),
                "{name}"
            );
        }
        // With a user id the default stickiness hashes instead of drawing.
        let mut panicky = || -> u32 { unreachable!("no draw expected") };
        let ctx = Context::new().user_id("u");
        let _ = engine.is_enabled("d", &ctx, &mut env_at(&mut panicky));
    }

    #[test]
    fn dates_use_the_context_time_then_now() {
        let engine = Engine::from_json(
            r#"{"features": [{"name": "after", "enabled": true, "strategies": [{"name": "default",
                "constraints": [{"contextName": "currentTime", "operator": "DATE_AFTER", "value": "2030-01-01T00:00:00Z"}]}]},
               {"name": "prop", "enabled": true, "strategies": [{"name": "default",
                "constraints": [{"contextName": "signup", "operator": "DATE_BEFORE", "value": "2030-01-01T00:00:00Z"}]}]}]}"#,
        )
        .unwrap();
        let mut r = SeededRandom::new(1);
        let later: Timestamp = "2031-01-01T00:00:00Z".parse().unwrap();
        let mut env = Env::new(later, &mut r);
        assert!(engine.is_enabled("after", &Context::new(), &mut env));
        let ctx = Context::new().current_time(Timestamp::UNIX_EPOCH);
        assert!(!engine.is_enabled("after", &ctx, &mut env));
        assert!(!engine.is_enabled("prop", &Context::new(), &mut env));
        assert!(engine.is_enabled(
            "prop",
            &Context::new().property("signup", "2029-12-31T23:59:59+00:00"),
            &mut env
        ));
        assert!(!engine.is_enabled(
            "prop",
            &Context::new().property("signup", "last year"),
            &mut env
        ));
    }

    #[test]
    fn operators_edge_cases() {
        let engine = Engine::from_json(
            r#"{"features": [
              {"name": "ci", "enabled": true, "strategies": [{"name": "default", "constraints": [
                 {"contextName": "email", "operator": "STR_CONTAINS", "values": ["ÉCOLE"], "caseInsensitive": true}]}]},
              {"name": "in-ci-ignored", "enabled": true, "strategies": [{"name": "default", "constraints": [
                 {"contextName": "env", "operator": "IN", "values": ["PROD"], "caseInsensitive": true}]}]},
              {"name": "num", "enabled": true, "strategies": [{"name": "default", "constraints": [
                 {"contextName": "n", "operator": "NUM_LTE", "value": "1e3"}]}]},
              {"name": "semver-inverted", "enabled": true, "strategies": [{"name": "default", "constraints": [
                 {"contextName": "v", "operator": "SEMVER_LT", "value": "2.0.0", "inverted": true}]}]},
              {"name": "cidr-inverted", "enabled": true, "strategies": [{"name": "default", "constraints": [
                 {"contextName": "remoteAddress", "operator": "IN_CIDR", "values": ["10.0.0.0/8"], "inverted": true}]}]},
              {"name": "str-empty", "enabled": true, "strategies": [{"name": "default", "constraints": [
                 {"contextName": "x", "operator": "STR_STARTS_WITH", "values": []}]}]},
              {"name": "ips", "enabled": true, "strategies": [{"name": "remoteAddress", "parameters": {"IPs": "10.0.0.1, 192.168.0.0/16"}}]}
            ]}"#,
        )
        .unwrap();
        assert!(engine.warnings().is_empty(), "{:?}", engine.warnings());
        let mut r = SeededRandom::new(1);
        let mut env = env_at(&mut r);
        let on = |name: &str, ctx: Context, env: &mut Env<'_>| engine.is_enabled(name, &ctx, env);
        assert!(on(
            "ci",
            Context::new().property("email", "x@école.fr"),
            &mut env
        ));
        assert!(!on(
            "in-ci-ignored",
            Context::new().property("env", "prod"),
            &mut env
        ));
        assert!(on("num", Context::new().property("n", " 999.5 "), &mut env));
        assert!(!on("num", Context::new().property("n", "1001"), &mut env));
        assert!(!on("num", Context::new().property("n", "lots"), &mut env));
        assert!(on(
            "semver-inverted",
            Context::new().property("v", "2.0.0"),
            &mut env
        ));
        assert!(!on(
            "semver-inverted",
            Context::new().property("v", "1.9.9"),
            &mut env
        ));
        // A missing value is "false" before the inversion, as in every Unleash SDK.
        assert!(on("semver-inverted", Context::new(), &mut env));
        assert!(on(
            "cidr-inverted",
            Context::new().remote_address("11.0.0.1"),
            &mut env
        ));
        assert!(!on(
            "cidr-inverted",
            Context::new().remote_address("10.0.0.1"),
            &mut env
        ));
        assert!(!on(
            "str-empty",
            Context::new().property("x", "a"),
            &mut env
        ));
        assert!(on(
            "ips",
            Context::new().remote_address("10.0.0.1"),
            &mut env
        ));
        assert!(on(
            "ips",
            Context::new().remote_address("192.168.3.4"),
            &mut env
        ));
        assert!(!on(
            "ips",
            Context::new().remote_address("10.0.0.2"),
            &mut env
        ));
        assert!(!on(
            "ips",
            Context::new().remote_address("not an ip"),
            &mut env
        ));
        assert!(!on("ips", Context::new(), &mut env));
    }
}
