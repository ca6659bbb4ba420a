//! `smsbatch templates import`, `smsbatch flags import` and `smsbatch suppressions`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Value, json};
use smsbatch::flags::State;
use smsbatch::{Error, PhoneNormalizer, TemplateRecord};

use crate::io;
use crate::store::{StoreArgs, block_on};

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

#[derive(Debug, clap::Subcommand)]
pub(crate) enum TemplatesCommand {
    /// Create or replace templates from a JSON array of template records ({"id", "name", "body",
    /// "description"?, "tags"?, "createdAt"?, "updatedAt"?}); prints {"created", "updated",
    /// "unchanged", "rejected"} (exit 1 when one is rejected).
    Import(TemplatesImportArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct TemplatesImportArgs {
    /// The JSON array of template records.
    file: PathBuf,
    /// The team the templates belong to (default: the --jwt user's, none for the service).
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Serialize)]
struct IndexError<'a> {
    index: usize,
    error: &'a Error,
}

pub(crate) fn templates(command: TemplatesCommand) -> ExitCode {
    match command {
        TemplatesCommand::Import(args) => block_on(import_templates(args)),
    }
}

async fn import_templates(args: TemplatesImportArgs) -> Result<ExitCode, Error> {
    let text = io::read_text(&args.file, "templates file")?;
    let values = io::parse_json_array(&text).map_err(|e| {
        smsbatch::Error::invalid_input(format!(
            "the templates file {} is not a JSON array: {e}",
            args.file.display()
        ))
    })?;
    let now = io::clock_now().to_string();
    let mut good = Vec::new();
    let mut rejected: Vec<(usize, Error)> = Vec::new();
    for (i, mut value) in values.into_iter().enumerate() {
        // Hand-written files may leave the times out: they are now.
        if let Value::Object(map) = &mut value {
            for key in ["createdAt", "updatedAt"] {
                map.entry(key).or_insert_with(|| json!(now));
            }
        }
        let record = serde_json::from_value::<TemplateRecord>(value)
            .map_err(|e| smsbatch::Error::invalid_input(format!("not a template record: {e}")))
            .and_then(|t| t.compile().map(|_| t));
        match record {
            Ok(t) => good.push(t),
            Err(e) => rejected.push((i + 1, e)),
        }
    }
    let store = args.store.store().await?;
    let changes = store.templates.upsert(&good, args.team.as_deref()).await?;
    let mut report = serde_json::to_value(&changes)
        .map_err(|e| smsbatch::Error::invalid_input(format!("cannot write the report: {e}")))?;
    report["rejected"] = json!(
        rejected
            .iter()
            .map(|(index, error)| IndexError {
                index: *index,
                error
            })
            .collect::<Vec<_>>()
    );
    io::print(&report)?;
    Ok(exit(rejected.is_empty()))
}

