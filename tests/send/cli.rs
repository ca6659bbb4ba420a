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

/// A worker process, killed and reaped when dropped (a failing test leaves none behind).
struct WorkerProcess(std::process::Child);

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn count_status(url: &str, batch: &str, status: &str) -> i64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .query_one(
            "SELECT count(*) FROM sms_batch_messages
             WHERE batch_id = $1::text::uuid AND status = $2",
            &[&batch, &status],
        )
        .unwrap()
        .get(0)
}

/// SIGTERM and SIGINT stop `smsbatch worker` gracefully: it says so on stderr, stops claiming,
/// lets the (slow) sends under way finish, gives back what it claimed and did not start, and
/// exits 0 with nothing left processing or in doubt.
#[test]
fn worker_stops_gracefully_on_sigterm_and_sigint() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let Some((db, mut files)) = setup("cli_signal", 30) else {
        return;
    };
    let url = db.url.as_str();
    let template = TempFile::new("cli-signal-template", "txt", "Hi {{first_name}}\n");
    let filter = TempFile::new(
        "cli-signal-filter",
        "json",
        r#"{"version": 1, "where": {"field": "id", "op": "lte", "value": 30}}"#,
    );
    for signal in ["TERM", "INT"] {
        let (created, code) = one(&[
            "batch",
            "create",
            "--template",
            template.arg(),
            "--filter",
            filter.arg(),
            "--purpose",
            "transactional",
            "--database-url",
            url,
        ]);
        assert_eq!(code, 0, "{created}");
        let batch = created["batch"]["id"].as_str().unwrap().to_owned();
        let record = TempFile::new(&format!("cli-signal-{signal}-record"), "jsonl", "");
        let log = TempFile::new(&format!("cli-signal-{signal}-log"), "txt", "");
        let child = Command::new(env!("CARGO_BIN_EXE_smsbatch"))
            .args([
                "worker",
                "--provider",
                "fake",
                "--fake-record",
                record.arg(),
                "--fake-latency-ms",
                "1500-1500",
                "--poll-ms",
                "50",
                "--database-url",
                url,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log.0).unwrap()))
            .spawn()
            .expect("the worker starts");
        let mut worker = WorkerProcess(child);
        // Sends under way: messages processing.
        let started = Instant::now();
        while count_status(url, &batch, "processing") == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no send started within 30 s: {}",
                std::fs::read_to_string(&log.0).unwrap_or_default()
            );
            assert!(worker.0.try_wait().unwrap().is_none(), "the worker exited");
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(worker.0.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
        let signalled = Instant::now();
        let exit = loop {
            if let Some(exit) = worker.0.try_wait().unwrap() {
                break exit;
            }
            assert!(
                signalled.elapsed() < Duration::from_secs(30),
                "SIG{signal}: the worker did not stop within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = std::fs::read_to_string(&log.0).unwrap();
        assert_eq!(exit.code(), Some(0), "SIG{signal}: {stderr}");
        assert!(
            stderr.lines().any(|l| l.contains("\"event\":\"shutdown\"")),
            "SIG{signal}: no shutdown line in {stderr}"
        );
        assert!(
            stderr.lines().any(|l| l.contains("\"event\":\"stopped\"")),
            "{stderr}"
        );
        // The sends under way finished (a second and a half each); nothing is left claimed or
        // in doubt, and every accepted send is a sent message.
        assert_eq!(count_status(url, &batch, "processing"), 0, "SIG{signal}");
        assert_eq!(count_status(url, &batch, "in_doubt"), 0, "SIG{signal}");
        let sent = count_status(url, &batch, "sent") + count_status(url, &batch, "delivered");
        let records = std::fs::read_to_string(&record.0).unwrap();
        assert!(sent > 0, "SIG{signal}: the sends under way finished");
        assert_eq!(records.lines().count() as i64, sent, "SIG{signal}");
        assert_eq!(
            count_status(url, &batch, "pending") + sent,
            30,
            "SIG{signal}: the rest is pending for the next worker"
        );
        // Out of the next round's way.
        let (cancelled, code) = one(&["batch", "cancel", &batch, "--database-url", url]);
        assert_eq!(code, 0, "{cancelled}");
        files.extend([record, log]);
    }
    files.extend([template, filter]);
}

/// Runs `smsbatch worker --provider twilio` against the fake Twilio `server` until idle.
fn twilio_worker(server: &smsbatch_twilio_testserver::Server, url: &str) -> crate::support::CliRun {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_smsbatch"))
        .args([
            "worker",
            "--provider",
            "twilio",
            "--twilio-base-url",
            server.url(),
            "--until-idle",
            "--poll-ms",
            "50",
            "--database-url",
            url,
        ])
        .env("TWILIO_ACCOUNT_SID", server.account_sid())
        .env("TWILIO_AUTH_TOKEN", server.auth_token())
        .env_remove("TWILIO_API_KEY")
        .env_remove("TWILIO_API_SECRET")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the worker runs");
    crate::support::CliRun {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output.status.code().unwrap_or(-1),
    }
}

/// `batch create --template-id` takes a stored template (an unknown id is named); `batch
/// retry-failed` requeues a message that failed retryably (a 429 with one attempt allowed) as a
/// new attempt of the same message, and the next worker sends it once.
#[test]
fn template_id_and_retry_failed_requeue() {
    use smsbatch_twilio_testserver::{Config, Reply, Server};

    let Some((db, mut files)) = setup("cli_retry", 10) else {
        return;
    };
    let url = db.url.as_str();
    let templates = TempFile::new(
        "cli-retry-templates",
        "json",
        r#"[{"id": "shipped", "name": "Shipped", "body": "Hi {{first_name}}, it shipped"}]"#,
    );
    let run = cli(
        &[
            "templates",
            "import",
            templates.arg(),
            "--database-url",
            url,
        ],
        "",
    );
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    let filter = TempFile::new(
        "cli-retry-filter",
        "json",
        r#"{"version": 1, "where": {"field": "id", "op": "lte", "value": 4}}"#,
    );
    let options = TempFile::new(
        "cli-retry-options",
        "json",
        r#"{"maxAttempts": 1, "verifyAfterSeconds": 0}"#,
    );
    let create = |template_id: &str| {
        one(&[
            "batch",
            "create",
            "--template-id",
            template_id,
            "--filter",
            filter.arg(),
            "--purpose",
            "transactional",
            "--from",
            "+15005550006",
            "--options",
            options.arg(),
            "--database-url",
            url,
        ])
    };
    let (missing, code) = create("no-such-template");
    assert_eq!(code, 2, "{missing}");
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-template"),
        "{missing}"
    );
    let (created, code) = create("shipped");
    assert_eq!(code, 0, "{created}");
    assert_eq!(created["batch"]["messages"], 4);
    let id = created["batch"]["id"].as_str().unwrap().to_owned();

    // Customer 2's first create is throttled: with one attempt allowed, it fails (retryable).
    let throttled = "+447400900002";
    let server = Server::start(
        Config::new().script(throttled, [Reply::error(429, 20429, "Too Many Requests")]),
    )
    .unwrap();
    let run = twilio_worker(&server, url);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (status, _) = one(&["batch", "status", &id, "--database-url", url]);
    let counts = &status["batch"]["progress"]["counts"];
    assert_eq!(status["batch"]["state"], "completed", "{status}");
    assert_eq!(
        (counts["failed"].clone(), counts["delivered"].clone()),
        (json!(1), json!(3))
    );
    let bodies: Vec<String> = server.creates().into_iter().map(|c| c.body).collect();
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies.contains(&"Hi C1, it shipped".to_owned()),
        "{bodies:?}"
    );

    let (retried, code) = one(&["batch", "retry-failed", &id, "--database-url", url]);
    assert_eq!(code, 0, "{retried}");
    assert_eq!(retried["requeued"], 1, "{retried}");
    assert_eq!(retried["batch"]["state"], "sending");
    let run = twilio_worker(&server, url);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (done, _) = one(&["batch", "status", &id, "--database-url", url]);
    assert_eq!(done["batch"]["state"], "completed", "{done}");
    assert_eq!(done["batch"]["progress"]["counts"]["delivered"], 4);
    assert_eq!(
        done["batch"]["progress"]["messages"], 4,
        "the same messages, none new"
    );
    let creates = server.creates();
    assert_eq!(creates.len(), 4);
    assert_eq!(
        creates.iter().filter(|c| c.to == throttled).count(),
        1,
        "sent once, on the retry"
    );
    files.extend([templates, filter, options]);
}
