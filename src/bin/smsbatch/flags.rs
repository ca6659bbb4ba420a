//! `smsbatch flags --state FILE`: evaluates feature flags for the JSON lines on stdin
//! (`smsbatch flags import FILE` loads a state into a store instead).
//!
//! Each input line is `{"toggleName": "...", "context": {...}}`, plus `"variant": true` to ask for
//! the variant. Each output line is `{"enabled": bool}`, or `{"variant": {...}}` in exactly the
//! shape of the Unleash client specification's `expectedResult` (`name`, `payload` when there is
//! one, `enabled`, `feature_enabled`). A line that cannot be understood gives `{"error": {...}}`
//! in its place. Compiler warnings about the state go to stderr.

use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use serde_json::{Value, json};
use smsbatch::Timestamp;
use smsbatch::flags::{Context, Engine, Env, SeededRandom};

use crate::io;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The Unleash client-API state (the JSON of `GET /api/client/features`).
    #[arg(long, value_name = "FILE", required = true)]
    state: Option<PathBuf>,
    /// The instant date constraints use when a context has no `currentTime` (RFC 3339).
    /// Default: the system clock.
    /// (Parsed here, not by the argument parser, so a bad value is a JSON error line like
    /// every other subcommand's.)
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Seed of the random source behind random rollouts and random stickiness.
    /// Default: a fresh one from the operating system.
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create or replace the flags and segments of an Unleash state in a store; prints
    /// {"flags": {"created", "updated", "unchanged"}, "segments": {...}}.
    Import(crate::records::FlagsImportArgs),
}

pub(crate) fn run(args: Args) -> ExitCode {
    if let Some(Command::Import(import)) = args.command {
        return crate::records::import_flags(import);
    }
    let Some(state) = &args.state else {
        return io::fatal(&smsbatch::Error::invalid_input("flags needs --state FILE"));
    };
    let text = match io::read_json_text(state, "state file") {
        Ok(text) => text,
        Err(e) => return io::fatal(&e),
    };
    let engine = match Engine::from_json(&text) {
        Ok(engine) => engine,
        Err(e) => return io::fatal(&e),
    };
    for warning in engine.warnings() {
        eprintln!("smsbatch flags: warning: {warning}");
    }

    // The command line is the edge where the clock and entropy are read; the library takes both
    // as parameters.
    let now = match args.now.as_deref().map(str::parse::<Timestamp>) {
        None => io::clock_now(),
        Some(Ok(now)) => now,
        Some(Err(e)) => {
            return io::fatal(&smsbatch::Error::invalid_input(format!(
                "`now` is not an RFC 3339 timestamp: {e}"
            )));
        }
    };
    let seed = args
        .seed
        .unwrap_or_else(|| RandomState::new().hash_one(SystemTime::now()));
    let mut random = SeededRandom::new(seed);
    let mut env = Env::new(now, &mut random);

    let mut out = io::Output::stdout();
    let stdin = std::io::stdin();
    let mut lines = io::json_lines(stdin.lock());
    let result = (|| {
        for line in &mut lines {
            match line.and_then(request) {
                Ok((name, ctx, false)) => {
                    out.line(&json!({ "enabled": engine.is_enabled(&name, &ctx, &mut env) }))?;
                }
                Ok((name, ctx, true)) => {
                    out.line(&json!({ "variant": engine.variant(&name, &ctx, &mut env) }))?;
                }
                Err(e) => out.error(&e)?,
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

/// Reads `{"toggleName", "context"?, "variant"?}`; anything else is an error naming it.
fn request(value: Value) -> Result<(String, Context, bool), smsbatch::Error> {
    let Value::Object(mut map) = value else {
        return Err(smsbatch::Error::invalid_input(
            "a line must be an object {\"toggleName\": ..., \"context\": {...}}",
        ));
    };
    let name = match map.remove("toggleName") {
        Some(Value::String(name)) => name,
        Some(_) => {
            return Err(smsbatch::Error::invalid_input(
                "toggleName must be a string",
            ));
        }
        None => return Err(smsbatch::Error::invalid_input("the line has no toggleName")),
    };
    let ctx = Context::from_value(map.remove("context").unwrap_or(Value::Null))?;
    let variant = match map.remove("variant") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            return Err(smsbatch::Error::invalid_input(
                "variant must be true or false",
            ));
        }
    };
    if let Some(key) = map.keys().next() {
        return Err(smsbatch::Error::invalid_input(format!(
            "unknown field {} (a line has toggleName, context and variant)",
            crate::io::quote(key)
        )));
    }
    Ok((name, ctx, variant))
}
