//! `smsbatch flags --state FILE`: the JSON-lines contract, checked against every specification file.
#![cfg(feature = "cli")]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::support;

/// A file in the system's temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str, contents: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("smsbatch-flags-{}-{tag}.json", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn smsbatch(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smsbatch"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_owned();
    // Write from another thread so a large output cannot deadlock against a full stdin pipe.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
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
        let state = TempFile::new(&tag, &doc["state"].to_string());
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
        assert!(out.status.success(), "{tag}: {out:?}");
        assert_eq!(lines(&out), want, "{tag}");
        total += want.len();
    }
    assert!(total > 200, "{total}");
}

#[test]
fn a_bad_line_gives_an_error_line_in_its_place() {
    let state = TempFile::new(
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
    assert!(out.status.success(), "{out:?}");
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
    let state = TempFile::new(
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
    let state = TempFile::new(
        "warn",
        r#"{"features": [{"name": "x", "enabled": true, "strategies": [{"name": "custom"}]}]}"#,
    );
    let out = smsbatch(
        &["flags", "--state", state.0.to_str().unwrap()],
        "{\"toggleName\": \"x\"}\n",
    );
    assert!(out.status.success());
    assert_eq!(lines(&out), [json!({"enabled": false})]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("unknown strategy \"custom\""), "{stderr}");

    let broken = TempFile::new("broken", r#"{"features": {}}"#);
    let out = smsbatch(&["flags", "--state", broken.0.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(lines(&out)[0]["error"]["kind"], "invalidFlagState");

    let out = smsbatch(&["flags", "--state", "/nonexistent/state.json"], "");
    assert_eq!(out.status.code(), Some(2));
    let err = &lines(&out)[0]["error"];
    assert_eq!(err["kind"], "invalidInput");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/state.json")
    );
}
