//! Parameterised PostgreSQL from the IR: WHERE clauses with `$n` placeholders, and a builder
//! that composes them with other SQL.
//!
//! No value is ever part of the SQL text; every constant is a parameter, cast in the SQL to the
//! field's type (`$1::timestamptz`). A driver binds each one with its real type (the `postgres`
//! feature gives [`SqlParam`] tokio-postgres' `ToSql`), or every one as `text` (the casts convert).
//! Column names come from the schema, which only admits plain, non-reserved identifiers.
//!
//! The IR is in negation normal form, so positive leaves are written plainly (a NULL comparison
//! inside AND/OR without NOT acts as FALSE) and negated leaves NULL-inclusively.
//!
//! Strings are ordered byte by byte (`COLLATE "C"`) in sorts and keyset comparisons, which is the
//! order of the in-memory evaluator (and of Rust's `str`) whatever the database's collation, so
//! pages agree between the stores on an ICU or a `en_US` database too.

use serde::Serialize;
use serde_json::Value;

use super::compile::Filter;
use super::ir::{Bound, Ir, Leaf, LikeKind, Pred, Scalar};
use super::postgrest::like_escape;
use super::schema::{FieldType, check_identifier};
use crate::error::{Error, ErrorKind, Result};
use crate::time::Timestamp;

/// A bind parameter: its value and the PostgreSQL type the SQL casts it to.
///
/// The `postgres` feature implements tokio-postgres' `ToSql` for it, so the parameters of a
/// [`SqlStatement`] can be passed to a query as they are, each with its real type (`text`,
/// `numeric`, `date`, `timestamptz`, `boolean` or `bigint`).
#[derive(Clone, Debug, PartialEq)]
pub struct SqlParam {
    pub(crate) value: Scalar,
    pub(crate) ty: &'static str,
}

impl SqlParam {
    /// A `text` parameter.
    pub fn string(value: impl Into<String>) -> Self {
        Self {
            value: Scalar::Str(value.into()),
            ty: "text",
        }
    }

    /// A `bigint` parameter.
    pub fn bigint(value: i64) -> Self {
        Self {
            value: Scalar::Num(value as f64, serde_json::Number::from(value)),
            ty: "bigint",
        }
    }

    /// A `timestamptz` parameter.
    pub fn timestamp(value: Timestamp) -> Self {
        Self {
            value: Scalar::Ts(value),
            ty: "timestamptz",
        }
    }

    /// A `boolean` parameter.
    pub fn boolean(value: bool) -> Self {
        Self {
            value: Scalar::Bool(value),
            ty: "boolean",
        }
    }

    /// The value as plain JSON (a string for text, dates and timestamps; a number; a boolean).
    pub fn json(&self) -> Value {
        self.value.to_json()
    }

    /// The value as PostgreSQL text input: bind it as `text` and the cast in the SQL converts it.
    pub fn text(&self) -> String {
        self.value.to_text()
    }

    /// The PostgreSQL type the SQL casts this parameter to (`text`, `numeric`, `date`,
    /// `timestamptz`, `boolean` or `bigint`).
    pub fn pg_type(&self) -> &'static str {
        self.ty
    }
}

impl Serialize for SqlParam {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json().serialize(s)
    }
}

/// A WHERE clause and its parameters, in placeholder order.
///
/// ```
/// use smsbatch::filter::{Filter, FilterOptions, Schema};
///
/// let filter = Filter::from_json(
///     r#"{"field": "city", "op": "notContains", "value": "50%"}"#,
///     &Schema::customers(),
///     &FilterOptions::new(),
/// )?;
/// let sql = filter.sql_where();
/// assert_eq!(sql.where_clause(), r"(city IS NULL OR city NOT ILIKE $1::text)");
/// assert_eq!(sql.params()[0].text(), r"%50\%%");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SqlWhere {
    #[serde(rename = "where")]
    clause: String,
    params: Vec<SqlParam>,
}

impl SqlWhere {
    /// The condition, ready for `SELECT id FROM <table> WHERE <clause>`.
    pub fn where_clause(&self) -> &str {
        &self.clause
    }

