//! `smsbatch preview`: every customer's message, segments and cost, then the batch summary.

use std::io::{self, BufRead};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Map, Value};
use smsbatch::{
    Amount, Encoding, Error, ExclusionReason, MissingVariablePolicy, PreviewConfig, PreviewSummary,
    PriceTable, Purpose, RecipientPreview, Sample, Template,
};

use crate::io::{
    ArrayElements, ErrorLine, Output, ReadFailure, fatal, finish, json_lines, open, read_json_text,
    read_text,
};

/// Preview a template for every customer: the message, its encoding, segments and cost, or why
/// the customer is excluded; then the batch summary.
///
/// Output, JSON lines: one per customer in input order, then `{"summary": {...}}`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// File holding the template body as UTF-8 text (one final newline, as editors add, is not
    /// part of the body).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "body",
        conflicts_with = "body"
    )]
    template: Option<PathBuf>,
    /// The template body.
    #[arg(long, value_name = "TEXT")]
    body: Option<String>,
    /// Customers: `.json` (an array of objects), `.jsonl` (one object per line) or `.csv` (a
    /// header row of field names; values are strings). Each needs `id` and `phone`, and the
    /// consent fields `opted_in` and `opted_out`.
    #[arg(long, value_name = "FILE")]
    customers: PathBuf,
    /// What the messages are for: marketing reaches only customers with `opted_in` true;
    /// transactional (an order is ready, an appointment tomorrow) every customer who did not
    /// opt out. Nobody who opted out, or whose number is suppressed, is ever included.
    #[arg(long, value_enum, default_value_t = PurposeArg::Marketing)]
    purpose: PurposeArg,
    /// Default region for phone numbers without a country calling code (ISO 3166-1, e.g. GB).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// Price table, JSON: {"currency": "USD", "default": {"GSM-7": 0.0079, "UCS-2": 0.0079},
    /// "byCountry": {"44": {...}}}. Without it, cost is in credits (1 per segment).
    #[arg(long, value_name = "FILE")]
    price: Option<PathBuf>,
    /// Phone numbers never to message, one a line (blank lines are ignored).
    #[arg(long, value_name = "FILE")]
    suppress: Option<PathBuf>,
    /// Preview only N customers: the first N, or N chosen by --seed.
    #[arg(long, value_name = "N")]
    sample: Option<usize>,
    /// Choose the --sample customers with this seed (the same seed picks the same customers).
    #[arg(long, value_name = "SEED", requires = "sample")]
    seed: Option<u64>,
    /// Print only the summary line.
    #[arg(long)]
    summary: bool,
    /// What a variable missing from a customer's data does: exclude the customer, or stop the
    /// preview with an error (exit status 2).
    #[arg(long, value_enum, default_value_t = Missing::Exclude)]
    missing: Missing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Missing {
    Exclude,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum PurposeArg {
    Marketing,
    Transactional,
}

/// An included customer's line: exactly the fields of the command's contract.
#[derive(Serialize)]
struct IncludedLine<'a> {
    id: &'a Value,
    phone: &'a str,
    text: &'a str,
    encoding: Encoding,
    segments: u32,
    units: u32,
    graphemes: u32,
    cost: Amount,
}

#[derive(Serialize)]
struct ExcludedLine<'a> {
    id: &'a Value,
    excluded: ExclusionReason,
    detail: &'a str,
}

#[derive(Serialize)]
struct SummaryLine<'a> {
    summary: &'a PreviewSummary,
}

pub(crate) fn run(args: Args) -> ExitCode {
    let mut sink = Sink::Stdout(Output::stdout());
    match preview(&args, &mut sink).and_then(|()| sink.finish()) {
        Ok(()) => ExitCode::SUCCESS,
        // After the lines already written, through the same writer (under `--missing fail` a
        // failure comes from the first pass, before any line).
        Err(Stop::Fatal(err)) => match sink {
            Sink::Stdout(out) => out.fatal(&err),
            Sink::Discard => fatal(&err),
        },
        Err(Stop::Output(e)) => finish(Err(e)),
    }
}

/// Why a run ends early.
enum Stop {
    /// A problem of the input: one `{"error": ...}` line, exit status 2.
    Fatal(Error),
    /// Writing stdout failed (a closed pipe is a normal end).
    Output(io::Error),
}

impl From<Error> for Stop {
    fn from(err: Error) -> Self {
        Stop::Fatal(err)
    }
}

/// Where lines go: stdout, or nowhere (the validating first pass of `--missing fail`).
enum Sink {
    Stdout(Output),
    Discard,
}

impl Sink {
    fn line(&mut self, value: &impl Serialize) -> Result<(), Stop> {
        match self {
            Sink::Stdout(out) => out.line(value).map_err(Stop::Output),
            Sink::Discard => Ok(()),
        }
    }

    fn finish(&mut self) -> Result<(), Stop> {
        match self {
            Sink::Stdout(out) => out.flush(),
            Sink::Discard => Ok(()),
        }
        .map_err(Stop::Output)
    }
}

