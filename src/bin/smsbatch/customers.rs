//! `smsbatch customers import FILE` and `smsbatch customers query`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Value, json};
use smsbatch::filter::{FilterOptions, Query, Schema};
use smsbatch::store::Customer;
use smsbatch::{Error, ErrorKind, PhoneNormalizer};

use crate::io;
use crate::store::{StoreArgs, block_on};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Upsert customers by id from a .csv, .json (array) or .jsonl file; prints
    /// {"imported": N, "rejected": [{"line" | "index", "error"}]} (exit 1 when a row is rejected).
    Import(ImportArgs),
    /// Run one query per stdin line ({"where", "search", "sort", "limit", "offset", "after",
    /// "count"}); prints {"rows": [...], "total"?, "next"?} per line.
    Query(QueryArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// The file: .csv (header row), .json (an array of objects) or .jsonl (an object per line).
    file: PathBuf,
    /// Normalise phones to E.164 with this default region (ISO 3166-1, e.g. GB) where valid;
    /// others are kept as given.
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// The team of the rows that name none.
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    /// A field schema for custom fields (JSON); default: the customer schema.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct QueryArgs {
    /// The current time (RFC 3339) that `withinLastDays` counts back from.
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Print the ids of the rows instead of the rows: {"ids": [...], ...}.
    #[arg(long)]
    ids: bool,
    /// Only this team's customers.
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn run(command: Command) -> ExitCode {
    match command {
        Command::Import(args) => block_on(import(args)),
        Command::Query(args) => block_on(query(args)),
    }
}

/// Where a rejected row starts: a line of a CSV or JSONL file, or a position in a JSON array.
#[derive(Clone, Copy)]
enum At {
    Line(u64),
    Index(usize),
}

#[derive(Serialize)]
struct Rejected<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    error: &'a Error,
}

#[derive(Serialize)]
struct ImportReport<'a> {
    imported: u64,
    rejected: Vec<Rejected<'a>>,
}

/// Rows per store call.
const CHUNK: usize = 1_000;

pub(crate) fn load_schema(path: Option<&Path>) -> Result<Schema, Error> {
    match path {
        None => Ok(Schema::customers()),
        Some(p) => Schema::from_json(&io::read_json_text(p, "schema file")?),
    }
}

/// Reads the file into rows, each with where it starts (or why it is not a row).
/// A row of the file, where it starts, or why it is not a customer.
type Row = (At, Result<Customer, Error>);

fn read_rows(path: &Path, schema: &Schema) -> Result<Vec<Row>, Error> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") => {
            let mut reader =
                csv::ReaderBuilder::new().from_reader(io::open(path, "customers file")?);
            let headers = reader
                .headers()
                .map_err(|e| {
                    smsbatch::Error::invalid_input(format!("cannot read the CSV header: {e}"))
                })?
                .clone();
            let mut rows = Vec::new();
            for record in reader.records() {
                match record {
                    Ok(record) => {
                        let line = record.position().map_or(0, |p| p.line());
                        let pairs = headers.iter().zip(record.iter());
                        rows.push((At::Line(line), Customer::from_text(pairs, schema)));
                    }
                    Err(e) => {
                        let line = e.position().map_or(0, |p| p.line());
                        rows.push((
                            At::Line(line),
                            Err(smsbatch::Error::invalid_input(format!(
                                "not a CSV record: {e}"
                            ))),
                        ));
                    }
                }
            }
            Ok(rows)
        }
        Some("json") => {
            let text = io::read_text(path, "customers file")?;
            let values = io::parse_json_array(&text).map_err(|e| {
                smsbatch::Error::invalid_input(format!(
                    "the customers file {} is not a JSON array: {e}",
                    path.display()
                ))
            })?;
            Ok(values
                .iter()
                .enumerate()
                .map(|(i, v)| (At::Index(i + 1), Customer::from_flat(v)))
                .collect())
        }
        Some("jsonl") => {
            let reader = std::io::BufReader::new(io::open(path, "customers file")?);
            let mut rows = Vec::new();
            for (i, line) in reader.lines().enumerate() {
                let at = At::Line(i as u64 + 1);
                let line = line.map_err(|e| {
                    smsbatch::Error::invalid_input(format!("cannot read line {}: {e}", i + 1))
                })?;
                if line.trim().is_empty() {
                    continue;
                }
                let row = io::parse_json(&line)
                    .map_err(|e| {
                        smsbatch::Error::invalid_input(format!("line {} is not JSON: {e}", i + 1))
                    })
                    .and_then(|v| Customer::from_flat(&v));
                rows.push((at, row));
            }
            Ok(rows)
        }
        _ => Err(smsbatch::Error::invalid_input(format!(
            "the customers file {} must end in .csv, .json or .jsonl",
            path.display()
        ))),
    }
}