    /// The parameters; `params()[i]` is `$<i+1>`.
    pub fn params(&self) -> &[SqlParam] {
        &self.params
    }

    /// The parameters as PostgreSQL text input (bind each as `text`).
    pub fn text_params(&self) -> Vec<String> {
        self.params.iter().map(SqlParam::text).collect()
    }

    /// The parameters as plain JSON values.
    pub fn json_params(&self) -> Vec<Value> {
        self.params.iter().map(SqlParam::json).collect()
    }
}

/// A SQL statement and its parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SqlStatement {
    #[serde(rename = "sql")]
    pub(crate) text: String,
    pub(crate) params: Vec<SqlParam>,
}

impl SqlStatement {
    /// The SQL text with `$n` placeholders.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The parameters in placeholder order.
    pub fn params(&self) -> &[SqlParam] {
        &self.params
    }

    /// The parameters as PostgreSQL text input (bind each as `text`).
    pub fn text_params(&self) -> Vec<String> {
        self.params.iter().map(SqlParam::text).collect()
    }
}

/// Where a filter's fields live in SQL: a table, whose name qualifies every column
/// (`"customers"."city"`), and optionally a `jsonb` column holding the fields that are not columns
/// of their own (`("customers"."attributes" ->> 'nickname')`, cast to the field's type).
///
/// ```
/// use smsbatch::filter::{Filter, FilterOptions, Schema, SqlTarget};
///
/// let target = SqlTarget::new("public.customers")?.json_column("attributes", ["id", "city"])?;
/// let schema = Schema::from_json(r#"{"fields": [
///     {"name": "id", "type": "number", "sortable": true},
///     {"name": "city", "type": "string"},
///     {"name": "loyalty_points", "type": "number"}
/// ]}"#)?;
/// let filter = Filter::from_json(
///     r#"{"and": [{"field": "city", "op": "equals", "value": "Lyon"},
///                 {"field": "loyalty_points", "op": "gt", "value": 100}]}"#,
///     &schema,
///     &FilterOptions::new(),
/// )?;
/// assert_eq!(
///     filter.sql_where_in(&target).where_clause(),
///     r#"("public"."customers"."city" = $1::text AND ("public"."customers"."attributes" ->> 'loyalty_points')::numeric > $2::numeric)"#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlTarget {
    /// The table as written before each column: `"schema"."table"`, or empty for bare names.
    prefix: String,
    /// The table in a FROM clause.
    from: String,
    /// The quoted JSON column and the fields that are real columns.
    json: Option<(String, Vec<String>)>,
}

/// Checks one part of a table name and quotes it: letters, digits and `_`, not starting with a
/// digit, at most 63 bytes. (Quoted, reserved words and capitals are fine.)
fn quote_identifier(name: &str) -> std::result::Result<String, String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63;
    if ok {
        Ok(format!("\"{name}\""))
    } else {
        Err(format!(
            "`{}` is not a plain SQL name (ASCII letters, digits and `_`, not starting with a digit, at most 63 bytes)",
            super::ast::clip(name)
        ))
    }
}

fn target_error(message: String) -> Error {
    Error::new(ErrorKind::InvalidQuery {
        path: String::new(),
        message,
    })
}

impl SqlTarget {
    /// Columns of `table` (`name` or `schema.name`), quoted and qualified.
    pub fn new(table: &str) -> Result<Self> {
        let mut parts = table.split('.');
        let quoted = match (parts.next(), parts.next(), parts.next()) {
            (Some(t), None, _) => quote_identifier(t),
            (Some(s), Some(t), None) => {
                quote_identifier(s).and_then(|s| quote_identifier(t).map(|t| format!("{s}.{t}")))
            }
            _ => Err(format!(
                "`{}` is not `table` or `schema.table`",
                super::ast::clip(table)
            )),
        }
        .map_err(|m| target_error(format!("bad table name: {m}")))?;
        Ok(Self {
            prefix: format!("{quoted}."),
            from: quoted,
            json: None,
        })
    }

