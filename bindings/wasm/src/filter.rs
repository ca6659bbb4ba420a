//! Audience filters: validation, in-memory evaluation over the page's rows, and compilation to
//! the PostgREST parameters the page hands to supabase-js.

use serde_json::Value;
use smsbatch::filter::{Filter, FilterContext, Query, Schema, Table};
use wasm_bindgen::prelude::*;

use crate::{OrThrow, from_js, json_from_js, rows_from_js, to_js};

/// The schema and options of the `FilterContext` argument (`{schema?, now?}`; the page passes
/// its clock in, the library never reads one).
fn context(value: JsValue) -> Result<FilterContext, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(FilterContext::default());
    }
    FilterContext::from_value(&json_from_js(value, "filter context")?).or_throw()
}

/// The default customer schema (`{"fields": [...]}`).
#[wasm_bindgen(js_name = customerSchema, unchecked_return_type = "Schema")]
pub fn customer_schema() -> Result<JsValue, JsValue> {
    to_js(&Schema::customers())
}

/// Checks a filter (a node or a `{"version": 1, "where": node}` document) against the schema;
/// throws `SmsbatchError` naming the JSON Pointer `path` of the bad node.
#[wasm_bindgen(js_name = validateFilter)]
pub fn validate_filter(
    #[wasm_bindgen(unchecked_param_type = "FilterNode | FilterDocument")] filter: JsValue,
    #[wasm_bindgen(unchecked_param_type = "FilterContext | undefined")] context: JsValue,
) -> Result<(), JsValue> {
    let context = self::context(context)?;
    let value = json_from_js(filter, "filter")?;
    smsbatch::filter::validate(&value, &context.schema, &context.options).or_throw()
}

/// Rows parsed once (typed columns, case-folded text) so that every keystroke's filter is
/// evaluated without converting the rows again.
#[wasm_bindgen(js_name = Rows)]
#[derive(Debug)]
pub struct JsRows {
    rows: Vec<Value>,
    table: Table,
}

#[wasm_bindgen(js_class = Rows)]
impl JsRows {
    /// Parses `rows` (objects) against the schema; a value of the wrong type throws
    /// `invalidRow` naming `/<row>/<field>`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "Record<string, unknown>[]")] rows: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FilterContext | undefined")] context: JsValue,
    ) -> Result<JsRows, JsValue> {
        let context = self::context(context)?;
        let rows = rows_from_js(rows, "rows")?;
        let table = Table::from_rows(&context.schema, &rows).or_throw()?;
        Ok(Self { rows, table })
    }

    /// The rows as read.
    pub(crate) fn values(&self) -> &[Value] {
        &self.rows
    }

    /// Number of rows.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.rows.len()
    }
}

/// A filter compiled against a schema: evaluate it over rows, or emit PostgREST parameters and
/// SQL. All select the same rows.
#[wasm_bindgen(js_name = Filter)]
#[derive(Debug)]
pub struct JsFilter {
    inner: Filter,
}

#[wasm_bindgen(js_class = Filter)]
impl JsFilter {
    /// Compiles a filter node or document; throws `SmsbatchError` (with `path`) when invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "FilterNode | FilterDocument")] filter: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FilterContext | undefined")] context: JsValue,
    ) -> Result<JsFilter, JsValue> {
        let context = self::context(context)?;
        let value = json_from_js(filter, "filter")?;
        Ok(Self {
            inner: Filter::from_value(&value, &context.schema, &context.options).or_throw()?,
        })
    }

    /// Whether one row (an object) matches.
    pub fn matches(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Record<string, unknown>")] row: JsValue,
    ) -> Result<bool, JsValue> {
        let row = json_from_js(row, "row")?;
        self.inner.matches(&row).or_throw()
    }

    /// Positions of the matching rows, in order.
    #[wasm_bindgen(unchecked_return_type = "number[]")]
    pub fn select(&self, rows: &JsRows) -> Result<JsValue, JsValue> {
        to_js(
            &self
                .inner
                .evaluator()
                .filter_table(&rows.table)
                .or_throw()?,
        )
    }

    /// Number of matching rows.
    pub fn count(&self, rows: &JsRows) -> Result<usize, JsValue> {
        Ok(self
            .inner
            .evaluator()
            .filter_table(&rows.table)
            .or_throw()?
            .len())
    }

    /// The filter as PostgREST query parameters, `[key, value]` pairs ready for
    /// `URLSearchParams` or supabase-js's `.filter()`/`.or()`.
    #[wasm_bindgen(unchecked_return_type = "[string, string][]")]
    pub fn postgrest(&self) -> Result<JsValue, JsValue> {
        to_js(self.inner.postgrest().pairs())
    }

    /// The form-encoded query string of [`postgrest`](Self::postgrest) (`+` sent as `%2B`).
    #[wasm_bindgen(js_name = queryString)]
    pub fn query_string(&self) -> String {
        self.inner.postgrest().query_string()
    }

    /// The parameterised SQL WHERE clause: `{where, params}` with `$1..$n` placeholders.
    #[wasm_bindgen(js_name = sqlWhere, unchecked_return_type = "SqlWhere")]
    pub fn sql_where(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.sql_where())
    }
}

/// Runs a query (filter, search, sort, page, count) over the rows in memory: positions of the
/// page's rows, the exact total when asked, and the cursor of the next page.
#[wasm_bindgen(js_name = runQuery, unchecked_return_type = "QueryPage")]
pub fn run_query(
    #[wasm_bindgen(unchecked_param_type = "Query")] query: JsValue,
    rows: &JsRows,
    #[wasm_bindgen(unchecked_param_type = "FilterContext | undefined")] context: JsValue,
) -> Result<JsValue, JsValue> {
    let context = self::context(context)?;
    let query: Query = from_js(query, "query")?;
    let compiled = query
        .compile(&context.schema, &context.options)
        .or_throw()?;
    to_js(&compiled.run(&rows.rows).or_throw()?)
}

/// Compiles a query to the PostgREST request the page sends through supabase-js:
/// `{params, prefer, head}`: the query parameters as `[key, value]` pairs (filter, `order`,
/// `limit`, `offset`), the `Prefer` header (exact count) and whether to send it as `HEAD`.
#[wasm_bindgen(js_name = postgrestRequest, unchecked_return_type = "PostgrestRequest")]
pub fn postgrest_request(
    #[wasm_bindgen(unchecked_param_type = "Query")] query: JsValue,
    #[wasm_bindgen(unchecked_param_type = "FilterContext | undefined")] context: JsValue,
) -> Result<JsValue, JsValue> {
    let context = self::context(context)?;
    let query: Query = from_js(query, "query")?;
    let compiled = query
        .compile(&context.schema, &context.options)
        .or_throw()?;
    to_js(&compiled.postgrest())
}
