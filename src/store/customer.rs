//! Customers: the row type of the `customers` table, reading it from JSON or text records, and
//! the repository trait.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::filter::{Cursor, FieldType, FilterOptions, Query, Schema};
use crate::json::kind_of;
use crate::time::{Date, Timestamp};

/// The columns of the `customers` table and their types, in table order (`attributes` aside).
/// A schema field with one of these names is that column; any other lives in `attributes`.
pub const CUSTOMER_COLUMNS: &[(&str, FieldType)] = &[
    ("id", FieldType::Number),
    ("team_id", FieldType::String),
    ("first_name", FieldType::String),
    ("last_name", FieldType::String),
    ("phone", FieldType::String),
    ("email", FieldType::String),
    ("city", FieldType::String),
    ("country", FieldType::String),
    ("language", FieldType::String),
    ("gender", FieldType::String),
    ("date_create", FieldType::Timestamp),
    ("last_order_at", FieldType::Timestamp),
    ("birthday", FieldType::Date),
    ("total_spent", FieldType::Number),
    ("orders_count", FieldType::Number),
    ("opted_in", FieldType::Boolean),
    ("opted_out", FieldType::Boolean),
];

/// One row of the `customers` table.
///
/// Its JSON (what every store returns, and the CLI prints) has the column names verbatim, every
/// column present (`null` when empty), and the custom fields in `attributes`:
///
/// ```
/// use serde_json::json;
/// use smsbatch::store::Customer;
///
/// let customer = Customer::from_flat(&json!({
///     "id": 7, "first_name": "Zoë", "phone": "+447400123456",
///     "date_create": "2024-05-01T11:30:00+02:00", "loyalty": "gold"
/// }))?;
/// assert_eq!(customer.attributes["loyalty"], "gold");
/// let json = serde_json::to_value(&customer)?;
/// assert_eq!(json["date_create"], "2024-05-01T09:30:00Z");
/// assert_eq!(json["city"], serde_json::Value::Null);
/// // What templates and filters see: the attributes at the top level, under the columns.
/// assert_eq!(customer.to_flat()["loyalty"], "gold");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Customer {
    /// `id`: the key (from the customer system).
    pub id: i64,
    /// `team_id`: the team whose users may see the customer.
    pub team_id: Option<String>,
    /// `first_name`.
    pub first_name: Option<String>,
    /// `last_name`.
    pub last_name: Option<String>,
    /// `phone`, as given or normalised to E.164 on import.
    pub phone: Option<String>,
    /// `email`.
    pub email: Option<String>,
    /// `city`.
    pub city: Option<String>,
    /// `country`.
    pub country: Option<String>,
    /// `language`.
    pub language: Option<String>,
    /// `gender`.
    pub gender: Option<String>,
    /// `date_create`: when the customer was created.
    pub date_create: Option<Timestamp>,
    /// `last_order_at`.
    pub last_order_at: Option<Timestamp>,
    /// `birthday`.
    pub birthday: Option<Date>,
    /// `total_spent` (PostgreSQL `numeric`; compared as `f64` like every filter number).
    pub total_spent: Option<f64>,
    /// `orders_count`.
    pub orders_count: Option<i64>,
    /// `opted_in`: consent to marketing texts (unknown when null).
    pub opted_in: Option<bool>,
    /// `opted_out`: replied STOP (null means no).
    pub opted_out: Option<bool>,
    /// Custom fields (`jsonb`); templates and filters see them as top-level fields unless a
    /// column has the same name.
    pub attributes: Map<String, Value>,
}

fn row_error(path: impl Into<String>, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidRow {
        path: path.into(),
        message: message.into(),
    })
}

fn pointer(key: &str) -> String {
    let mut p = String::from("/");
    for c in key.chars() {
        match c {
            '~' => p.push_str("~0"),
            '/' => p.push_str("~1"),
            c => p.push(c),
        }
    }
    p
}

/// A value of one column, parsed.
enum Cell {
    Null,
    Text(String),
    Ts(Timestamp),
    Date(Date),
    Float(f64),
    Int(i64),
    Bool(bool),
}

fn column_type(name: &str) -> Option<FieldType> {
    CUSTOMER_COLUMNS
        .iter()
        .find(|(c, _)| *c == name)
        .map(|&(_, t)| t)
}

/// Integer columns (`id`, `orders_count`); the other numbers are `numeric`.
fn is_integer_column(name: &str) -> bool {
    matches!(name, "id" | "orders_count")
}

