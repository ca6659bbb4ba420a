//! The `customers` table on PostgreSQL: upserts through `jsonb_populate_recordset`, and queries
//! from the filter module's SQL, composed after the store's own conditions.

use std::collections::HashMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio_postgres::Row;

use super::types::Decimal;
use super::{PgView, Retry, Stmt, malformed};
use crate::error::{Error, ErrorKind, Result};
use crate::filter::{FilterOptions, Query, Schema, SqlBuilder, SqlParam};
use crate::store::customer::{CUSTOMER_COLUMNS, Customer, CustomerPage, CustomerStore};
use crate::time::{Date, Timestamp};

/// Rows per insert statement (all of an upsert run in one transaction).
const CHUNK: usize = 2_000;

/// `"customers"."id", "customers"."team_id", ..., "customers"."attributes"`.
static SELECT_LIST: LazyLock<String> = LazyLock::new(|| {
    CUSTOMER_COLUMNS
        .iter()
        .map(|(c, _)| *c)
        .chain(["attributes"])
        .map(|c| format!("\"customers\".\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
});

/// One customer by id.
static GET: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM customers WHERE \"customers\".\"id\" = $1",
        *SELECT_LIST
    )
});

/// The upsert: every column of the row replaces the stored one. The columns are named, because
/// `attributes_typed` (migration 0003) is generated and cannot be written.
static UPSERT: LazyLock<String> = LazyLock::new(|| {
    let all: Vec<&str> = CUSTOMER_COLUMNS
        .iter()
        .map(|(c, _)| *c)
        .chain(["attributes"])
        .collect();
    let columns: Vec<&str> = all.iter().copied().filter(|c| *c != "id").collect();
    format!(
        "INSERT INTO customers ({all}) SELECT {all} FROM jsonb_populate_recordset(NULL::customers, $1) \
         ON CONFLICT (id) DO UPDATE SET ({}) = ({})",
        columns.join(", "),
        columns
            .iter()
            .map(|c| format!("EXCLUDED.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        all = all.join(", "),
    )
});

fn customer_from_row(row: &Row) -> Result<Customer> {
    let bad = |e: tokio_postgres::Error| {
        Error::new(ErrorKind::MalformedRow {
            table: "customers".into(),
            message: e.to_string(),
        })
    };
    let text = |i: usize| row.try_get::<_, Option<String>>(i).map_err(bad);
    let ts = |i: usize| row.try_get::<_, Option<Timestamp>>(i).map_err(bad);
    let flag = |i: usize| row.try_get::<_, Option<bool>>(i).map_err(bad);
    let total_spent = match row.try_get::<_, Option<Decimal>>(13).map_err(bad)? {
        None => None,
        Some(Decimal(d)) => Some(d.parse::<f64>().map_err(|_| {
            Error::new(ErrorKind::MalformedRow {
                table: "customers".into(),
                message: format!("total_spent {d} is not a number"),
            })
        })?),
    };
    let attributes = match row.try_get::<_, Value>(17).map_err(bad)? {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Ok(Customer {
        id: row.try_get(0).map_err(bad)?,
        team_id: text(1)?,
        first_name: text(2)?,
        last_name: text(3)?,
        phone: text(4)?,
        email: text(5)?,
        city: text(6)?,
        country: text(7)?,
        language: text(8)?,
        gender: text(9)?,
        date_create: ts(10)?,
        last_order_at: ts(11)?,
        birthday: row.try_get::<_, Option<Date>>(12).map_err(bad)?,
        total_spent,
        orders_count: row.try_get(14).map_err(bad)?,
        opted_in: flag(15)?,
        opted_out: flag(16)?,
        attributes,
    })
}

/// A bad value met while filtering (an attribute that does not cast to its field's type) is a
/// malformed row; anything else stays as it is.
fn query_error(e: Error) -> Error {
    match e.kind() {
        ErrorKind::Database { code, .. } if code.starts_with("22") => malformed("customers", &e),
        _ => e,
    }
}

fn boxed(params: &[SqlParam]) -> Vec<super::Param> {
    params
        .iter()
        .map(|p| Box::new(p.clone()) as super::Param)
        .collect()
}

#[async_trait]
impl CustomerStore for PgView {
    fn schema(&self) -> &Schema {
        &self.inner.config.schema
    }

    async fn upsert(&self, customers: &[Customer]) -> Result<u64> {
        // The last row of an id wins, as in memory (one statement cannot update a row twice).
        let mut last: HashMap<i64, usize> = HashMap::with_capacity(customers.len());
        for (i, c) in customers.iter().enumerate() {
            last.insert(c.id, i);
        }
        let mut rows = Vec::with_capacity(last.len());
        for (i, c) in customers.iter().enumerate() {
            if last.get(&c.id) == Some(&i) {
                let mut c = c.clone();
                c.normalize(&self.inner.config.schema)?;
                rows.push(c);
            }
        }
        let stmts = rows
            .chunks(CHUNK)
            .map(|chunk| {
                let json = serde_json::to_value(chunk).map_err(|e| {
                    Error::new(ErrorKind::InvalidInput {
                        message: format!("cannot write customers as JSON: {e}"),
                    })
                })?;
                Ok(Stmt::new(UPSERT.as_str()).arg(json))
            })
            .collect::<Result<Vec<_>>>()?;
        if stmts.is_empty() {
            return Ok(0);
        }
        // Writing the same rows again leaves them the same.
        self.run(&stmts, Retry::Safe).await?;
        Ok(customers.len() as u64)
    }

    async fn get(&self, id: i64) -> Result<Option<Customer>> {
        let rows = self
            .rows(Stmt::new(GET.as_str()).arg(id), Retry::Safe)
            .await?;
        rows.first().map(customer_from_row).transpose()
    }

    async fn delete(&self, ids: &[i64]) -> Result<u64> {
        let rows = self
            .rows(
                Stmt::new("DELETE FROM customers WHERE id = ANY($1) RETURNING id")
                    .arg(ids.to_vec()),
                Retry::Never,
            )
            .await?;
        Ok(rows.len() as u64)
    }

    async fn query(
        &self,
        query: &Query,
        options: &FilterOptions,
        team: Option<&str>,
    ) -> Result<CustomerPage> {
        let compiled = query.compile(&self.inner.config.schema, options)?;
        let target = &self.inner.customers;
        let scope = |b: &mut SqlBuilder| {
            if let Some(team) = team {
                b.push("\"customers\".\"team_id\" = ")
                    .push_param(SqlParam::string(team))
                    .push(" AND ");
            }
        };
        let mut page = SqlBuilder::new();
        page.push(&format!("SELECT {} FROM customers WHERE ", *SELECT_LIST));
        scope(&mut page);
        page.push_filter(compiled.page_filter(), target)
            .push(" ORDER BY ")
            .push(&compiled.sql_order_by_in(target));
        compiled.push_limit_offset(&mut page);
        let page = page.finish();
        let mut stmts = vec![Stmt::dynamic(page.text().to_owned()).args(boxed(page.params()))];
        if compiled.counts() {
            let mut count = SqlBuilder::new();
            count.push("SELECT count(*) FROM customers WHERE ");
            scope(&mut count);
            count.push_filter(compiled.selection(), target);
            let count = count.finish();
            stmts.push(Stmt::dynamic(count.text().to_owned()).args(boxed(count.params())));
        }
        let results = self.run(&stmts, Retry::Safe).await.map_err(query_error)?;
        let rows = results
            .first()
            .map(|rows| {
                rows.iter()
                    .map(customer_from_row)
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?
            .unwrap_or_default();
        let total = match results.get(1).and_then(|r| r.first()) {
            Some(row) => Some(super::get::<i64>(row, "customers", "count")? as u64),
            None => None,
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
