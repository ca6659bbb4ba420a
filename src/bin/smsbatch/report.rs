//! `smsbatch report`: a batch's analysis, as a table for people or the JSON report; with
//! `--period hour|day`, every batch's messages per period instead.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use smsbatch::analytics::{
    BatchAnalysis, BatchAnalyzer, DEFAULT_CURRENCY, LatencyStats, PeriodAnalyzer, PeriodReport,
    SlaObjectives, period_length,
};
use smsbatch::store::{Batch, BatchQuery, MessageQuery, MessageScan, Store, Uuid};
use smsbatch::{Amount, Error, ErrorKind, Timestamp};

use crate::io;
use crate::store::{StoreArgs, block_on};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The batch's id.
    #[arg(
        long,
        value_name = "ID",
        required_unless_present = "period",
        conflicts_with = "period"
    )]
    batch: Option<String>,
    /// SLA objectives (JSON: {"doneWithinSeconds", "maxErrorRate": {"rate", "windowSeconds"},
    /// "minDeliveryRate", "maxCostOverEstimate"}) to evaluate.
    #[arg(long, value_name = "FILE", conflicts_with = "period")]
    sla: Option<PathBuf>,
    /// Instead of one batch: the messages of every batch per UTC hour or day (counts, rates,
    /// throughput, latency, errors, cost and credits of each period). --json prints
    /// {"period", "periodSeconds", "since", "until", "currency", "batches", "periods": [..],
    /// "otherCurrencies"}.
    #[arg(long, value_name = "hour|day")]
    period: Option<String>,
    // (`conflicts_with` as well as `requires`: clap drops a requirement on an argument that
    // conflicts with one given, so `--batch ID --since T` would pass silently.)
    /// With --period: only what happened at or after this time (RFC 3339).
    #[arg(
        long,
        value_name = "RFC3339",
        requires = "period",
        conflicts_with = "batch"
    )]
    since: Option<String>,
    /// With --period: only what happened before this time (RFC 3339).
    #[arg(
        long,
        value_name = "RFC3339",
        requires = "period",
        conflicts_with = "batch"
    )]
    until: Option<String>,
    /// With --period: the currency of the money (default: the batches' own when they all have
    /// the same one, else "credits"); charges in other currencies are shown apart.
    #[arg(
        long,
        value_name = "CODE",
        requires = "period",
        conflicts_with = "batch"
    )]
    currency: Option<String>,
    /// Print the report as one JSON line instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn run(args: Args) -> ExitCode {
    if args.period.is_some() {
        block_on(periods(args))
    } else {
        block_on(report(args))
    }
}

/// The batch id of `--batch`.
pub(crate) fn batch_id(text: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(text.trim()).map_err(|e| {
        Error::invalid_input(format!(
            "--batch {} is not a batch id (a UUID): {e}",
            crate::io::quote(text)
        ))
    })
}

/// The objectives of `--sla FILE`.
pub(crate) fn objectives(path: &Path) -> Result<SlaObjectives, Error> {
    let text = io::read_json_text(path, "SLA file")?;
    SlaObjectives::from_json(&text).map_err(|e| match e.kind() {
        ErrorKind::InvalidInput { message } => {
            Error::invalid_input(format!("the SLA file {}: {message}", path.display()))
        }
        _ => e,
    })
}

/// The batch the actor can see, or not found.
pub(crate) async fn find_batch(store: &Store, id: Uuid) -> Result<Batch, Error> {
    store.batches.get(id).await?.ok_or_else(|| {
        ErrorKind::NotFound {
            what: "batch".into(),
            id: id.to_string(),
        }
        .into()
    })
}

/// An analyzer of `batch` with the `--sla` objectives.
pub(crate) fn analyzer(batch: &Batch, sla: Option<&Path>) -> Result<BatchAnalyzer, Error> {
    let mut analyzer = BatchAnalyzer::for_batch(batch);
    if let Some(path) = sla {
        analyzer = analyzer.objectives(objectives(path)?);
    }
    Ok(analyzer)
}

