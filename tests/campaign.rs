//! `smsbatch campaign`, the main job, end to end: its report and its CSV export agree with the
//! fake provider's record of every send, on the embedded store and on PostgreSQL.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::db::{Locale, TempDb};
use crate::support::cli;

/// A folder for one run's output, removed afterwards.
struct OutDir(PathBuf);

impl OutDir {
    fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "smsbatch-test-{}-campaign-{tag}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("temporary paths are UTF-8")
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fast settings: a few hundred messages, short latency, a generous rate limit.
fn run(out: &OutDir, extra: &[&str]) -> String {
    let mut args = vec![
        "campaign",
        "--customers",
        "600",
        "--seed",
        "11",
        "--rate",
        "3000",
        "--concurrency",
        "32",
        "--latency-ms",
        "2-10",
        "--no-progress",
        "--out",
        out.arg(),
    ];
    args.extend_from_slice(extra);
    let run = cli(&args, "");
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run.stdout
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the file is written"))
        .expect("the file is JSON")
}

/// Checks the run's report and CSV export against the fake provider's record.
fn check(out: &OutDir, stdout: &str) {
    // Printed for a person: sections, no JSON lists; the export's path is named.
    for section in [
        "== audience",
        "== preview",
        "== flags",
        "== batch",
        "== sending",
        "== report",
    ] {
        assert!(stdout.contains(section), "{section} in:\n{stdout}");
    }
    assert!(stdout.contains("exactly the preview's"), "{stdout}");
    let csv_path = out.0.join("messages.csv");
    assert!(stdout.contains(csv_path.to_str().unwrap()), "{stdout}");
    assert!(
        !stdout.lines().any(|l| l.trim_start().starts_with('[')),
        "{stdout}"
    );

    let report = read_json(&out.0.join("report.json"));
    let by_state = report["byState"].as_object().expect("byState");
    let state = |s: &str| by_state.get(s).and_then(Value::as_u64).unwrap_or(0);

    // Every accepted send is one line of the record, with the message's id, number and text.
    let record = std::fs::read_to_string(out.0.join("provider-record.jsonl")).unwrap();
    let records: Vec<Value> = record
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record line is JSON"))
        .collect();
    // The fake writes the message id as the provider sees it: text.
    let id_of = |r: &Value| -> i64 { r["messageId"].as_str().expect("messageId").parse().unwrap() };
    let ids: HashSet<i64> = records.iter().map(id_of).collect();
    assert_eq!(ids.len(), records.len(), "no message was sent twice");

    let mut reader = csv::Reader::from_path(&csv_path).expect("the export is CSV");
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let (id_col, status_col, phone_col, body_col) = (
        column("id"),
        column("status"),
        column("phone"),
        column("body"),
    );
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    let mut exported = BTreeMap::new();
    for row in reader.records() {
        let row = row.expect("a CSV row");
        *statuses.entry(row[status_col].to_owned()).or_default() += 1;
        exported.insert(
            row[id_col].parse::<i64>().unwrap(),
            (
                row[status_col].to_owned(),
                row[phone_col].to_owned(),
                row[body_col].to_owned(),
            ),
        );
    }
    assert_eq!(report["messages"].as_u64().unwrap(), exported.len() as u64);
    for (s, n) in &statuses {
        assert_eq!(state(s), *n, "{s}: report {report} vs export {statuses:?}");
    }

    // The accepted messages are exactly the recorded ones; the failed ones were never accepted.
    let accepted = state("sent") + state("delivered") + state("undelivered");
    assert_eq!(accepted, records.len() as u64, "{report}");
    assert_eq!(
        state("pending") + state("processing") + state("inDoubt"),
        0,
        "{report}"
    );
    for r in &records {
        let id = id_of(r);
        let (status, phone, body) = exported.get(&id).expect("a recorded message is exported");
        assert!(
            ["sent", "delivered", "undelivered"].contains(&status.as_str()),
            "{id}: {status}"
        );
        assert_eq!(r["to"].as_str().unwrap(), phone);
        assert_eq!(r["body"].as_str().unwrap(), body);
    }
    // The settings make some failures and undelivered messages: the report shows them.
    assert!(state("failed") > 0 && state("undelivered") > 0, "{report}");
    assert!(state("delivered") > accepted / 2, "{report}");
    let status = read_json(&out.0.join("status.json"));
    assert_eq!(status["state"], "completed", "{status}");
}

#[test]
fn the_main_job_runs_end_to_end_on_the_embedded_store() {
    let out = OutDir::new("memory");
    let stdout = run(&out, &[]);
    assert!(stdout.contains("600 sample customers"), "{stdout}");
    check(&out, &stdout);
}

#[test]
fn the_main_job_runs_on_postgres_and_keeps_a_real_audience() {
    let Some(db) = TempDb::create("campaign", Locale::CUtf8) else {
        return;
    };
    let migrate = cli(&["migrate", "--database-url", &db.url], "");
    assert_eq!(migrate.code, 0, "{migrate:?}");
    let out = OutDir::new("postgres");
    let stdout = run(&out, &["--database-url", &db.url]);
    assert!(stdout.contains("600 sample customers"), "{stdout}");
    check(&out, &stdout);

    // A second run finds customers and leaves them as they are.
    let again = OutDir::new("postgres-again");
    let stdout = run(&again, &["--database-url", &db.url]);
    assert!(stdout.contains("its own 600 customers"), "{stdout}");
    check(&again, &stdout);
}
