//! Flag evaluation, side by side with `unleash-yggdrasil` (Unleash's own Rust engine) on the same
//! state and the same context: a `flexibleRollout` flag with three constraints, an unknown flag,
//! and a variant split.
//!
//! `cargo bench --bench flags`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use smsbatch::Timestamp;
use smsbatch::flags::{Context, Engine, Env, Flags, SeededRandom, rollout_bucket};

/// 50 ordinary flags plus the two under test, so the name lookup is not in a toy map.
fn state_json() -> String {
    let mut features: Vec<serde_json::Value> = (0..50)
        .map(|i| {
            serde_json::json!({
                "name": format!("filler-{i}"), "enabled": i % 3 != 0,
                "strategies": [{"name": "flexibleRollout",
                                "parameters": {"rollout": "30", "stickiness": "default", "groupId": format!("filler-{i}")}}]
            })
        })
        .collect();
    features.push(serde_json::json!({
        "name": "batch-v2", "enabled": true,
        "strategies": [{
            "name": "flexibleRollout",
            "parameters": {"rollout": "50", "stickiness": "default", "groupId": "batch-v2"},
            "constraints": [
                {"contextName": "environment", "operator": "IN", "values": ["production", "staging"]},
                {"contextName": "plan", "operator": "IN", "values": ["pro", "enterprise"]},
                {"contextName": "seats", "operator": "NUM_GTE", "value": "5"}
            ]
        }]
    }));
    features.push(serde_json::json!({
        "name": "template-ab", "enabled": true,
        "strategies": [{"name": "default"}],
        "variants": [
            {"name": "short", "weight": 500, "stickiness": "default", "payload": {"type": "string", "value": "s"}},
            {"name": "long", "weight": 500, "stickiness": "default", "payload": {"type": "string", "value": "l"}}
        ]
    }));
    serde_json::json!({"version": 1, "features": features}).to_string()
}

/// The user: every constraint holds, and the user is inside the 50 % rollout, so the whole rule
/// (three constraints, then the bucket) is evaluated.
fn context_json() -> String {
    let user = (0..)
        .map(|i| format!("user-{i}"))
        .find(|id| rollout_bucket("batch-v2", id) <= 50)
        .expect("some user is in a 50 % rollout");
    serde_json::json!({"userId": user, "environment": "production",
                       "properties": {"plan": "pro", "seats": "12"}})
    .to_string()
}

fn bench(c: &mut Criterion) {
    let json = state_json();
    let context = context_json();

    let engine = Engine::from_json(&json).expect("state compiles");
    assert!(engine.warnings().is_empty());
    let ctx: Context = serde_json::from_str(&context).expect("context");
    let flags = Flags::new(Engine::from_json(&json).expect("state compiles"));
    let mut random = SeededRandom::new(1);
    let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut random);

    let ygg = unleash_yggdrasil::EngineState::initial_state(
        serde_json::from_str("\"2026-01-01T00:00:00Z\"").expect("time"),
    );
    let warnings = ygg.take_state(unleash_yggdrasil::UpdateMessage::FullResponse(
        serde_json::from_str(&json).expect("yggdrasil state"),
    ));
    assert!(warnings.is_none(), "yggdrasil warnings: {warnings:?}");
    let ygg_ctx: unleash_yggdrasil::Context = serde_json::from_str(&context).expect("context");
    let no_external = None;

    // Same answers before timing anything.
    for name in ["batch-v2", "template-ab", "filler-1", "no-such-flag"] {
        assert_eq!(
            engine.is_enabled(name, &ctx, &mut env),
            ygg.is_enabled(name, &ygg_ctx, &no_external),
            "{name}"
        );
    }
    assert!(
        engine.is_enabled("batch-v2", &ctx, &mut env),
        "the bench user must be in the rollout"
    );
    assert_eq!(
        engine.variant("template-ab", &ctx, &mut env).name,
        ygg.get_variant("template-ab", &ygg_ctx, &no_external).name
    );

    let mut group = c.benchmark_group("flexibleRollout_3_constraints");
    group.bench_function("smsbatch", |b| {
        b.iter(|| engine.is_enabled(black_box("batch-v2"), black_box(&ctx), &mut env))
    });
    group.bench_function("smsbatch_flags_handle", |b| {
        b.iter(|| flags.is_enabled(black_box("batch-v2"), black_box(&ctx), &mut env))
    });
    group.bench_function("yggdrasil", |b| {
        b.iter(|| ygg.is_enabled(black_box("batch-v2"), black_box(&ygg_ctx), &no_external))
    });
    group.finish();

    let mut group = c.benchmark_group("unknown_flag");
    group.bench_function("smsbatch", |b| {
        b.iter(|| engine.is_enabled(black_box("no-such-flag"), black_box(&ctx), &mut env))
    });
    group.bench_function("yggdrasil", |b| {
        b.iter(|| ygg.is_enabled(black_box("no-such-flag"), black_box(&ygg_ctx), &no_external))
    });
    group.finish();

    let mut group = c.benchmark_group("variant_split");
    group.bench_function("smsbatch", |b| {
        b.iter(|| engine.variant(black_box("template-ab"), black_box(&ctx), &mut env))
    });
    group.bench_function("yggdrasil", |b| {
        b.iter(|| ygg.get_variant(black_box("template-ab"), black_box(&ygg_ctx), &no_external))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
