//! `smsbatch campaign`: the main job. A whole campaign from audience to report on the embedded
//! in-memory store (or the store the flags name): sample customers, a template, a filter, the
//! preview and its exact cost, the rollout flag, the batch, sending through the fake provider
//! under the rate limit with a progress bar, the verification pass, the report and the CSV export.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use smsbatch::analytics::{BatchAnalyzer, ExportFormat, ExportKind, SlaObjectives, export};
use smsbatch::filter::{Document, FilterOptions, Query};
use smsbatch::flags::{Context, Engine, Env, SeededRandom, State};
use smsbatch::queue::{BatchOptions, BatchState, Sender};
use smsbatch::send::{
    BatchRequest, BatchStatus, BatchSummary, Clock, Preparer, RunnerConfig, SystemClock,
    TemplateChoice, Worker, WorkerEvent,
};
use smsbatch::store::{Actor, Backend, CustomerScan, MemoryStore, Store};
use smsbatch::testing::{FakeConfig, FakeFailure, FakeSender, sample_customers};
use smsbatch::{
    Error, ExclusionReason, PriceTable, Purpose, RecipientPreview, Template, TemplateRecord,
};

use crate::store::{StoreArgs, block_on};

/// The demo page's templates and flags: the job sends what a person sees in the browser demo.
const TEMPLATES: &str = include_str!("../../../bindings/wasm/demo/data/templates.json");
const FLAGS: &str = include_str!("../../../bindings/wasm/demo/data/flags.json");

/// The audience: customers who did not opt out, with a city, who ordered within the last year.
const AUDIENCE: &str = r#"{"version": 1, "where": {"and": [
    {"field": "opted_out", "op": "isNotTrue"},
    {"field": "city", "op": "isNotEmpty"},
    {"field": "last_order_at", "op": "withinLastDays", "value": 365}
]}}"#;

/// The service levels the report checks the campaign against.
const SLA: &str = r#"{"doneWithinSeconds": 120, "maxErrorRate": {"rate": 0.15, "windowSeconds": 10,
    "minMessages": 50}, "minDeliveryRate": 0.9}"#;

/// Options of the batch, in the `--options` format of `smsbatch batch create`. The rate limit
/// is what keeps the provider from throttling us; verification after 2 s (30 s in production)
/// keeps the job short.
const OPTIONS: &str = r#"{
    "price": {"currency": "USD", "default": {"GSM-7": "0.0079", "UCS-2": "0.0079"},
              "byCountry": {"44": {"GSM-7": "0.0400", "UCS-2": "0.0400"},
                            "33": {"GSM-7": "0.0750", "UCS-2": "0.0750"}}},
    "killSwitch": "batch-kill-switch",
    "maxAttempts": 4,
    "leaseSeconds": 30,
    "verifyAfterSeconds": 2
}"#;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// How many sample customers to load (deterministic from --seed).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    customers: usize,
    /// The seed of the sample and of the fake provider's choices.
    #[arg(long, value_name = "N", default_value_t = 7)]
    seed: u64,
    /// The template to send (an id of the demo's templates: welcome, order-ready, birthday,
    /// winback, expedition, sale).
    #[arg(long, value_name = "ID", default_value = "order-ready")]
    template: String,
    /// The audience filter (a filter document, as `smsbatch filter` takes); default: not opted
    /// out, with a city, ordered within the last year.
    #[arg(long, value_name = "FILE")]
    filter: Option<PathBuf>,
    /// The rate limit, in segments per second.
    #[arg(long, value_name = "N", default_value_t = 400.0)]
    rate: f64,
    /// Messages in flight at once.
    #[arg(long, value_name = "N", default_value_t = 32)]
    concurrency: u32,
    /// The fake provider's latency per send, in milliseconds: `MIN-MAX` or `N`.
    #[arg(long, value_name = "MIN-MAX", default_value = "20-80")]
    latency_ms: String,
    /// Where the fake provider's record, the report and the export are written.
    #[arg(long, value_name = "DIR", default_value = "smsbatch-campaign")]
    out: PathBuf,
    /// Plain progress lines instead of the bar (also when stdout is not a terminal).
    #[arg(long)]
    no_progress: bool,
    #[command(flatten)]
    store: StoreArgs,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_input(message.into())
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> Error {
    invalid(format!("cannot {what} {}: {e}", path.display()))
}

