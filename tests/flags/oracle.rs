//! Differential test: our engine and Unleash's own Rust engine (`unleash-yggdrasil`) decide the
//! same on random states and contexts.
//!
//! The generators stay inside the semantics both engines share; where yggdrasil knowingly differs
//! (it compares `IN` lists of numbers as numbers; one malformed rule turns its whole flag off; a
//! dependency on a variant of a parent without variants counts as met), the inputs keep away, and
//! our behaviour there is covered by the specification files and unit tests instead. Contexts
//! always carry a user id and a `currentTime`, so neither engine needs randomness or a clock.

use proptest::prelude::*;
use serde_json::{Value, json};
use smsbatch::Timestamp;
use smsbatch::flags::{Context, Engine, Env, SeededRandom};

const WORDS: &[&str] = &["alpha", "beta", "gamma", "Alpha", "BETA", "delta-x"];
const NUMBERS: &[&str] = &["-3", "0", "2.5", "12", "100"];
const VERSIONS: &[&str] = &["1.2.3", "2.0.0-alpha.1", "2.0.0", "2.0.0-rc"];
const TIMES: &[&str] = &[
    "2024-05-01T10:00:00.000Z",
    "2024-05-01T12:00:00+02:00",
    "2024-06-01T00:00:00Z",
];
const PATTERNS: &[&str] = &["^al", "a$", "(?i)BETA", "^[a-z]+$", "l{2}", "\\w-\\w"];
const BLOCKS: &[&str] = &["10.0.0.0/8", "192.168.1.1", "2001:db8::/32"];
const ADDRESSES: &[&str] = &["10.1.2.3", "192.168.1.1", "2001:db8::5", "8.8.8.8"];

fn pick(items: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    prop::sample::select(items)
}

fn some(items: &'static [&'static str], max: usize) -> impl Strategy<Value = Vec<&'static str>> {
    proptest::collection::vec(pick(items), 1..=max)
}

fn constraint() -> impl Strategy<Value = Value> {
    let list = (
        pick(&["userId", "environment", "plan", "tenant"]),
        pick(&["IN", "NOT_IN"]),
        proptest::collection::vec(pick(WORDS), 0..3),
    )
        .prop_map(|(f, op, v)| json!({"contextName": f, "operator": op, "values": v}));
    let text = (
        pick(&["plan", "tenant", "environment"]),
        pick(&["STR_STARTS_WITH", "STR_ENDS_WITH", "STR_CONTAINS"]),
        some(&["al", "ta", "ALP", "a", "x", "Be"], 2),
        any::<bool>(),
    )
        .prop_map(|(f, op, v, ci)| {
            json!({"contextName": f, "operator": op, "values": v, "caseInsensitive": ci})
        });
    let number = (
        pick(&["NUM_EQ", "NUM_GT", "NUM_GTE", "NUM_LT", "NUM_LTE"]),
        pick(NUMBERS),
    )
        .prop_map(|(op, v)| json!({"contextName": "n", "operator": op, "value": v}));
    let date = (pick(&["DATE_AFTER", "DATE_BEFORE"]), pick(TIMES))
        .prop_map(|(op, v)| json!({"contextName": "currentTime", "operator": op, "value": v}));
    let version = (
        pick(&[
            "SEMVER_EQ",
            "SEMVER_GT",
            "SEMVER_GTE",
            "SEMVER_LT",
            "SEMVER_LTE",
        ]),
        pick(VERSIONS),
    )
        .prop_map(|(op, v)| json!({"contextName": "v", "operator": op, "value": v}));
    let regex = (pick(&["plan", "tenant", "userId"]), pick(PATTERNS), any::<bool>())
        .prop_map(|(f, p, ci)| {
            json!({"contextName": f, "operator": "REGEX", "value": p, "caseInsensitive": ci})
        });
    let cidr = some(BLOCKS, 2)
        .prop_map(|v| json!({"contextName": "remoteAddress", "operator": "IN_CIDR", "values": v}));
    (
        prop_oneof![list, text, number, date, version, regex, cidr],
        any::<bool>(),
    )
        .prop_map(|(mut c, inverted)| {
            c["inverted"] = json!(inverted);
            c
        })
}

fn strategy_variants() -> impl Strategy<Value = Vec<Value>> {
    proptest::collection::vec((1u32..5, any::<bool>()), 0..3).prop_map(|vs| {
        vs.into_iter()
            .enumerate()
            .map(|(i, (weight, payload))| {
                let mut v = json!({"name": format!("s{i}"), "weight": weight});
                if payload {
                    v["payload"] = json!({"type": "string", "value": format!("p{i}")});
                }
                v
            })
            .collect()
    })
}

fn strategy(segments: usize) -> impl Strategy<Value = Value> {
    let gate = prop_oneof![
        Just(json!({"name": "default"})),
        some(WORDS, 3).prop_map(|ids| json!({"name": "userWithId", "parameters": {"userIds": ids.join(", ")}})),
        (0u32..=100, pick(&["default", "userId", "sessionId", "tenant"]), pick(&["g1", "g2"])).prop_map(
            |(p, s, g)| json!({"name": "flexibleRollout",
                               "parameters": {"rollout": p.to_string(), "stickiness": s, "groupId": g}})
        ),
        (0u32..=100, pick(&["gradualRolloutUserId", "gradualRolloutSessionId"]), pick(&["g1", "g2"])).prop_map(
            |(p, name, g)| json!({"name": name, "parameters": {"percentage": p.to_string(), "groupId": g}})
        ),
        some(BLOCKS, 2).prop_map(|ips| json!({"name": "remoteAddress", "parameters": {"IPs": ips.join(", ")}})),
    ];
    (
        gate,
        proptest::collection::vec(constraint(), 0..3),
        proptest::collection::vec(0..segments.max(1), 0..=segments.min(2)),
        strategy_variants(),
    )
        .prop_map(move |(mut s, constraints, ids, variants)| {
            s["constraints"] = json!(constraints);
            if segments > 0 {
                s["segments"] = json!(ids);
            }
            s["variants"] = json!(variants);
            s
        })
}