async fn report(args: Args) -> Result<ExitCode, Error> {
    // OK to be absent only with --period, which clap enforces (`required_unless_present`).
    let id = batch_id(args.batch.as_deref().unwrap_or_default())?;
    // Read the objectives before connecting: a bad file fails fast.
    let sla = args.sla.as_deref().map(objectives).transpose()?;
    let store = args.store.store().await?;
    let batch = find_batch(&store, id).await?;
    let mut analyzer = BatchAnalyzer::for_batch(&batch);
    if let Some(sla) = sla {
        analyzer = analyzer.objectives(sla);
    }
    let analysis = analyzer.run(&store, io::clock_now()).await?;
    if args.json {
        io::print(&analysis.report)?;
    } else {
        let text = table(&batch, &analysis);
        io::print_text(&text)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

fn latency(stats: Option<LatencyStats>) -> String {
    match stats {
        None => "-".to_owned(),
        Some(s) => format!(
            "p50 {:.3} s  p90 {:.3} s  p99 {:.3} s  max {:.3} s  ({} messages)",
            s.p50, s.p90, s.p99, s.max, s.count
        ),
    }
}

/// The report for people.
pub(crate) fn table(batch: &Batch, a: &BatchAnalysis) -> String {
    let r = &a.report;
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{label:<16}{value}");
    };
    line("Batch", format!("{} ({})", r.batch, batch.state));
    line(
        "Messages",
        format!("{} ({} segments)", r.messages, r.segments),
    );
    let states: Vec<String> = smsbatch::queue::MessageStatus::ALL
        .iter()
        .filter(|s| r.by_state.get(**s) > 0)
        .map(|s| {
            let name = if *s == smsbatch::queue::MessageStatus::Sent {
                "sent (unconfirmed)".to_owned()
            } else {
                s.code().to_owned()
            };
            format!("{name} {}", r.by_state.get(*s))
        })
        .collect();
    line("By state", states.join(", "));
    line("Success rate", percent(r.success_rate));
    line("Delivery rate", percent(r.delivery_rate));
    let tp = &r.throughput;
    line(
        "Throughput",
        match (tp.messages_per_second, tp.segments_per_second) {
            (Some(m), Some(s)) => format!(
                "{m:.2} messages/s, {s:.2} segments/s ({} accepted in {:.3} s)",
                tp.messages, tp.seconds
            ),
            _ => format!("- ({} accepted)", tp.messages),
        },
    );
    line("Claim→accepted", latency(r.latency.claim_to_accepted));
    line("Accepted→deliv.", latency(r.latency.accepted_to_delivered));
    line(
        "Cost",
        format!(
            "estimated {} {}, actual {} {}",
            r.cost.estimated, r.cost.currency, r.cost.actual, r.cost.currency
        ),
    );
    for (currency, amount) in &a.credits.other_currencies {
        line(
            "",
            format!("also charged {amount} {currency} (another currency)"),
        );
    }
    if r.errors.categories().is_empty() {
        line("Errors", "none".into());
    }
    for (i, c) in r.errors.categories().iter().enumerate() {
        let example = c.samples.first().map_or_else(String::new, |s| {
            format!(
                ", e.g. message {}{}: {:?}",
                s.message_id.as_str(),
                s.code
                    .as_ref()
                    .map_or_else(String::new, |c| format!(" code {c}")),
                s.message
            )
        });
        line(
            if i == 0 { "Errors" } else { "" },
            format!("{} {}{example}", c.category, c.count),
        );
    }
    for (i, (name, v)) in r.variants.iter().enumerate() {
        line(
            if i == 0 { "Variants" } else { "" },
            format!(
                "{name:?}: {} messages, success {}, delivery {}, cost {} (est. {})",
                v.messages,
                percent(v.success_rate),
                percent(v.delivery_rate),
                v.cost.actual,
                v.cost.estimated
            ),
        );
    }
    for (title, lines) in [
        ("By encoding", &a.credits.by_encoding),
        ("By country", &a.credits.by_country),
    ] {
        for (i, (key, c)) in lines.iter().enumerate() {
            line(
                if i == 0 { title } else { "" },
                format!(
                    "{key}: {} messages, {} segments ({} billed), cost {} (est. {})",
                    c.messages, c.segments, c.actual_segments, c.actual_cost, c.estimated_cost
                ),
            );
        }
    }
    let trend = &a.error_trend;
    for (i, w) in trend.windows.iter().enumerate() {
        line(
            if i == 0 { "Error trend" } else { "" },
            format!(
                "{} +{}s: {} settled, {} errors ({})",
                w.start,
                trend.window_seconds,
                w.messages,
                w.errors,
                percent(Some(w.error_rate))
            ),
        );
    }
    match &r.sla {
        None => {}
        Some(sla) => {
            line(
                "SLA",
                if sla.met {
                    "met".into()
                } else {
                    "VIOLATED".into()
                },
            );
            for v in &sla.violations {
                let until = v
                    .ended_at
                    .map_or_else(|| "ongoing".to_owned(), |e| format!("until {e}"));
                line(
                    "",
                    format!(
                        "{} since {} ({until}): {}",
                        v.objective, v.began_at, v.message
                    ),
                );
            }
        }
    }
    out
}

/// The time of `--since` / `--until`.
fn timestamp(flag: &str, text: &str) -> Result<Timestamp, Error> {
    text.trim().parse().map_err(|e: Error| {
        Error::invalid_input(format!("{flag} {text:?} is not an RFC 3339 time: {e}"))
    })
}

/// What `report --period --json` prints (one line).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Periods<'a> {
    period: &'a str,
    period_seconds: u64,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    currency: &'a str,
    /// Batches read (created before `until`).
    batches: u64,
    periods: Vec<PeriodReport>,
    other_currencies: &'a BTreeMap<String, Amount>,
}

