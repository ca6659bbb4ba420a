//! `smsbatch export`: a batch's messages, log, excluded recipients or report as CSV or JSON
//! lines, streamed from the store.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use smsbatch::Error;
use smsbatch::analytics::{ExportFormat, ExportKind, export};

use crate::report::{analyzer, batch_id, find_batch};
use crate::store::{StoreArgs, block_on};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The batch's id.
    #[arg(long, value_name = "ID")]
    batch: String,
    /// What to export: messages, logs, excluded or report.
    #[arg(long, value_name = "WHAT")]
    what: String,
    /// csv (a header row, spreadsheet-safe cells) or jsonl (one JSON object per line).
    #[arg(long, value_name = "FORMAT")]
    format: String,
    /// Write to this file (created or truncated) instead of stdout, then print {"what",
    /// "format", "rows", "output"}.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// SLA objectives to evaluate in an exported report.
    #[arg(long, value_name = "FILE")]
    sla: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn run(args: Args) -> ExitCode {
    block_on(run_export(args))
}

/// Stdout that takes a closed pipe (`| head`) as the reader having had enough: the rest is
/// discarded, and the run ends normally.
struct Stdout {
    out: BufWriter<io::Stdout>,
    closed: bool,
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.out.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.out.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

async fn run_export(args: Args) -> Result<ExitCode, Error> {
    let id = batch_id(&args.batch)?;
    let kind: ExportKind = args.what.parse()?;
    let format: ExportFormat = args.format.parse()?;
    if args.sla.is_some() && kind != ExportKind::Report {
        return Err(Error::invalid_input("--sla applies to --what report only"));
    }
    let store = args.store.store().await?;
    let batch = find_batch(&store, id).await?;
    let analyzer = match kind {
        ExportKind::Report => Some(analyzer(&batch, args.sla.as_deref())?),
        _ => None,
    };
    let now = crate::io::clock_now();
    match &args.output {
        None => {
            let out = Stdout {
                out: BufWriter::with_capacity(1 << 16, io::stdout()),
                closed: false,
            };
            export(&store, id, kind, format, out, analyzer, now).await?;
        }
        Some(path) => {
            let file = File::create(path).map_err(|e| {
                Error::invalid_input(format!(
                    "cannot create the output file {}: {e}",
                    path.display()
                ))
            })?;
            let (rows, file) = export(
                &store,
                id,
                kind,
                format,
                BufWriter::with_capacity(1 << 16, file),
                analyzer,
                now,
            )
            .await?;
            file.into_inner()
                .map_err(|e| Error::invalid_input(format!("cannot write {}: {e}", path.display())))?
                .sync_all()
                .map_err(|e| {
                    Error::invalid_input(format!("cannot write {}: {e}", path.display()))
                })?;
            crate::io::print(&json!({
                "what": kind.code(),
                "format": args.format,
                "rows": rows,
                "output": path.display().to_string(),
            }))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
