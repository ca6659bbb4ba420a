//! Queries: a filter plus free-text search, sort, pagination (offset or keyset cursor) and exact
//! counts, emitted to every back end.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ast::{Node, clip};
use super::compile::Filter;
use super::eval::{Cell, Table, parse_cell};
use super::ir::{Bound, FilterOptions, Ir, Leaf, LikeKind, Pred, Scalar, lower, parse_scalar};
use super::postgrest::{PostgrestParams, PostgrestTarget, query_string};
use super::schema::{FieldType, Schema, check_identifier};
use super::sql::{SqlBuilder, SqlStatement, SqlTarget};
use crate::error::{Error, ErrorKind, Result};
use std::borrow::Borrow;

/// Sort direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// Where NULLs go, whatever the direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Nulls {
    /// NULLs before every value.
    First,
    /// NULLs after every value.
    #[default]
    Last,
}

/// One sort key: `{"field": "last_name", "direction": "asc", "nulls": "last"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SortKey {
    /// A sortable field of the schema.
    pub field: String,
    /// `asc` (the default) or `desc`.
    #[serde(default)]
    pub direction: Direction,
    /// `last` (the default) or `first`.
    #[serde(default)]
    pub nulls: Nulls,
}

impl SortKey {
    /// Ascending, NULLs last.
    pub fn asc(field: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            direction: Direction::Asc,
            nulls: Nulls::Last,
        }
    }

    /// Descending, NULLs last.
    pub fn desc(field: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            direction: Direction::Desc,
            nulls: Nulls::Last,
        }
    }
}

/// A keyset cursor: the sort-key values (the `id` tie-breaker last) of the row a page ends on.
/// Get one from [`CompiledQuery::cursor_after`] or [`QueryPage::next`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub Vec<Value>);

/// A filter with search, sort and pagination; the JSON form uses camelCase members
/// (`where`, `search`, `sort`, `limit`, `offset`, `after`, `count`).
///
/// Sorting defaults to `date_create` descending with NULLs last when the schema has a sortable
/// `date_create`; `id` ascending is always appended as the tie-breaker (unless already a key), so
/// pages are stable. `offset` and `after` (a keyset cursor) are exclusive.
///
/// ```
/// use serde_json::json;
/// use smsbatch::filter::{FilterOptions, Query, Schema};
///
/// let query: Query = serde_json::from_value(json!({
///     "where": {"field": "city", "op": "equals", "value": "Lyon"},
///     "search": "ann",
///     "limit": 2,
///     "count": true
/// }))?;
/// let compiled = query.compile(&Schema::customers(), &FilterOptions::new())?;
/// let sql = compiled.sql_query("customers", &["id"])?;
/// assert!(sql.select().ends_with("ORDER BY date_create DESC NULLS LAST, id ASC NULLS LAST LIMIT $8::bigint"));
/// let rows = vec![
///     json!({"id": 1, "city": "Lyon", "first_name": "Anna", "date_create": "2024-01-01T00:00:00Z"}),
///     json!({"id": 2, "city": "Lyon", "last_name": "Jeannot", "date_create": "2024-02-01T00:00:00Z"}),
///     json!({"id": 3, "city": "Lyon", "first_name": "Joanne"}),
///     json!({"id": 4, "city": "Paris", "first_name": "Anna"}),
/// ];
/// let page = compiled.run(&rows)?;
/// assert_eq!(page.rows, vec![1, 0]);
/// assert_eq!(page.total, Some(3));
/// let next = compiled.with_after(page.next.unwrap(), &Schema::customers())?.run(&rows)?;
/// assert_eq!(next.rows, vec![2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Query {
    /// The filter (every row when absent).
    #[serde(rename = "where", default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Node>,
    /// Free text: every whitespace-separated term must be contained (case-insensitively,
    /// literally) in some searchable field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// Sort keys (the default sort when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<SortKey>,
    /// Page size (every row when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Rows to skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Keyset pagination: only rows after this cursor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Cursor>,
    /// Whether to count every row the filter and search select (ignoring the page).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub count: bool,
}

