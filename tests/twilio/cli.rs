//! `smsbatch worker --provider twilio`: its flags and the errors for missing credentials.

use std::process::{Command, Stdio};

use serde_json::Value;

/// Runs `smsbatch worker ARGS` with the Twilio variables `env` (and no others).
fn worker(args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_smsbatch"));
    command.arg("worker").args(args);
    for name in [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_API_KEY",
        "TWILIO_API_SECRET",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let output = command.stdin(Stdio::null()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().next().unwrap_or_else(|| {
        panic!(
            "no JSON line; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (
        output.status.code().unwrap_or(-1),
        serde_json::from_str(line).unwrap(),
    )
}

const DB: &[&str] = &["--database-url", "postgres://nobody@127.0.0.1:1/none"];

#[test]
fn twilio_flags_and_credentials() {
    let with_db = |args: &[&'static str]| [args, DB].concat();
    // No credentials: the error names the variable, before any store is opened.
    let (code, out) = worker(&with_db(&["--provider", "twilio"]), &[]);
    assert_eq!(
        (code, &out["error"]["kind"]),
        (2, &Value::from("invalidInput")),
        "{out}"
    );
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("TWILIO_ACCOUNT_SID")
    );
    let sid = ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000001");
    let (_, out) = worker(&with_db(&["--provider", "twilio"]), &[sid]);
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("TWILIO_AUTH_TOKEN"),
        "{out}"
    );
    let (_, out) = worker(
        &with_db(&["--provider", "twilio"]),
        &[
            sid,
            ("TWILIO_API_KEY", "SK00000000000000000000000000000002"),
        ],
    );
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("TWILIO_API_SECRET"),
        "{out}"
    );
    // A bad base URL or callback URL is named.
    let token = ("TWILIO_AUTH_TOKEN", "t");
    let (code, out) = worker(
        &with_db(&[
            "--provider",
            "twilio",
            "--twilio-base-url",
            "api.twilio.com",
        ]),
        &[sid, token],
    );
    assert_eq!(code, 2);
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("base URL"),
        "{out}"
    );
    let (_, out) = worker(
        &with_db(&[
            "--provider",
            "twilio",
            "--status-callback-url",
            "/twilio/status",
        ]),
        &[sid, token],
    );
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("status callback URL"),
        "{out}"
    );
    // Twilio's flags with another provider, and the fake's with Twilio, are refused.
    let (code, out) = worker(
        &with_db(&[
            "--provider",
            "fake",
            "--twilio-base-url",
            "http://127.0.0.1:9",
        ]),
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--twilio-base-url needs --provider twilio"),
        "{out}"
    );
    let (_, out) = worker(
        &with_db(&["--provider", "twilio", "--fake-record", "/tmp/x"]),
        &[sid, token],
    );
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--fake-record needs --provider fake"),
        "{out}"
    );
}