fn json_cell(name: &str, ty: FieldType, value: &Value) -> Result<Cell> {
    let path = pointer(name);
    let wrong = |expected: &str| {
        row_error(
            &path,
            format!("`{name}` must be {expected}, not {}", describe_value(value)),
        )
    };
    Ok(match (ty, value) {
        (_, Value::Null) => Cell::Null,
        (FieldType::String, Value::String(s)) => Cell::Text(s.clone()),
        (FieldType::String, _) => return Err(wrong("a string")),
        (FieldType::Timestamp, Value::String(s)) => {
            Cell::Ts(s.parse().map_err(|_| wrong("an RFC 3339 timestamp"))?)
        }
        (FieldType::Timestamp, _) => return Err(wrong("an RFC 3339 timestamp")),
        (FieldType::Date, Value::String(s)) => {
            Cell::Date(s.parse().map_err(|_| wrong("a YYYY-MM-DD date"))?)
        }
        (FieldType::Date, _) => return Err(wrong("a YYYY-MM-DD date")),
        (FieldType::Number, Value::Number(n)) if is_integer_column(name) => {
            Cell::Int(n.as_i64().ok_or_else(|| wrong("an integer"))?)
        }
        (FieldType::Number, Value::String(s)) if name == "id" => {
            Cell::Int(s.trim().parse().map_err(|_| wrong("an integer"))?)
        }
        (FieldType::Number, _) if is_integer_column(name) => return Err(wrong("an integer")),
        (FieldType::Number, Value::Number(n)) => {
            Cell::Float(n.as_f64().ok_or_else(|| wrong("a number"))?)
        }
        (FieldType::Number, _) => return Err(wrong("a number")),
        (FieldType::Boolean, Value::Bool(b)) => Cell::Bool(*b),
        (FieldType::Boolean, _) => return Err(wrong("true or false")),
    })
}

fn describe_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string {:?}", crate::filter::clip(s)),
        Value::Number(n) => format!("the number {n}"),
        other => kind_of(other).to_owned(),
    }
}

/// Reads a text value (a CSV cell) as a value of type `ty` (`""` is absent, handled by the caller).
fn text_value(name: &str, ty: FieldType, text: &str, integer: bool) -> Result<Value> {
    let path = pointer(name);
    let wrong = |expected: &str| {
        row_error(
            &path,
            format!(
                "`{name}` must be {expected}, not {:?}",
                crate::filter::clip(text)
            ),
        )
    };
    Ok(match ty {
        FieldType::String | FieldType::Date | FieldType::Timestamp => Value::String(text.into()),
        FieldType::Number if integer => Value::Number(
            text.trim()
                .parse::<i64>()
                .map_err(|_| wrong("an integer"))?
                .into(),
        ),
        FieldType::Number => {
            let f: f64 = text.trim().parse().map_err(|_| wrong("a number"))?;
            Value::Number(Number::from_f64(f).ok_or_else(|| wrong("a finite number"))?)
        }
        FieldType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" => Value::Bool(true),
            "false" | "f" | "no" | "n" | "0" => Value::Bool(false),
            _ => return Err(wrong("true or false")),
        },
    })
}