fn preview(args: &Args, sink: &mut Sink) -> Result<(), Stop> {
    let body = match (&args.template, &args.body) {
        (Some(path), _) => {
            let text = read_text(path, "template")?;
            let body = text
                .strip_suffix('\n')
                .map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
            body.to_owned()
        }
        (None, Some(body)) => body.clone(),
        (None, None) => {
            return Err(Error::invalid_input("give --template FILE or --body TEXT").into());
        }
    };
    let template = Template::compile(&body)?;

    let mut config = PreviewConfig::new()
        .purpose(match args.purpose {
            PurposeArg::Marketing => Purpose::Marketing,
            PurposeArg::Transactional => Purpose::Transactional,
        })
        .missing(match args.missing {
            Missing::Exclude => MissingVariablePolicy::Exclude,
            Missing::Fail => MissingVariablePolicy::Fail,
        });
    if let Some(region) = &args.region {
        config = config.region(region.clone());
    }
    if let Some(path) = &args.price {
        config = config.prices(PriceTable::from_json(&read_json_text(
            path,
            "price table",
        )?)?);
    }
    if let Some(path) = &args.suppress {
        let text = read_text(path, "suppression list")?;
        config = config.suppress(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    let previewer = config.build(&template)?;
    // `--missing fail` promises one error line and nothing else when it fails: a first pass
    // over the customers only validates, so the output is never held in memory.
    if args.missing == Missing::Fail {
        rereadable(&args.customers)?;
        run_rows(&previewer, args, &mut Sink::Discard)?;
    }
    let summary = run_rows(&previewer, args, sink)?;
    sink.line(&SummaryLine { summary: &summary })
}

/// Refuses a customers file that cannot be read twice, for `--missing fail`'s two passes: a pipe,
/// a FIFO or a device (`/dev/stdin`) is empty the second time, which would end the run with no
/// recipients and exit status 0. Checked without opening it (opening a FIFO waits for a writer).
fn rereadable(path: &Path) -> Result<(), Error> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::invalid_input(format!(
            "cannot open the customers file {}: {e}",
            path.display()
        ))
    })?;
    if meta.is_file() {
        return Ok(());
    }
    Err(Error::invalid_input(format!(
        "--missing fail reads the customers file twice (a first pass only checks it, so that a \
         failure prints nothing else), and {} is not a regular file (a pipe, a FIFO or a device \
         reads empty the second time): save it to a file first",
        path.display()
    )))
}

/// Previews every customer (or the sample), writing each line to `sink`; returns the summary.
fn run_rows(
    previewer: &smsbatch::Previewer,
    args: &Args,
    sink: &mut Sink,
) -> Result<PreviewSummary, Stop> {
    let (rows, failure) = read_customers(&args.customers)?;
    let summary = match args.sample {
        None => {
            let mut run = previewer.start();
            for row in rows {
                let result = match row {
                    Ok(row) => run.push(&row)?,
                    Err(e) => run.push_error(e),
                };
                emit(sink, args.summary, &result)?;
            }
            if let Some(e) = failure.get() {
                return Err(Stop::Fatal(e));
            }
            run.finish()
        }
        Some(n) => {
            let sample = match args.seed {
                Some(seed) => Sample::Seeded { size: n, seed },
                None => Sample::First(n),
            };
            let preview = previewer.sample_results(rows, sample)?;
            if let Some(e) = failure.get() {
                return Err(Stop::Fatal(e));
            }
            for result in &preview.recipients {
                emit(sink, args.summary, result)?;
            }
            preview.summary
        }
    };
    Ok(summary)
}

/// Writes a result's line (none when only the summary is asked for).
fn emit(sink: &mut Sink, summary_only: bool, result: &RecipientPreview) -> Result<(), Stop> {
    if summary_only {
        return Ok(());
    }
    match result {
        RecipientPreview::Included(r) => sink.line(&IncludedLine {
            id: &r.id,
            phone: &r.phone,
            text: &r.text,
            encoding: r.encoding,
            segments: r.segments,
            units: r.units,
            graphemes: r.graphemes,
            cost: r.cost,
        }),
        RecipientPreview::Excluded(r) => sink.line(&ExcludedLine {
            id: &r.id,
            excluded: r.reason,
            detail: &r.detail,
        }),
        RecipientPreview::Failed(r) => sink.line(&ErrorLine {
            error: &Error::from(r.error.clone()),
        }),
        // A kind of result this command does not know yet: the library's own JSON.
        other => sink.line(other),
    }
}

type Rows = Box<dyn Iterator<Item = Result<Value, Error>>>;

/// The customers file as a stream of rows (a malformed row is an error in its place), and where
/// a read error that ends the stream early is recorded.
fn read_customers(path: &Path) -> Result<(Rows, ReadFailure), Error> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let file = open(path, "customers file")?;
    let none = ReadFailure::default();
    match ext.as_str() {
        "json" => {
            // Read as a stream of elements from the buffered file: one row in memory at a time.
            let rows = ArrayElements::new(file, format!("the customers file {}", path.display()))?;
            let failure = rows.failure();
            Ok((Box::new(rows), failure))
        }
        "jsonl" | "ndjson" => {
            let lines = json_lines(file);
            let failure = lines.failure();
            Ok((Box::new(lines), failure))
        }
        "csv" => Ok((csv_rows(file, path)?, none)),
        _ => Err(Error::invalid_input(format!(
            "cannot tell the format of {}: name it .json, .jsonl or .csv",
            path.display()
        ))),
    }
}

fn csv_rows(file: impl BufRead + 'static, path: &Path) -> Result<Rows, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(file);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| {
            Error::invalid_input(format!(
                "cannot read the header row of {}: {e}",
                path.display()
            ))
        })?
        .iter()
        .enumerate()
        // A byte order mark is not part of the first field's name.
        .map(|(i, h)| {
            if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                h
            }
            .to_owned()
        })
        .collect();
    Ok(Box::new(reader.into_records().map(move |record| {
        let record = record.map_err(|e| Error::invalid_input(format!("malformed CSV row: {e}")))?;
        let row: Map<String, Value> = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.clone(), Value::String(v.to_owned())))
            .collect();
        Ok(Value::Object(row))
    })))
}
