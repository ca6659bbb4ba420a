//! Invariants of rollouts and of the compiler, checked on random inputs.

use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::json;
use smsbatch::Timestamp;
use smsbatch::flags::{
    Context, Engine, Env, ErrorCode, Operator, RandomSource, Reason, SeededRandom, State,
    rollout_bucket,
};

fn rollout_engine(group: &str, percents: impl IntoIterator<Item = u32>) -> Engine {
    let features: Vec<_> = percents
        .into_iter()
        .map(|p| {
            json!({"name": format!("p{p}"), "enabled": true, "strategies": [{
                "name": "flexibleRollout",
                "parameters": {"rollout": p.to_string(), "stickiness": "userId", "groupId": group}
            }]})
        })
        .collect();
    let engine = Engine::from_json(&json!({ "features": features }).to_string()).unwrap();
    assert!(engine.warnings().is_empty());
    engine
}

/// `n` distinct user ids of 1 to 24 characters drawn from ASCII, Latin-1, Greek, Cyrillic, CJK
/// and emoji. (Proptest's own `\\PC` strings are far too slow to generate by the thousand.)
fn random_ids(seed: u64, n: usize) -> HashSet<String> {
    const RANGES: &[(u32, u32)] = &[
        (0x21, 0x7e),
        (0xa1, 0xff),
        (0x391, 0x3c9),
        (0x410, 0x44f),
        (0x4e00, 0x9fff),
        (0x1f600, 0x1f64f),
    ];
    let mut rng = SeededRandom::new(seed);
    let mut ids = HashSet::with_capacity(n);
    while ids.len() < n {
        let len = 1 + rng.next_u32() % 24;
        let id: String = (0..len)
            .map(|_| {
                let (lo, hi) = RANGES[(rng.next_u32() as usize) % RANGES.len()];
                char::from_u32(lo + rng.next_u32() % (hi - lo + 1)).unwrap()
            })
            .collect();
        ids.insert(id);
    }
    ids
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// At rollout p, the share of distinct users (any Unicode, not just ASCII) that are in is p,
    /// within five standard deviations of the binomial.
    #[test]
    fn rollout_fraction_is_the_percentage(p in 0u32..=100, group in "\\PC{1,12}", seed: u64) {
        let engine = rollout_engine(&group, [p]);
        let mut random = SeededRandom::new(0);
        let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut random);
        let name = format!("p{p}");
        let ids = random_ids(seed, 3000);
        let on = ids
            .iter()
            .filter(|id| engine.is_enabled(&name, &Context::new().user_id(id.as_str()), &mut env))
            .count();
        let n = ids.len() as f64;
        let want = f64::from(p) / 100.0;
        let sd = (want * (1.0 - want) / n).sqrt();
        let got = on as f64 / n;
        prop_assert!((got - want).abs() <= 5.0 * sd + 1e-9, "p={p}: {on} of {n} is {got}");
        if p == 0 { prop_assert_eq!(on, 0); }
        if p == 100 { prop_assert_eq!(on as f64, n); }
    }

    /// Raising the rollout never turns a user off: the percentages at which a user is in are
    /// exactly those at or above the user's bucket.
    #[test]
    fn raising_the_rollout_never_turns_a_user_off(group in "\\PC{1,12}", id in "\\PC{0,24}") {
        let engine = rollout_engine(&group, 0..=100);
        let mut random = SeededRandom::new(0);
        let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut random);
        let ctx = Context::new().user_id(id.as_str());
        let bucket = rollout_bucket(&group, &id);
        prop_assert!((1..=100).contains(&bucket));
        let mut was_on = false;
        for p in 0..=100u32 {
            let on = engine.is_enabled(&format!("p{p}"), &ctx, &mut env);
            prop_assert!(!was_on || on, "on at {} but off at {p}", p - 1);
            prop_assert_eq!(on, p >= bucket);
            was_on = on;
        }
    }

    /// The random strategy's share is p too, drawn from the injected source.
    #[test]
    fn random_rollout_fraction_is_the_percentage(p in 0u32..=100, seed: u64) {
        let engine = Engine::from_json(&json!({"features": [{"name": "r", "enabled": true,
            "strategies": [{"name": "gradualRolloutRandom", "parameters": {"percentage": p.to_string()}}]}]})
            .to_string()).unwrap();
        let mut random = SeededRandom::new(seed);
        let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut random);
        let n = 4000.0;
        let on = (0..4000).filter(|_| engine.is_enabled("r", &Context::new(), &mut env)).count();
        let want = f64::from(p) / 100.0;
        let sd = (want * (1.0 - want) / n).sqrt();
        prop_assert!((on as f64 / n - want).abs() <= 5.0 * sd + 1e-9, "p={p}: {on}");
    }
}

