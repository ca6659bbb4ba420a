//! `smsbatch filter`: compile filters (one JSON line each) to PostgREST parameters and SQL, or
//! evaluate them over rows.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};
use smsbatch::ErrorKind;
use smsbatch::filter::{Filter, FilterOptions, Schema, SqlWhere, Table};

use crate::io;

/// Reads JSON lines on stdin, each a filter node or a document `{"version": 1, "where": node}`,
/// and writes one line per input: `{"postgrest": [[key, value], ...], "query": "...", "sql":
/// {"where": "...", "params": [...]}}`, or with `--eval` `{"ids": [...]}`, or
/// `{"error": {"kind", "message", "path"}}` for an invalid filter.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A field schema (JSON: {"fields": [{"name", "type", "searchable", "sortable"}]});
    /// the default customer schema when absent.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// The current time (RFC 3339) that `withinLastDays` counts back from.
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// A JSON array of rows: print the `id`s of the matching rows, in the order of FILE.
    #[arg(long, value_name = "FILE")]
    eval: Option<PathBuf>,
}

/// One compiled filter, in the field order of the contract.
#[derive(serde::Serialize)]
struct CompiledLine<'a> {
    postgrest: &'a [(String, String)],
    query: String,
    sql: SqlWhere,
}

pub(crate) fn run(args: Args) -> ExitCode {
    let schema = match &args.schema {
        None => Schema::customers(),
        Some(path) => {
            match io::read_text(path, "schema file").and_then(|text| Schema::from_json(&text)) {
                Ok(schema) => schema,
                Err(e) => return io::fatal(&e),
            }
        }
    };
    let mut options = FilterOptions::new();
    if let Some(now) = &args.now {
        options = match options.with_now_rfc3339(now) {
            Ok(o) => o,
            Err(e) => return io::fatal(&e),
        };
    }
    let rows: Option<(Vec<Value>, Table)> = match &args.eval {
        None => None,
        Some(path) => {
            let parsed = io::read_text(path, "rows file").and_then(|text| {
                let rows: Vec<Value> = serde_json::from_str(&text).map_err(|e| {
                    smsbatch::Error::invalid_input(format!(
                        "the rows file {} is not a JSON array: {e}",
                        path.display()
                    ))
                })?;
                let table = Table::from_rows(&schema, &rows)?;
                Ok((rows, table))
            });
            match parsed {
                Ok(pair) => Some(pair),
                Err(e) => return io::fatal(&e),
            }
        }
    };
    let mut out = io::Output::stdout();
    let mut lines = io::json_lines(BufReader::new(std::io::stdin().lock()));
    let result = (|| {
        for line in &mut lines {
            // Every error line of this subcommand names a `path`: a line that is not a filter at
            // all is an invalid filter at the root.
            let compiled = line
                .map_err(|e| {
                    let message = match e.into_kind() {
                        ErrorKind::InvalidInput { message } => message,
                        other => other.to_string(),
                    };
                    smsbatch::Error::from(ErrorKind::InvalidFilter {
                        path: String::new(),
                        message,
                    })
                })
                .and_then(|value| Filter::from_value(&value, &schema, &options));
            let filter = match compiled {
                Ok(f) => f,
                Err(e) => {
                    out.error(&e)?;
                    continue;
                }
            };
            match &rows {
                Some((rows, table)) => match filter.evaluator().filter_table(table) {
                    Ok(matched) => {
                        let ids: Vec<&Value> = matched
                            .iter()
                            .map(|&i| rows[i].get("id").unwrap_or(&Value::Null))
                            .collect();
                        out.line(&json!({ "ids": ids }))?;
                    }
                    Err(e) => out.error(&e)?,
                },
                None => {
                    let params = filter.postgrest();
                    out.line(&CompiledLine {
                        postgrest: params.pairs(),
                        query: params.query_string(),
                        sql: filter.sql_where(),
                    })?;
                }
            }
        }
        Ok(())
    })();
    if result.is_ok()
        && let Some(e) = lines.read_error()
    {
        return out.fatal(&e);
    }
    io::finish(result.and_then(|()| out.flush()))
}
