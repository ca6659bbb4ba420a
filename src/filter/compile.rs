//! [`Filter`]: a filter validated against a schema and lowered once, ready for every back end.

use serde_json::Value;

use super::ast::{Document, Node, node_or_document};
use super::eval::Evaluator;
use super::ir::{FilterOptions, Ir, lower};
use super::postgrest::{self, PostgrestParams};
use super::schema::Schema;
use super::sql::{self, SqlTarget, SqlWhere};
use crate::error::Result;

/// A filter checked against a [`Schema`] and compiled; emit it as PostgREST parameters, as SQL,
/// or evaluate it in memory. All three select exactly the same rows.
///
/// ```
/// use serde_json::json;
/// use smsbatch::filter::{Filter, FilterOptions, Schema};
///
/// let options = FilterOptions::new().with_now_rfc3339("2024-06-15T10:00:00Z")?;
/// let filter = Filter::from_value(
///     &json!({"and": [
///         {"field": "date_create", "op": "withinLastDays", "value": 30},
///         {"field": "opted_in", "op": "isNotFalse"}
///     ]}),
///     &Schema::customers(),
///     &options,
/// )?;
/// assert_eq!(
///     filter.postgrest().query_string(),
///     "date_create=gte.2024-05-16T10%3A00%3A00Z&date_create=lte.2024-06-15T10%3A00%3A00Z&opted_in=not.is.false"
/// );
/// let sql = filter.sql_where();
/// assert_eq!(
///     sql.where_clause(),
///     "((date_create >= $1::timestamptz AND date_create <= $2::timestamptz) AND opted_in IS NOT FALSE)"
/// );
/// let row = json!({"id": 7, "date_create": "2024-06-01T08:00:00Z", "opted_in": null});
/// assert!(filter.matches(&row)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Filter {
    pub(crate) ir: Ir,
    id: String,
}

impl Filter {
    /// Validates `node` against `schema` and compiles it. Errors name the JSON Pointer of the bad
    /// node ([`ErrorKind::path`](crate::ErrorKind::path)).
    pub fn compile(node: &Node, schema: &Schema, options: &FilterOptions) -> Result<Filter> {
        Self::compile_at(node, schema, options, "")
    }

    /// Compiles the filter of a document; error paths start with `/where`.
    pub fn from_document(
        doc: &Document,
        schema: &Schema,
        options: &FilterOptions,
    ) -> Result<Filter> {
        Self::compile_at(&doc.filter, schema, options, "/where")
    }

    /// Parses JSON that is either a node or a document (`{"version": 1, "where": node}`),
    /// validates it and compiles it.
    pub fn from_value(value: &Value, schema: &Schema, options: &FilterOptions) -> Result<Filter> {
        let (node, base) = node_or_document(value, options.limits())?;
        Self::compile_at(&node, schema, options, base)
    }

    /// Like [`Filter::from_value`], from JSON text.
    pub fn from_json(json: &str, schema: &Schema, options: &FilterOptions) -> Result<Filter> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| super::ast::invalid("", format!("the filter is not valid JSON: {e}")))?;
        Self::from_value(&value, schema, options)
    }

    pub(crate) fn compile_at(
        node: &Node,
        schema: &Schema,
        options: &FilterOptions,
        base: &str,
    ) -> Result<Filter> {
        let ir = lower(node, schema, options, base)?;
        Ok(Self::from_ir(ir, schema))
    }

    pub(crate) fn from_ir(ir: Ir, schema: &Schema) -> Filter {
        Filter {
            ir,
            id: schema.fields()[schema.id_position()].name.clone(),
        }
    }

    /// The PostgREST query parameters of the filter (no `select`, `order` or `limit`).
    pub fn postgrest(&self) -> PostgrestParams {
        postgrest::emit(&self.ir, &self.id, &postgrest::PostgrestTarget::columns())
    }

    /// The PostgREST parameters with fields placed as `target` says (JSON paths for custom
    /// fields).
    pub(crate) fn postgrest_in(&self, target: &postgrest::PostgrestTarget) -> PostgrestParams {
        postgrest::emit(&self.ir, &self.id, target)
    }

    /// The SQL WHERE clause and its parameters (`$1`, `$2`...), with the bare column names of
    /// the schema.
    pub fn sql_where(&self) -> SqlWhere {
        sql::emit(&self.ir, &SqlTarget::bare_columns())
    }

    /// The SQL WHERE clause over `target` (quoted, table-qualified columns, the fields that are
    /// not columns read from its JSON column), parameters numbered from `$1`. To place it after
    /// parameters of your own, use [`SqlBuilder::push_filter`](super::SqlBuilder::push_filter).
    pub fn sql_where_in(&self, target: &SqlTarget) -> SqlWhere {
        sql::emit(&self.ir, target)
    }

    /// An evaluator over JSON rows.
    pub fn evaluator(&self) -> Evaluator {
        Evaluator::new(&self.ir)
    }

    /// Whether one JSON row matches (builds an evaluator; keep one with
    /// [`Filter::evaluator`] for many rows).
    pub fn matches(&self, row: &Value) -> Result<bool> {
        self.evaluator().matches(row)
    }

    /// Whether the filter matches every row (an empty `and`, for instance).
    pub fn is_always_true(&self) -> bool {
        self.ir == Ir::Const(true)
    }

    /// Whether the filter matches no row (an empty `or`, `in []`...).
    pub fn is_always_false(&self) -> bool {
        self.ir == Ir::Const(false)
    }
}

/// Checks `value` (a node or a document) against `schema` without keeping the compiled filter.
pub fn validate(value: &Value, schema: &Schema, options: &FilterOptions) -> Result<()> {
    Filter::from_value(value, schema, options).map(|_| ())
}
