//! The `smsbatch filter` subcommand's JSON-lines contract.
#![cfg(feature = "cli")]

use serde_json::{Value, json};

fn run(args: &[&str], input: &str) -> (Vec<Value>, i32) {
    let args: Vec<&str> = std::iter::once("filter")
        .chain(args.iter().copied())
        .collect();
    let out = crate::support::cli(&args, input);
    (out.lines(), out.code)
}

#[test]
fn compiles_each_line_and_reports_errors_in_place() {
    let input = [
        r#"{"field": "phone", "op": "startsWith", "value": "+44"}"#,
        "not json",
        r#"{"version": 1, "where": {"and": [{"field": "fax", "op": "isEmpty"}]}}"#,
        "",
        r#"{"field": "date_create", "op": "withinLastDays", "value": 2}"#,
        r#"{"field": "opted_in", "op": "contains", "value": "x"}"#,
    ]
    .join("\n");
    let (lines, code) = run(&[], &input);
    assert_eq!(code, 0);
    // One line out per line in, the blank one included, so outputs stay aligned with inputs.
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert_eq!(
        lines[0],
        json!({
            "postgrest": [["phone", "ilike.+44*"]],
            "query": "phone=ilike.%2B44*",
            "sql": {"where": "phone ILIKE $1::text", "params": ["+44%"]}
        })
    );
    // Every error line names a path; a line that is not a filter at all fails at the root.
    assert_eq!(
        lines[1],
        json!({"error": {"kind": "invalidFilter", "message": "invalid filter at the root: line 2 is not JSON: expected ident at line 1 column 2", "path": ""}})
    );
    assert_eq!(
        lines[2],
        json!({"error": {"kind": "unknownField", "message": "unknown field `fax` at `/where/and/0`", "path": "/where/and/0", "field": "fax"}})
    );
    assert_eq!(
        lines[3],
        json!({"error": {"kind": "invalidFilter", "message": "invalid filter at the root: line 4 is empty", "path": ""}})
    );
    assert_eq!(lines[4]["error"]["kind"], "missingNow");
    assert_eq!(lines[4]["error"]["path"], "");
    assert_eq!(lines[5]["error"]["kind"], "invalidFilter");

    let (lines, _) = run(
        &["--now", "2024-03-10T12:00:00+01:00"],
        r#"{"field": "date_create", "op": "withinLastDays", "value": 2}"#,
    );
    assert_eq!(
        lines[0]["sql"],
        json!({"where": "(date_create >= $1::timestamptz AND date_create <= $2::timestamptz)", "params": ["2024-03-08T11:00:00Z", "2024-03-10T11:00:00Z"]})
    );
}

#[test]
fn evaluates_over_rows_and_takes_a_schema() {
    let dir = std::env::temp_dir().join(format!("smsbatch-filter-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let rows = dir.join("rows.json");
    std::fs::write(
        &rows,
        r#"[{"id": "b", "tag": "x"}, {"id": "a"}, {"id": "c", "tag": ""}]"#,
    )
    .expect("write rows");
    let schema = dir.join("schema.json");
    std::fs::write(
        &schema,
        r#"{"fields": [{"name": "id", "type": "string", "sortable": true}, {"name": "tag", "type": "string"}]}"#,
    )
    .expect("write schema");
    let args = [
        "--schema",
        schema.to_str().expect("utf-8"),
        "--eval",
        rows.to_str().expect("utf-8"),
    ];
    let (lines, code) = run(
        &args,
        "{\"field\": \"tag\", \"op\": \"isEmpty\"}\n{\"field\": \"tag\", \"op\": \"notEquals\", \"value\": \"x\"}\n{\"field\": \"first_name\", \"op\": \"isEmpty\"}\n",
    );
    assert_eq!(code, 0);
    assert_eq!(lines[0], json!({"ids": ["a", "c"]}));
    assert_eq!(lines[1], json!({"ids": ["a", "c"]}));
    assert_eq!(lines[2]["error"]["kind"], "unknownField");

    // A bad rows file or schema is fatal: one error line, exit status 2.
    std::fs::write(&rows, r#"[{"id": "b", "tag": 5}]"#).expect("write rows");
    let (lines, code) = run(&args, "{\"and\": []}\n");
    assert_eq!(code, 2);
    assert_eq!(
        lines,
        vec![
            json!({"error": {"kind": "invalidRow", "message": "invalid row value at `/0/tag`: expected a string for a string field, found 5", "path": "/0/tag"}})
        ]
    );
    let (lines, code) = run(&["--now", "yesterday"], "");
    assert_eq!(
        (code, lines[0]["error"]["kind"].as_str()),
        (2, Some("invalidInput"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}