/// The most whitespace-separated terms a search may have.
pub const MAX_SEARCH_TERMS: usize = 16;

fn query_error(path: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidQuery {
        path: path.to_owned(),
        message: message.into(),
    })
}

#[derive(Clone, Debug)]
struct ResolvedKey {
    name: String,
    ty: FieldType,
    direction: Direction,
    nulls: Nulls,
}

/// A [`Query`] compiled against a schema.
#[derive(Clone, Debug)]
pub struct CompiledQuery {
    /// Filter and search: what is counted.
    selection: Filter,
    /// Filter, search and cursor: what the page is taken from.
    page: Filter,
    keys: Vec<ResolvedKey>,
    limit: Option<u64>,
    offset: Option<u64>,
    count: bool,
    id: String,
}

/// A page computed in memory (JSON: `{"rows": [..], "total": n, "next": [..]}`).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPage {
    /// Positions of the page's rows in the input, in sort order.
    pub rows: Vec<usize>,
    /// The exact number of rows the filter and search select, when the query asked to count.
    pub total: Option<usize>,
    /// The cursor for the next page, when the page is full (`limit` rows).
    pub next: Option<Cursor>,
}

/// A request to PostgREST: query parameters plus the `Prefer` header to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostgrestRequest {
    params: PostgrestParams,
    prefer: Option<String>,
    head: bool,
}

impl PostgrestRequest {
    /// The query parameters (filter, `order`, `limit`, `offset`).
    pub fn params(&self) -> &PostgrestParams {
        &self.params
    }

    /// The form-encoded query string.
    pub fn query_string(&self) -> String {
        query_string(self.params.pairs())
    }

    /// The `Prefer` header value (`count=exact` when counting: the total is then the number
    /// after `/` in the `Content-Range` response header).
    pub fn prefer(&self) -> Option<&str> {
        self.prefer.as_deref()
    }

    /// Whether to send it as `HEAD` (a count-only request).
    pub fn head(&self) -> bool {
        self.head
    }
}

/// The SQL for a query: the page and, separately, the exact count.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SqlQuery {
    select: SqlStatement,
    count: SqlStatement,
}

impl SqlQuery {
    /// `SELECT <columns> FROM <table> WHERE .. ORDER BY .. [LIMIT ..] [OFFSET ..]`.
    pub fn select(&self) -> &str {
        &self.select.text
    }

    /// The page statement with its parameters.
    pub fn select_statement(&self) -> &SqlStatement {
        &self.select
    }

    /// `SELECT count(*) FROM <table> WHERE ..` (filter and search only).
    pub fn count_statement(&self) -> &SqlStatement {
        &self.count
    }
}

impl Query {
    /// A query for `filter` with the default sort and no page limit.
    pub fn new(filter: Node) -> Self {
        Self {
            filter: Some(filter),
            ..Self::default()
        }
    }

    /// Validates the query against `schema` and compiles it.
    pub fn compile(&self, schema: &Schema, options: &FilterOptions) -> Result<CompiledQuery> {
        let mut parts = Vec::new();
        if let Some(node) = &self.filter {
            parts.push(lower(node, schema, options, "/where")?);
        }
        if let Some(search) = &self.search {
            parts.push(search_ir(search, schema, options)?);
        }
        let selection = Ir::and(parts);
        let keys = resolve_sort(&self.sort, schema)?;
        if self.offset.is_some() && self.after.is_some() {
            return Err(query_error(
                "/after",
                "use either `offset` or `after`, not both",
            ));
        }
        // PostgreSQL's LIMIT and OFFSET are `bigint`: a larger value must not be clamped or
        // rounded on its way there.
        for (path, n) in [("/limit", self.limit), ("/offset", self.offset)] {
            if let Some(n) = n
                && i64::try_from(n).is_err()
            {
                return Err(query_error(
                    path,
                    format!(
                        "{n} is larger than the largest page a database takes ({})",
                        i64::MAX
                    ),
                ));
            }
        }
        let page = match &self.after {
            Some(cursor) => Ir::and(vec![selection.clone(), keyset_ir(&keys, cursor, schema)?]),
            None => selection.clone(),
        };
        Ok(CompiledQuery {
            selection: Filter::from_ir(selection, schema),
            page: Filter::from_ir(page, schema),
            keys,
            limit: self.limit,
            offset: self.offset,
            count: self.count,
            id: schema.fields()[schema.id_position()].name.clone(),
        })
    }
}

