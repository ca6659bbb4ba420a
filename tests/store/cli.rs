//! The store subcommands of `smsbatch` on a real database: their JSON contracts and exit codes.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::db::{Locale, TempDb};
use crate::support::{TempFile, json_lines};

struct Run {
    stdout: String,
    code: i32,
}

impl Run {
    fn json(&self) -> Value {
        let lines = json_lines(&self.stdout);
        assert_eq!(lines.len(), 1, "one line: {}", self.stdout);
        lines.into_iter().next().unwrap_or(Value::Null)
    }
}

/// Runs `smsbatch` with `args`, no store variables but those in `env`, feeding `stdin`.
fn smsbatch(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_smsbatch"));
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("SUPABASE_URL")
        .env_remove("SUPABASE_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("smsbatch starts");
    let mut pipe = child.stdin.take().expect("stdin");
    let input = stdin.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().expect("smsbatch runs");
    writer.join().expect("the writer finishes");
    Run {
        stdout: String::from_utf8(output.stdout).expect("UTF-8"),
        code: output.status.code().unwrap_or(-1),
    }
}

fn migrated(tag: &str) -> Option<TempDb> {
    let db = TempDb::create(tag, Locale::CUtf8)?;
    let run = smsbatch(&["migrate", "--database-url", &db.url], &[], "");
    assert_eq!(run.code, 0, "{}", run.stdout);
    Some(db)
}

/// An unsigned JWT (the store reads the claims; the database URL is the credential).
fn jwt(claims: Value) -> String {
    fn b64(bytes: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
    format!(
        "{}.{}.x",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    )
}

#[test]
fn migrate_prints_what_it_applied_and_is_idempotent() {
    let Some(db) = TempDb::create("cli_migrate", Locale::CUtf8) else {
        return;
    };
    let first = smsbatch(&["migrate", "--database-url", &db.url], &[], "");
    assert_eq!(first.code, 0);
    assert_eq!(
        first.json(),
        json!({"applied": ["0001_init", "0002_send"], "current": "0002_send"})
    );
    // The environment variable works too.
    let second = smsbatch(&["migrate"], &[("DATABASE_URL", &db.url)], "");
    assert_eq!(
        (second.code, second.json()),
        (0, json!({"applied": [], "current": "0002_send"}))
    );
}

#[test]
fn store_flags_resolve_or_exit_2() {
    let run = smsbatch(&["migrate"], &[], "");
    assert_eq!(run.code, 2);
    assert_eq!(run.json()["error"]["kind"], "invalidInput");
    assert!(run.stdout.contains("DATABASE_URL"), "{}", run.stdout);
    let supabase = [
        "--supabase-url",
        "https://x.supabase.co",
        "--supabase-key",
        "k",
    ];
    let run = smsbatch(&[&["migrate"], &supabase[..]].concat(), &[], "");
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("database connection string"),
        "{}",
        run.stdout
    );
    let run = smsbatch(
        &[&["customers", "query"], &supabase[..]].concat(),
        &[],
        "{}\n",
    );
    assert_eq!(run.code, 2);
    assert_eq!(run.json()["error"]["kind"], "unsupported");
    assert!(
        run.stdout.contains("supabase store is not built yet"),
        "{}",
        run.stdout
    );
    let run = smsbatch(
        &["suppressions", "add", "+447400123456"],
        &[
            ("SUPABASE_URL", "https://x.supabase.co"),
            ("SUPABASE_KEY", "k"),
        ],
        "",
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("supabase store is not built yet"),
        "{}",
        run.stdout
    );
    let run = smsbatch(
        &["customers", "query", "--supabase-url", "https://x"],
        &[],
        "",
    );
    assert_eq!(run.code, 2);
    let run = smsbatch(
        &[
            "customers",
            "query",
            "--database-url",
            "host=127.0.0.1 port=1 connect_timeout=2",
        ],
        &[],
        "",
    );
    assert_eq!(run.code, 2);
    assert_eq!(run.json()["error"]["kind"], "connectionLost");
}

#[test]
fn customers_import_and_query() {
    let Some(db) = migrated("cli_customers") else {
        return;
    };
    let url = db.url.as_str();
    let csv = TempFile::new(
        "customers",
        "csv",
        "id,first_name,phone,city,opted_in,total_spent,tier\n\
         1,Anna,07400 123456,Lyon,true,10.5,gold\n\
         2,\"Bob\nthe second\",+447400123457,,no,,\n\
         x,Nobody,,,,,\n\
         3,Zoë,not a phone,Paris,maybe,,\n\
         4,Dee,0044 7400 123458,Lyon,1,3,silver\n",
    );
    let run = smsbatch(
        &[
            "customers",
            "import",
            csv.arg(),
            "--region",
            "GB",
            "--team",
            "t1",
            "--database-url",
            url,
        ],
        &[],
        "",
    );
    assert_eq!(run.code, 1, "a row was rejected");
    let report = run.json();
    assert_eq!(report["imported"], 3);
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(
        (
            rejected[0]["line"].clone(),
            rejected[0]["error"]["kind"].clone()
        ),
        (json!(5), json!("invalidRow"))
    );
    assert_eq!(rejected[1]["line"], 6, "the line where the record starts");
    assert!(
        rejected[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("opted_in")
    );
    assert!(rejected[0].get("index").is_none());
    let jsonl = TempFile::new(
        "customers",
        "jsonl",
        "{\"id\": 10, \"first_name\": \"Eve\", \"phone\": \"07400 999999\", \"attributes\": {\"tier\": \"gold\"}}\n\
         \n\
         {\"id\": 11, \"total_spent\": \"lots\"}\n\
         not json\n",
    );
    let run = smsbatch(
        &["customers", "import", jsonl.arg(), "--database-url", url],
        &[],
        "",
    );
    assert_eq!(run.code, 1);
    let report = run.json();
    assert_eq!(report["imported"], 1);
    let lines: Vec<&Value> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["line"])
        .collect();
    assert_eq!(lines, [&json!(3), &json!(4)]);
    let array = TempFile::new(
        "customers",
        "json",
        r#"[{"id": 20, "team_id": "t2"}, {"first_name": "no id"}, {"id": 21}]"#,
    );
    let run = smsbatch(
        &["customers", "import", array.arg(), "--database-url", url],
        &[],
        "",
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.json()["rejected"],
        json!([{"index": 2, "error": {"kind": "invalidRow", "message": "invalid row value at `/id`: the customer has no `id`", "path": "/id"}}])
    );
    let clean = TempFile::new("clean", "json", r#"[{"id": 22, "city": "Nice"}]"#);
    let run = smsbatch(
        &["customers", "import", clean.arg(), "--database-url", url],
        &[],
        "",
    );
    assert_eq!(
        (run.code, run.json()),
        (0, json!({"imported": 1, "rejected": []}))
    );

    // One query per line; rows as every store writes them.
    let queries = [
        r#"{"where": {"field": "city", "op": "equals", "value": "Lyon"}, "sort": [{"field": "id"}], "count": true, "limit": 1}"#,
        r#"{"sort": [{"field": "id"}], "after": [1], "limit": 100}"#,
        r#"{"where": {"field": "fax", "op": "isEmpty"}}"#,
        "not json",
        r#"{"search": "LYON", "sort": [{"field": "id", "direction": "desc"}]}"#,
    ]
    .join("\n");
    let run = smsbatch(
        &["customers", "query", "--database-url", url],
        &[],
        &queries,
    );
    assert_eq!(run.code, 0);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 5);
    assert_eq!(
        (lines[0]["total"].clone(), lines[0]["next"].clone()),
        (json!(2), json!([1]))
    );
    let anna = &lines[0]["rows"][0];
    assert_eq!(
        (
            anna["phone"].clone(),
            anna["team_id"].clone(),
            anna["attributes"].clone()
        ),
        (json!("+447400123456"), json!("t1"), json!({"tier": "gold"}))
    );
    assert_eq!(anna["total_spent"], 10.5);
    let ids: Vec<i64> = lines[1]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [2, 4, 10, 20, 21, 22]);
    assert!(lines[1].get("next").is_none() && lines[1].get("total").is_none());
    assert_eq!(lines[1]["rows"][0]["first_name"], "Bob\nthe second");
    assert_eq!(lines[2]["error"]["kind"], "unknownField");
    assert_eq!(lines[3]["error"]["kind"], "invalidInput");
    let run = smsbatch(
        &["customers", "query", "--ids", "--database-url", url],
        &[],
        &queries,
    );
    let lines = json_lines(&run.stdout);
    assert_eq!(lines[0], json!({"ids": [1], "total": 2, "next": [1]}));
    assert_eq!(lines[4], json!({"ids": [4, 1]}));
    // As a user of team t1 (row-level security): only t1's customers.
    let token = jwt(
        json!({"sub": "6f1c1f40-8a3e-4f6b-9c5d-3a2b1c0d9e8f", "role": "authenticated", "app_metadata": {"team_id": "t1"}}),
    );
    let run = smsbatch(
        &[
            "customers",
            "query",
            "--ids",
            "--jwt",
            &token,
            "--database-url",
            url,
        ],
        &[],
        r#"{"sort": [{"field": "id"}], "count": true}"#,
    );
    assert_eq!(run.json(), json!({"ids": [1, 2, 4], "total": 3}));
    let run = smsbatch(
        &[
            "customers",
            "import",
            clean.arg(),
            "--jwt",
            &token,
            "--database-url",
            url,
        ],
        &[],
        "",
    );
    assert_eq!(
        (run.code, run.json()["error"]["kind"].clone()),
        (2, json!("permissionDenied"))
    );
}

