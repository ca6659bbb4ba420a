//! `smsbatch batch create|status|pause|resume|cancel|retry-failed|list`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use serde_json::Value;
use smsbatch::queue::{BatchOptions, BatchState, PauseReason, StatusCounts};
use smsbatch::send::{BatchRequest, BatchStatus, BatchSummary, Preparer, TemplateChoice};
use smsbatch::store::{BatchQuery, Uuid};
use smsbatch::{Error, Purpose, Timestamp};

use crate::io;
use crate::store::{StoreArgs, block_on};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Create a batch and prepare it: prints {"batch": {"id", "state", "messages", "excluded":
    /// {reason: n}, "segments", "estimatedCost", "currency"}}. A reused --idempotency-key
    /// prints the batch it created first (exit 0).
    Create(CreateArgs),
    /// A batch's state and progress: {"batch": {"id", "state", "pauseReason"?, "progress":
    /// {"counts": {...}, ...}}}.
    Status(IdArgs),
    /// Pause a batch (reason operator); prints its status.
    Pause(IdArgs),
    /// Resume a paused batch; prints its status.
    Resume(IdArgs),
    /// Cancel a batch and its pending messages; prints its status.
    Cancel(IdArgs),
    /// Requeue the failed messages that may succeed on another try (the same messages, never
    /// new ones); prints its status and "requeued": N.
    RetryFailed(IdArgs),
    /// One line per batch, oldest first: {"batch": {"id", "state", "pauseReason"?, "purpose",
    /// "templateId", "sender", "sendAt", "createdAt", "counts"}}.
    List(ListArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PurposeArg {
    Marketing,
    Transactional,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// File holding the template body (UTF-8 text; one final newline is not part of it).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "template_id",
        conflicts_with = "template_id"
    )]
    template: Option<PathBuf>,
    /// A template of the store, by id.
    #[arg(long, value_name = "ID")]
    template_id: Option<String>,
    /// The audience: a filter document {"version": 1, "where": ...} or a bare filter node, as
    /// `smsbatch filter` takes.
    #[arg(long, value_name = "FILE")]
    filter: PathBuf,
    /// What the messages are for (marketing needs opted_in true).
    #[arg(long, value_enum, default_value_t = PurposeArg::Marketing)]
    purpose: PurposeArg,
    /// The sender: a number or an alphanumeric id.
    #[arg(long = "from", value_name = "SENDER")]
    from: Option<String>,
    /// The same key returns the batch it created first.
    #[arg(long, value_name = "K")]
    idempotency_key: Option<String>,
    /// When to start sending (RFC 3339); now when absent.
    #[arg(long, value_name = "RFC3339")]
    send_at: Option<String>,
    /// The batch options (JSON; every field optional, see the README).
    #[arg(long, value_name = "FILE")]
    options: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct IdArgs {
    /// The batch's id.
    id: String,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Only batches in this state (repeatable).
    #[arg(long, value_name = "STATE")]
    state: Vec<String>,
    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn run(command: Command) -> ExitCode {
    block_on(async move {
        match command {
            Command::Create(args) => create(args).await,
            Command::Status(args) => act(args, Action::Status).await,
            Command::Pause(args) => act(args, Action::Pause).await,
            Command::Resume(args) => act(args, Action::Resume).await,
            Command::Cancel(args) => act(args, Action::Cancel).await,
            Command::RetryFailed(args) => act(args, Action::RetryFailed).await,
            Command::List(args) => list(args).await,
        }
    })
}

#[derive(Serialize)]
struct BatchLine<T: Serialize> {
    batch: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    requeued: Option<u64>,
}

fn read_template(path: &Path) -> Result<String, Error> {
    let mut text = io::read_text(path, "template file")?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

fn read_json(path: &Path, what: &str) -> Result<Value, Error> {
    let text = io::read_text(path, what)?;
    io::parse_json(&text).map_err(|e| {
        Error::invalid_input(format!("the {what} {} is not JSON: {e}", path.display()))
    })
}

async fn create(args: CreateArgs) -> Result<ExitCode, Error> {
    let template = match (&args.template, &args.template_id) {
        (Some(path), _) => TemplateChoice::Text(read_template(path)?),
        (None, Some(id)) => TemplateChoice::Id(id.clone()),
        (None, None) => {
            return Err(Error::invalid_input(
                "give the template: --template FILE or --template-id ID",
            ));
        }
    };
    let filter = read_json(&args.filter, "filter file")?;
    let options = match &args.options {
        Some(path) => BatchOptions::from_json(&io::read_json_text(path, "options file")?)?,
        None => BatchOptions::default(),
    };
    let purpose = match args.purpose {
        PurposeArg::Marketing => Purpose::Marketing,
        PurposeArg::Transactional => Purpose::Transactional,
    };
    let mut request = BatchRequest::new(template, filter, purpose).options(options);
    if let Some(from) = &args.from {
        request = request.sender(from.clone());
    }
    if let Some(key) = &args.idempotency_key {
        request = request.idempotency_key(key.clone());
    }
    if let Some(text) = &args.send_at {
        let at: Timestamp = text.trim().parse().map_err(|e| {
            Error::invalid_input(format!(
                "--send-at {} is not an RFC 3339 time: {e}",
                crate::io::quote(text)
            ))
        })?;
        request = request.send_at(at);
    }
    let store = args.store.store().await?;
    let summary: BatchSummary = Preparer::new()
        .create(&store, &request, io::clock_now())
        .await?;
    io::print(&BatchLine {
        batch: summary,
        requeued: None,
    })?;
    Ok(ExitCode::SUCCESS)
}

enum Action {
    Status,
    Pause,
    Resume,
    Cancel,
    RetryFailed,
}

fn parse_id(text: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(text.trim()).map_err(|e| {
        Error::invalid_input(format!(
            "{} is not a batch id (a UUID): {e}",
            crate::io::quote(text)
        ))
    })
}

async fn act(args: IdArgs, action: Action) -> Result<ExitCode, Error> {
    let id = parse_id(&args.id)?;
    let store = args.store.store().await?;
    let now = io::clock_now();
    let mut requeued = None;
    match action {
        Action::Status => {}
        Action::Pause => {
            smsbatch::send::pause(&store, id, now).await?;
        }
        Action::Resume => {
            smsbatch::send::resume(&store, id, now).await?;
        }
        Action::Cancel => {
            smsbatch::send::cancel(&store, id, now).await?;
        }
        Action::RetryFailed => {
            requeued = Some(
                smsbatch::send::retry_failed(&store, id, now)
                    .await?
                    .requeued,
            );
        }
    }
    let status = BatchStatus::load(&store, id).await?;
    io::print(&BatchLine {
        batch: status,
        requeued,
    })?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListItem {
    id: Uuid,
    state: BatchState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pause_reason: Option<PauseReason>,
    purpose: Purpose,
    template_id: Option<String>,
    sender: Option<String>,
    send_at: Option<Timestamp>,
    created_at: Timestamp,
    counts: StatusCounts,
}

async fn list(args: ListArgs) -> Result<ExitCode, Error> {
    let states = args
        .state
        .iter()
        .map(|s| {
            BatchState::ALL
                .into_iter()
                .find(|b| b.code() == s.as_str() || b.to_string() == *s)
                .ok_or_else(|| {
                    Error::invalid_input(format!(
                        "unknown batch state {}; expected one of {}",
                        crate::io::quote(s),
                        BatchState::ALL.map(|b| b.code()).join(", ")
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let store = args.store.store().await?;
    let mut out = io::Output::stdout();
    let mut query = BatchQuery::new().states(states).limit(500);
    loop {
        let page = store.batches.list(&query).await?;
        for b in &page {
            let counts = store.messages.count_by_status(b.id).await?;
            let line = BatchLine {
                batch: ListItem {
                    id: b.id,
                    state: b.state,
                    pause_reason: b.pause_reason,
                    purpose: b.purpose,
                    template_id: b.template_id.clone(),
                    sender: b.sender.clone(),
                    send_at: b.send_at,
                    created_at: b.created_at,
                    counts,
                },
                requeued: None,
            };
            if let Err(e) = out.line(&line) {
                return Ok(io::finish(Err(e)));
            }
        }
        match page.last() {
            Some(last) if page.len() == 500 => query = query.after(last),
            _ => break,
        }
    }
    Ok(io::finish(out.flush()))
}