    /// Bare column names and no table, as [`Filter::sql_where`] writes them.
    pub(crate) fn bare_columns() -> Self {
        Self {
            prefix: String::new(),
            from: String::new(),
            json: None,
        }
    }

    /// Bare column names and the table as given (checked), as [`Filter::sql_where`] and
    /// [`CompiledQuery::sql_query`](super::CompiledQuery::sql_query) write them.
    pub(crate) fn bare(table: &str) -> Result<Self> {
        check_table(table)?;
        Ok(Self {
            prefix: String::new(),
            from: table.to_owned(),
            json: None,
        })
    }

    /// Reads every field that is not one of `columns` from the `jsonb` column `column`.
    pub fn json_column<S: AsRef<str>>(
        mut self,
        column: &str,
        columns: impl IntoIterator<Item = S>,
    ) -> Result<Self> {
        let quoted = quote_identifier(column)
            .map_err(|m| target_error(format!("bad JSON column name: {m}")))?;
        self.json = Some((
            quoted,
            columns.into_iter().map(|c| c.as_ref().to_owned()).collect(),
        ));
        Ok(self)
    }

    /// The table as a FROM clause names it.
    pub fn table(&self) -> &str {
        &self.from
    }

    /// The SQL expression of a field of type `ty`.
    pub fn column(&self, field: &str, ty: FieldType) -> String {
        match &self.json {
            Some((json, columns)) if !columns.iter().any(|c| c == field) => {
                // Field names are plain identifiers (the schema checks them), so the key can be
                // a literal without escaping.
                let text = format!("({}{json} ->> '{field}')", self.prefix);
                match ty {
                    FieldType::String => text,
                    other => format!("{text}::{}", other.sql_cast()),
                }
            }
            _ if self.prefix.is_empty() => field.to_owned(),
            _ => format!("{}\"{field}\"", self.prefix),
        }
    }

    /// The expression a sort or a keyset comparison uses: strings compare byte by byte.
    pub(crate) fn ordered(&self, field: &str, ty: FieldType) -> String {
        let col = self.column(field, ty);
        if ty == FieldType::String {
            format!("{col} COLLATE \"C\"")
        } else {
            col
        }
    }
}

/// Checks a bare table name: `table` or `schema.table`, plain identifiers.
pub(crate) fn check_table(table: &str) -> Result<()> {
    let mut parts = table.split('.');
    let ok = match (parts.next(), parts.next(), parts.next()) {
        (Some(t), None, _) => check_identifier(t),
        (Some(s), Some(t), None) => check_identifier(s).and_then(|_| check_identifier(t)),
        _ => Err(format!(
            "`{}` is not `table` or `schema.table`",
            super::ast::clip(table)
        )),
    };
    ok.map_err(|m| target_error(format!("bad table name: {m}")))
}

/// Builds a SQL statement piece by piece, numbering the parameters as they are pushed, so a
/// filter can follow conditions of your own.
///
/// ```
/// use smsbatch::filter::{Filter, FilterOptions, Schema, SqlBuilder, SqlParam, SqlTarget};
///
/// let target = SqlTarget::new("customers")?;
/// let filter = Filter::from_json(
///     r#"{"field": "city", "op": "in", "value": ["Lyon", "Nice"]}"#,
///     &Schema::customers(),
///     &FilterOptions::new(),
/// )?;
/// let mut sql = SqlBuilder::new();
/// sql.push("SELECT \"id\" FROM customers WHERE \"team_id\" = ")
///     .push_param(SqlParam::string("team-1"))
///     .push(" AND ")
///     .push_filter(&filter, &target);
/// let statement = sql.finish();
/// assert_eq!(
///     statement.text(),
///     r#"SELECT "id" FROM customers WHERE "team_id" = $1::text AND "customers"."city" IN ($2::text, $3::text)"#
/// );
/// assert_eq!(statement.text_params(), ["team-1", "Lyon", "Nice"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct SqlBuilder {
    pub(crate) sql: String,
    pub(crate) params: Vec<SqlParam>,
}