async fn periods(args: Args) -> Result<ExitCode, Error> {
    const PAGE: u32 = 500;
    // OK: this mode runs only when --period is given.
    let name = args.period.as_deref().unwrap_or_default();
    let length = period_length(name).map_err(|e| Error::invalid_input(format!("--period: {e}")))?;
    let since = args
        .since
        .as_deref()
        .map(|t| timestamp("--since", t))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|t| timestamp("--until", t))
        .transpose()?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(Error::invalid_input(format!(
            "--since {s} is not before --until {u}: the range is empty"
        )));
    }
    let store = args.store.store().await?;
    // Every batch the store lets us see, a page at a time in creation order; a batch created
    // at or after `until` has nothing in the range.
    let mut batches: Vec<Batch> = Vec::new();
    let mut query = BatchQuery::new().limit(PAGE);
    loop {
        let page = store.batches.list(&query).await?;
        let full = page.len() == PAGE as usize;
        let Some(last) = page.last().cloned() else {
            break;
        };
        batches.extend(
            page.into_iter()
                .filter(|b| until.is_none_or(|u| b.created_at < u)),
        );
        if !full || until.is_some_and(|u| last.created_at >= u) {
            break;
        }
        query = query.after(&last);
    }
    let currency = match &args.currency {
        Some(c) => c.clone(),
        None => {
            let named: BTreeSet<&str> = batches
                .iter()
                .filter_map(|b| b.currency.as_deref())
                .collect();
            match (named.len(), named.first()) {
                (1, Some(only)) => (*only).to_owned(),
                _ => DEFAULT_CURRENCY.to_owned(),
            }
        }
    };
    let mut analyzer = PeriodAnalyzer::new(length, currency.clone());
    if let Some(s) = since {
        analyzer = analyzer.since(s);
    }
    if let Some(u) = until {
        analyzer = analyzer.until(u);
    }
    for batch in &batches {
        let mut scan = MessageScan::new(store.messages.clone(), MessageQuery::new(batch.id, 1000));
        while let Some(page) = scan.next_chunk().await? {
            for m in &page {
                analyzer.message(m)?;
            }
        }
    }
    let reports = analyzer.finish();
    if args.json {
        io::print(&Periods {
            period: name,
            period_seconds: analyzer.period_seconds(),
            since,
            until,
            currency: &currency,
            batches: batches.len() as u64,
            periods: reports,
            other_currencies: analyzer.other_currencies(),
        })?;
    } else {
        io::print_text(&period_table(&reports, analyzer.other_currencies()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `p50/p90` of a latency, in seconds.
fn p50_p90(stats: Option<LatencyStats>) -> String {
    stats.map_or_else(|| "-".to_owned(), |s| format!("{:.3}/{:.3}", s.p50, s.p90))
}

/// The periods for people: one line each.
fn period_table(reports: &[PeriodReport], other: &BTreeMap<String, Amount>) -> String {
    let mut out = String::new();
    if reports.is_empty() {
        out.push_str("No messages in the range.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<22} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>15} {:>15}  Cost actual (est.)",
        "Period (UTC)",
        "Batches",
        "Messages",
        "Success",
        "Delivery",
        "Errors",
        "Msg/s",
        "Claim→acc p50/90",
        "Acc→deliv p50/90",
    );
    for p in reports {
        let _ = writeln!(
            out,
            "{:<22} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>15} {:>15}  {} ({}) {}",
            p.start.to_string(),
            p.batches,
            p.messages,
            percent(p.success_rate),
            percent(p.delivery_rate),
            percent(p.error_rate),
            p.throughput
                .messages_per_second
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}")),
            p50_p90(p.latency.claim_to_accepted),
            p50_p90(p.latency.accepted_to_delivered),
            p.cost.actual,
            p.cost.estimated,
            p.cost.currency
        );
    }
    for (currency, amount) in other {
        let _ = writeln!(out, "Also charged {amount} {currency} (another currency).");
    }
    out
}
