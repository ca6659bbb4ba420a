//! The sample data set (the WebAssembly demo's 1,000 customers and its templates), which
//! `smsbatch serve` loads into the in-memory store.

use serde_json::Value;

use crate::batch::PriceTable;
use crate::error::{Error, Result};
use crate::store::{Customer, Store};
use crate::template::TemplateRecord;

const CUSTOMERS: &str = include_str!("../../bindings/wasm/demo/data/customers.json");
const TEMPLATES: &str = include_str!("../../bindings/wasm/demo/data/templates.json");

/// The demo's price table (USD per segment, a few countries priced apart): what the sample is
/// previewed and billed with.
const PRICES: &str = r#"{
  "currency": "USD",
  "default": {"GSM-7": "0.0079", "UCS-2": "0.0079"},
  "byCountry": {
    "44": {"GSM-7": "0.04", "UCS-2": "0.04"},
    "33": {"GSM-7": "0.075", "UCS-2": "0.075"},
    "90": {"GSM-7": "0.02", "UCS-2": "0.02"}
  }
}"#;

/// What [`load_sample`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SampleLoaded {
    /// Customers written.
    pub customers: u64,
    /// Templates written.
    pub templates: usize,
}

/// The sample's price table (USD; the same as the WebAssembly demo's).
pub fn sample_prices() -> Result<PriceTable> {
    PriceTable::from_json(PRICES)
}

/// Writes the sample customers and templates into `store` (acting as the service), all in
/// `team` so the users of that team see them.
///
/// ```
/// use smsbatch::store::{Actor, Backend, MemoryStore};
///
/// # tokio_test_block_on(async {
/// let store = MemoryStore::new().store(Actor::Service)?;
/// let loaded = smsbatch::web::load_sample(&store, Some("demo")).await?;
/// assert_eq!(loaded.customers, 1000);
/// # Ok::<(), smsbatch::Error>(()) });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub async fn load_sample(store: &Store, team: Option<&str>) -> Result<SampleLoaded> {
    let rows: Vec<Value> = serde_json::from_str(CUSTOMERS)
        .map_err(|e| Error::invalid_input(format!("the sample customers: {e}")))?;
    let mut customers = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut customer = Customer::from_flat(row)?;
        customer.team_id = team.map(str::to_owned);
        customers.push(customer);
    }
    let templates: Vec<TemplateRecord> = serde_json::from_str(TEMPLATES)
        .map_err(|e| Error::invalid_input(format!("the sample templates: {e}")))?;
    let written = store.customers.upsert(&customers).await?;
    store.templates.upsert(&templates, team).await?;
    Ok(SampleLoaded {
        customers: written,
        templates: templates.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prices_parse() {
        let prices = sample_prices().unwrap();
        assert_eq!(prices.currency(), "USD");
    }
}
