//! Export of a batch's messages, log, excluded recipients and report as CSV or JSON lines,
//! streamed from the store a page at a time (feature `export`).

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::analyzer::BatchAnalyzer;
use super::report::BatchAnalysis;
use super::safe::spreadsheet_safe;
use crate::error::{Error, ErrorKind, Result};
use crate::store::{BatchLog, Exclusion, Message, MessageQuery, MessageScan, Store};
use crate::time::Timestamp;

/// The page size of the store reads: memory stays flat whatever the batch's size.
const PAGE: u32 = 1000;

/// The columns of a message export, in order: every field of [`Message`] as its JSON names it.
pub const MESSAGE_COLUMNS: [&str; 35] = [
    "id",
    "batchId",
    "customerId",
    "phone",
    "sender",
    "countryCode",
    "body",
    "encoding",
    "segments",
    "estimatedCost",
    "variant",
    "timeZone",
    "status",
    "claimToken",
    "leaseExpiresAt",
    "attempts",
    "maxAttempts",
    "runAt",
    "claimedAt",
    "sendStartedAt",
    "acceptedAt",
    "deliveredAt",
    "providerId",
    "providerStatus",
    "providerSegments",
    "errorCategory",
    "errorCode",
    "errorMessage",
    "price",
    "priceCurrency",
    "verified",
    "verifiedAt",
    "checkAfter",
    "createdAt",
    "updatedAt",
];

/// The columns of a batch-log export: every field of [`BatchLog`]; `data` is JSON text.
pub const LOG_COLUMNS: [&str; 7] = ["id", "batchId", "at", "level", "event", "message", "data"];

/// The columns of an excluded-recipients export: every field of [`Exclusion`].
pub const EXCLUDED_COLUMNS: [&str; 7] = [
    "id",
    "batchId",
    "customerId",
    "phone",
    "reason",
    "detail",
    "createdAt",
];

/// The columns of a report export in CSV: one row per figure of the [`BatchAnalysis`], named
/// by its dotted JSON path (`report.byState.delivered`, `report.errors.0.count`).
pub const REPORT_COLUMNS: [&str; 2] = ["metric", "value"];

/// What to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExportKind {
    /// The batch's messages, in id order.
    Messages,
    /// Its log, in append order.
    Logs,
    /// The recipients left out of it, in id order.
    Excluded,
    /// Its analysis (the report and its details).
    Report,
}

impl ExportKind {
    /// The name on the command line.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::Logs => "logs",
            Self::Excluded => "excluded",
            Self::Report => "report",
        }
    }

    /// The CSV header.
    pub fn columns(self) -> Vec<&'static str> {
        match self {
            Self::Messages => MESSAGE_COLUMNS.to_vec(),
            Self::Logs => LOG_COLUMNS.to_vec(),
            Self::Excluded => EXCLUDED_COLUMNS.to_vec(),
            Self::Report => REPORT_COLUMNS.to_vec(),
        }
    }
}

impl FromStr for ExportKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "messages" => Ok(Self::Messages),
            "logs" => Ok(Self::Logs),
            "excluded" => Ok(Self::Excluded),
            "report" => Ok(Self::Report),
            other => Err(Error::invalid_input(format!(
                "unknown export {other:?}; expected messages, logs, excluded or report"
            ))),
        }
    }
}

impl fmt::Display for ExportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How to write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header row; every cell made spreadsheet-safe
    /// ([`spreadsheet_safe`](super::spreadsheet_safe)); an empty cell is a null.
    Csv,
    /// One JSON object per line, exactly the crate's serde form (camelCase).
    JsonLines,
}

impl FromStr for ExportFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "csv" => Ok(Self::Csv),
            "jsonl" => Ok(Self::JsonLines),
            other => Err(Error::invalid_input(format!(
                "unknown export format {other:?}; expected csv or jsonl"
            ))),
        }
    }
}

fn io_error(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io {
        message: format!("cannot write the export: {e}"),
    })
    .with_source(e)
}

fn csv_error(e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => io_error(e),
        other => Error::new(ErrorKind::Io {
            message: format!("cannot write the export as CSV: {other:?}"),
        }),
    }
}

/// The text of a JSON value in a cell: a string as it is, `null` empty, anything else as JSON.
fn cell_text(value: &Value) -> std::borrow::Cow<'_, str> {
    match value {
        Value::Null => "".into(),
        Value::String(s) => s.as_str().into(),
        other => other.to_string().into(),
    }
}

/// Flattens a JSON document into `(dotted path, leaf)` rows, arrays indexed from 0; an empty
/// object or array is one row holding `{}` or `[]`.
pub fn flatten(value: &Value) -> Vec<(String, Value)> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
        let join = |key: &str| {
            if prefix.is_empty() {
                key.to_owned()
            } else {
                format!("{prefix}.{key}")
            }
        };
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    walk(&join(k), v, out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (i, v) in items.iter().enumerate() {
                    walk(&join(&i.to_string()), v, out);
                }
            }
            leaf => out.push((prefix.to_owned(), leaf.clone())),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

enum Sink<W: Write> {
    // Boxed: the CSV writer carries its buffer state (some 350 bytes).
    Csv(Box<csv::Writer<W>>),
    Lines(W),
}

/// Writes rows of one [`ExportKind`] in one [`ExportFormat`] to `W` as they come: the CSV
/// header first, then one row (or line) per call. [`export`] drives it from a store; use it
/// directly for rows you already hold.
pub struct Exporter<W: Write> {
    kind: ExportKind,
    sink: Sink<W>,
    rows: u64,
    cells: Vec<String>,
}