fn search_ir(search: &str, schema: &Schema, options: &FilterOptions) -> Result<Ir> {
    let terms: Vec<&str> = search.split_whitespace().collect();
    if terms.is_empty() {
        return Ok(Ir::Const(true));
    }
    if terms.len() > MAX_SEARCH_TERMS {
        return Err(super::ast::too_large(
            "/search",
            format!("more than {MAX_SEARCH_TERMS} search terms"),
        ));
    }
    // The same length limit as filter values.
    super::ast::check_value_size(
        &Value::String(search.to_owned()),
        options.limits(),
        "/search",
    )?;
    if search.contains('\0') {
        return Err(query_error(
            "/search",
            "the search contains a NUL character",
        ));
    }
    let fields: Vec<usize> = schema.searchable().collect();
    if fields.is_empty() {
        return Err(query_error("/search", "the schema has no searchable field"));
    }
    Ok(Ir::and(
        terms
            .into_iter()
            .map(|term| {
                Ir::or(
                    fields
                        .iter()
                        .map(|&i| {
                            let f = &schema.fields()[i];
                            Ir::Leaf(Leaf {
                                field: f.name.clone(),
                                ty: f.ty,
                                negated: false,
                                pred: Pred::Like(LikeKind::Contains, term.to_owned()),
                            })
                        })
                        .collect(),
                )
            })
            .collect(),
    ))
}

fn resolve_sort(sort: &[SortKey], schema: &Schema) -> Result<Vec<ResolvedKey>> {
    let mut keys: Vec<ResolvedKey> = Vec::new();
    let defaults;
    let sort = if sort.is_empty() {
        defaults = match schema.field("date_create") {
            Some(f) if f.sortable => vec![SortKey::desc("date_create")],
            _ => vec![],
        };
        &defaults[..]
    } else {
        sort
    };
    for (i, key) in sort.iter().enumerate() {
        let path = format!("/sort/{i}");
        let field = schema
            .field(&key.field)
            .ok_or_else(|| query_error(&path, format!("unknown field `{}`", clip(&key.field))))?;
        if !field.sortable {
            return Err(query_error(
                &path,
                format!("the field `{}` is not sortable", field.name),
            ));
        }
        if keys.iter().any(|k| k.name == field.name) {
            return Err(query_error(
                &path,
                format!("the field `{}` is sorted on twice", field.name),
            ));
        }
        keys.push(ResolvedKey {
            name: field.name.clone(),
            ty: field.ty,
            direction: key.direction,
            nulls: key.nulls,
        });
    }
    let id = &schema.fields()[schema.id_position()];
    if !keys.iter().any(|k| k.name == id.name) {
        keys.push(ResolvedKey {
            name: id.name.clone(),
            ty: id.ty,
            direction: Direction::Asc,
            nulls: Nulls::Last,
        });
    }
    Ok(keys)
}