fn exit(clean: bool) -> ExitCode {
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

// ---------------------------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------------------------

/// `smsbatch flags import FILE`.
#[derive(Debug, clap::Args)]
pub(crate) struct FlagsImportArgs {
    /// The Unleash client-API state (the JSON of `GET /api/client/features`).
    file: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn import_flags(args: FlagsImportArgs) -> ExitCode {
    block_on(async move {
        let text = io::read_json_text(&args.file, "state file")?;
        let state = State::from_json(&text)?;
        let store = args.store.store().await?;
        let changes = store.flags.import(&state, io::clock_now()).await?;
        io::print(&changes)?;
        Ok(ExitCode::SUCCESS)
    })
}

// ---------------------------------------------------------------------------------------------
// Suppressions
// ---------------------------------------------------------------------------------------------

#[derive(Debug, clap::Subcommand)]
pub(crate) enum SuppressionsCommand {
    /// Suppress numbers; prints {"added", "unchanged", "rejected"} (exit 1 when one is rejected).
    Add(AddArgs),
    /// Lift suppressions; prints {"removed", "notFound"}.
    Remove(RemoveArgs),
    /// Suppress the numbers of a file: .csv (a `phone` column, optional `reason`), .json (an
    /// array of numbers or {"phone", "reason"}), or text (one number per line, `#` comments).
    Import(SuppressionsImportArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct AddArgs {
    /// The numbers.
    #[arg(required = true)]
    phones: Vec<String>,
    /// Why (kept with each number).
    #[arg(long)]
    reason: Option<String>,
    /// Default region for numbers without a country calling code (ISO 3166-1, e.g. GB).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RemoveArgs {
    /// The numbers.
    #[arg(required = true)]
    phones: Vec<String>,
    /// Default region for numbers without a country calling code.
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SuppressionsImportArgs {
    /// The file.
    file: PathBuf,
    /// Default region for numbers without a country calling code.
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn suppressions(command: SuppressionsCommand) -> ExitCode {
    match command {
        SuppressionsCommand::Add(args) => block_on(async move {
            let entries = args
                .phones
                .iter()
                .map(|p| (Where::Given, p.clone(), args.reason.clone()))
                .collect();
            add(entries, args.region.as_deref(), &args.store).await
        }),
        SuppressionsCommand::Import(args) => block_on(async move {
            let entries = read_phones(&args.file)?;
            add(entries, args.region.as_deref(), &args.store).await
        }),
        SuppressionsCommand::Remove(args) => block_on(async move {
            let normalizer = normalizer(args.region.as_deref())?;
            // A number that does not normalise is looked up as written.
            let phones: Vec<String> = args
                .phones
                .iter()
                .map(|p| {
                    normalizer
                        .normalize(p)
                        .unwrap_or_else(|_| p.trim().to_owned())
                })
                .collect();
            let store = args.store.store().await?;
            let removed = store.suppressions.remove(&phones).await?;
            let not_found: Vec<&String> = phones.iter().filter(|p| !removed.contains(p)).collect();
            io::print(&json!({"removed": removed, "notFound": not_found}))?;
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// Where a number came from, for a rejection.
#[derive(Clone, Copy)]
enum Where {
    Given,
    Line(u64),
    Index(usize),
}

fn normalizer(region: Option<&str>) -> Result<PhoneNormalizer, Error> {
    match region {
        Some(r) => PhoneNormalizer::new().region(r),
        None => Ok(PhoneNormalizer::new()),
    }
}

async fn add(
    entries: Vec<(Where, String, Option<String>)>,
    region: Option<&str>,
    store: &StoreArgs,
) -> Result<ExitCode, Error> {
    let normalizer = normalizer(region)?;
    let mut good = Vec::new();
    let mut rejected = Vec::new();
    for (at, phone, reason) in entries {
        match normalizer.normalize(&phone) {
            Ok(e164) => good.push((e164, reason)),
            Err(e) => {
                let mut entry = serde_json::Map::new();
                match at {
                    Where::Given => {}
                    Where::Line(l) => {
                        entry.insert("line".into(), json!(l));
                    }
                    Where::Index(i) => {
                        entry.insert("index".into(), json!(i));
                    }
                }
                entry.insert("phone".into(), json!(phone));
                entry.insert("error".into(), json!(e));
                rejected.push(Value::Object(entry));
            }
        }
    }
    let store = store.store().await?;
    let changes = store.suppressions.add(&good, io::clock_now()).await?;
    io::print(&json!({
        "added": changes.created,
        "unchanged": changes.unchanged,
        "rejected": rejected,
    }))?;
    Ok(exit(rejected.is_empty()))
}

fn read_phones(path: &Path) -> Result<Vec<(Where, String, Option<String>)>, Error> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") => {
            let mut reader = csv::Reader::from_reader(io::open(path, "suppressions file")?);
            let headers = reader
                .headers()
                .map_err(|e| {
                    smsbatch::Error::invalid_input(format!("cannot read the CSV header: {e}"))
                })?
                .clone();
            let column = |name: &str| headers.iter().position(|h| h.trim() == name);
            let phone = column("phone").ok_or_else(|| {
                smsbatch::Error::invalid_input("the suppressions CSV needs a `phone` column")
            })?;
            let reason = column("reason");
            let mut out = Vec::new();
            for record in reader.records() {
                let record = record.map_err(|e| {
                    smsbatch::Error::invalid_input(format!("not a CSV record: {e}"))
                })?;
                let line = record.position().map_or(0, |p| p.line());
                let get = |i: usize| record.get(i).map(str::to_owned);
                out.push((
                    Where::Line(line),
                    get(phone).unwrap_or_default(),
                    reason.and_then(get).filter(|r| !r.is_empty()),
                ));
            }
            Ok(out)
        }
        Some("json") => {
            let text = io::read_text(path, "suppressions file")?;
            let values = io::parse_json_array(&text).map_err(|e| {
                smsbatch::Error::invalid_input(format!(
                    "the suppressions file {} is not a JSON array: {e}",
                    path.display()
                ))
            })?;
            values
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let at = Where::Index(i + 1);
                    match v {
                        Value::String(p) => Ok((at, p, None)),
                        Value::Object(map) => {
                            let phone =
                                map.get("phone").and_then(Value::as_str).ok_or_else(|| {
                                    smsbatch::Error::invalid_input(format!(
                                        "entry {} has no \"phone\"",
                                        i + 1
                                    ))
                                })?;
                            let reason = map.get("reason").and_then(Value::as_str);
                            Ok((at, phone.to_owned(), reason.map(str::to_owned)))
                        }
                        _ => Err(smsbatch::Error::invalid_input(format!(
                            "entry {} is neither a number nor {{\"phone\", \"reason\"}}",
                            i + 1
                        ))),
                    }
                })
                .collect()
        }
        _ => {
            let reader = std::io::BufReader::new(io::open(path, "suppressions file")?);
            let mut out = Vec::new();
            for (i, line) in reader.lines().enumerate() {
                let line = line.map_err(|e| {
                    smsbatch::Error::invalid_input(format!("cannot read line {}: {e}", i + 1))
                })?;
                let text = line.trim();
                if text.is_empty() || text.starts_with('#') {
                    continue;
                }
                out.push((Where::Line(i as u64 + 1), text.to_owned(), None));
            }
            Ok(out)
        }
    }
}
