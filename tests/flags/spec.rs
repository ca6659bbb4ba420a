//! Every test of every file of the Unleash client specification (`tests/data/unleash-spec/`), one
//! Rust test per file.

use serde_json::Value;
use smsbatch::Timestamp;
use smsbatch::flags::{Context, Engine, Env, SeededRandom, State};

use crate::support;

/// Runs one specification file: `tests` compare `is_enabled` with `expectedResult`, `variantTests`
/// compare the variant's JSON with `expectedResult` exactly. Each file runs under several random
/// seeds, since no expected result may depend on the random source.
fn run(file: &str) {
    let doc: Value = serde_json::from_str(&support::data(&format!("unleash-spec/{file}")))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let state: State = serde_json::from_value(doc["state"].clone())
        .unwrap_or_else(|e| panic!("{file}: state: {e}"));
    let engine = Engine::compile(&state);
    let now: Timestamp = "2026-03-16T12:00:00Z".parse().unwrap();

    let mut failures = Vec::new();
    let mut checked = 0;
    for seed in [1, 2, 3] {
        let mut random = SeededRandom::new(seed);
        let mut env = Env::new(now, &mut random);
        for test in doc["tests"].as_array().into_iter().flatten() {
            let (name, ctx) = case(file, test);
            let want = test["expectedResult"]
                .as_bool()
                .expect("boolean expectedResult");
            let got = engine.is_enabled(name, &ctx, &mut env);
            if got != want {
                failures.push(format!("{}: got {got}", test["description"]));
            }
            checked += 1;
        }
        for test in doc["variantTests"].as_array().into_iter().flatten() {
            let (name, ctx) = case(file, test);
            let got = serde_json::to_value(engine.variant(name, &ctx, &mut env)).unwrap();
            if got != test["expectedResult"] {
                failures.push(format!("{}: got {got}", test["description"]));
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "{file} has no tests");
    assert!(
        failures.is_empty(),
        "{file}: {} of {checked} checks failed:\n{}\nwarnings: {:#?}",
        failures.len(),
        failures.join("\n"),
        engine.warnings()
    );
}

fn case<'a>(file: &str, test: &'a Value) -> (&'a str, Context) {
    let name = test["toggleName"].as_str().expect("toggleName");
    let ctx = Context::from_value(test["context"].clone())
        .unwrap_or_else(|e| panic!("{file}: {}: {e}", test["description"]));
    (name, ctx)
}

macro_rules! spec_files {
    ($($test:ident => $file:literal,)*) => {
        const FILES: &[&str] = &[$($file),*];
        $(#[test] fn $test() { run($file) })*
    };
}

spec_files! {
    spec_01_simple_examples => "01-simple-examples.json",
    spec_02_user_with_id_strategy => "02-user-with-id-strategy.json",
    spec_03_gradual_rollout_user_id_strategy => "03-gradual-rollout-user-id-strategy.json",
    spec_04_gradual_rollout_session_id_strategy => "04-gradual-rollout-session-id-strategy.json",
    spec_05_gradual_rollout_random_strategy => "05-gradual-rollout-random-strategy.json",
    spec_07_multiple_strategies => "07-multiple-strategies.json",
    spec_09_strategy_constraints => "09-strategy-constraints.json",
    spec_11_strategy_constraints_edge_cases => "11-strategy-constraints-edge-cases.json",
    spec_13_constraint_operators => "13-constraint-operators.json",
    spec_14_constraint_semver_operators => "14-constraint-semver-operators.json",
    spec_15_global_constraints => "15-global-constraints.json",
    spec_16_strategy_variants => "16-strategy-variants.json",
    spec_17_dependent_features => "17-dependent-features.json",
    spec_18_utf8_flag_names => "18-utf8-flag-names.json",
    spec_21_regex_constraint_operators => "21-regex-constraint-operators.json",
    spec_22_cidr_constraint_operators => "22-cidr-constraint-operators.json",
}

/// A specification file added to `tests/data/unleash-spec/` without a test above fails here.
#[test]
fn every_spec_file_has_a_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir(support::data_path("unleash-spec"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, FILES);
}

/// The warnings the specification's deliberately broken rules produce, so a silent change in what
/// the compiler accepts shows up.
#[test]
fn spec_files_warn_about_exactly_their_broken_rules() {
    let warnings = |file: &str| -> Vec<String> {
        let doc: Value =
            serde_json::from_str(&support::data(&format!("unleash-spec/{file}"))).unwrap();
        let state: State = serde_json::from_value(doc["state"].clone()).unwrap();
        Engine::compile(&state)
            .warnings()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    for file in FILES {
        let w = warnings(file);
        let expected: &[&str] = match *file {
            "13-constraint-operators.json" => &["unknown operator \"NOT_A_VALID_OPERATOR\""],
            "14-constraint-semver-operators.json" => &["\"v2.0.0\" is not a semantic version"],
            "15-global-constraints.json" => &["segment 404 does not exist"],
            "17-dependent-features.json" => &[
                "\"parent.with.cycle\": depends on \"child.with.cycle\", which has dependencies",
                "\"child.with.cycle\": depends on \"parent.with.cycle\", which has dependencies",
                "\"child.with.transitive.dependency\": depends on \"parent.enabled.child.enabled\", which has dependencies",
                "\"parents.not.exist.child.enabled\": depends on \"parent.not.exist\", which does not exist",
            ],
            "21-regex-constraint-operators.json" => &[
                "invalid regex \"(regex\"",
                "invalid regex \"^(?=a)b$\"",
                "invalid regex \"^(a)\\\\1$\"",
            ],
            "22-cidr-constraint-operators.json" => &[
                "\"127.invalid\" is not an IP address or CIDR block; ignored",
                "no valid address or CIDR block in [\"127.invalid\"]",
                "\"bad::cidr\" is not an IP address or CIDR block; ignored",
            ],
            _ => &[],
        };
        assert_eq!(w.len(), expected.len(), "{file}: {w:#?}");
        for (got, needle) in w.iter().zip(expected) {
            assert!(got.contains(needle), "{file}: {got:?} lacks {needle:?}");
        }
    }
}
