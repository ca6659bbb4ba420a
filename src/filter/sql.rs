//! Parameterised PostgreSQL from the IR: a WHERE clause with `$n` placeholders.
//!
//! No value is ever part of the SQL text; every constant is a parameter, cast in the SQL to the
//! field's type (`$1::timestamptz`), so a driver can bind every parameter as text. Column names
//! come from the schema, which only admits plain, non-reserved identifiers.
//!
//! The IR is in negation normal form, so positive leaves are written plainly (a NULL comparison
//! inside AND/OR without NOT acts as FALSE) and negated leaves NULL-inclusively.

use serde::Serialize;
use serde_json::Value;

use super::ir::{Bound, Ir, Leaf, LikeKind, Pred, Scalar};
use super::postgrest::like_escape;
use super::schema::FieldType;

/// A bind parameter: its JSON value, its PostgreSQL text input and the type the SQL casts it to.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlParam {
    value: Scalar,
    ty: &'static str,
}

impl SqlParam {
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

/// Collects SQL text and parameters.
#[derive(Default)]
pub(crate) struct SqlBuilder {
    pub(crate) sql: String,
    pub(crate) params: Vec<SqlParam>,
}

impl SqlBuilder {
    /// Adds a parameter and returns its placeholder with the cast, e.g. `$3::date`.
    pub(crate) fn param(&mut self, value: Scalar, ty: &'static str) -> String {
        self.params.push(SqlParam { value, ty });
        format!("${}::{}", self.params.len(), ty)
    }

    pub(crate) fn finish(self) -> SqlWhere {
        SqlWhere {
            clause: self.sql,
            params: self.params,
        }
    }

    pub(crate) fn ir(&mut self, ir: &Ir) {
        match ir {
            Ir::Const(true) => self.sql.push_str("TRUE"),
            Ir::Const(false) => self.sql.push_str("FALSE"),
            Ir::Leaf(leaf) => self.leaf(leaf),
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
                    self.ir(c);
                }
                self.sql.push(')');
            }
        }
    }

    fn bound(&mut self, col: &str, op: &str, b: &Bound, ty: FieldType) -> String {
        let p = self.param(b.value.clone(), ty.sql_cast());
        format!("{col} {op} {p}")
    }

    fn leaf(&mut self, leaf: &Leaf) {
        let col = leaf.field.as_str();
        let cast = leaf.ty.sql_cast();
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
                    parts.push(self.bound(col, if b.inclusive { ">=" } else { ">" }, b, leaf.ty));
                }
                if let Some(b) = hi {
                    parts.push(self.bound(col, if b.inclusive { "<=" } else { "<" }, b, leaf.ty));
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
                    parts.push(self.bound(col, if b.inclusive { "<" } else { "<=" }, b, leaf.ty));
                }
                if let Some(b) = hi {
                    parts.push(self.bound(col, if b.inclusive { ">" } else { ">=" }, b, leaf.ty));
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

/// Emits the WHERE clause for `ir`, numbering parameters from `$1`.
pub(crate) fn emit(ir: &Ir) -> SqlWhere {
    let mut b = SqlBuilder::default();
    b.ir(ir);
    b.finish()
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
