//! `smsbatch report` and `smsbatch export` on a real database: the JSON contract, the table, the
//! files, the errors.

use std::process::Command;

use serde_json::Value;
use smsbatch::analytics::{BatchAnalyzer, spreadsheet_unsafe};
use smsbatch::store::{Actor, Backend};

use super::fixture::{BODIES, fill, migrated};
use crate::support::{TempFile, json_lines};

struct Run {
    stdout: String,
    code: i32,
}

fn smsbatch(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_smsbatch"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("SUPABASE_URL")
        .env_remove("SUPABASE_KEY")
        .output()
        .expect("smsbatch runs");
    Run {
        stdout: String::from_utf8(output.stdout).expect("UTF-8"),
        code: output.status.code().unwrap_or(-1),
    }
}

fn one_json(run: &Run) -> Value {
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 1, "one line: {}", run.stdout);
    lines.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_and_export_commands() {
    let Some((pg, db)) = migrated("analytics_cli").await else {
        return;
    };
    let store = pg.store(Actor::Service).unwrap();
    let batch = fill(&store).await;
    let id = batch.to_string();
    let url = db.url.as_str();

    // --json: exactly the contract's fields, the library's figures.
    let run = smsbatch(&["report", "--batch", &id, "--json", "--database-url", url]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json = one_json(&run);
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "batch",
            "byState",
            "cost",
            "deliveryRate",
            "errors",
            "latency",
            "messages",
            "segments",
            "sla",
            "successRate",
            "throughput",
            "variants"
        ]
    );
    let cost: Vec<&str> = json["cost"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // (serde_json's map sorts keys.)
    assert_eq!(cost, ["actual", "currency", "estimated"]);
    for e in json["errors"].as_array().unwrap() {
        let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["category", "count", "samples"]);
    }
    assert_eq!(json["batch"], id.as_str());
    assert_eq!(json["messages"], BODIES.len());
    assert_eq!(json["byState"]["delivered"], 4);
    assert_eq!(json["byState"]["sent"], 3);
    assert_eq!(
        json["cost"],
        serde_json::json!({"estimated": "0.56", "actual": "0.18", "currency": "USD"})
    );
    assert_eq!(json["sla"], Value::Null);
    let expected = BatchAnalyzer::new(batch)
        .currency("USD")
        .run(&store, super::fixture::at(0))
        .await
        .unwrap();
    assert_eq!(
        json["latency"],
        serde_json::to_value(expected.report.latency).unwrap()
    );
    assert_eq!(
        json["variants"],
        serde_json::to_value(&expected.report.variants).unwrap()
    );

    // --sla: the evaluation, with the violation and when it began.
    let sla = TempFile::new(
        "analytics-sla",
        "json",
        r#"{"minDeliveryRate": 0.9, "maxErrorRate": {"rate": 0.6, "windowSeconds": 60}}"#,
    );
    let run = smsbatch(&[
        "report",
        "--batch",
        &id,
        "--json",
        "--sla",
        sla.arg(),
        "--database-url",
        url,
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json = one_json(&run);
    assert_eq!(json["sla"]["met"], false);
    let v = &json["sla"]["violations"][0];
    assert_eq!(v["objective"], "minDeliveryRate");
    assert_eq!(v["beganAt"], "2025-05-01T10:00:00.35Z");
    assert_eq!(json["sla"]["objectives"][0]["objective"], "maxErrorRate");
    assert_eq!(json["sla"]["objectives"][0]["status"], "met");

    // The table for people.
    let run = smsbatch(&[
        "report",
        "--batch",
        &id,
        "--sla",
        sla.arg(),
        "--database-url",
        url,
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    for needle in [
        "Success rate",
        "sent (unconfirmed) 3",
        "filtered 4",
        "VIOLATED",
        "minDeliveryRate since",
    ] {
        assert!(run.stdout.contains(needle), "{needle} in\n{}", run.stdout);
    }

    // Export to stdout, and to a file with a summary line.
    let run = smsbatch(&[
        "export",
        "--batch",
        &id,
        "--what",
        "messages",
        "--format",
        "csv",
        "--database-url",
        url,
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let mut reader = csv::Reader::from_reader(run.stdout.as_bytes());
    let bodies: Vec<String> = reader
        .records()
        .map(|r| spreadsheet_unsafe(&r.unwrap()[6]).to_owned())
        .collect();
    assert_eq!(bodies, BODIES);
    let out = TempFile::new("analytics-export", "jsonl", "");
    let run = smsbatch(&[
        "export",
        "--batch",
        &id,
        "--what",
        "logs",
        "--format",
        "jsonl",
        "--output",
        out.arg(),
        "--database-url",
        url,
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let summary = one_json(&run);
    assert_eq!(summary["rows"], 2);
    assert_eq!(summary["what"], "logs");
    let written = std::fs::read_to_string(&out.0).unwrap();
    assert_eq!(json_lines(&written).len(), 2);
    let run = smsbatch(&[
        "export",
        "--batch",
        &id,
        "--what",
        "report",
        "--format",
        "jsonl",
        "--sla",
        sla.arg(),
        "--database-url",
        url,
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(one_json(&run)["report"]["sla"]["met"], false);

    // Fatal errors: one error line, exit 2.
    for (args, kind) in [
        (
            vec![
                "export",
                "--batch",
                &id,
                "--what",
                "everything",
                "--format",
                "csv",
            ],
            "invalidInput",
        ),
        (
            vec![
                "export", "--batch", &id, "--what", "logs", "--format", "xlsx",
            ],
            "invalidInput",
        ),
        (vec!["report", "--batch", "not-a-uuid"], "invalidInput"),
        (
            vec!["report", "--batch", "00000000-0000-0000-0000-000000000001"],
            "notFound",
        ),
    ] {
        let mut args = args;
        args.extend(["--database-url", url]);
        let run = smsbatch(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert_eq!(one_json(&run)["error"]["kind"], kind, "{args:?}");
    }
    let bad = TempFile::new("analytics-bad-sla", "json", r#"{"minDeliveryRate": 2}"#);
    let run = smsbatch(&[
        "report",
        "--batch",
        &id,
        "--sla",
        bad.arg(),
        "--database-url",
        url,
    ]);
    assert_eq!(run.code, 2);
    let error = one_json(&run);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("minDeliveryRate"),
        "{error}"
    );
    let run = smsbatch(&["report", "--batch", &id]);
    assert_eq!(run.code, 2, "no store: {}", run.stdout);
}