impl Customer {
    /// A customer with only an id.
    pub fn new(id: i64) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }

    /// Reads a flat JSON object: the columns by name, an optional `attributes` object, and every
    /// other member as an attribute. The `id` is an integer (or a string of digits).
    ///
    /// Errors ([`ErrorKind::InvalidRow`], naming the member): not an object, no usable `id`, a
    /// value of the wrong type for its column.
    pub fn from_flat(row: &Value) -> Result<Customer> {
        let Value::Object(obj) = row else {
            return Err(row_error(
                "",
                format!("a customer must be a JSON object, not {}", kind_of(row)),
            ));
        };
        let mut c = Customer::default();
        let mut has_id = false;
        for (key, value) in obj {
            if key == "attributes" {
                match value {
                    Value::Object(map) => {
                        for (k, v) in map {
                            c.attributes.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                    Value::Null => {}
                    other => {
                        return Err(row_error(
                            "/attributes",
                            format!("`attributes` must be an object, not {}", kind_of(other)),
                        ));
                    }
                }
                continue;
            }
            match column_type(key) {
                Some(ty) => {
                    let cell = json_cell(key, ty, value)?;
                    if key == "id" {
                        has_id = !matches!(cell, Cell::Null);
                    }
                    c.set(key, cell);
                }
                None => {
                    // A top-level member wins over the same key inside `attributes`.
                    c.attributes.insert(key.clone(), value.clone());
                }
            }
        }
        if !has_id {
            return Err(row_error("/id", "the customer has no `id`"));
        }
        Ok(c)
    }

    /// Reads a text record (a CSV row): `(column, text)` pairs, where an empty text is absent.
    /// Columns are parsed to their types (booleans as `true`/`false`, `t`/`f`, `yes`/`no` or
    /// `1`/`0`); other names become attributes, typed by `schema` when it has a field of that name
    /// and kept as strings otherwise.
    pub fn from_text<'a>(
        record: impl IntoIterator<Item = (&'a str, &'a str)>,
        schema: &Schema,
    ) -> Result<Customer> {
        let mut flat = Map::new();
        for (name, text) in record {
            if text.is_empty() {
                continue;
            }
            let value = match column_type(name) {
                Some(ty) => text_value(name, ty, text, is_integer_column(name))?,
                None => match schema.field(name) {
                    Some(f) => text_value(name, f.ty, text, false)?,
                    None => Value::String(text.to_owned()),
                },
            };
            flat.insert(name.to_owned(), value);
        }
        Customer::from_flat(&Value::Object(flat))
    }

    fn set(&mut self, column: &str, cell: Cell) {
        let text = |cell: Cell| match cell {
            Cell::Text(s) => Some(s),
            _ => None,
        };
        match column {
            "id" => {
                if let Cell::Int(i) = cell {
                    self.id = i;
                }
            }
            "team_id" => self.team_id = text(cell),
            "first_name" => self.first_name = text(cell),
            "last_name" => self.last_name = text(cell),
            "phone" => self.phone = text(cell),
            "email" => self.email = text(cell),
            "city" => self.city = text(cell),
            "country" => self.country = text(cell),
            "language" => self.language = text(cell),
            "gender" => self.gender = text(cell),
            "date_create" | "last_order_at" => {
                let v = match cell {
                    Cell::Ts(t) => Some(t),
                    _ => None,
                };
                if column == "date_create" {
                    self.date_create = v;
                } else {
                    self.last_order_at = v;
                }
            }
            "birthday" => {
                self.birthday = match cell {
                    Cell::Date(d) => Some(d),
                    _ => None,
                }
            }
            "total_spent" => {
                self.total_spent = match cell {
                    Cell::Float(f) => Some(f),
                    Cell::Int(i) => Some(i as f64),
                    _ => None,
                }
            }
            "orders_count" => {
                self.orders_count = match cell {
                    Cell::Int(i) => Some(i),
                    _ => None,
                }
            }
            "opted_in" | "opted_out" => {
                let v = match cell {
                    Cell::Bool(b) => Some(b),
                    _ => None,
                };
                if column == "opted_in" {
                    self.opted_in = v;
                } else {
                    self.opted_out = v;
                }
            }
            _ => {}
        }
    }

    /// The value of column `name` as JSON (`None` when there is no such column).
    pub fn column(&self, name: &str) -> Option<Value> {
        let s = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
        let t = |v: &Option<Timestamp>| v.map_or(Value::Null, |t| Value::String(t.to_string()));
        let b = |v: Option<bool>| v.map_or(Value::Null, Value::Bool);
        Some(match name {
            "id" => Value::from(self.id),
            "team_id" => s(&self.team_id),
            "first_name" => s(&self.first_name),
            "last_name" => s(&self.last_name),
            "phone" => s(&self.phone),
            "email" => s(&self.email),
            "city" => s(&self.city),
            "country" => s(&self.country),
            "language" => s(&self.language),
            "gender" => s(&self.gender),
            "date_create" => t(&self.date_create),
            "last_order_at" => t(&self.last_order_at),
            "birthday" => self
                .birthday
                .map_or(Value::Null, |d| Value::String(d.to_string())),
            "total_spent" => self
                .total_spent
                .and_then(Number::from_f64)
                .map_or(Value::Null, Value::Number),
            "orders_count" => self.orders_count.map_or(Value::Null, Value::from),
            "opted_in" => b(self.opted_in),
            "opted_out" => b(self.opted_out),
            _ => return None,
        })
    }

    /// The customer as templates and filters see it: the attributes, then every column over them
    /// (a column wins over an attribute of the same name, even when it is null).
    pub fn to_flat(&self) -> Value {
        let mut flat = self.attributes.clone();
        for (name, _) in CUSTOMER_COLUMNS {
            if let Some(v) = self.column(name) {
                flat.insert((*name).to_owned(), v);
            }
        }
        Value::Object(flat)
    }

    /// Checks what every store refuses, and normalises what they would store differently, so a
    /// customer reads back the same from each:
    ///
    /// - text (and attribute keys and strings) must not contain NUL, which PostgreSQL cannot store;
    /// - `id` and `orders_count` must be within ±2^53 (filters compare numbers as `f64`);
    /// - `total_spent` must be finite (`-0` becomes `0`);
    /// - an attribute that `schema` names must hold its type (strings, numbers, booleans; dates
    ///   and timestamps as text, rewritten in their canonical form).
    pub fn normalize(&mut self, schema: &Schema) -> Result<()> {
        // Filters compare numbers as f64 (in memory and in the browser): integers past 2^53
        // could not be told apart there while PostgreSQL could.
        const EXACT: u64 = 1 << 53;
        if self.id.unsigned_abs() > EXACT {
            return Err(row_error(
                "/id",
                format!("the id {} is beyond ±2^53", self.id),
            ));
        }
        if let Some(n) = self.orders_count
            && n.unsigned_abs() > EXACT
        {
            return Err(row_error(
                "/orders_count",
                format!("`orders_count` {n} is beyond ±2^53"),
            ));
        }
        for (name, _) in CUSTOMER_COLUMNS {
            if let Some(Value::String(s)) = self.column(name) {
                check_text(&s, &pointer(name))?;
            }
        }
        if let Some(f) = self.total_spent {
            if !f.is_finite() {
                return Err(row_error("/total_spent", "`total_spent` must be finite"));
            }
            if f == 0.0 {
                self.total_spent = Some(0.0);
            }
        }
        for (key, value) in self.attributes.iter_mut() {
            let path = format!("/attributes{}", pointer(key));
            check_text(key, &path)?;
            check_json(value, &path)?;
            if column_type(key).is_some() {
                continue;
            }
            let Some(field) = schema.field(key) else {
                continue;
            };
            let wrong = |expected: &str, v: &Value| {
                row_error(
                    &path,
                    format!(
                        "the attribute `{key}` must be {expected}, not {}",
                        describe_value(v)
                    ),
                )
            };
            match (field.ty, &*value) {
                (_, Value::Null) => {}
                (FieldType::String, Value::String(_)) | (FieldType::Boolean, Value::Bool(_)) => {}
                (FieldType::Number, Value::Number(n)) => {
                    if !n.as_f64().is_some_and(f64::is_finite) {
                        return Err(wrong("a finite number", value));
                    }
                }
                (FieldType::Date, Value::String(s)) => match s.parse::<Date>() {
                    Ok(d) => *value = Value::String(d.to_string()),
                    Err(_) => return Err(wrong("a YYYY-MM-DD date", value)),
                },
                (FieldType::Timestamp, Value::String(s)) => match s.parse::<Timestamp>() {
                    Ok(t) => *value = Value::String(t.to_string()),
                    Err(_) => return Err(wrong("an RFC 3339 timestamp", value)),
                },
                (FieldType::String, v) => return Err(wrong("a string", v)),
                (FieldType::Number, v) => return Err(wrong("a number", v)),
                (FieldType::Boolean, v) => return Err(wrong("true or false", v)),
                (FieldType::Date, v) => return Err(wrong("a YYYY-MM-DD date", v)),
                (FieldType::Timestamp, v) => return Err(wrong("an RFC 3339 timestamp", v)),
            }
        }
        Ok(())
    }
}

