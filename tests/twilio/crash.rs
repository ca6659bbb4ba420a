//! The crash test through Twilio: `smsbatch worker --provider twilio` processes drain a batch
//! against the fake Twilio, which records every create, answers one create in 23 with HTTP 500
//! after recording it and one in 31 with a 429; workers are killed with SIGKILL at random
//! moments and restarted. Afterwards no phone was texted twice, none is lost, and nothing is
//! counted sent that the server never saw.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use smsbatch_twilio_testserver::{Config, Created, Server};

use super::example::{ChildGuard, TempFile};
use crate::db::{Locale, TempDb};
use crate::support::{cli, json_lines};

/// The workers' time limit (the sending issue's crash test: within 90 s).
const DEADLINE: Duration = Duration::from_secs(90);

/// How the run goes.
pub struct Plan {
    /// Messages in the batch.
    pub messages: usize,
    /// Worker processes.
    pub workers: usize,
    /// Workers killed (one after another, each at a random moment, then restarted).
    pub kills: usize,
}

/// A worker process with its log file.
struct Worker {
    guard: ChildGuard,
    log: TempFile,
}

fn spawn_worker(store_args: &[String], server: &Server, n: usize) -> Worker {
    let log = TempFile::new(&format!("twilio-crash-worker-{n}"));
    let err = File::create(&log.0).unwrap();
    let child: Child = Command::new(env!("CARGO_BIN_EXE_smsbatch"))
        .args([
            "worker",
            "--provider",
            "twilio",
            "--twilio-base-url",
            server.url(),
            "--status-callback-url",
            "https://hooks.example.com/twilio/status",
            "--until-idle",
            "--poll-ms",
            "100",
            "--send-timeout",
            "10",
            "--seed",
            &n.to_string(),
        ])
        .args(store_args)
        .env("TWILIO_ACCOUNT_SID", server.account_sid())
        .env("TWILIO_AUTH_TOKEN", server.auth_token())
        .env_remove("TWILIO_API_KEY")
        .env_remove("TWILIO_API_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(err))
        .spawn()
        .expect("the worker starts");
    Worker {
        guard: ChildGuard(child),
        log,
    }
}

fn tail(worker: &Worker) -> String {
    let text = std::fs::read_to_string(&worker.log.0).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// The customers file and the batch: `plan.messages` opted-in customers, one message each.
pub fn create_batch(store_args: &[String], plan: &Plan) -> (String, Vec<TempFile>) {
    let mut files = Vec::new();
    // JSON lines (the file's extension says so).
    let customers: String = (1..=plan.messages)
        .map(|i| {
            json!({"id": i, "first_name": format!("C{i}"), "phone": format!("+4474009{i:05}"),
                   "opted_in": true})
            .to_string()
                + "\n"
        })
        .collect();
    let file = TempFile::new("twilio-crash-customers");
    std::fs::write(&file.0, customers).unwrap();
    let mut args: Vec<&str> = vec!["customers", "import", file.0.to_str().unwrap()];
    args.extend(store_args.iter().map(String::as_str));
    let run = cli(&args, "");
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    files.push(file);

    let template = TempFile::new("twilio-crash-template");
    std::fs::write(&template.0, "Hi {{first_name}}, your order ships today\n").unwrap();
    let filter = TempFile::new("twilio-crash-filter");
    std::fs::write(
        &filter.0,
        r#"{"version": 1, "where": {"field": "opted_in", "op": "equals", "value": true}}"#,
    )
    .unwrap();
    // Short settings: a killed worker's claims come back after 10 s (the shortest lease);
    // sent messages are verified a second later.
    let options = TempFile::new("twilio-crash-options");
    std::fs::write(
        &options.0,
        r#"{"leaseSeconds": 10, "verifyAfterSeconds": 1, "maxAttempts": 10, "concurrency": 5}"#,
    )
    .unwrap();
    let mut args: Vec<&str> = vec![
        "batch",
        "create",
        "--template",
        template.0.to_str().unwrap(),
        "--filter",
        filter.0.to_str().unwrap(),
        "--from",
        "+15005550006",
        "--options",
        options.0.to_str().unwrap(),
    ];
    args.extend(store_args.iter().map(String::as_str));
    let run = cli(&args, "");
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    let created = &json_lines(&run.stdout)[0]["batch"];
    assert_eq!(created["messages"], plan.messages, "{created}");
    files.extend([template, filter, options]);
    (created["id"].as_str().unwrap().to_owned(), files)
}

/// One message as the store has it at the end.
#[derive(Debug)]
pub struct Row {
    pub id: i64,
    pub phone: String,
    pub status: String,
    pub provider_id: Option<String>,
}

/// Runs the workers with the kills; returns the server's creates and how long it took.
pub fn run_workers(store_args: &[String], server: &Server, plan: &Plan) -> Duration {
    let started = Instant::now();
    // "Random moments": thresholds of creates drawn from the clock, printed to reproduce.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as usize)
        .unwrap_or(7);
    let span = plan.messages / (plan.kills + 1);
    let moments: Vec<(usize, usize)> = (0..plan.kills)
        .map(|k| {
            let at = span * k + span / 4 + (seed >> (k * 5)) % (span / 2).max(1);
            (at, (seed >> (k * 3 + 1)) % plan.workers)
        })
        .collect();
    eprintln!("twilio crash test: seed {seed}, SIGKILL (after creates, worker) {moments:?}");
    let mut workers: Vec<Worker> = (0..plan.workers)
        .map(|n| spawn_worker(store_args, server, n))
        .collect();
    let mut next = plan.workers;
    let deadline = started + DEADLINE;
    let mut kills = moments.into_iter().peekable();
    loop {
        if let Some(&(at, which)) = kills.peek()
            && server.creates().len() >= at
        {
            let w = &mut workers[which];
            if w.guard.0.try_wait().unwrap().is_none() {
                w.guard.0.kill().unwrap(); // SIGKILL
                let _ = w.guard.0.wait();
            }
            workers[which] = spawn_worker(store_args, server, next);
            next += 1;
            kills.next();
        }
        let mut running = 0;
        for w in &mut workers {
            if w.guard.0.try_wait().unwrap().is_none() {
                running += 1;
            }
        }
        if running == 0 && kills.peek().is_none() {
            break;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = workers.iter().map(tail).collect();
            panic!(
                "the workers did not finish within {DEADLINE:?} ({} creates); their last lines:\n{}",
                server.creates().len(),
                logs.join("\n---\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for w in &mut workers {
        let status = w.guard.0.wait().unwrap();
        assert!(status.success(), "a worker failed ({status}):\n{}", tail(w));
    }
    started.elapsed()
}

/// The checks of the crash test on the final rows and the server's record.
pub fn check(rows: &[Row], creates: &[Created], create_requests: u64, plan: &Plan) {
    assert_eq!(rows.len(), plan.messages);
    let mut by_status = BTreeMap::<&str, usize>::new();
    for r in rows {
        *by_status.entry(r.status.as_str()).or_default() += 1;
    }
    // Nothing pending, processing or in doubt; none failed or lost: every message delivered
    // (the fake reports every created message delivered).
    assert_eq!(
        by_status,
        BTreeMap::from([("delivered", plan.messages)]),
        "final statuses"
    );

    // No phone texted twice.
    let mut per_phone = HashMap::<&str, Vec<&Created>>::new();
    for c in creates {
        per_phone.entry(c.to.as_str()).or_default().push(c);
    }
    let twice: Vec<_> = per_phone.iter().filter(|(_, c)| c.len() > 1).collect();
    assert!(twice.is_empty(), "texted more than once: {twice:?}");

    // Each delivered message has exactly one create, the one it names; nothing is counted sent
    // that the server never saw; every create belongs to its message.
    let by_sid: HashMap<&str, &Created> = creates.iter().map(|c| (c.sid.as_str(), c)).collect();
    for r in rows {
        let sid = r
            .provider_id
            .as_deref()
            .unwrap_or_else(|| panic!("{r:?} has no SID"));
        let created = by_sid
            .get(sid)
            .unwrap_or_else(|| panic!("{r:?} is counted sent but the server never created {sid}"));
        assert_eq!(created.to, r.phone, "{r:?}");
        assert_eq!(
            created.message_id.as_deref(),
            Some(r.id.to_string().as_str()),
            "{r:?}"
        );
    }
    assert_eq!(
        creates.len(),
        plan.messages,
        "one create per message, none extra"
    );

    // The faults happened: 500s after creating (reconciled) and 429s (retried).
    let after_500 = creates.iter().filter(|c| c.answered == 500).count();
    assert!(
        after_500 >= plan.messages / 23 - 1,
        "{after_500} creates answered 500"
    );
    let rate_limited = create_requests - creates.len() as u64;
    assert!(
        rate_limited >= (plan.messages / 31) as u64,
        "{rate_limited} 429s"
    );
}

/// How many in-doubt messages the runner reconciled with the provider's answer ("the provider
/// has it"), from the batch's log.
pub fn reconciled_found(url: &str, batch: &str) -> i64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .query_one(
            "SELECT count(*) FROM sms_batch_logs
             WHERE batch_id = $1::text::uuid AND event = 'reconciled'
               AND message LIKE '%the provider has it%'",
            &[&batch],
        )
        .unwrap()
        .get(0)
}

fn rows_of(url: &str, batch: &str) -> Vec<Row> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .query(
            "SELECT id, phone, status, provider_id FROM sms_batch_messages
             WHERE batch_id = $1::text::uuid ORDER BY id",
            &[&batch],
        )
        .unwrap()
        .into_iter()
        .map(|r| Row {
            id: r.get(0),
            phone: r.get(1),
            status: r.get(2),
            provider_id: r.get(3),
        })
        .collect()
}

/// The whole run on a migrated database `db`, the workers reaching it through `store_args`.
fn crash(db: &TempDb, store_args: &[String], plan: &Plan, label: &str) {
    let record = TempFile::new("twilio-crash-record");
    let server = Server::start(
        Config::new()
            .record_file(&record.0)
            .server_error_one_in(23)
            .rate_limit_one_in(31),
    )
    .unwrap();
    let (batch, _files) = create_batch(store_args, plan);
    let took = run_workers(store_args, &server, plan);
    eprintln!("twilio crash test on {label}: workers done in {took:?}");
    let mut args = vec!["batch", "status", batch.as_str()];
    args.extend(store_args.iter().map(String::as_str));
    let status = cli(&args, "");
    let status = &json_lines(&status.stdout)[0]["batch"];
    assert_eq!(status["state"], "completed", "{status}");
    // The record file holds what the server's memory holds: every create, flushed before the
    // answer went out.
    let creates = smsbatch_twilio_testserver::read_record(&record.0).unwrap();
    assert_eq!(creates, server.creates());
    check(
        &rows_of(&db.url, &batch),
        &creates,
        server.create_requests(),
        plan,
    );
    // Every create answered 500 was in doubt and found through the list look-up (killed
    // workers' sends may add more).
    let answered_500 = creates.iter().filter(|c| c.answered == 500).count() as i64;
    let found = reconciled_found(&db.url, &batch);
    eprintln!(
        "twilio crash test on {label}: {answered_500} creates answered 500, \
         {found} in-doubt messages found by reconciliation"
    );
    assert!(
        found >= answered_500,
        "{found} reconciled < {answered_500} answered 500"
    );
}

/// The sending issue's crash test with `--provider twilio`: 5,000 messages, 4 workers, two of
/// them killed with SIGKILL at random moments and restarted, on the real PostgreSQL.
#[test]
fn crash_test_through_twilio_on_postgres() {
    let Some(db) = TempDb::create("twilio_crash", Locale::CUtf8) else {
        return;
    };
    let run = cli(&["migrate", "--database-url", &db.url], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = Plan {
        messages: 5_000,
        workers: 4,
        kills: 2,
    };
    crash(
        &db,
        &["--database-url".to_owned(), db.url.clone()],
        &plan,
        "postgres",
    );
}

/// The smaller run through the Supabase store: 1,000 messages, 2 workers reaching the database
/// through the PostgREST-compatible test server (as a Supabase project), one killed with SIGKILL
/// and restarted.
#[test]
fn crash_test_through_twilio_on_supabase() {
    let Some(db) = TempDb::create("twilio_crash_sb", Locale::CUtf8) else {
        return;
    };
    // `migrate` makes the schema (and on plain PostgreSQL the Supabase roles); the server reads
    // the catalogs when it starts, so it starts after.
    let run = cli(&["migrate", "--database-url", &db.url], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rest = smsbatch_postgrest_testserver::Server::start(
        smsbatch_postgrest_testserver::Config::new(db.url.clone()).pool_size(8),
    )
    .unwrap();
    let store_args = vec![
        "--supabase-url".to_owned(),
        rest.url().to_owned(),
        "--supabase-key".to_owned(),
        rest.service_role_key(),
    ];
    let plan = Plan {
        messages: 1_000,
        workers: 2,
        kills: 1,
    };
    let started = Instant::now();
    crash(&db, &store_args, &plan, "supabase");
    eprintln!(
        "twilio crash test on supabase: {:?} in all",
        started.elapsed()
    );
}