/// Pieces of rules, valid and not, for the robustness property.
fn operator() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            Operator::KNOWN
                .iter()
                .map(|op| op.as_str().to_owned())
                .collect::<Vec<_>>()
        ),
        "[A-Z_]{0,12}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "1",
            "-2.5",
            "1e3",
            "NaN",
            "1.2.3",
            "2.0.0-rc.1",
            "v1.0.0",
            "2024-01-01T00:00:00Z",
            "(a",
            "^a.*$",
            "10.0.0.0/8",
            "::1",
            "2001:db8::/32",
            "x",
            "",
            "100",
            "150",
            "0",
        ])
        .prop_map(String::from),
        "\\PC{0,10}",
    ]
}

fn constraint() -> impl Strategy<Value = serde_json::Value> {
    (
        prop::sample::select(vec!["userId", "remoteAddress", "currentTime", "plan", "n"]),
        operator(),
        proptest::collection::vec(text(), 0..3),
        proptest::option::of(text()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(field, op, values, value, inverted, ci)| {
            json!({"contextName": field, "operator": op, "values": values, "value": value,
                   "inverted": inverted, "caseInsensitive": ci})
        })
}

fn strategy() -> impl Strategy<Value = serde_json::Value> {
    (
        prop::sample::select(vec![
            "default",
            "userWithId",
            "gradualRolloutUserId",
            "gradualRolloutSessionId",
            "gradualRolloutRandom",
            "flexibleRollout",
            "remoteAddress",
            "applicationHostname",
            "custom",
        ]),
        proptest::collection::btree_map(
            prop::sample::select(vec![
                "rollout",
                "percentage",
                "stickiness",
                "groupId",
                "userIds",
                "IPs",
            ]),
            text(),
            0..4,
        ),
        proptest::collection::vec(constraint(), 0..3),
        proptest::collection::vec(0i64..4, 0..2),
        proptest::collection::vec((text(), -1i64..3), 0..3),
    )
        .prop_map(|(name, params, constraints, segments, variants)| {
            let variants: Vec<_> = variants
                .into_iter()
                .map(|(name, weight)| json!({"name": name, "weight": weight}))
                .collect();
            json!({"name": name, "parameters": params, "constraints": constraints,
                   "segments": segments, "variants": variants})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the rules say, compiling and evaluating never panics, and an evaluation reports a
    /// parse error only for a flag the compiler warned about, with the warning as its message.
    #[test]
    fn any_rules_compile_and_evaluate_without_panicking(
        features in proptest::collection::vec(
            (any::<bool>(), proptest::collection::vec(strategy(), 0..4),
             proptest::collection::vec((text(), -1i64..3), 0..3)),
            1..4),
        segments in proptest::collection::vec(proptest::collection::vec(constraint(), 0..2), 0..3),
        user in proptest::option::of(text()),
        address in proptest::option::of(text()),
        plan in proptest::option::of(text()),
        seed: u64,
    ) {
        let features: Vec<_> = features
            .into_iter()
            .enumerate()
            .map(|(i, (enabled, strategies, variants))| {
                let variants: Vec<_> = variants
                    .into_iter()
                    .map(|(name, weight)| json!({"name": name, "weight": weight}))
                    .collect();
                json!({"name": format!("f{i}"), "enabled": enabled, "strategies": strategies,
                       "variants": variants,
                       "dependencies": if i > 0 { json!([{"feature": "f0"}]) } else { json!([]) }})
            })
            .collect();
        let segments: Vec<_> = segments
            .into_iter()
            .enumerate()
            .map(|(id, constraints)| json!({"id": id, "constraints": constraints}))
            .collect();
        let state: State =
            serde_json::from_value(json!({"features": features, "segments": segments})).unwrap();
        let engine = Engine::compile(&state);

        let mut ctx = Context::new();
        ctx.user_id = user;
        ctx.remote_address = address;
        if let Some(plan) = plan {
            ctx = ctx.property("plan", plan);
        }
        let mut random = SeededRandom::new(seed);
        let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut random);
        for name in engine.names().map(str::to_owned).collect::<Vec<_>>() {
            let d = engine.evaluate(&name, false, &ctx, &mut env);
            prop_assert_eq!(d.reason == Reason::Error, d.error_code.is_some());
            if d.error_code == Some(ErrorCode::ParseError) {
                let message = d.error_message.unwrap();
                prop_assert!(engine.warnings().iter().any(|w| w.to_string() == message), "{}", message);
            }
            let v = engine.evaluate_variant(&name, Default::default(), &ctx, &mut env);
            prop_assert_eq!(v.reason == Reason::Error, v.error_code.is_some());
            prop_assert!(!v.value.enabled || v.value.feature_enabled);
            prop_assert_eq!(v.variant.is_some(), v.value.enabled);
        }
        let names: HashSet<&str> = engine.names().collect();
        prop_assert_eq!(names.len(), engine.len());
    }
}
