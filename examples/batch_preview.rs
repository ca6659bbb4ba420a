//! The main job: a batch from audience to bill, on the bundled sample of 1,000 customers.
//!
//! 1. Choose the audience with a filter (the same JSON the customer page sends), and show the
//!    PostgREST query and the SQL it compiles to, and how many customers it selects in memory.
//! 2. Check the rollout flag for the operator (Unleash semantics).
//! 3. Preview a template for every selected customer: each message, its segments and its cost,
//!    the exclusions with their reasons, and the batch's totals.
//!
//! Run it with `cargo run --release --example batch_preview` (or `./scripts/run.sh`).

use std::error::Error;
use std::path::Path;

use serde_json::{Value, json};
use smsbatch::filter::{Filter, FilterOptions, Schema, Table};
use smsbatch::flags::{Context, Engine, Env, SeededRandom};
use smsbatch::{PreviewConfig, PriceTable, Purpose, RecipientPreview, Template, TemplateRecord};

/// The moment the job runs; passed in, as the library never reads a clock.
const NOW: &str = "2026-11-29T12:00:00Z";

fn read(rel: &str) -> Result<String, Box<dyn Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()).into())
}

fn main() -> Result<(), Box<dyn Error>> {
    let customers: Vec<Value> =
        serde_json::from_str(&read("bindings/wasm/demo/data/customers.json")?)?;
    let templates: Vec<TemplateRecord> =
        serde_json::from_str(&read("bindings/wasm/demo/data/templates.json")?)?;
    let flags = Engine::from_json(&read("bindings/wasm/demo/data/flags.json")?)?;

    // 1. The audience: not opted out, with a city, created within the last year.
    let schema = Schema::customers();
    let options = FilterOptions::new().with_now_rfc3339(NOW)?;
    let audience = json!({"version": 1, "where": {"and": [
        {"field": "opted_out", "op": "isNotTrue"},
        {"field": "city", "op": "isNotEmpty"},
        {"field": "date_create", "op": "withinLastDays", "value": 365}
    ]}});
    let filter = Filter::from_value(&audience, &schema, &options)?;
    let table = Table::from_rows(&schema, &customers)?;
    let selected = filter.evaluator().filter_table(&table)?;
    println!("== audience");
    println!(
        "PostgREST: /rest/v1/customers?{}",
        filter.postgrest().query_string()
    );
    let sql = filter.sql_where();
    println!(
        "SQL:       SELECT * FROM customers WHERE {}",
        sql.where_clause()
    );
    println!("params:    {}", serde_json::to_string(&sql.json_params())?);
    println!(
        "selected:  {} of {} customers",
        selected.len(),
        customers.len()
    );

    // 2. Is the operator in the new batch system's rollout?
    let operator = Context::new().user_id("operator-7");
    let mut random = SeededRandom::new(1);
    let mut env = Env::new(NOW.parse()?, &mut random);
    let rollout = flags.evaluate("new-batch-system", false, &operator, &mut env);
    let kill_switch = flags.is_enabled("batch-kill-switch", &operator, &mut env);
    println!("\n== flags");
    println!(
        "new-batch-system for operator-7: {} ({:?})",
        rollout.value, rollout.reason
    );
    println!(
        "batch-kill-switch: {}",
        if kill_switch {
            "ON, sending stopped"
        } else {
            "off"
        }
    );

    // 3. The preview and its cost.
    let record = templates
        .iter()
        .find(|t| t.id == "order-ready")
        .ok_or("the sample has no `order-ready` template")?;
    let template = Template::compile(&record.body)?;
    let prices = PriceTable::from_json(
        r#"{"currency": "USD", "default": {"GSM-7": 0.0079, "UCS-2": 0.0079},
            "byCountry": {"44": {"GSM-7": 0.04, "UCS-2": 0.04}, "33": {"GSM-7": 0.075, "UCS-2": 0.075}}}"#,
    )?;
    // "Your order is ready" is transactional: it needs no marketing consent (`opted_in`), only
    // that the customer did not opt out.
    let previewer = PreviewConfig::new()
        .purpose(Purpose::Transactional)
        .prices(prices)
        .build(&template)?;
    let preview = previewer.preview(selected.iter().map(|&i| &customers[i]))?;
    println!("\n== preview of {:?}: {}", record.name, record.body);
    for r in preview.recipients.iter().take(8) {
        match r {
            RecipientPreview::Included(m) => println!(
                "  #{:<4} {:<14} {} · {} segment(s) · {} | {}",
                m.id, m.phone, m.encoding, m.segments, m.cost, m.text
            ),
            RecipientPreview::Excluded(x) => println!(
                "  #{:<4} excluded: {} ({})",
                x.id,
                x.reason.code(),
                x.detail
            ),
            RecipientPreview::Failed(f) => println!("  #{} failed: {}", f.index, f.error),
            other => println!("  #{}: {}", other.index(), serde_json::to_string(other)?),
        }
    }
    let summary = &preview.summary;
    println!("\n== summary");
    println!(
        "{} recipients, {} excluded, {} segments (credits), estimated cost {} {}",
        summary.recipients,
        summary.excluded.total(),
        summary.segments,
        summary.cost,
        summary.currency
    );
    println!("{}", serde_json::to_string_pretty(summary)?);
    Ok(())
}
