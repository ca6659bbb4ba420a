//! The Supabase store against a real project, or against the PostgREST test server
//! (`cargo run --example postgrest_server`): a customer query as the service and as a user.
//!
//! ```sh
//! SUPABASE_URL=https://<ref>.supabase.co SUPABASE_KEY=<service key> [SUPABASE_JWT=<user jwt>] \
//!   cargo run --example supabase_store --features supabase
//! ```

use serde_json::json;
use smsbatch::filter::{FilterOptions, Query};
use smsbatch::store::supabase::SupabaseConfig;
use smsbatch::store::{Actor, Backend};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (Ok(url), Ok(key)) = (std::env::var("SUPABASE_URL"), std::env::var("SUPABASE_KEY")) else {
        eprintln!("set SUPABASE_URL and SUPABASE_KEY (and optionally SUPABASE_JWT)");
        std::process::exit(2);
    };
    let supabase = SupabaseConfig::new(url, key).build()?;
    let actor = match std::env::var("SUPABASE_JWT") {
        Ok(token) => Actor::from_jwt(&token)?,
        Err(_) => Actor::Service,
    };
    let store = supabase.store(actor)?;
    let query: Query = serde_json::from_value(json!({
        "where": {"and": [
            {"field": "opted_in", "op": "isTrue"},
            {"field": "phone", "op": "startsWith", "value": "+44"}
        ]},
        "sort": [{"field": "id"}],
        "limit": 10,
        "count": true
    }))?;
    let page = store
        .customers
        .query(&query, &FilterOptions::new(), None)
        .await?;
    println!("{}", serde_json::to_string_pretty(&page)?);
    Ok(())
}
