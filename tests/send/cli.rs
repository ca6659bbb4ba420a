//! `smsbatch batch ...` and `smsbatch worker` on a real database: the JSON contracts, exit
//! codes, and a batch drained by a worker through the fake provider.

use serde_json::{Value, json};

use crate::db::{Locale, TempDb};
use crate::support::{TempFile, cli, json_lines};

fn one(args: &[&str]) -> (Value, i32) {
    let run = cli(args, "");
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 1, "one line: {} / {}", run.stdout, run.stderr);
    (lines.into_iter().next().unwrap(), run.code)
}

fn setup(tag: &str, customers: usize) -> Option<(TempDb, Vec<TempFile>)> {
    let db = TempDb::create(tag, Locale::CUtf8)?;
    let (_, code) = one(&["migrate", "--database-url", &db.url]);
    assert_eq!(code, 0);
    let rows: Vec<Value> = (1..=customers)
        .map(|i| {
            json!({"id": i, "first_name": format!("C{i}"), "phone": format!("+4474009{i:05}"),
                   "opted_in": i % 5 != 0, "city": if i % 2 == 0 { "Leeds" } else { "York" }})
        })
        .collect();
    let file = TempFile::new(
        &format!("{tag}-customers"),
        "json",
        &Value::Array(rows).to_string(),
    );
    let (out, code) = one(&["customers", "import", file.arg(), "--database-url", &db.url]);
    assert_eq!(code, 0, "{out}");
    Some((db, vec![file]))
}

#[test]
fn batch_commands_print_their_contracts() {
    let Some((db, mut files)) = setup("cli_batch", 30) else {
        return;
    };
    let url = db.url.as_str();
    let template = TempFile::new("cli-batch-template", "txt", "Hi {{first_name}}, see you!\n");
    let filter = TempFile::new(
        "cli-batch-filter",
        "json",
        r#"{"version": 1, "where": {"field": "city", "op": "equals", "value": "Leeds"}}"#,
    );
    let options = TempFile::new(
        "cli-batch-options",
        "json",
        r#"{"verifyAfterSeconds": 0, "maxAttempts": 3}"#,
    );
    let create = [
        "batch",
        "create",
        "--template",
        template.arg(),
        "--filter",
        filter.arg(),
        "--from",
        "ACME",
        "--idempotency-key",
        "spring-1",
        "--options",
        options.arg(),
        "--database-url",
        url,
    ];
    let (created, code) = one(&create);
    assert_eq!(code, 0, "{created}");
    let b = &created["batch"];
    // 15 in Leeds; marketing needs opted_in, which every fifth customer lacks (10, 20, 30).
    assert_eq!(b["state"], "sending");
    assert_eq!(b["messages"], 12);
    assert_eq!(b["excluded"], json!({"noConsent": 3}));
    assert_eq!(b["segments"], 12);
    assert_eq!(b["estimatedCost"], "12");
    assert_eq!(b["currency"], "credits");
    let id = b["id"].as_str().unwrap().to_owned();
    // The same key: the same batch, exit 0.
    let (again, code) = one(&create);
    assert_eq!(code, 0);
    assert_eq!(again["batch"]["id"], id.as_str());
    assert_eq!(again["batch"]["messages"], 12);

    let (status, code) = one(&["batch", "status", &id, "--database-url", url]);
    assert_eq!(code, 0);
    let counts = &status["batch"]["progress"]["counts"];
    for key in [
        "pending",
        "processing",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "inDoubt",
        "cancelled",
    ] {
        assert!(counts.get(key).is_some(), "{key} in {status}");
    }
    assert_eq!(counts["pending"], 12);
    assert!(status["batch"].get("pauseReason").is_none());

    let (paused, code) = one(&["batch", "pause", &id, "--database-url", url]);
    assert_eq!(code, 0);
    assert_eq!(paused["batch"]["state"], "paused");
    assert_eq!(paused["batch"]["pauseReason"], "operator");
    let (resumed, _) = one(&["batch", "resume", &id, "--database-url", url]);
    assert_eq!(resumed["batch"]["state"], "sending");

    // A worker drains it through the fake provider, recording every accepted send.
    let record = TempFile::new("cli-batch-record", "jsonl", "");
    let run = cli(
        &[
            "worker",
            "--provider",
            "fake",
            "--fake-record",
            record.arg(),
            "--fake-latency-ms",
            "1-5",
            "--seed",
            "7",
            "--until-idle",
            "--poll-ms",
            "50",
            "--database-url",
            url,
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "the worker logs on stderr only");
    assert!(run.stderr.contains("\"event\""), "{}", run.stderr);
    let records = std::fs::read_to_string(&record.0).unwrap();
    assert_eq!(records.lines().count(), 12);
    let (done, _) = one(&["batch", "status", &id, "--database-url", url]);
    assert_eq!(done["batch"]["state"], "completed", "{done}");
    assert_eq!(done["batch"]["progress"]["counts"]["delivered"], 12);

    // Retry the failed: nothing failed, so nothing requeued.
    let (retried, code) = one(&["batch", "retry-failed", &id, "--database-url", url]);
    assert_eq!(code, 0);
    assert_eq!(retried["requeued"], 0);
    assert_eq!(retried["batch"]["state"], "completed");

    // A second batch, cancelled before any worker runs.
    let create2 = [
        "batch",
        "create",
        "--template",
        template.arg(),
        "--filter",
        filter.arg(),
        "--purpose",
        "transactional",
        "--send-at",
        "2999-01-01T00:00:00Z",
        "--database-url",
        url,
    ];
    let (second, code) = one(&create2);
    assert_eq!(code, 0);
    assert_eq!(second["batch"]["state"], "scheduled");
    assert_eq!(second["batch"]["messages"], 15);
    let id2 = second["batch"]["id"].as_str().unwrap().to_owned();
    let (cancelled, _) = one(&["batch", "cancel", &id2, "--database-url", url]);
    assert_eq!(cancelled["batch"]["state"], "cancelled");
    assert_eq!(cancelled["batch"]["progress"]["counts"]["cancelled"], 15);

    let run = cli(&["batch", "list", "--database-url", url], "");
    assert_eq!(run.code, 0);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["batch"]["id"], id.as_str());
    assert_eq!(lines[1]["batch"]["state"], "cancelled");
    let run = cli(
        &[
            "batch",
            "list",
            "--state",
            "completed",
            "--database-url",
            url,
        ],
        "",
    );
    assert_eq!(json_lines(&run.stdout).len(), 1);

    // Unknown batch: kind notFound, exit 2; a malformed id: invalidInput.
    let (missing, code) = one(&[
        "batch",
        "status",
        "00000000-0000-0000-0000-000000000042",
        "--database-url",
        url,
    ]);
    assert_eq!(code, 2);
    assert_eq!(missing["error"]["kind"], "notFound");
    let (bad, code) = one(&["batch", "pause", "nope", "--database-url", url]);
    assert_eq!(code, 2);
    assert_eq!(bad["error"]["kind"], "invalidInput");
    // Bad options name the field.
    let wrong = TempFile::new("cli-batch-bad-options", "json", r#"{"rate": {"burst": 2}}"#);
    let (err, code) = one(&[
        "batch",
        "create",
        "--template",
        template.arg(),
        "--filter",
        filter.arg(),
        "--options",
        wrong.arg(),
        "--database-url",
        url,
    ]);
    assert_eq!(code, 2);
    assert_eq!(err["error"]["kind"], "invalidOptions", "{err}");
    files.extend([template, filter, options, record, wrong]);
}
