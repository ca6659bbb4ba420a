//! `smsbatch filter`: compile filters (one JSON line each) to PostgREST parameters and SQL, or
//! evaluate them over rows.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;
use serde_json::value::RawValue;
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

/// The ids of the rows a filter matches, each as written in the rows file.
#[derive(serde::Serialize)]
struct IdsLine<'a> {
    ids: Vec<&'a RawValue>,
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
            match io::read_json_text(path, "schema file").and_then(|text| Schema::from_json(&text))
            {
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
    // The rows' ids as written, and the rows parsed once.
    let rows: Option<(Vec<Box<RawValue>>, Table)> = match &args.eval {
        None => None,
        Some(path) => {
            let parsed = io::read_text(path, "rows file").and_then(|text| {
                let not_array = |e: &dyn std::fmt::Display| {
                    smsbatch::Error::invalid_input(format!(
                        "the rows file {} is not a JSON array: {e}",
                        path.display()
                    ))
                };
                let rows = match io::parse_json(&text).map_err(|e| not_array(&e))? {
                    Value::Array(rows) => rows,
                    _ => return Err(not_array(&"it holds another JSON value")),
                };
                let table = Table::from_rows(&schema, &rows)?;
                let ids = exact_ids(&text).map_err(|e| not_array(&e))?;
                Ok((ids, table))
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
                        let ids: Vec<&RawValue> = matched.iter().map(|&i| &*rows[i]).collect();
                        out.line(&IdsLine { ids })?;
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

/// The `id` of each row as written in the rows file: an integer past what serde_json holds
/// exactly (u64 and i64) would otherwise print rounded, and two such ids alike. A missing id is
/// `null`; an id that is not a number is printed compactly (on one line).
fn exact_ids(text: &str) -> serde_json::Result<Vec<Box<RawValue>>> {
    /// A row's id, as its text.
    #[derive(serde::Deserialize)]
    struct IdOnly<'a> {
        #[serde(default, borrow)]
        id: Option<&'a RawValue>,
    }
    let rows: Vec<IdOnly<'_>> = serde_json::from_str(text)?;
    rows.into_iter()
        .map(|row| match row.id {
            None => RawValue::from_string("null".to_owned()),
            // A number's text has no white space: as it is, it stays on its output line.
            Some(raw)
                if raw
                    .get()
                    .starts_with(|c: char| c == '-' || c.is_ascii_digit()) =>
            {
                RawValue::from_string(raw.get().to_owned())
            }
            Some(raw) => {
                serde_json::value::to_raw_value(&serde_json::from_str::<Value>(raw.get())?)
            }
        })
        .collect()
}
