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

/// A second batch, an hour and a half after the fixture's: claimed at 11:30:00; message 1
/// accepted at 11:30:01 and delivered at 11:30:04 (charged 0.05 USD), message 2 refused
/// (filtered) at 11:30:02, message 3 accepted at 11:30:03 and delivered the next day at 00:00:10.
async fn later_batch(store: &smsbatch::store::Store) -> smsbatch::store::Uuid {
    use smsbatch::queue::{BatchState, ErrorCategory, MessageStatus};
    use smsbatch::store::{Claim, Fence, NewBatch, NewMessage, Transition, Uuid};
    use smsbatch::{Amount, Encoding, Purpose, Timestamp};

    let t = |s: &str| -> Timestamp { s.parse().unwrap() };
    let mut new = NewBatch::new(Purpose::Transactional);
    new.currency = Some("USD".into());
    let created = t("2025-05-01T11:29:00Z");
    let batch = store.batches.create(&new, created).await.unwrap().batch.id;
    let messages: Vec<NewMessage> = (1..=3)
        .map(|i| {
            let mut m =
                NewMessage::new(200 + i, format!("+44740055500{i}"), "Later", Encoding::Gsm7);
            m.estimated_cost = Amount::from_nanos(40_000_000);
            m
        })
        .collect();
    store
        .messages
        .insert(batch, &messages, created)
        .await
        .unwrap();
    let start = t("2025-05-01T11:30:00Z");
    store
        .batches
        .transition(batch, BatchState::Sending, None, start)
        .await
        .unwrap();
    let token = Uuid::from_u128(43);
    let claimed = store
        .messages
        .claim(&Claim::new(10, token, std::time::Duration::from_secs(600), start).batch(batch))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    for m in &claimed {
        store
            .messages
            .mark_send_started(m.id, token, start)
            .await
            .unwrap();
    }
    let (m1, m2, m3) = (claimed[0].id, claimed[1].id, claimed[2].id);
    let moves = [
        (
            m1,
            Fence::Claim(token),
            Transition::sent("SMl1"),
            "11:30:01",
        ),
        (
            m2,
            Fence::Claim(token),
            Transition::failed(ErrorCategory::Filtered).error_code("30007"),
            "11:30:02",
        ),
        (
            m3,
            Fence::Claim(token),
            Transition::sent("SMl3"),
            "11:30:03",
        ),
        (
            m1,
            Fence::Status(MessageStatus::Sent),
            Transition::to(MessageStatus::Delivered).price(Amount::from_nanos(50_000_000), "USD"),
            "11:30:04",
        ),
    ];
    for (id, fence, change, at) in moves {
        store
            .messages
            .transition(id, fence, &change, t(&format!("2025-05-01T{at}Z")))
            .await
            .unwrap();
    }
    store
        .messages
        .transition(
            m3,
            Fence::Status(MessageStatus::Sent),
            &Transition::to(MessageStatus::Delivered),
            t("2025-05-02T00:00:10Z"),
        )
        .await
        .unwrap();
    batch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_per_period() {
    use smsbatch::analytics::PeriodAnalyzer;

    let Some((pg, db)) = migrated("analytics_periods").await else {
        return;
    };
    let store = pg.store(Actor::Service).unwrap();
    let first = fill(&store).await;
    let later = later_batch(&store).await;
    let url = db.url.as_str();

    // Hours: the fixture's batch in 10:00, the later one's in 11:00 (and its late delivery the
    // next day), exactly what the library computes from the same messages.
    let run = smsbatch(&[
        "report",
        "--period",
        "hour",
        "--json",
        "--database-url",
        url,
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json = one_json(&run);
    assert_eq!(json["period"], "hour");
    assert_eq!(json["periodSeconds"], 3600);
    assert_eq!(json["currency"], "USD");
    assert_eq!(json["batches"], 2);
    assert_eq!(
        (json["since"].clone(), json["until"].clone()),
        (Value::Null, Value::Null)
    );
    let mut hours = PeriodAnalyzer::new(std::time::Duration::from_secs(3600), "USD");
    for batch in [first, later] {
        for m in super::fixture::all_messages(&store, batch).await {
            hours.message(&m).unwrap();
        }
    }
    // Through JSON text on both sides: serde_json's parser (without `float_roundtrip`) may read
    // a rate back one unit in the last place away from the value printed.
    let expected: Value =
        serde_json::from_str(&serde_json::to_string(&hours.finish()).unwrap()).unwrap();
    assert_eq!(json["periods"], expected);
    let periods = json["periods"].as_array().unwrap();
    let starts: Vec<&str> = periods
        .iter()
        .map(|p| p["start"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2025-05-01T10:00:00Z",
            "2025-05-01T11:00:00Z",
            "2025-05-02T00:00:00Z"
        ]
    );
    assert_eq!(periods[0]["messages"], BODIES.len());
    // 11:00: message 1 (delivered) and 2 (failed) settled; 1 and 3 accepted, 1 and 3 s after
    // their claim at 11:30:00, the span 11:30:00 to 11:30:03.
    let h11 = &periods[1];
    assert_eq!(
        (h11["batches"].clone(), h11["messages"].clone()),
        (1.into(), 2.into())
    );
    assert_eq!(h11["byState"]["delivered"], 1);
    assert_eq!(h11["errorRate"], 0.5);
    assert_eq!(h11["errorsByCategory"]["filtered"]["count"], 1);
    assert_eq!(h11["throughput"]["messages"], 2);
    assert_eq!(h11["throughput"]["seconds"], 3.0);
    assert_eq!(h11["latency"]["claimToAccepted"]["p50"], 1.0);
    assert_eq!(h11["latency"]["claimToAccepted"]["max"], 3.0);
    assert_eq!(h11["latency"]["acceptedToDelivered"]["count"], 1);
    assert_eq!(h11["cost"]["actual"], "0.05");
    assert_eq!(h11["credits"]["byEncoding"]["GSM-7"]["messages"], 2);
    // The next day: message 3, delivered 12 h 30 min 7 s after its acceptance.
    let next = &periods[2];
    assert_eq!(next["messages"], 1);
    assert_eq!(next["throughput"]["messages"], 0);
    assert_eq!(next["latency"]["acceptedToDelivered"]["p50"], 45_007.0);

    // Days, in a range: 11:00 to midnight keeps only the later batch's first hour.
    let run = smsbatch(&[
        "report",
        "--period",
        "day",
        "--since",
        "2025-05-01T11:00:00Z",
        "--until",
        "2025-05-02T00:00:00Z",
        "--json",
        "--database-url",
        url,
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json = one_json(&run);
    assert_eq!(json["periodSeconds"], 86_400);
    assert_eq!(json["since"], "2025-05-01T11:00:00Z");
    let periods = json["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 1, "{json}");
    assert_eq!(periods[0]["start"], "2025-05-01T00:00:00Z");
    assert_eq!(
        (
            periods[0]["batches"].clone(),
            periods[0]["messages"].clone()
        ),
        (1.into(), 2.into())
    );
    assert_eq!(periods[0]["throughput"]["messages"], 2);
    // A range before everything: no periods, and the table says so.
    let run = smsbatch(&[
        "report",
        "--period",
        "day",
        "--until",
        "2025-05-01T00:00:00Z",
        "--json",
        "--database-url",
        url,
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json = one_json(&run);
    assert_eq!(
        (json["batches"].clone(), json["periods"].clone()),
        (0.into(), serde_json::json!([]))
    );
    let run = smsbatch(&[
        "report",
        "--period",
        "day",
        "--until",
        "2025-05-01T00:00:00Z",
        "--database-url",
        url,
    ]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "No messages in the range.\n")
    );
    // Another currency: the USD charges are set apart.
    let run = smsbatch(&[
        "report",
        "--period",
        "day",
        "--currency",
        "EUR",
        "--json",
        "--database-url",
        url,
    ]);
    let json = one_json(&run);
    assert_eq!(json["periods"][0]["cost"]["actual"], "0");
    assert_eq!(json["otherCurrencies"]["USD"], "0.23");

    // The table: a header and a line per period.
    let run = smsbatch(&["report", "--period", "hour", "--database-url", url]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    assert!(lines[0].starts_with("Period (UTC)") && lines[0].contains("Claim→acc p50/90"));
    assert!(lines[2].starts_with("2025-05-01T11:00:00Z"), "{}", lines[2]);
    for needle in ["50.0%", "0.67", "1.000/3.000", "0.05 (0.08) USD"] {
        assert!(lines[2].contains(needle), "{needle:?} in {:?}", lines[2]);
    }

    // `report --batch` is unchanged by the period flags being there.
    let run = smsbatch(&[
        "report",
        "--batch",
        &later.to_string(),
        "--json",
        "--database-url",
        url,
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(one_json(&run)["messages"], 3);

    // Bad input: an error line naming the problem, exit 2; flags that do not go together are
    // refused by the argument parser (exit 2, its own message on stderr).
    for (args, needle) in [
        (vec!["--period", "week"], "unknown period \"week\""),
        (
            vec!["--period", "day", "--since", "yesterday"],
            "--since \"yesterday\" is not an RFC 3339 time",
        ),
        (
            vec![
                "--period",
                "day",
                "--since",
                "2025-05-02T00:00:00Z",
                "--until",
                "2025-05-01T00:00:00Z",
            ],
            "is not before --until",
        ),
    ] {
        let mut all = vec!["report"];
        all.extend(args.iter().copied());
        all.extend(["--database-url", url]);
        let run = smsbatch(&all);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        let error = one_json(&run);
        assert_eq!(error["error"]["kind"], "invalidInput", "{args:?}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{args:?}: {message}");
    }
    for args in [
        vec!["report", "--database-url", url],
        vec![
            "report",
            "--period",
            "day",
            "--batch",
            "x",
            "--database-url",
            url,
        ],
        vec![
            "report",
            "--period",
            "day",
            "--sla",
            "x.json",
            "--database-url",
            url,
        ],
        vec![
            "report",
            "--batch",
            "x",
            "--since",
            "2025-05-01T00:00:00Z",
            "--database-url",
            url,
        ],
    ] {
        let run = smsbatch(&args);
        assert_eq!((run.code, run.stdout.as_str()), (2, ""), "{args:?}");
    }
}