/// Refuses NUL characters, which PostgreSQL `text` and `jsonb` cannot hold.
pub(crate) fn check_text(s: &str, path: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(row_error(
            path,
            "contains a NUL character, which PostgreSQL cannot store",
        ));
    }
    Ok(())
}

fn check_json(value: &Value, path: &str) -> Result<()> {
    match value {
        Value::String(s) => check_text(s, path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_json(v, &format!("{path}/{i}"))),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let p = format!("{path}{}", pointer(k));
            check_text(k, &p)?;
            check_json(v, &p)
        }),
        _ => Ok(()),
    }
}

/// Checks that `schema` can run on the `customers` table: a field named after a column must have
/// the column's type, and no field may be called `attributes`.
pub fn check_customer_schema(schema: &Schema) -> Result<()> {
    for (i, field) in schema.fields().iter().enumerate() {
        if field.name == "attributes" {
            return Err(Error::new(ErrorKind::InvalidSchema {
                path: format!("/fields/{i}/name"),
                message: "`attributes` is the column that holds custom fields; a field cannot be called that".into(),
            }));
        }
        if let Some(ty) = column_type(&field.name)
            && ty != field.ty
        {
            return Err(Error::new(ErrorKind::InvalidSchema {
                path: format!("/fields/{i}/type"),
                message: format!(
                    "`{}` is a {} column of the customers table, not a {} field",
                    field.name,
                    ty.as_str(),
                    field.ty.as_str()
                ),
            }));
        }
    }
    Ok(())
}

