//! The analysis worked out by hand in `tests/data/analytics/batch.json`, the same file the
//! WebAssembly package's node tests run through `analyze`.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use smsbatch::Timestamp;
use smsbatch::analytics::{BatchAnalysis, BatchAnalyzer, SlaObjectives};
use smsbatch::store::{BatchLog, Message};

use crate::support::data;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    now: Timestamp,
    window_seconds: u64,
    logs: Vec<BatchLog>,
    sla: SlaObjectives,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[allow(dead_code)]
    about: String,
    messages: Vec<Message>,
    options: Options,
    expect: Value,
}

/// Every field of `expected` is in `actual` with the same value, recursively into objects and
/// arrays (arrays of the same length); numbers compare as numbers (`2` and `2.0` are equal).
fn contains(actual: &Value, expected: &Value, path: &str) -> Result<(), String> {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e.iter().try_for_each(|(k, v)| match a.get(k) {
            Some(got) => contains(got, v, &format!("{path}.{k}")),
            None => Err(format!("{path}.{k}: missing")),
        }),
        (Value::Array(a), Value::Array(e)) if a.len() == e.len() => a
            .iter()
            .zip(e)
            .enumerate()
            .try_for_each(|(i, (a, e))| contains(a, e, &format!("{path}[{i}]"))),
        (Value::Number(a), Value::Number(e)) if a.as_f64() == e.as_f64() => Ok(()),
        (a, e) if a == e => Ok(()),
        (a, e) => Err(format!("{path}: got {a}, want {e}")),
    }
}

/// The analysis of the spec's messages and log, fed in the file's order or reversed.
fn analyze(spec: &Spec, reversed: bool) -> BatchAnalysis {
    let o = &spec.options;
    let mut analyzer = BatchAnalyzer::new(spec.messages[0].batch_id)
        .window(Duration::from_secs(o.window_seconds))
        .objectives(o.sla.clone());
    let mut messages: Vec<&Message> = spec.messages.iter().collect();
    let mut logs: Vec<&BatchLog> = o.logs.iter().collect();
    if reversed {
        messages.reverse();
        logs.reverse();
    }
    for m in messages {
        analyzer.message(m).unwrap();
    }
    for log in logs {
        analyzer.log(log);
    }
    analyzer.finish(o.now).unwrap()
}

#[test]
fn the_hand_worked_batch() {
    let spec: Spec = serde_json::from_str(&data("analytics/batch.json")).unwrap();
    let analysis = analyze(&spec, false);
    let json = serde_json::to_value(&analysis).unwrap();
    if let Err(e) = contains(&json, &spec.expect, "") {
        panic!("{e}\nthe analysis: {json:#}");
    }
    // The order of the messages and of the log does not matter.
    assert_eq!(analyze(&spec, true), analysis);
}
