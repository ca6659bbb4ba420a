//! `smsbatch flags --state FILE`: the JSON-lines contract, checked against every specification file.
#![cfg(feature = "cli")]

use serde_json::{Value, json};

use crate::support;

fn smsbatch(args: &[&str], stdin: &str) -> support::CliRun {
    support::cli(args, stdin)
}

fn lines(out: &support::CliRun) -> Vec<Value> {
    out.lines()
}

/// A state file for one test.
fn state_file(tag: &str, contents: &str) -> support::TempFile {
    support::TempFile::new(&format!("flags-{tag}"), "json", contents)
}

/// Every test of every specification file, through the command line: the output is exactly
/// `{"enabled": expectedResult}` or `{"variant": expectedResult}`.
#[test]
fn answers_every_spec_test() {
    let dir = support::data_path("unleash-spec");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut total = 0;
    for path in files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let tag = path.file_stem().unwrap().to_string_lossy().into_owned();
        let state = state_file(&tag, &doc["state"].to_string());
        let mut input = String::new();
        let mut want = Vec::new();
        for t in doc["tests"].as_array().into_iter().flatten() {
            input += &json!({"toggleName": t["toggleName"], "context": t["context"]}).to_string();
            input.push('\n');
            want.push(json!({"enabled": t["expectedResult"]}));
        }
        for t in doc["variantTests"].as_array().into_iter().flatten() {
            input +=
                &json!({"toggleName": t["toggleName"], "context": t["context"], "variant": true})
                    .to_string();
            input.push('\n');
            want.push(json!({"variant": t["expectedResult"]}));
        }
        let out = smsbatch(
            &["flags", "--state", state.0.to_str().unwrap(), "--seed", "1"],
            &input,
        );
        assert!(out.code == 0, "{tag}: {out:?}");
        assert_eq!(lines(&out), want, "{tag}");
        total += want.len();
    }
    assert!(total > 200, "{total}");
}

#[test]
fn a_bad_line_gives_an_error_line_in_its_place() {
    let state = state_file(
        "bad-lines",
        r#"{"features": [{"name": "on", "enabled": true}]}"#,
    );
    let input = [
        r#"{"toggleName": "on"}"#,
        "not json",
        r#"{"context": {}}"#,
        r#"{"toggleName": 5}"#,
        r#"{"toggleName": "on", "context": {"currentTime": "yesterday"}}"#,
        r#"{"toggleName": "on", "variant": "yes"}"#,
        r#"{"toggleName": "on", "expectedResult": true}"#,
        "[1]",
        "",
        r#"{"toggleName": "unknown", "context": null}"#,
        r#"{"toggleName": "on", "variant": true, "context": {"userId": 1}}"#,
    ]
    .join("\n");
    let out = smsbatch(&["flags", "--state", state.0.to_str().unwrap()], &input);
    assert!(out.code == 0, "{out:?}");
    let got = lines(&out);
    let kinds: Vec<&str> = got
        .iter()
        .map(|l| l["error"]["kind"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        kinds,
        [
            "-",
            "invalidInput",
            "invalidInput",
            "invalidInput",
            "invalidFlagContext",
            "invalidInput",
            "invalidInput",
            "invalidInput",
            "invalidInput",
            "-",
            "-"
        ]
    );
    assert_eq!(got[0], json!({"enabled": true}));
    assert!(
        got[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not JSON")
    );
    assert!(
        got[2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no toggleName")
    );
    assert!(
        got[4]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("currentTime")
    );
    assert!(
        got[6]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"expectedResult\"")
    );
    assert!(
        got[8]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 9 is empty")
    );
    assert_eq!(got[9], json!({"enabled": false}));
    assert_eq!(
        got[10],
        json!({"variant": {"name": "disabled", "enabled": false, "feature_enabled": true}})
    );
}

#[test]
fn date_constraints_use_now_when_the_context_has_no_time() {
    let state = state_file(
        "now",
        r#"{"features": [{"name": "launch", "enabled": true, "strategies": [{"name": "default",
            "constraints": [{"contextName": "currentTime", "operator": "DATE_AFTER",
                             "value": "2030-01-01T00:00:00Z"}]}]}]}"#,
    );
    let path = state.0.to_str().unwrap();
    let input = "{\"toggleName\": \"launch\"}\n";
    let before = smsbatch(
        &["flags", "--state", path, "--now", "2029-12-31T23:59:59Z"],
        input,
    );
    let after = smsbatch(
        &["flags", "--state", path, "--now", "2030-01-01T00:00:01Z"],
        input,
    );
    assert_eq!(lines(&before), [json!({"enabled": false})]);
    assert_eq!(lines(&after), [json!({"enabled": true})]);
}

#[test]
fn warnings_go_to_stderr_and_a_bad_state_is_fatal() {
    let state = state_file(
        "warn",
        r#"{"features": [{"name": "x", "enabled": true, "strategies": [{"name": "custom"}]}]}"#,
    );
    let out = smsbatch(
        &["flags", "--state", state.0.to_str().unwrap()],
        "{\"toggleName\": \"x\"}\n",
    );
    assert!(out.code == 0);
    assert_eq!(lines(&out), [json!({"enabled": false})]);
    let stderr = &out.stderr;
    assert!(stderr.contains("unknown strategy \"custom\""), "{stderr}");

    let broken = state_file("broken", r#"{"features": {}}"#);
    let out = smsbatch(&["flags", "--state", broken.0.to_str().unwrap()], "");
    assert_eq!(out.code, 2);
    assert_eq!(lines(&out)[0]["error"]["kind"], "invalidFlagState");

    let out = smsbatch(&["flags", "--state", "/nonexistent/state.json"], "");
    assert_eq!(out.code, 2);
    let err = &lines(&out)[0]["error"];
    assert_eq!(err["kind"], "invalidInput");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/state.json")
    );
}