/// Writes `value` as pretty JSON to `name` in `dir`; returns the path.
fn write_json(dir: &Path, name: &str, value: &impl serde::Serialize) -> Result<PathBuf, Error> {
    let path = dir.join(name);
    let text = serde_json::to_vec_pretty(value).map_err(|e| invalid(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| io_error(&path, "write", e))?;
    Ok(path)
}

/// The fake provider: realistic latency, about one message in 50 refused by the carrier (a
/// permanent failure), one in 200 throttled (retried after its Retry-After), one in 25
/// undelivered when verified; once a message is final it reports the price the table gives,
/// as a provider reports what it charged.
fn provider(args: &Args, record: &Path, prices: PriceTable) -> Result<FakeSender, Error> {
    let (min, max) = crate::worker::latency("--latency-ms", &args.latency_ms)?;
    FakeConfig::new()
        .prices(prices)
        .seed(args.seed)
        .latency(min, max)
        .record_file(record)
        .fail_one_in(50, FakeFailure::Code("30007".into()))
        .fail_one_in(
            200,
            FakeFailure::RateLimited {
                retry_after: Some(Duration::from_millis(500)),
            },
        )
        .undelivered_one_in(25)
        .build()
}

/// Loads the sample, the demo's templates and flags into the store. A store of the flags keeps
/// what it has: the sample goes in only when it holds no customers (the job never overwrites a
/// real audience), and templates and flags only where their ids are free. Returns how many
/// customers the store holds and whether they are the sample.
async fn load_sample(
    store: &Store,
    args: &Args,
    now: smsbatch::Timestamp,
    given: bool,
) -> Result<(usize, bool), Error> {
    let probe = Query {
        limit: Some(1),
        count: true,
        ..Query::default()
    };
    let existing = if given {
        store
            .customers
            .query(&probe, &FilterOptions::new().with_now(now), None)
            .await?
            .total
            .unwrap_or(0)
    } else {
        0
    };
    let templates: Vec<TemplateRecord> = serde_json::from_str(TEMPLATES)
        .map_err(|e| invalid(format!("the bundled templates: {e}")))?;
    let mut missing = Vec::new();
    for t in templates {
        if store.templates.get(&t.id).await?.is_none() {
            missing.push(t);
        }
    }
    if !missing.is_empty() {
        store.templates.upsert(&missing, None).await?;
    }
    let state = State::from_json(FLAGS)?;
    let mut free = true;
    for feature in &state.features {
        free &= store.flags.get(&feature.name).await?.is_none();
    }
    if free {
        store.flags.import(&state, now).await?;
    }
    if existing > 0 {
        return Ok((usize::try_from(existing).unwrap_or(usize::MAX), false));
    }
    let customers = sample_customers(args.customers, args.seed, now);
    for chunk in customers.chunks(2_000) {
        store.customers.upsert(chunk).await?;
    }
    Ok((customers.len(), true))
}

fn section(title: &str) {
    println!("\n== {title}");
}

pub(crate) fn run(args: Args) -> std::process::ExitCode {
    block_on(async move {
        let started = std::time::Instant::now();
        let clock = SystemClock;
        let now = clock.now();
        std::fs::create_dir_all(&args.out)
            .map_err(|e| io_error(&args.out, "create the folder", e))?;
        let record = args.out.join("provider-record.jsonl");
        if record.exists() {
            std::fs::remove_file(&record).map_err(|e| io_error(&record, "remove", e))?;
        }
        let given = args.store.given();
        let (store, store_name) = if given {
            (args.store.store().await?, "the store of the flags")
        } else {
            let memory = MemoryStore::new();
            (
                Backend::store(&memory, Actor::Service)?,
                "the embedded in-memory store",
            )
        };
        let (customers, sample) = load_sample(&store, &args, now, given).await?;
        println!(
            "smsbatch campaign on {store_name}: {}; template {:?}; rate limit {} segments/s, {} \
             in flight, fake provider latency {} ms; output in {}",
            if sample {
                format!("{customers} sample customers (seed {})", args.seed)
            } else {
                format!("its own {customers} customers (the sample goes only into an empty store)")
            },
            args.template,
            args.rate,
            args.concurrency,
            args.latency_ms,
            args.out.display()
        );

        // 1. The audience.
        section("audience");
        let filter_json = match &args.filter {
            Some(path) => crate::io::read_text(path, "filter")?,
            None => AUDIENCE.to_owned(),
        };
        let filter: Value = crate::io::parse_json(&filter_json)
            .map_err(|e| invalid(format!("the filter is not JSON: {e}")))?;
        let document = Document::from_value(&filter)?;
        let filter_options = FilterOptions::new().with_now(now);
        let compiled = Query::new(document.filter.clone())
            .compile(store.customers.schema(), &filter_options)?;
        println!(
            "PostgREST: /rest/v1/customers?{}",
            compiled.postgrest().query_string()
        );
        let sql = compiled.sql_query("customers", &[])?;
        println!("SQL:       {}", sql.select().replace('\n', " "));
        let mut scan = CustomerScan::new(
            store.customers.clone(),
            Query::new(document.filter.clone()),
            filter_options.clone(),
            None,
            2_000,
        )?;
        let mut rows = Vec::new();
        while let Some(chunk) = scan.next_chunk().await? {
            rows.extend(chunk.iter().map(|c| c.to_flat()));
        }
        println!("selected:  {} of {customers} customers", rows.len());

        // 2. The preview and its exact cost, before anything is created.
        let record_template = store.templates.get(&args.template).await?.ok_or_else(|| {
            invalid(format!(
                "no template {} (the demo's: welcome, order-ready, birthday, winback, \
                 expedition, sale)",
                crate::io::quote(&args.template)
            ))
        })?;
        let purpose = if record_template.id == "order-ready" || record_template.id == "expedition" {
            Purpose::Transactional
        } else {
            Purpose::Marketing
        };
        // The bundled options with the flags' concurrency and rate, validated as one document.
        let mut options: Value = serde_json::from_str(OPTIONS)
            .map_err(|e| invalid(format!("the bundled options: {e}")))?;
        options["concurrency"] = json!(args.concurrency);
        options["rate"] = json!({"segmentsPerSecond": args.rate, "burst": args.concurrency});
        let options = BatchOptions::from_json(&options.to_string())?;
        let template = Template::compile(&record_template.body)?;
        let previewer = options.preview_config().purpose(purpose).build(&template)?;
        let preview = previewer.preview(rows.iter())?;
        section(&format!(
            "preview of {:?} ({} message): {}",
            record_template.name,
            purpose.as_str(),
            record_template.body
        ));
        let mut shown = 0;
        for r in &preview.recipients {
            if let RecipientPreview::Included(m) = r {
                println!(
                    "  #{:<5} {:<14} {} · {} segment(s) · {} {} | {}",
                    m.id, m.phone, m.encoding, m.segments, m.cost, preview.summary.currency, m.text
                );
                shown += 1;
                if shown == 5 {
                    break;
                }
            }
        }
        let summary = &preview.summary;
        println!(
            "  {} recipients, {} left out ({}), {} segments: estimated cost {} {}",
            summary.recipients,
            summary.excluded.total(),
            ExclusionReason::ALL
                .iter()
                .map(|&reason| (reason, summary.excluded.get(reason)))
                .filter(|&(_, n)| n > 0)
                .map(|(reason, n)| format!("{} {n}", reason.code()))
                .collect::<Vec<_>>()
                .join(", "),
            summary.segments,
            summary.cost,
            summary.currency
        );
        println!(
            "  by encoding: GSM-7 {} messages, UCS-2 {} messages",
            summary.by_encoding.gsm7.recipients, summary.by_encoding.ucs2.recipients
        );

        // 3. The rollout flag: is the operator on the new batch system?
        section("flags");
        let engine = Engine::compile(&store.flags.load().await?);
        let mut random = SeededRandom::new(args.seed);
        let mut env = Env::new(now, &mut random);
        let operator = ["operator-1", "operator-2", "operator-3", "operator-7"]
            .into_iter()
            .find(|user| {
                engine.is_enabled("new-batch-system", &Context::new().user_id(*user), &mut env)
            })
            .unwrap_or("operator-7");
        let rollout = engine.evaluate(
            "new-batch-system",
            false,
            &Context::new().user_id(operator),
            &mut env,
        );
        println!(
            "new-batch-system for {operator}: {} ({:?}); kill switch batch-kill-switch: {}",
            rollout.value,
            rollout.reason,
            if engine.is_enabled("batch-kill-switch", &Context::new(), &mut env) {
                "ON (sending would stop)"
            } else {
                "off"
            }
        );

        // 4. The batch.
        section("batch");
        let request = BatchRequest::new(
            TemplateChoice::Id(record_template.id.clone()),
            filter,
            purpose,
        )
        .sender("Northwind")
        .options(options.clone())
        .idempotency_key(format!("campaign-{}-{}", args.seed, now.as_unix_micros()));
        let created: BatchSummary = Preparer::new().create(&store, &request, now).await?;
        println!(
            "batch {}: {} messages, {} segments, estimated cost {} {} ({})",
            created.id,
            created.messages,
            created.segments,
            created.estimated_cost,
            created.currency,
            if created.messages == summary.recipients
                && created.segments == summary.segments
                && created.estimated_cost == summary.cost
            {
                "exactly the preview's"
            } else {
                "NOT the preview's: the audience changed between preview and creation"
            }
        );

        // 5. Sending, with the progress bar.
        section("sending");
        let sender = Arc::new(provider(&args, &record, options.price.clone())?);
        let worker = Worker::new(store.clone(), sender.clone() as Arc<dyn Sender>)
            .config(
                RunnerConfig::new()
                    .poll(Duration::from_millis(100))
                    .progress_every(Duration::from_millis(250))
                    // Each round of checks takes as many messages as there are free permits;
                    // rounds 100 ms apart verify thousands of messages in seconds.
                    .check_every(Duration::from_millis(100))
                    .seed(args.seed),
            )
            .events(Arc::new(|event: &WorkerEvent| {
                if let WorkerEvent::Error { batch, error } = event {
                    eprintln!("worker error (batch {batch:?}): {error}");
                }
            }));
        let sending = tokio::spawn(async move { worker.run_until_idle().await });
        let bar_wanted = !args.no_progress && std::io::stdout().is_terminal();
        let bar = ProgressBar::with_draw_target(
            Some(created.messages),
            if bar_wanted {
                ProgressDrawTarget::stdout()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:36} {pos}/{len} done · {msg} · {per_sec} · ETA {eta}",
            )
            .map_err(|e| invalid(format!("the progress bar: {e}")))?,
        );
        let mut last_line = std::time::Instant::now();
        loop {
            let status = BatchStatus::load(&store, created.id).await?;
            let c = &status.progress.counts;
            let done = c.sent + c.delivered + c.undelivered + c.failed + c.cancelled + c.in_doubt;
            let message = format!(
                "{} sent, {} delivered, {} failed or undelivered, {} {}",
                c.sent,
                c.delivered,
                c.failed + c.undelivered,
                status.state.code(),
                status
                    .pause_reason
                    .map(|r| format!("({})", r.code()))
                    .unwrap_or_default()
            );
            bar.set_position(done);
            bar.set_message(message.clone());
            if !bar_wanted && last_line.elapsed() >= Duration::from_secs(2) {
                println!("  {done}/{} done · {message}", created.messages);
                last_line = std::time::Instant::now();
            }
            if sending.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bar.finish_and_clear();
        sending
            .await
            .map_err(|e| invalid(format!("the worker task failed: {e}")))??;

        // 6. Where it ended.
        let status = BatchStatus::load(&store, created.id).await?;
        let c = &status.progress.counts;
        println!(
            "batch {}: {} after verification: {} delivered, {} undelivered, {} sent (unconfirmed), \
             {} failed, {} in doubt; {} provider records",
            created.id,
            status.state.code(),
            c.delivered,
            c.undelivered,
            c.sent,
            c.failed,
            c.in_doubt,
            sender.records()?.len()
        );
        if status.state != BatchState::Completed {
            return Err(invalid(format!(
                "the batch stopped in state {} ({:?}), not completed",
                status.state.code(),
                status.pause_reason
            )));
        }
        let status_path = write_json(&args.out, "status.json", &status)?;

        // 7. The report and the export.
        section("report");
        let batch = crate::report::find_batch(&store, created.id).await?;
        let analysis = BatchAnalyzer::for_batch(&batch)
            .objectives(SlaObjectives::from_json(SLA)?)
            .run(&store, clock.now())
            .await?;
        print!("{}", crate::report::table(&batch, &analysis));
        let report_path = write_json(&args.out, "report.json", &analysis.report)?;
        let csv_path = args.out.join("messages.csv");
        let file =
            std::fs::File::create(&csv_path).map_err(|e| io_error(&csv_path, "create", e))?;
        let (rows, file) = export(
            &store,
            created.id,
            ExportKind::Messages,
            ExportFormat::Csv,
            std::io::BufWriter::new(file),
            None,
            clock.now(),
        )
        .await?;
        file.into_inner()
            .map_err(|e| io_error(&csv_path, "write", e.into_error()))?
            .sync_all()
            .map_err(|e| io_error(&csv_path, "write", e))?;

        section("done");
        println!(
            "in {:.1} s\n  CSV export ({rows} messages): {}\n  report: {}\n  status: {}\n  \
             provider record: {}",
            started.elapsed().as_secs_f64(),
            csv_path.display(),
            report_path.display(),
            status_path.display(),
            record.display(),
        );
        Ok(std::process::ExitCode::SUCCESS)
    })
}