fn feature_variants() -> impl Strategy<Value = Vec<Value>> {
    proptest::collection::vec((1u32..100, proptest::option::of(pick(WORDS))), 0..4).prop_map(|vs| {
        vs.into_iter()
            .enumerate()
            .map(|(i, (weight, forced))| {
                let mut v = json!({"name": format!("v{i}"), "weight": weight, "stickiness": "default",
                                   "payload": {"type": "string", "value": format!("value {i}")}});
                if let Some(user) = forced {
                    v["overrides"] = json!([{"contextName": "userId", "values": [user]}]);
                }
                v
            })
            .collect()
    })
}

fn state() -> impl Strategy<Value = Value> {
    (0usize..3)
        .prop_flat_map(|segments| {
            (
                proptest::collection::vec(proptest::collection::vec(constraint(), 1..3), segments),
                proptest::collection::vec(
                    (
                        any::<bool>(),
                        proptest::collection::vec(strategy(segments), 0..3),
                        feature_variants(),
                        proptest::option::of((any::<bool>(), any::<bool>())),
                    ),
                    1..5,
                ),
            )
        })
        .prop_map(|(segments, features)| {
            let parent_has_variants = features
                .first()
                .is_some_and(|(_, _, variants, _)| !variants.is_empty());
            let features: Vec<Value> = features
                .into_iter()
                .enumerate()
                .map(|(i, (enabled, strategies, variants, dependency))| {
                    let mut f = json!({"name": format!("f{i}"), "enabled": enabled,
                                       "strategies": strategies, "variants": variants});
                    if let (true, Some((parent_enabled, on_variant))) = (i > 0, dependency) {
                        let mut d = json!({"feature": "f0", "enabled": parent_enabled});
                        if parent_enabled && on_variant && parent_has_variants {
                            d["variants"] = json!(["v0", "v2"]);
                        }
                        f["dependencies"] = json!([d]);
                    }
                    f
                })
                .collect();
            let segments: Vec<Value> = segments
                .into_iter()
                .enumerate()
                .map(|(id, constraints)| json!({"id": id, "constraints": constraints}))
                .collect();
            json!({"version": 2, "features": features, "segments": segments})
        })
}

fn context() -> impl Strategy<Value = Value> {
    (
        pick(WORDS),
        proptest::option::of(pick(WORDS)),
        proptest::option::of(pick(&["prod", "alpha", "beta"])),
        proptest::option::of(pick(ADDRESSES)),
        proptest::option::of(pick(WORDS)),
        proptest::option::of(pick(WORDS)),
        proptest::option::of(pick(&["-3", "0", "2.5", "12", "12.0", "abc", "100"])),
        proptest::option::of(pick(&["1.2.3", "2.0.0-beta", "2.0.0", "1.0", "v2.0.0"])),
        pick(TIMES),
    )
        .prop_map(|(user, session, env, address, plan, tenant, n, v, time)| {
            let mut props = serde_json::Map::new();
            for (k, val) in [("plan", plan), ("tenant", tenant), ("n", n), ("v", v)] {
                if let Some(val) = val {
                    props.insert(k.into(), json!(val));
                }
            }
            json!({"userId": user, "sessionId": session, "environment": env,
                   "remoteAddress": address, "currentTime": time, "properties": props})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decides_like_yggdrasil(state in state(), contexts in proptest::collection::vec(context(), 1..6)) {
        let text = state.to_string();
        let ours = Engine::from_json(&text).unwrap();
        prop_assert!(ours.warnings().is_empty(), "{:?}", ours.warnings());

        let theirs = unleash_yggdrasil::EngineState::initial_state(
            serde_json::from_str("\"2026-01-01T00:00:00Z\"").unwrap(),
        );
        let warnings = theirs.take_state(unleash_yggdrasil::UpdateMessage::FullResponse(
            serde_json::from_str(&text).unwrap(),
        ));
        prop_assert!(warnings.is_none(), "{:?}", warnings);

        let mut random = SeededRandom::new(0);
        let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut random);
        let names: Vec<String> = ours.names().map(str::to_owned).chain(["missing".into()]).collect();
        for ctx_json in &contexts {
            let ctx = Context::from_value(ctx_json.clone()).unwrap();
            let their_ctx: unleash_yggdrasil::Context = serde_json::from_value(ctx_json.clone()).unwrap();
            for name in &names {
                let enabled = ours.is_enabled(name, &ctx, &mut env);
                prop_assert_eq!(enabled, theirs.is_enabled(name, &their_ctx, &None),
                    "is_enabled({}) for {}", name, ctx_json);

                let mine = serde_json::to_value(ours.variant(name, &ctx, &mut env)).unwrap();
                let other = serde_json::to_value(theirs.get_variant(name, &their_ctx, &None)).unwrap();
                let other = json!({"name": other["name"], "payload": other["payload"],
                                   "enabled": other["enabled"], "feature_enabled": other["featureEnabled"]});
                let mine = json!({"name": mine["name"], "payload": mine["payload"],
                                  "enabled": mine["enabled"], "feature_enabled": mine["feature_enabled"]});
                prop_assert_eq!(&mine, &other, "variant({}) for {}", name, ctx_json);
            }
        }
    }
}