impl<W: Write> fmt::Debug for Exporter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporter")
            .field("kind", &self.kind)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl<W: Write> Exporter<W> {
    /// An exporter writing to `out` (the CSV header is written now).
    pub fn new(out: W, kind: ExportKind, format: ExportFormat) -> Result<Self> {
        let sink = match format {
            ExportFormat::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(out);
                w.write_record(kind.columns()).map_err(csv_error)?;
                Sink::Csv(Box::new(w))
            }
            ExportFormat::JsonLines => Sink::Lines(out),
        };
        Ok(Self {
            kind,
            sink,
            rows: 0,
            cells: Vec::new(),
        })
    }

    fn check(&self, kind: ExportKind) -> Result<()> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(Error::invalid_input(format!(
                "this exporter writes {}, not {}",
                self.kind, kind
            )))
        }
    }

    fn row(
        &mut self,
        value: &impl Serialize,
        columns: &mut dyn Iterator<Item = &str>,
    ) -> Result<()> {
        match &mut self.sink {
            Sink::Lines(out) => {
                serde_json::to_writer(&mut *out, value).map_err(|e| io_error(e.into()))?;
                out.write_all(b"\n").map_err(io_error)?;
            }
            Sink::Csv(w) => {
                let json = serde_json::to_value(value).map_err(|e| io_error(e.into()))?;
                self.cells.clear();
                for column in columns {
                    let text = cell_text(json.get(column).unwrap_or(&Value::Null));
                    self.cells.push(spreadsheet_safe(&text).into_owned());
                }
                w.write_record(&self.cells).map_err(csv_error)?;
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Writes a message.
    pub fn message(&mut self, m: &Message) -> Result<()> {
        self.check(ExportKind::Messages)?;
        self.row(m, &mut MESSAGE_COLUMNS.into_iter())
    }

    /// Writes a log event.
    pub fn log(&mut self, event: &BatchLog) -> Result<()> {
        self.check(ExportKind::Logs)?;
        self.row(event, &mut LOG_COLUMNS.into_iter())
    }

    /// Writes an excluded recipient.
    pub fn exclusion(&mut self, e: &Exclusion) -> Result<()> {
        self.check(ExportKind::Excluded)?;
        self.row(e, &mut EXCLUDED_COLUMNS.into_iter())
    }

    /// Writes an analysis: one JSON line, or in CSV one `metric,value` row per figure
    /// ([`flatten`]).
    pub fn report(&mut self, analysis: &BatchAnalysis) -> Result<()> {
        self.check(ExportKind::Report)?;
        match &mut self.sink {
            Sink::Lines(_) => self.row(analysis, &mut std::iter::empty()),
            Sink::Csv(w) => {
                let json = serde_json::to_value(analysis).map_err(|e| io_error(e.into()))?;
                for (path, leaf) in flatten(&json) {
                    let value = cell_text(&leaf);
                    w.write_record([&*spreadsheet_safe(&path), &*spreadsheet_safe(&value)])
                        .map_err(csv_error)?;
                    self.rows += 1;
                }
                Ok(())
            }
        }
    }

    /// Rows (lines) written so far, the CSV header not counted.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes and returns the writer.
    pub fn finish(self) -> Result<W> {
        match self.sink {
            Sink::Csv(w) => w.into_inner().map_err(|e| io_error(e.into_error())),
            Sink::Lines(mut out) => {
                out.flush().map_err(io_error)?;
                Ok(out)
            }
        }
    }
}

/// Streams one kind of a batch's data from `store` to `out` in `format`, a page of a thousand
/// rows at a time (memory does not grow with the batch), and returns how many rows it wrote. A
/// report is analysed by `analyzer` (give it the batch's objectives) as of `now`.
/// [`ErrorKind::NotFound`] when the actor cannot see the batch.
pub async fn export<W: Write + Send>(
    store: &Store,
    batch: Uuid,
    kind: ExportKind,
    format: ExportFormat,
    out: W,
    analyzer: Option<BatchAnalyzer>,
    now: Timestamp,
) -> Result<(u64, W)> {
    let row = store.batches.get(batch).await?.ok_or_else(|| {
        Error::new(ErrorKind::NotFound {
            what: "batch".into(),
            id: batch.to_string(),
        })
    })?;
    let mut exporter = Exporter::new(out, kind, format)?;
    match kind {
        ExportKind::Messages => {
            let mut scan = MessageScan::new(store.messages.clone(), MessageQuery::new(batch, PAGE));
            while let Some(page) = scan.next_chunk().await? {
                for m in &page {
                    exporter.message(m)?;
                }
            }
        }
        ExportKind::Logs => {
            let mut after = None;
            loop {
                let page = store.logs.list(batch, after, PAGE).await?;
                for e in &page {
                    exporter.log(e)?;
                }
                match page.last() {
                    Some(last) if page.len() == PAGE as usize => after = Some(last.id),
                    _ => break,
                }
            }
        }
        ExportKind::Excluded => {
            let mut after = None;
            loop {
                let page = store.exclusions.list(batch, after, PAGE).await?;
                for e in &page {
                    exporter.exclusion(e)?;
                }
                match page.last() {
                    Some(last) if page.len() == PAGE as usize => after = Some(last.id),
                    _ => break,
                }
            }
        }
        ExportKind::Report => {
            let analyzer = analyzer.unwrap_or_else(|| BatchAnalyzer::for_batch(&row));
            if analyzer.batch() != batch {
                return Err(Error::invalid_input(format!(
                    "the analyzer is for batch {}, not {batch}",
                    analyzer.batch()
                )));
            }
            let analysis = analyzer.run(store, now).await?;
            exporter.report(&analysis)?;
        }
    }
    let rows = exporter.rows();
    Ok((rows, exporter.finish()?))
}