impl SqlBuilder {
    /// An empty statement.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends SQL text as it is. Never put a value here: push it with
    /// [`SqlBuilder::push_param`].
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends the next placeholder with its cast (`$3::text`) and records the parameter.
    pub fn push_param(&mut self, param: SqlParam) -> &mut Self {
        let p = self.param(param.value, param.ty);
        self.sql.push_str(&p);
        self
    }

    /// Appends the filter's condition over `target`, numbering its parameters after those
    /// already pushed.
    pub fn push_filter(&mut self, filter: &Filter, target: &SqlTarget) -> &mut Self {
        self.ir(&filter.ir, target);
        self
    }

    /// The number of parameters so far.
    pub fn param_count(&self) -> usize {
        self.params.len()
    }

    /// The statement.
    pub fn finish(self) -> SqlStatement {
        SqlStatement {
            text: self.sql,
            params: self.params,
        }
    }

    /// Adds a parameter and returns its placeholder with the cast, e.g. `$3::date`.
    pub(crate) fn param(&mut self, value: Scalar, ty: &'static str) -> String {
        self.params.push(SqlParam { value, ty });
        format!("${}::{}", self.params.len(), ty)
    }

    pub(crate) fn ir(&mut self, ir: &Ir, target: &SqlTarget) {
        match ir {
            Ir::Const(true) => self.sql.push_str("TRUE"),
            Ir::Const(false) => self.sql.push_str("FALSE"),
            Ir::Leaf(leaf) => self.leaf(leaf, target),
            Ir::And(children) | Ir::Or(children) => {
                let joiner = if matches!(ir, Ir::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                self.sql.push('(');
                for (i, c) in children.iter().enumerate() {
                    if i > 0 {
                        self.sql.push_str(joiner);
                    }
                    self.ir(c, target);
                }
                self.sql.push(')');
            }
        }
    }

    fn bound(&mut self, col: &str, op: &str, b: &Bound, ty: FieldType) -> String {
        let p = self.param(b.value.clone(), ty.sql_cast());
        format!("{col} {op} {p}")
    }

    fn leaf(&mut self, leaf: &Leaf, target: &SqlTarget) {
        let col = target.column(&leaf.field, leaf.ty);
        let col = col.as_str();
        let cast = leaf.ty.sql_cast();
        // Ranges on strings only come from keyset cursors: they compare in the sort's byte order.
        let ordered = target.ordered(&leaf.field, leaf.ty);
        let s = match (&leaf.pred, leaf.negated) {
            (Pred::Eq(v), false) => format!("{col} = {}", self.param(v.clone(), cast)),
            (Pred::Eq(v), true) => {
                format!("{col} IS DISTINCT FROM {}", self.param(v.clone(), cast))
            }
            (Pred::In(vs), neg) => {
                let ps: Vec<String> = vs.iter().map(|v| self.param(v.clone(), cast)).collect();
                if neg {
                    format!("({col} IS NULL OR {col} NOT IN ({}))", ps.join(", "))
                } else {
                    format!("{col} IN ({})", ps.join(", "))
                }
            }
            (Pred::Range { lo, hi }, false) => {
                let mut parts = Vec::new();
                if let Some(b) = lo {
                    parts.push(self.bound(
                        &ordered,
                        if b.inclusive { ">=" } else { ">" },
                        b,
                        leaf.ty,
                    ));
                }
                if let Some(b) = hi {
                    parts.push(self.bound(
                        &ordered,
                        if b.inclusive { "<=" } else { "<" },
                        b,
                        leaf.ty,
                    ));
                }
                if parts.len() == 1 {
                    parts.remove(0)
                } else {
                    format!("({})", parts.join(" AND "))
                }
            }
            (Pred::Range { lo, hi }, true) => {
                let mut parts = vec![format!("{col} IS NULL")];
                if let Some(b) = lo {
                    parts.push(self.bound(
                        &ordered,
                        if b.inclusive { "<" } else { "<=" },
                        b,
                        leaf.ty,
                    ));
                }
                if let Some(b) = hi {
                    parts.push(self.bound(
                        &ordered,
                        if b.inclusive { ">" } else { ">=" },
                        b,
                        leaf.ty,
                    ));
                }
                format!("({})", parts.join(" OR "))
            }
            (Pred::Like(kind, text), neg) => {
                let esc = like_escape(text);
                let pattern = match kind {
                    LikeKind::Contains => format!("%{esc}%"),
                    LikeKind::StartsWith => format!("{esc}%"),
                    LikeKind::EndsWith => format!("%{esc}"),
                };
                let p = self.param(Scalar::Str(pattern), "text");
                if neg {
                    format!("({col} IS NULL OR {col} NOT ILIKE {p})")
                } else {
                    format!("{col} ILIKE {p}")
                }
            }
            (Pred::Null, false) => format!("{col} IS NULL"),
            (Pred::Null, true) => format!("{col} IS NOT NULL"),
            (Pred::NullOrEmpty, false) => format!("({col} IS NULL OR {col} = '')"),
            (Pred::NullOrEmpty, true) => format!("{col} <> ''"),
            (Pred::True, false) => format!("{col} IS TRUE"),
            (Pred::True, true) => format!("{col} IS NOT TRUE"),
            (Pred::False, false) => format!("{col} IS FALSE"),
            (Pred::False, true) => format!("{col} IS NOT FALSE"),
        };
        self.sql.push_str(&s);
    }
}

/// Emits the WHERE clause for `ir` over `target`, numbering parameters from `$1`.
pub(crate) fn emit(ir: &Ir, target: &SqlTarget) -> SqlWhere {
    let mut b = SqlBuilder::default();
    b.ir(ir, target);
    SqlWhere {
        clause: b.sql,
        params: b.params,
    }
}

#[cfg(test)]
mod tests {
    use crate::filter::{Filter, FilterOptions, Schema};
    use serde_json::json;

