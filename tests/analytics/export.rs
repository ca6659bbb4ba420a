//! Export round trips: CSV and JSON lines parsed back and compared field by field (after the
//! spreadsheet prefix is removed), on the memory store and on PostgreSQL.

use serde_json::Value;
use smsbatch::analytics::{
    BatchAnalysis, BatchAnalyzer, EXCLUDED_COLUMNS, ExportFormat, ExportKind, LOG_COLUMNS,
    MESSAGE_COLUMNS, SlaObjectives, export, flatten, spreadsheet_unsafe,
};
use smsbatch::store::{Actor, Backend, BatchLog, Exclusion, MemoryStore, Message, Store, Uuid};

use super::fixture::{BODIES, all_messages, at, fill};

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn run(store: &Store, batch: Uuid, kind: ExportKind, format: ExportFormat) -> (u64, String) {
    let analyzer = (kind == ExportKind::Report).then(|| {
        BatchAnalyzer::new(batch)
            .currency("USD")
            .objectives(SlaObjectives::from_json(r#"{"minDeliveryRate": 0.9}"#).unwrap())
    });
    let (rows, out) = export(store, batch, kind, format, Vec::new(), analyzer, at(60_000))
        .await
        .unwrap();
    (rows, String::from_utf8(out).unwrap())
}

fn lines<T: serde::de::DeserializeOwned>(out: &str) -> Vec<T> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Parses CSV, checks the header, and returns the rows with the spreadsheet prefix removed
/// (and the raw rows, to check the prefix itself).
fn csv_rows(out: &str, columns: &[&str]) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(out.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, columns);
    let raw: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let clean = raw
        .iter()
        .map(|r| r.iter().map(|c| spreadsheet_unsafe(c).to_owned()).collect())
        .collect();
    (clean, raw)
}

/// Each row equals the JSON of its record, column by column.
fn same_fields<T: serde::Serialize>(rows: &[Vec<String>], records: &[T], columns: &[&str]) {
    assert_eq!(rows.len(), records.len());
    for (row, record) in rows.iter().zip(records) {
        let json = serde_json::to_value(record).unwrap();
        assert_eq!(
            json.as_object().unwrap().len(),
            columns.len(),
            "every field is a column"
        );
        for (cell, column) in row.iter().zip(columns) {
            assert_eq!(cell, &text(&json[*column]), "column {column}");
        }
    }
}

async fn round_trips(store: Store) {
    let batch = fill(&store).await;
    let messages = all_messages(&store, batch).await;
    assert_eq!(messages.len(), BODIES.len());

    // Messages.
    let (n, out) = run(&store, batch, ExportKind::Messages, ExportFormat::JsonLines).await;
    assert_eq!(n, messages.len() as u64);
    assert_eq!(lines::<Message>(&out), messages);
    let (n, out) = run(&store, batch, ExportKind::Messages, ExportFormat::Csv).await;
    assert_eq!(n, messages.len() as u64);
    let (rows, raw) = csv_rows(&out, &MESSAGE_COLUMNS);
    same_fields(&rows, &messages, &MESSAGE_COLUMNS);
    let body = MESSAGE_COLUMNS.iter().position(|c| *c == "body").unwrap();
    let phone = MESSAGE_COLUMNS.iter().position(|c| *c == "phone").unwrap();
    let variant = MESSAGE_COLUMNS
        .iter()
        .position(|c| *c == "variant")
        .unwrap();
    let raw_bodies: Vec<&str> = raw.iter().map(|r| r[body].as_str()).collect();
    assert_eq!(
        raw_bodies,
        [
            "Hello, \"friend\"\nsecond line",
            "'=1+1",
            "'@SUM(A1:A2)",
            "'+cmd|' /C calc'!A0",
            "'-2+3",
            "'\tTabbed",
            "'\rCarriage",
            "''quoted already",
            "plain text",
            "-5",
            "+447400123456",
            "Zoë 🎉, ünïcödé",
            "a,b;c\r\nd",
            "'=HYPERLINK(\"http://evil\", \"click\")",
        ]
    );
    assert!(
        raw.iter().all(|r| r[phone].starts_with("+44")),
        "E.164 phones stay as they are"
    );
    assert_eq!(raw[0][variant], "'-A");
    assert_eq!(raw[1][variant], "'@B");

    // Logs.
    let logs: Vec<BatchLog> = store.logs.list(batch, None, 100).await.unwrap();
    assert_eq!(logs.len(), 2);
    let (_, out) = run(&store, batch, ExportKind::Logs, ExportFormat::JsonLines).await;
    assert_eq!(lines::<BatchLog>(&out), logs);
    let (_, out) = run(&store, batch, ExportKind::Logs, ExportFormat::Csv).await;
    let (rows, raw) = csv_rows(&out, &LOG_COLUMNS);
    same_fields(&rows, &logs, &LOG_COLUMNS);
    assert_eq!(raw[0][5], "'=start, \"now\"\nok");
    let data: Value = serde_json::from_str(&rows[0][6]).unwrap();
    assert_eq!(data, logs[0].data);

    // Excluded recipients.
    let excluded: Vec<Exclusion> = store.exclusions.list(batch, None, 100).await.unwrap();
    assert_eq!(excluded.len(), 2);
    let (_, out) = run(&store, batch, ExportKind::Excluded, ExportFormat::JsonLines).await;
    assert_eq!(lines::<Exclusion>(&out), excluded);
    let (_, out) = run(&store, batch, ExportKind::Excluded, ExportFormat::Csv).await;
    let (rows, raw) = csv_rows(&out, &EXCLUDED_COLUMNS);
    same_fields(&rows, &excluded, &EXCLUDED_COLUMNS);
    assert_eq!(raw[1][5], "'=no phone");

    // The report: one JSON line, or one CSV row per figure.
    let expected = BatchAnalyzer::new(batch)
        .currency("USD")
        .objectives(SlaObjectives::from_json(r#"{"minDeliveryRate": 0.9}"#).unwrap())
        .run(&store, at(60_000))
        .await
        .unwrap();
    let (n, out) = run(&store, batch, ExportKind::Report, ExportFormat::JsonLines).await;
    assert_eq!(n, 1);
    // The line is the analysis' serde form, and reads back (serde_json's default float parsing
    // may differ from the original in the last bit, so the text is compared).
    assert_eq!(
        out,
        format!("{}\n", serde_json::to_string(&expected).unwrap())
    );
    let parsed: Vec<BatchAnalysis> = lines(&out);
    assert_eq!(parsed[0].report.by_state, expected.report.by_state);
    let report = &expected.report;
    // 14 messages: 0, 4, 8, 12 delivered; 1, 5, 9, 13 failed; 2, 6, 10 undelivered; the rest sent.
    let s = report.by_state;
    assert_eq!((s.delivered, s.failed, s.undelivered, s.sent), (4, 4, 3, 3));
    assert_eq!(report.delivery_rate, Some(4.0 / 11.0));
    assert_eq!(report.cost.actual.to_string(), "0.18");
    assert!(!report.sla.as_ref().unwrap().met);
    assert_eq!(expected.log.by_event["@paused"], 1);
    let (n, out) = run(&store, batch, ExportKind::Report, ExportFormat::Csv).await;
    let (rows, _) = csv_rows(&out, &["metric", "value"]);
    let flat = flatten(&serde_json::to_value(&expected).unwrap());
    assert_eq!(n, flat.len() as u64);
    assert_eq!(rows.len(), flat.len());
    for (row, (path, leaf)) in rows.iter().zip(&flat) {
        assert_eq!((&row[0], &row[1]), (path, &text(leaf)));
    }
    assert!(
        rows.iter()
            .any(|r| r[0] == "report.byState.delivered" && r[1] == "4")
    );

    // A batch the store does not have.
    let missing = export(
        &store,
        Uuid::from_u128(999),
        ExportKind::Messages,
        ExportFormat::Csv,
        Vec::new(),
        None,
        at(0),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.kind().code(), "notFound");
}

#[tokio::test]
async fn round_trips_on_the_memory_store() {
    round_trips(MemoryStore::new().store(Actor::Service).unwrap()).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_on_postgres() {
    let Some((pg, _db)) = super::fixture::migrated("analytics_export").await else {
        return;
    };
    round_trips(pg.store(Actor::Service).unwrap()).await;
}
