//! The `smsbatch` command line: a thin layer over the library whose JSON lines are a stable contract.

mod flags;
mod io;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "smsbatch",
    version,
    about = "Batch SMS campaigns: segments, preview, filters, flags"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate Unleash feature flags for JSON lines `{"toggleName", "context", "variant"?}`.
    Flags(flags::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Flags(args) => flags::run(args),
    }
}
