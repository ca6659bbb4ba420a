//! `smsbatch report`: a batch's analysis, as a table for people or the JSON report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use smsbatch::analytics::{BatchAnalysis, BatchAnalyzer, LatencyStats, SlaObjectives};
use smsbatch::store::{Batch, Store, Uuid};
use smsbatch::{Error, ErrorKind};

use crate::io;
use crate::store::{StoreArgs, block_on};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The batch's id.
    #[arg(long, value_name = "ID")]
    batch: String,
    /// SLA objectives (JSON: {"doneWithinSeconds", "maxErrorRate": {"rate", "windowSeconds"},
    /// "minDeliveryRate", "maxCostOverEstimate"}) to evaluate.
    #[arg(long, value_name = "FILE")]
    sla: Option<PathBuf>,
    /// Print the report as one JSON line instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn run(args: Args) -> ExitCode {
    block_on(report(args))
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
    let id = batch_id(&args.batch)?;
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