#[test]
fn templates_flags_and_suppressions() {
    let Some(db) = migrated("cli_records") else {
        return;
    };
    let url = db.url.as_str();
    let templates = TempFile::new(
        "templates",
        "json",
        r#"[
          {"id": "welcome", "name": "Welcome", "body": "Hi {{first_name}}", "tags": ["onboarding"]},
          {"id": "bad", "name": "Bad", "body": "Hi {{#if}}"},
          {"id": "due", "name": "Due", "body": "Pay", "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z"},
          {"name": "no id"}
        ]"#,
    );
    let run = smsbatch(
        &[
            "templates",
            "import",
            templates.arg(),
            "--database-url",
            url,
        ],
        &[],
        "",
    );
    assert_eq!(run.code, 1);
    let report = run.json();
    assert_eq!(
        (report["created"].clone(), report["updated"].clone()),
        (json!(["welcome", "due"]), json!([]))
    );
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(
        (
            rejected[0]["index"].clone(),
            rejected[0]["error"]["kind"].clone()
        ),
        (json!(2), json!("templateSyntax"))
    );
    assert_eq!(rejected[1]["index"], 4);
    let due = TempFile::new(
        "due",
        "json",
        r#"[{"id": "due", "name": "Due", "body": "Pay", "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z"}]"#,
    );
    let run = smsbatch(
        &["templates", "import", due.arg(), "--database-url", url],
        &[],
        "",
    );
    assert_eq!(
        (run.code, run.json()),
        (
            0,
            json!({"created": [], "updated": [], "unchanged": ["due"], "rejected": []})
        )
    );

    let state = TempFile::new(
        "state",
        "json",
        r#"{"version": 2, "features": [{"name": "kill", "enabled": false, "strategies": [{"name": "default", "segments": [3]}]}],
            "segments": [{"id": 3, "constraints": []}]}"#,
    );
    let run = smsbatch(
        &["flags", "import", state.arg(), "--database-url", url],
        &[],
        "",
    );
    assert_eq!(
        (run.code, run.json()),
        (
            0,
            json!({"flags": {"created": ["kill"], "updated": [], "unchanged": []}, "segments": {"created": ["3"], "updated": [], "unchanged": []}})
        )
    );
    let run = smsbatch(
        &["flags", "import", state.arg(), "--database-url", url],
        &[],
        "",
    );
    assert_eq!(run.json()["flags"]["unchanged"], json!(["kill"]));
    let broken = TempFile::new("broken", "json", r#"{"features": 5}"#);
    let run = smsbatch(
        &["flags", "import", broken.arg(), "--database-url", url],
        &[],
        "",
    );
    assert_eq!(
        (run.code, run.json()["error"]["kind"].clone()),
        (2, json!("invalidFlagState"))
    );

    let run = smsbatch(
        &[
            "suppressions",
            "add",
            "+447400123456",
            "07400 123457",
            "nope",
            "--region",
            "GB",
            "--reason",
            "STOP",
            "--database-url",
            url,
        ],
        &[],
        "",
    );
    assert_eq!(run.code, 1);
    let report = run.json();
    assert_eq!(report["added"], json!(["+447400123456", "+447400123457"]));
    assert_eq!(
        (
            report["rejected"][0]["phone"].clone(),
            report["rejected"][0]["error"]["kind"].clone()
        ),
        (json!("nope"), json!("invalidPhone"))
    );
    let file = TempFile::new(
        "stop",
        "txt",
        "# replied STOP\n+447400123456\n\n+33612345678\nbad\n",
    );
    let run = smsbatch(
        &["suppressions", "import", file.arg(), "--database-url", url],
        &[],
        "",
    );
    assert_eq!(run.code, 1);
    let report = run.json();
    assert_eq!(
        (report["added"].clone(), report["unchanged"].clone()),
        (json!(["+33612345678"]), json!(["+447400123456"]))
    );
    assert_eq!(report["rejected"][0]["line"], 5);
    let csv = TempFile::new("stop", "csv", "phone,reason\n+447400123458,carrier 21610\n");
    let run = smsbatch(
        &["suppressions", "import", csv.arg(), "--database-url", url],
        &[],
        "",
    );
    assert_eq!(
        (run.code, run.json()),
        (
            0,
            json!({"added": ["+447400123458"], "unchanged": [], "rejected": []})
        )
    );
    let run = smsbatch(
        &[
            "suppressions",
            "remove",
            "+447400123456",
            "07400 123459",
            "--region",
            "GB",
            "--database-url",
            url,
        ],
        &[],
        "",
    );
    assert_eq!(
        (run.code, run.json()),
        (
            0,
            json!({"removed": ["+447400123456"], "notFound": ["+447400123459"]})
        )
    );
}