    fn sql(v: serde_json::Value) -> (String, Vec<String>) {
        let options = FilterOptions::new()
            .with_now_rfc3339("2024-03-10T12:00:00Z")
            .unwrap();
        let w = Filter::from_value(&v, &Schema::customers(), &options)
            .unwrap()
            .sql_where();
        (w.where_clause().to_owned(), w.text_params())
    }

    #[test]
    fn negated_leaves_keep_nulls() {
        assert_eq!(
            sql(json!({"field": "city", "op": "notIn", "value": ["a", "b"]})),
            (
                "(city IS NULL OR city NOT IN ($1::text, $2::text))".into(),
                vec!["a".into(), "b".into()]
            )
        );
        assert_eq!(
            sql(json!({"field": "total_spent", "op": "notBetween", "value": [1, 2]})).0,
            "(total_spent IS NULL OR total_spent < $1::numeric OR total_spent > $2::numeric)"
        );
        assert_eq!(
            sql(json!({"field": "city", "op": "notEquals", "value": "x"})).0,
            "city IS DISTINCT FROM $1::text"
        );
        assert_eq!(
            sql(json!({"field": "city", "op": "isNotEmpty"})).0,
            "city <> ''"
        );
        assert_eq!(
            sql(json!({"field": "city", "op": "isEmpty"})).0,
            "(city IS NULL OR city = '')"
        );
        assert_eq!(
            sql(json!({"field": "opted_in", "op": "isNotTrue"})).0,
            "opted_in IS NOT TRUE"
        );
        assert_eq!(sql(json!({"or": []})).0, "FALSE");
    }

    #[test]
    fn values_are_parameters_never_text() {
        let (clause, params) = sql(json!({"or": [
            {"field": "city", "op": "equals", "value": "'; DROP TABLE customers; --"},
            {"field": "city", "op": "endsWith", "value": "_x%"}
        ]}));
        assert_eq!(clause, "(city = $1::text OR city ILIKE $2::text)");
        assert_eq!(
            params,
            vec![
                "'; DROP TABLE customers; --".to_owned(),
                r"%\_x\%".to_owned()
            ]
        );
        let (clause, params) =
            sql(json!({"field": "birthday", "op": "withinLastDays", "value": 3}));
        assert_eq!(clause, "(birthday >= $1::date AND birthday <= $2::date)");
        assert_eq!(
            params,
            vec!["2024-03-07".to_owned(), "2024-03-10".to_owned()]
        );
    }
}