/// A page of customers (JSON: `{"rows": [...], "total": n, "next": cursor}`, the last two only
/// when present).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerPage {
    /// The customers, in the query's order.
    pub rows: Vec<Customer>,
    /// The exact number the filter and search select, when the query asked to count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// The keyset cursor that continues after the last row, when the page is full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<Cursor>,
}

/// The `customers` table.
///
/// Queries are the filter module's [`Query`] (filter, search, sort, offset or keyset pages, exact
/// count), compiled against the store's [`CustomerStore::schema`]; every store returns the same
/// rows in the same order for the same data (strings sort byte by byte).
#[async_trait]
pub trait CustomerStore: Send + Sync {
    /// The schema queries are compiled against (fields that are not columns live in
    /// `attributes`).
    fn schema(&self) -> &Schema;

    /// Inserts the customers, or replaces those whose id exists (every column and the
    /// attributes). Each is checked with [`Customer::normalize`] first; nothing is written when
    /// one is refused. Returns how many were written.
    async fn upsert(&self, customers: &[Customer]) -> Result<u64>;

    /// The customer with this id, if the actor can see it.
    async fn get(&self, id: i64) -> Result<Option<Customer>>;

    /// Deletes these customers; returns how many there were.
    async fn delete(&self, ids: &[i64]) -> Result<u64>;

    /// Runs a query: the page, the total when `count` is set, and the cursor of the next page
    /// when this one is full. `team` narrows it to one team's customers (what the service uses to
    /// prepare a team's batch); row-level security narrows a user's queries anyway.
    async fn query(
        &self,
        query: &Query,
        options: &FilterOptions,
        team: Option<&str>,
    ) -> Result<CustomerPage>;
}

/// A whole audience in chunks, with flat memory: keyset pages of a query, each continuing after
/// the last row of the one before, so rows inserted meanwhile never shift a page.
///
/// ```
/// # async fn demo(store: std::sync::Arc<dyn smsbatch::store::CustomerStore>) -> smsbatch::Result<()> {
/// use smsbatch::filter::{FilterOptions, Query};
/// use smsbatch::store::CustomerScan;
///
/// let mut scan = CustomerScan::new(store, Query::default(), FilterOptions::new(), None, 1000)?;
/// while let Some(chunk) = scan.next_chunk().await? {
///     for customer in chunk {
///         println!("{}", customer.id);
///     }
/// }
/// # Ok(()) }
/// ```
pub struct CustomerScan {
    store: Arc<dyn CustomerStore>,
    query: Query,
    options: FilterOptions,
    team: Option<String>,
    done: bool,
}