/// The rows strictly after `cursor` in the sort order, as IR: for some key i, every earlier key
/// equals the cursor's value (NULL-aware) and key i comes after it (NULLs placed as sorted).
fn keyset_ir(keys: &[ResolvedKey], cursor: &Cursor, schema: &Schema) -> Result<Ir> {
    if cursor.0.len() != keys.len() {
        return Err(query_error(
            "/after",
            format!(
                "the cursor has {} values; this sort needs {}",
                cursor.0.len(),
                keys.len()
            ),
        ));
    }
    let values = keys
        .iter()
        .zip(&cursor.0)
        .enumerate()
        .map(|(i, (k, v))| {
            if v.is_null() {
                Ok(None)
            } else {
                parse_scalar(k.ty, v, &format!("/after/{i}"), schema)
                    .map(Some)
                    .map_err(|e| query_error(&format!("/after/{i}"), e.to_string()))
            }
        })
        .collect::<Result<Vec<Option<Scalar>>>>()?;
    let leaf = |k: &ResolvedKey, negated, pred| {
        Ir::Leaf(Leaf {
            field: k.name.clone(),
            ty: k.ty,
            negated,
            pred,
        })
    };
    let mut alternatives = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let after = match &values[i] {
            Some(v) => {
                let bound = Some(Bound {
                    value: v.clone(),
                    inclusive: false,
                });
                let cmp = match key.direction {
                    Direction::Asc => leaf(
                        key,
                        false,
                        Pred::Range {
                            lo: bound,
                            hi: None,
                        },
                    ),
                    Direction::Desc => leaf(
                        key,
                        false,
                        Pred::Range {
                            lo: None,
                            hi: bound,
                        },
                    ),
                };
                match key.nulls {
                    Nulls::Last => Ir::or(vec![cmp, leaf(key, false, Pred::Null)]),
                    Nulls::First => cmp,
                }
            }
            None => match key.nulls {
                Nulls::First => leaf(key, true, Pred::Null),
                Nulls::Last => Ir::Const(false),
            },
        };
        let mut conj: Vec<Ir> = keys[..i]
            .iter()
            .zip(&values[..i])
            .map(|(k, v)| match v {
                Some(v) => leaf(k, false, Pred::Eq(v.clone())),
                None => leaf(k, false, Pred::Null),
            })
            .collect();
        conj.push(after);
        alternatives.push(Ir::and(conj));
    }
    Ok(Ir::or(alternatives))
}

impl CompiledQuery {
    /// The filter and search (without the cursor): what [`Query::count`] counts.
    pub fn selection(&self) -> &Filter {
        &self.selection
    }

    /// The filter, search and cursor: what the page is taken from.
    pub fn page_filter(&self) -> &Filter {
        &self.page
    }

    /// The same query continuing after `cursor` (keyset pagination).
    pub fn with_after(&self, cursor: Cursor, schema: &Schema) -> Result<CompiledQuery> {
        if self.offset.is_some() {
            return Err(query_error(
                "/after",
                "use either `offset` or `after`, not both",
            ));
        }
        let page = Ir::and(vec![
            self.selection.ir.clone(),
            keyset_ir(&self.keys, &cursor, schema)?,
        ]);
        Ok(CompiledQuery {
            page: Filter::from_ir(page, schema),
            ..self.clone()
        })
    }

    /// The cursor that continues after `row` (a JSON object with the sort fields).
    pub fn cursor_after(&self, row: &Value) -> Cursor {
        Cursor(
            self.keys
                .iter()
                .map(|k| row.get(&k.name).cloned().unwrap_or(Value::Null))
                .collect(),
        )
    }

    /// `order=` as PostgREST reads it: `date_create.desc.nullslast,id.asc.nullslast`.
    pub fn postgrest_order(&self) -> String {
        self.postgrest_order_in(&PostgrestTarget::columns())
    }

