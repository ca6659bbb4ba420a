//! The `customers` table over PostgREST: upserts in chunks with `resolution=merge-duplicates`,
//! queries from the filter module's PostgREST back end with the custom fields as JSON paths.

use std::collections::HashMap;
use std::sync::LazyLock;

use async_trait::async_trait;

use super::{Call, Method, Retry, SbView, eq, in_list};
use crate::error::{Error, ErrorKind, Result};
use crate::filter::{FilterOptions, Query, Schema};
use crate::store::customer::{CUSTOMER_COLUMNS, Customer, CustomerPage, CustomerStore};

/// Rows per upsert request (each request is one transaction).
const CHUNK: usize = 1_000;

/// `id,team_id,…,attributes`: every column but the generated `attributes_typed`.
static SELECT: LazyLock<String> = LazyLock::new(|| {
    CUSTOMER_COLUMNS
        .iter()
        .map(|(c, _)| *c)
        .chain(["attributes"])
        .collect::<Vec<_>>()
        .join(",")
});

/// A bad value met while filtering (an attribute that does not compare as its field's type) is
/// a malformed row, as in the PostgreSQL store.
fn query_error(e: Error) -> Error {
    match e.kind() {
        ErrorKind::Database { code, message } if code.starts_with("22") => {
            Error::new(ErrorKind::MalformedRow {
                table: "customers".into(),
                message: message.clone(),
            })
        }
        _ => e,
    }
}

#[async_trait]
impl CustomerStore for SbView {
    fn schema(&self) -> &Schema {
        &self.config().schema
    }

    async fn upsert(&self, customers: &[Customer]) -> Result<u64> {
        // The last row of an id wins, as in memory (one request cannot update a row twice).
        let mut last: HashMap<i64, usize> = HashMap::with_capacity(customers.len());
        for (i, c) in customers.iter().enumerate() {
            last.insert(c.id, i);
        }
        let mut rows = Vec::with_capacity(last.len());
        for (i, c) in customers.iter().enumerate() {
            if last.get(&c.id) == Some(&i) {
                let mut c = c.clone();
                c.normalize(&self.config().schema)?;
                rows.push(c);
            }
        }
        // Every customer is checked before the first request, so a refused one writes nothing;
        // a failure between chunks leaves the earlier chunks written (PostgREST has one
        // transaction per request), and writing them again leaves them the same.
        for chunk in rows.chunks(CHUNK) {
            let body = serde_json::to_string(chunk).map_err(|e| {
                Error::invalid_input(format!("cannot write customers as JSON: {e}"))
            })?;
            self.send(
                Call::new(Method::Post, "customers")
                    .body(body)
                    .prefer("resolution=merge-duplicates")
                    .param("on_conflict", "id")
                    .param("select", "id")
                    .retry(Retry::Safe),
            )
            .await?;
        }
        Ok(customers.len() as u64)
    }

    async fn get(&self, id: i64) -> Result<Option<Customer>> {
        let rows: Vec<Customer> = self
            .json(
                Call::get("customers")
                    .param("select", SELECT.as_str())
                    .param("id", eq(id)),
                "customers",
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    async fn delete(&self, ids: &[i64]) -> Result<u64> {
        let keys: Vec<String> = ids.iter().map(i64::to_string).collect();
        let mut deleted = 0;
        for chunk in self.key_chunks(&keys) {
            let rows: Vec<serde_json::Value> = self
                .json(
                    Call::new(Method::Delete, "customers")
                        .param("id", in_list(chunk))
                        .param("select", "id"),
                    "customers",
                )
                .await?;
            deleted += rows.len() as u64;
        }
        Ok(deleted)
    }

    async fn query(
        &self,
        query: &Query,
        options: &FilterOptions,
        team: Option<&str>,
    ) -> Result<CustomerPage> {
        let compiled = query.compile(&self.config().schema, options)?;
        let target = &self.inner.customers;
        let scope = |call: Call| match team {
            Some(team) => call.param("team_id", eq(team)),
            None => call,
        };
        let request = compiled.postgrest_in(target);
        let mut page = scope(Call::get("customers").param("select", SELECT.as_str()))
            .params(request.params().pairs().iter().cloned());
        if let Some(prefer) = request.prefer() {
            // `count=exact` as a header of its own: postgrest 1.6.0's `exact_count` would also
            // send `Range: 0-0` and return one row.
            debug_assert_eq!(prefer, "count=exact");
            page = page.prefer("count=exact");
        }
        let reply = self.send(page).await.map_err(query_error)?;
        let rows: Vec<Customer> = reply.json("customers")?;
        let total = if !compiled.counts() {
            None
        } else if request.prefer().is_some() {
            Some(reply.total()?)
        } else {
            // With a cursor the page's filter is narrower than what is counted: a count-only
            // request (`limit=0`, which postgrest 1.6.0's `limit(0)` would panic on).
            let count = compiled.postgrest_count_in(target);
            let reply = self
                .send(
                    scope(Call::get("customers").param("select", "id"))
                        .params(count.params().pairs().iter().cloned())
                        .prefer("count=exact"),
                )
                .await
                .map_err(query_error)?;
            Some(reply.total()?)
        };
        let next = match (compiled.limit(), rows.last()) {
            (Some(limit), Some(last)) if rows.len() as u64 == limit => {
                Some(compiled.cursor_after(&last.to_flat()))
            }
            _ => None,
        };
        Ok(CustomerPage { rows, total, next })
    }
}