impl std::fmt::Debug for CustomerScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerScan")
            .field("query", &self.query)
            .field("team", &self.team)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl CustomerScan {
    /// Scans what `query` selects (its sort, or the default one), `chunk` customers at a time.
    /// The query's own `limit`, `offset` and `count` are replaced; an `after` cursor is a place
    /// to start from.
    pub fn new(
        store: Arc<dyn CustomerStore>,
        mut query: Query,
        options: FilterOptions,
        team: Option<String>,
        chunk: u32,
    ) -> Result<Self> {
        if chunk == 0 {
            return Err(Error::new(ErrorKind::InvalidQuery {
                path: "/limit".into(),
                message: "a scan needs chunks of at least one row".into(),
            }));
        }
        query.limit = Some(u64::from(chunk));
        query.offset = None;
        query.count = false;
        Ok(Self {
            store,
            query,
            options,
            team,
            done: false,
        })
    }

    /// The next chunk, or `None` after the last.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<Customer>>> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .store
            .query(&self.query, &self.options, self.team.as_deref())
            .await?;
        match page.next {
            Some(cursor) => self.query.after = Some(cursor),
            None => self.done = true,
        }
        if page.rows.is_empty() {
            self.done = true;
            return Ok(None);
        }
        Ok(Some(page.rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flat_rows_read_columns_and_attributes() {
        let c = Customer::from_flat(&json!({
            "id": "42", "city": "Lyon", "total_spent": 12, "opted_in": null,
            "attributes": {"tier": "gold", "city": "shadowed"}, "nickname": "Zo"
        }))
        .unwrap();
        assert_eq!(c.id, 42);
        assert_eq!(c.total_spent, Some(12.0));
        assert_eq!(c.attributes["tier"], "gold");
        assert_eq!(c.attributes["nickname"], "Zo");
        assert_eq!(c.to_flat()["city"], "Lyon", "the column wins");
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(serde_json::from_value::<Customer>(json).unwrap(), c);
    }

    #[test]
    fn bad_rows_name_the_member() {
        let err = |v: Value| Customer::from_flat(&v).unwrap_err();
        let e = err(json!({"city": "x"}));
        assert_eq!(e.kind().path(), Some("/id"));
        let e = err(json!({"id": 1.5}));
        assert!(e.to_string().contains("integer"), "{e}");
        let e = err(json!({"id": 1, "total_spent": "12"}));
        assert_eq!(e.kind().path(), Some("/total_spent"));
        let e = err(json!({"id": 1, "birthday": "1990-02-30"}));
        assert_eq!(e.kind().code(), "invalidRow");
        let e = err(json!({"id": 1, "opted_in": "yes"}));
        assert!(e.to_string().contains("true or false"), "{e}");
        let e = err(json!([1]));
        assert_eq!(e.kind().path(), Some(""));
    }

    #[test]
    fn text_records_are_typed() {
        let schema = Schema::from_json(
            r#"{"fields": [{"name": "id", "type": "number", "sortable": true},
                           {"name": "points", "type": "number"}]}"#,
        )
        .unwrap();
        let c = Customer::from_text(
            [
                ("id", "7"),
                ("opted_in", "Yes"),
                ("points", "12.5"),
                ("note", "hi"),
                ("city", ""),
            ],
            &schema,
        )
        .unwrap();
        assert_eq!(c.opted_in, Some(true));
        assert_eq!(c.attributes["points"], json!(12.5));
        assert_eq!(c.attributes["note"], "hi");
        assert_eq!(c.city, None);
        assert!(Customer::from_text([("id", "x")], &schema).is_err());
        assert!(Customer::from_text([("id", "1"), ("points", "many")], &schema).is_err());
    }

    #[test]
    fn normalize_refuses_what_postgres_cannot_store() {
        let schema = Schema::from_json(
            r#"{"fields": [{"name": "id", "type": "number", "sortable": true},
                           {"name": "seen", "type": "timestamp"}]}"#,
        )
        .unwrap();
        let mut c = Customer::new(1);
        c.first_name = Some("a\0b".into());
        assert_eq!(
            c.normalize(&schema).unwrap_err().kind().path(),
            Some("/first_name")
        );
        let mut c = Customer::new(1);
        c.attributes
            .insert("seen".into(), json!("2024-01-01T01:00:00+01:00"));
        c.total_spent = Some(-0.0);
        c.normalize(&schema).unwrap();
        assert_eq!(c.attributes["seen"], "2024-01-01T00:00:00Z");
        assert!(c.total_spent.unwrap().is_sign_positive());
        c.attributes.insert("seen".into(), json!(5));
        assert!(c.normalize(&schema).is_err());
        c.attributes.insert("seen".into(), json!("ok"));
        c.attributes.insert("x\0".into(), json!(1));
        assert!(c.normalize(&schema).is_err());
    }

    #[test]
    fn schemas_must_fit_the_table() {
        assert!(check_customer_schema(&Schema::customers()).is_ok());
        let bad = Schema::from_json(
            r#"{"fields": [{"name": "id", "type": "number", "sortable": true},
                           {"name": "city", "type": "number"}]}"#,
        )
        .unwrap();
        assert_eq!(
            check_customer_schema(&bad).unwrap_err().kind().path(),
            Some("/fields/1/type")
        );
    }
}