    fn postgrest_order_in(&self, target: &PostgrestTarget) -> String {
        self.keys
            .iter()
            .map(|k| {
                format!(
                    "{}.{}.{}",
                    target.order_path(&k.name, k.ty),
                    if k.direction == Direction::Asc {
                        "asc"
                    } else {
                        "desc"
                    },
                    if k.nulls == Nulls::First {
                        "nullsfirst"
                    } else {
                        "nullslast"
                    }
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The page request: filter (with the cursor), one `order` parameter (PostgREST uses only the
    /// first), `limit` and `offset`. With `count` and no cursor it also asks for the exact total;
    /// with a cursor the total must come from [`CompiledQuery::postgrest_count`], since the
    /// cursor would narrow it.
    pub fn postgrest(&self) -> PostgrestRequest {
        self.postgrest_in(&PostgrestTarget::columns())
    }

    /// [`CompiledQuery::postgrest`] with fields placed as `target` says.
    pub(crate) fn postgrest_in(&self, target: &PostgrestTarget) -> PostgrestRequest {
        let mut params = self.page.postgrest_in(target);
        params.push("order", self.postgrest_order_in(target));
        if let Some(limit) = self.limit {
            params.push("limit", limit.to_string());
        }
        if let Some(offset) = self.offset {
            params.push("offset", offset.to_string());
        }
        let counts_here = self.count && self.page.ir == self.selection.ir;
        PostgrestRequest {
            params,
            prefer: counts_here.then(|| "count=exact".to_owned()),
            head: false,
        }
    }

    /// A count-only request: `HEAD` with `Prefer: count=exact` and `limit=0` over the filter
    /// and search; the total is in the `Content-Range` header.
    pub fn postgrest_count(&self) -> PostgrestRequest {
        self.postgrest_count_in(&PostgrestTarget::columns())
    }

    /// [`CompiledQuery::postgrest_count`] with fields placed as `target` says.
    pub(crate) fn postgrest_count_in(&self, target: &PostgrestTarget) -> PostgrestRequest {
        let mut params = self.selection.postgrest_in(target);
        params.push("limit", "0");
        PostgrestRequest {
            params,
            prefer: Some("count=exact".to_owned()),
            head: true,
        }
    }

    /// `ORDER BY` items with bare column names: `date_create DESC NULLS LAST, id ASC NULLS LAST`
    /// (strings sort byte by byte: `last_name COLLATE "C" ASC NULLS LAST`).
    pub fn sql_order_by(&self) -> String {
        self.order_by(&SqlTarget::bare_columns())
    }

    /// `ORDER BY` items over `target` (quoted, table-qualified columns).
    pub fn sql_order_by_in(&self, target: &SqlTarget) -> String {
        self.order_by(target)
    }

    fn order_by(&self, target: &SqlTarget) -> String {
        self.keys
            .iter()
            .map(|k| {
                format!(
                    "{} {} {}",
                    target.ordered(&k.name, k.ty),
                    if k.direction == Direction::Asc {
                        "ASC"
                    } else {
                        "DESC"
                    },
                    if k.nulls == Nulls::First {
                        "NULLS FIRST"
                    } else {
                        "NULLS LAST"
                    }
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The page size, if the query has one.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// The rows to skip, if the query pages by offset.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// Whether the query asked for the exact total.
    pub fn counts(&self) -> bool {
        self.count
    }

    /// Appends ` LIMIT $n OFFSET $m` (as the query has them) to `b`.
    pub fn push_limit_offset(&self, b: &mut SqlBuilder) {
        for (word, n) in [("LIMIT", self.limit), ("OFFSET", self.offset)] {
            if let Some(n) = n {
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                b.push(" ").push(word).push(" ");
                b.push_param(super::sql::SqlParam::bigint(n));
            }
        }
    }

    /// The page and count statements over `table` (`name` or `schema.name`) with bare column
    /// names; `columns` empty means `*`.
    pub fn sql_query(&self, table: &str, columns: &[&str]) -> Result<SqlQuery> {
        for c in columns {
            check_identifier(c).map_err(|m| query_error("", format!("bad column name: {m}")))?;
        }
        let cols = if columns.is_empty() {
            "*".to_owned()
        } else {
            columns.join(", ")
        };
        self.statements(&SqlTarget::bare(table)?, &cols)
    }

    /// The page and count statements over `target`, with quoted, table-qualified columns;
    /// `columns` (plain column names, quoted here) empty means `*`. Parameters are numbered from
    /// `$1`; to put conditions of your own first, build the statement with a [`SqlBuilder`],
    /// [`CompiledQuery::page_filter`], [`CompiledQuery::sql_order_by_in`] and
    /// [`CompiledQuery::push_limit_offset`].
    pub fn sql_query_in(&self, target: &SqlTarget, columns: &[&str]) -> Result<SqlQuery> {
        let cols = if columns.is_empty() {
            "*".to_owned()
        } else {
            let mut quoted = Vec::with_capacity(columns.len());
            for c in columns {
                check_identifier(c)
                    .map_err(|m| query_error("", format!("bad column name: {m}")))?;
                quoted.push(format!("{}.\"{c}\"", target.table()));
            }
            quoted.join(", ")
        };
        self.statements(target, &cols)
    }

    fn statements(&self, target: &SqlTarget, cols: &str) -> Result<SqlQuery> {
        let mut b = SqlBuilder::new();
        b.push(&format!("SELECT {cols} FROM {} WHERE ", target.table()));
        b.push_filter(&self.page, target);
        b.push(" ORDER BY ").push(&self.order_by(target));
        self.push_limit_offset(&mut b);
        let mut c = SqlBuilder::new();
        c.push(&format!("SELECT count(*) FROM {} WHERE ", target.table()));
        c.push_filter(&self.selection, target);
        Ok(SqlQuery {
            select: b.finish(),
            count: c.finish(),
        })
    }

    /// Runs the query over JSON rows: filter, sort, page and (when asked) count.
    pub fn run<R: Borrow<Value>>(&self, rows: &[R]) -> Result<QueryPage> {
        let matched = self.page.evaluator().filter(rows)?;
        let total = if !self.count {
            None
        } else if self.page.ir == self.selection.ir {
            Some(matched.len())
        } else {
            Some(self.selection.evaluator().count(rows)?)
        };
        self.sort_and_page(rows, matched, total)
    }

    /// [`CompiledQuery::run`] with the filtering done over `table`, the same rows parsed once
    /// (what a store that answers many queries over the same rows keeps).
    pub fn run_table<R: Borrow<Value>>(&self, rows: &[R], table: &Table) -> Result<QueryPage> {
        if table.len() != rows.len() {
            return Err(query_error(
                "",
                format!(
                    "the table has {} rows, not the {} given",
                    table.len(),
                    rows.len()
                ),
            ));
        }
        let matched = self.page.evaluator().filter_table(table)?;
        let total = if !self.count {
            None
        } else if self.page.ir == self.selection.ir {
            Some(matched.len())
        } else {
            Some(self.selection.evaluator().filter_table(table)?.len())
        };
        self.sort_and_page(rows, matched, total)
    }

    fn sort_and_page<R: Borrow<Value>>(
        &self,
        rows: &[R],
        matched: Vec<usize>,
        total: Option<usize>,
    ) -> Result<QueryPage> {
        let mut keyed: Vec<(usize, Vec<Cell<'_>>)> = Vec::with_capacity(matched.len());
        for i in matched {
            let mut cells = Vec::with_capacity(self.keys.len());
            for k in &self.keys {
                let path = || format!("/{i}/{}", k.name);
                let cell = parse_cell(rows[i].borrow().get(&k.name), k.ty, false, &path)?;
                // Sorting compares the number: one that cannot be compared exactly is an error.
                if let Cell::Inexact(why) = &cell {
                    return Err(super::eval::cell_error(why));
                }
                cells.push(cell);
            }
            keyed.push((i, cells));
        }
        let order = crate::sort::sorted_positions(keyed.len(), &mut |a, b| {
            self.compare(&keyed[a].1, &keyed[b].1)
        });
        let skip = usize::try_from(self.offset.unwrap_or(0)).unwrap_or(usize::MAX);
        let take = self
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let page: Vec<usize> = order
            .into_iter()
            .skip(skip)
            .take(take)
            .map(|p| keyed[p].0)
            .collect();
        let next = match (self.limit, page.last()) {
            (Some(limit), Some(&last)) if page.len() as u64 == limit => {
                Some(self.cursor_after(rows[last].borrow()))
            }
            _ => None,
        };
        Ok(QueryPage {
            rows: page,
            total,
            next,
        })
    }

    fn compare(&self, a: &[Cell<'_>], b: &[Cell<'_>]) -> Ordering {
        for (k, (x, y)) in self.keys.iter().zip(a.iter().zip(b)) {
            let ord = match (matches!(x, Cell::Null), matches!(y, Cell::Null)) {
                (true, true) => Ordering::Equal,
                (true, false) => {
                    if k.nulls == Nulls::First {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (false, true) => {
                    if k.nulls == Nulls::First {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                (false, false) => {
                    let o = x.cmp_same(y);
                    if k.direction == Direction::Desc {
                        o.reverse()
                    } else {
                        o
                    }
                }
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    }

    /// The key column.
    pub fn id_field(&self) -> &str {
        &self.id
    }
}
