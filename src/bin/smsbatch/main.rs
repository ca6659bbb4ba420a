//! The `smsbatch` command line: a thin layer over the library whose JSON lines are a stable contract.

mod batch;
mod campaign;
mod customers;
mod export;
mod filter;
mod flags;
mod io;
mod preview;
mod records;
mod report;
mod segments;
mod serve;
mod store;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "smsbatch",
    version,
    about = "Batch SMS campaigns: segments, preview, filters, flags, stores"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Encoding, segments and parts of each message (JSON lines on stdin, or --input FILE).
    Segments(segments::Args),
    /// Compile audience filters (JSON lines) to PostgREST parameters and SQL, or evaluate them
    /// over rows with --eval.
    Filter(filter::Args),
    /// Evaluate Unleash feature flags for JSON lines `{"toggleName", "context", "variant"?}`
    /// against a state file.
    Flags(flags::Args),
    /// Preview a template for every customer: message, segments and cost, then the summary.
    Preview(preview::Args),
    /// Apply the database migrations (the Supabase schema); prints {"applied", "current"}.
    Migrate(store::MigrateArgs),
    /// Import and query the customers of a store.
    #[command(subcommand)]
    Customers(customers::Command),
    /// Import message templates into a store.
    #[command(subcommand)]
    Templates(records::TemplatesCommand),
    /// The numbers that are never sent to.
    #[command(subcommand)]
    Suppressions(records::SuppressionsCommand),
    /// Create batches, and see and steer them: create, status, pause, resume, cancel,
    /// retry-failed, list.
    #[command(subcommand)]
    Batch(batch::Command),
    /// Prepare and drain every due batch through a provider (logs on stderr).
    Worker(worker::Args),
    /// The main job: a whole campaign on sample customers, from audience to report.
    Campaign(campaign::Args),
    /// The web app on 127.0.0.1: the batch workspace, the dashboard and the JSON API under /api/.
    Serve(serve::Args),
    /// A batch's report: rates, throughput, latency, cost, errors, variants, SLA (--json: the
    /// JSON report); with --period hour|day, every batch's messages per period instead.
    Report(report::Args),
    /// Export a batch's messages, logs, excluded recipients or report as CSV or JSON lines.
    Export(export::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Segments(args) => segments::run(args),
        Command::Filter(args) => filter::run(args),
        Command::Flags(args) => flags::run(args),
        Command::Preview(args) => preview::run(args),
        Command::Migrate(args) => store::migrate(args),
        Command::Customers(command) => customers::run(command),
        Command::Templates(command) => records::templates(command),
        Command::Suppressions(command) => records::suppressions(command),
        Command::Batch(command) => batch::run(command),
        Command::Worker(args) => worker::run(args),
        Command::Campaign(args) => campaign::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Report(args) => report::run(args),
        Command::Export(args) => export::run(args),
    }
}