async fn import(args: ImportArgs) -> Result<ExitCode, Error> {
    let schema = load_schema(args.schema.as_deref())?;
    smsbatch::store::check_customer_schema(&schema)?;
    let phones = match &args.region {
        Some(region) => Some(PhoneNormalizer::new().region(region)?),
        None => None,
    };
    let rows = read_rows(&args.file, &schema)?;
    let store = args.store.store().await?;
    let mut errors: Vec<(At, Error)> = Vec::new();
    let mut good: Vec<Customer> = Vec::new();
    for (at, row) in rows {
        let checked = row.and_then(|mut c| {
            if let (Some(n), Some(phone)) = (&phones, &c.phone)
                && let Ok(e164) = n.normalize(phone)
            {
                c.phone = Some(e164);
            }
            if c.team_id.is_none() {
                c.team_id = args.team.clone();
            }
            c.normalize(&schema)?;
            Ok(c)
        });
        match checked {
            Ok(c) => good.push(c),
            Err(e) => errors.push((at, e)),
        }
    }
    let mut imported = 0;
    for chunk in good.chunks(CHUNK) {
        imported += store.customers.upsert(chunk).await?;
    }
    let report = ImportReport {
        imported,
        rejected: errors
            .iter()
            .map(|(at, error)| match at {
                At::Line(l) => Rejected {
                    line: Some(*l),
                    index: None,
                    error,
                },
                At::Index(i) => Rejected {
                    line: None,
                    index: Some(*i),
                    error,
                },
            })
            .collect(),
    };
    io::print(&report)?;
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Whether an error belongs to the query of a line (an error line) rather than to the run.
fn is_query_error(e: &Error) -> bool {
    e.is_filter_error()
        || matches!(
            e.kind(),
            ErrorKind::InvalidQuery { .. } | ErrorKind::InvalidInput { .. }
        )
}

async fn query(args: QueryArgs) -> Result<ExitCode, Error> {
    let mut options = FilterOptions::new();
    if let Some(now) = &args.now {
        options = options.with_now_rfc3339(now)?;
    }
    let store = args.store.store().await?;
    let stdin = std::io::stdin();
    let mut out = io::Output::stdout();
    let mut lines = io::json_lines(stdin.lock());
    for line in &mut lines {
        let result = match line.and_then(|v| {
            serde_json::from_value::<Query>(v).map_err(|e| {
                ErrorKind::InvalidQuery {
                    path: String::new(),
                    message: format!("not a query: {e}"),
                }
                .into()
            })
        }) {
            Ok(q) => {
                store
                    .customers
                    .query(&q, &options, args.team.as_deref())
                    .await
            }
            Err(e) => Err(e),
        };
        let written = match result {
            Ok(page) => {
                let mut line = serde_json::Map::new();
                if args.ids {
                    line.insert(
                        "ids".into(),
                        Value::Array(page.rows.iter().map(|c| json!(c.id)).collect()),
                    );
                } else {
                    line.insert("rows".into(), json!(page.rows));
                }
                if let Some(total) = page.total {
                    line.insert("total".into(), json!(total));
                }
                if let Some(next) = page.next {
                    line.insert("next".into(), json!(next));
                }
                out.line(&Value::Object(line))
            }
            Err(e) if is_query_error(&e) => out.error(&e),
            Err(e) => return Err(e),
        };
        if let Err(e) = written.and_then(|()| out.flush()) {
            return Ok(io::finish(Err(e)));
        }
    }
    if let Some(e) = lines.read_error() {
        return Ok(out.fatal(&e));
    }
    Ok(ExitCode::SUCCESS)
}
