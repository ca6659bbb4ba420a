//! Requests as parameterised SQL, in the shapes PostgREST builds (`Query/SqlFragment.hs`,
//! `QueryBuilder.hs`, `Statements.hs`).
//!
//! Values never enter the SQL text: each one is a `$n` parameter sent as text with no declared
//! type, so PostgreSQL gives it the type its place calls for (the column's, the operator's), as
//! it does for an untyped literal; a bad value is then PostgreSQL's own error (`22P02 invalid
//! input syntax for type integer`), as with PostgREST. Identifiers are checked against the
//! schema cache by the caller and double-quoted here. The only other text in the SQL comes from
//! the catalogs (column types and defaults) or from this file.

use std::error::Error as StdError;

use bytes::BytesMut;
use tokio_postgres::types::{Format, IsNull, ToSql, Type, to_sql_checked};

use crate::error::ApiError;
use crate::parse::ast::{
    Direction, Field, Filter, FtsOp, IsValue, JsonOp, JsonOperand, LogicOp, LogicTree, Nulls,
    Operation, OrderTerm, QuantOp, Quantifier, SelectItem, SimpleOp,
};
use crate::range::Range;
use crate::schema::{Column, Function, Param, Returns, Table};

/// A parameter sent as text without a type: PostgreSQL infers the type from the place it is
/// used in, as it does for an untyped literal (`hasql`'s `unknown` encoder in PostgREST).
#[derive(Debug, Clone)]
pub(crate) struct Unknown(pub(crate) Option<String>);

impl ToSql for Unknown {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match &self.0 {
            Some(v) => {
                out.extend_from_slice(v.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// SQL text with its parameters.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) params: Vec<Unknown>,
}

/// `"name"` with `"` doubled (PostgREST's `escapeIdent`); NUL characters cannot be sent.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('\0', "").replace('"', "\"\""))
}

impl Sql {
    pub(crate) fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    pub(crate) fn ident(&mut self, name: &str) -> &mut Self {
        self.text.push_str(&quote_ident(name));
        self
    }

    /// Appends `$n` for `value`.
    pub(crate) fn param(&mut self, value: impl Into<String>) -> &mut Self {
        self.params.push(Unknown(Some(value.into())));
        self.text.push('$');
        self.text.push_str(&self.params.len().to_string());
        self
    }

    /// The parameters as tokio-postgres takes them.
    pub(crate) fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p as &(dyn ToSql + Sync))
            .collect()
    }
}

/// What columns are read from: a table, or `pgrst_source` (a mutation's or a function's rows).
pub(crate) struct Relation<'a> {
    /// SQL that qualifies a column: `"schema"."table"` or `"pgrst_source"`.
    pub(crate) qualifier: String,
    /// The relation's name in error messages.
    pub(crate) name: &'a str,
    /// Its columns; `None` when unknown (a function returning `record`), then names are only
    /// quoted.
    pub(crate) columns: Option<&'a [Column]>,
}

impl<'a> Relation<'a> {
    pub(crate) fn table(table: &'a Table) -> Self {
        Relation {
            qualifier: format!(
                "{}.{}",
                quote_ident(&table.schema),
                quote_ident(&table.name)
            ),
            name: &table.name,
            columns: Some(&table.columns),
        }
    }

    pub(crate) fn source(name: &'a str, columns: Option<&'a [Column]>) -> Self {
        Relation {
            qualifier: quote_ident(SOURCE),
            name,
            columns,
        }
    }

    fn column(&self, name: &str) -> Result<Option<&'a Column>, ApiError> {
        match self.columns {
            None => Ok(None),
            Some(cols) => match cols.iter().find(|c| c.name == name) {
                Some(c) => Ok(Some(c)),
                None => Err(ApiError::undefined_column(self.name, name)),
            },
        }
    }
}

const SOURCE: &str = "pgrst_source";

// ---- fragments ---------------------------------------------------------------------------

/// `"t"."col"`, with a JSON path (through `to_jsonb` when the column is not JSON) and, for full
/// text search on a column that is not a `tsvector`, `to_tsvector([lang, ]...)`.
fn field(
    sql: &mut Sql,
    rel: &Relation<'_>,
    f: &Field,
    fts_lang: Option<Option<&str>>,
) -> Result<(), ApiError> {
    let column = rel.column(&f.name)?;
    let base = column.map(|c| c.base_type.as_str());
    let wrap_tsvector = fts_lang.is_some() && f.path.is_empty() && base != Some("tsvector");
    if wrap_tsvector {
        sql.push("to_tsvector(");
        if let Some(Some(lang)) = fts_lang {
            sql.param(lang).push(", ");
        }
    }
    let to_json = !f.path.is_empty() && !matches!(base, Some("json" | "jsonb"));
    if to_json {
        sql.push("to_jsonb(");
    }
    sql.push(&rel.qualifier).push(".").ident(&f.name);
    if to_json {
        sql.push(")");
    }
    json_path(sql, &f.path);
    if wrap_tsvector {
        sql.push(")");
    }
    Ok(())
}

fn json_path(sql: &mut Sql, path: &[JsonOp]) {
    for op in path {
        let (arrow, operand) = match op {
            JsonOp::Arrow(o) => ("->", o),
            JsonOp::DoubleArrow(o) => ("->>", o),
        };
        sql.push(arrow);
        match operand {
            JsonOperand::Key(k) => sql.param(k.as_str()),
            JsonOperand::Index(i) => sql.param(i.as_str()).push("::int"),
        };
    }
}

/// `pgBuildArrayLiteral`: `{"a","b\"c"}` with `\` and `"` escaped and NUL dropped.
fn array_literal(items: &[String]) -> String {
    let inner: Vec<String> = items
        .iter()
        .map(|s| {
            format!(
                "\"{}\"",
                s.replace('\0', "")
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
            )
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn filter(sql: &mut Sql, rel: &Relation<'_>, f: &Filter) -> Result<(), ApiError> {
    if f.negated {
        sql.push("NOT (");
    }
    let fts_lang = match &f.operation {
        Operation::Fts { lang, .. } => Some(lang.as_deref()),
        _ => None,
    };
    field(sql, rel, &f.field, fts_lang)?;
    match &f.operation {
        Operation::Simple { op, value } => {
            let op = match op {
                SimpleOp::NotEqual => "<>",
                SimpleOp::Contains => "@>",
                SimpleOp::Contained => "<@",
                SimpleOp::Overlap => "&&",
                SimpleOp::StrictlyLeft => "<<",
                SimpleOp::StrictlyRight => ">>",
                SimpleOp::NotExtendsRight => "&<",
                SimpleOp::NotExtendsLeft => "&>",
                SimpleOp::Adjacent => "-|-",
            };
            sql.push(" ").push(op).push(" ").param(value.as_str());
        }
        Operation::Quant {
            op,
            quantifier,
            value,
        } => {
            let (op, star) = match op {
                QuantOp::Equal => ("=", false),
                QuantOp::GreaterThanEqual => (">=", false),
                QuantOp::GreaterThan => (">", false),
                QuantOp::LessThanEqual => ("<=", false),
                QuantOp::LessThan => ("<", false),
                QuantOp::Like => ("like", true),
                QuantOp::ILike => ("ilike", true),
                QuantOp::Match => ("~", false),
                QuantOp::IMatch => ("~*", false),
            };
            // Every `*` is LIKE's `%`, quoted or not.
            let value = if star {
                value.replace('*', "%")
            } else {
                value.clone()
            };
            sql.push(" ").push(op).push(" ");
            match quantifier {
                Some(Quantifier::Any) => sql.push("ANY(").param(value).push(")"),
                Some(Quantifier::All) => sql.push("ALL(").param(value).push(")"),
                None => sql.param(value),
            };
        }
        Operation::Is(v) => {
            sql.push(match v {
                IsValue::Null => " IS NULL",
                IsValue::NotNull => " IS NOT NULL",
                IsValue::True => " IS TRUE",
                IsValue::False => " IS FALSE",
                IsValue::Unknown => " IS UNKNOWN",
            });
        }
        Operation::IsDistinct(v) => {
            sql.push(" IS DISTINCT FROM ").param(v.as_str());
        }
        Operation::In(items) => {
            // `in.()` and `in.("")` are the empty array, which matches nothing.
            if items.len() == 1 && items[0].is_empty() {
                sql.push(" = ANY('{}')");
            } else {
                sql.push(" = ANY(").param(array_literal(items)).push(")");
            }
        }
        Operation::Fts { op, lang, value } => {
            let func = match op {
                FtsOp::Fts => "to_tsquery",
                FtsOp::Plain => "plainto_tsquery",
                FtsOp::Phrase => "phraseto_tsquery",
                FtsOp::Websearch => "websearch_to_tsquery",
            };
            sql.push(" @@ ").push(func).push("(");
            if let Some(l) = lang {
                sql.param(l.as_str()).push(", ");
            }
            sql.param(value.as_str()).push(")");
        }
    }
    if f.negated {
        sql.push(")");
    }
    Ok(())
}

fn logic_tree(sql: &mut Sql, rel: &Relation<'_>, tree: &LogicTree) -> Result<(), ApiError> {
    match tree {
        LogicTree::Filter(f) => filter(sql, rel, f),
        LogicTree::Expr {
            negated,
            op,
            children,
        } => {
            if *negated {
                sql.push("NOT ");
            }
            sql.push("(");
            for (i, child) in children.iter().enumerate() {
                if i > 0 {
                    sql.push(match op {
                        LogicOp::And => " AND ",
                        LogicOp::Or => " OR ",
                    });
                }
                sql.push("(");
                logic_tree(sql, rel, child)?;
                sql.push(")");
            }
            sql.push(")");
            Ok(())
        }
    }
}

/// The request's conditions, ANDed; an empty string when there are none.
pub(crate) struct Conditions<'q> {
    pub(crate) filters: &'q [Filter],
    pub(crate) logic: &'q [LogicTree],
}

fn where_clause(sql: &mut Sql, rel: &Relation<'_>, c: &Conditions<'_>) -> Result<(), ApiError> {
    let mut first = true;
    let mut sep = |sql: &mut Sql| {
        sql.push(if first { " WHERE (" } else { " AND (" });
        first = false;
    };
    for f in c.filters {
        sep(sql);
        filter(sql, rel, f)?;
        sql.push(")");
    }
    for t in c.logic {
        sep(sql);
        logic_tree(sql, rel, t)?;
        sql.push(")");
    }
    Ok(())
}

fn select_list(sql: &mut Sql, rel: &Relation<'_>, items: &[SelectItem]) -> Result<(), ApiError> {
    if items.is_empty() {
        sql.push(&rel.qualifier).push(".*");
        return Ok(());
    }
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        match item {
            SelectItem::Star => {
                sql.push(&rel.qualifier).push(".*");
            }
            SelectItem::Field {
                alias,
                field: f,
                cast,
            } => {
                if cast.is_some() {
                    sql.push("CAST(");
                }
                field(sql, rel, f, None)?;
                if let Some(c) = cast {
                    // The grammar allows only letters, digits, `_`, `$` and spaces here.
                    sql.push(" AS ").push(c).push(")");
                }
                // A JSON path is named after its last key (after an index: the key before it,
                // else the column), as in PostgREST.
                let last_key = f.path.iter().rev().find_map(|op| match op {
                    JsonOp::Arrow(JsonOperand::Key(k))
                    | JsonOp::DoubleArrow(JsonOperand::Key(k)) => Some(k.as_str()),
                    _ => None,
                });
                let implicit = match f.path.last() {
                    None => None,
                    Some(
                        JsonOp::Arrow(JsonOperand::Key(k))
                        | JsonOp::DoubleArrow(JsonOperand::Key(k)),
                    ) => Some(k.as_str()),
                    Some(_) => Some(last_key.unwrap_or(f.name.as_str())),
                };
                if let Some(a) = alias.as_deref().or(implicit) {
                    sql.push(" AS ").ident(a);
                }
            }
        }
    }
    Ok(())
}

fn order_by(sql: &mut Sql, rel: &Relation<'_>, terms: &[OrderTerm]) -> Result<(), ApiError> {
    for (i, t) in terms.iter().enumerate() {
        sql.push(if i == 0 { " ORDER BY " } else { ", " });
        field(sql, rel, &t.field, None)?;
        match t.direction {
            Some(Direction::Asc) => sql.push(" ASC"),
            Some(Direction::Desc) => sql.push(" DESC"),
            None => sql,
        };
        match t.nulls {
            Some(Nulls::First) => sql.push(" NULLS FIRST"),
            Some(Nulls::Last) => sql.push(" NULLS LAST"),
            None => sql,
        };
    }
    Ok(())
}

fn limit_offset(sql: &mut Sql, range: &Range) {
    if *range == Range::ALL {
        return;
    }
    sql.push(" LIMIT ");
    match range.limit() {
        Some(l) => sql.param(l.to_string()),
        None => sql.push("ALL"),
    };
    sql.push(" OFFSET ").param(range.offset().to_string());
}

/// How the rows become the response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// A JSON array of row objects.
    Array,
    /// The first row object, or `null` (single-object responses, a function returning one row).
    Object,
    /// The first value of `pgrst_scalar`, or `null`.
    Scalar,
    /// A JSON array of `pgrst_scalar` values.
    ScalarArray,
    /// No body (HEAD, `return=minimal`).
    None,
}

impl Body {
    fn sql(self) -> &'static str {
        match self {
            Body::Array => "coalesce(json_agg(_postgrest_t), '[]')::text",
            Body::Object => "coalesce(json_agg(_postgrest_t)->0, 'null')::text",
            Body::Scalar => "coalesce(json_agg(_postgrest_t.pgrst_scalar)->0, 'null')::text",
            Body::ScalarArray => "coalesce(json_agg(_postgrest_t.pgrst_scalar), '[]')::text",
            Body::None => "''",
        }
    }
}

/// The outer query every statement ends with: total, page rows, body, the response GUCs and the
/// upsert's inserted count.
fn outer(sql: &mut Sql, total: &str, page_total: &str, body: Body, inserted: &str) {
    sql.push(" SELECT ")
        .push(total)
        .push(" AS total, ")
        .push(page_total)
        .push(" AS page_total, ")
        .push(body.sql())
        .push(
            " AS body, nullif(current_setting('response.headers', true), '') AS response_headers, \
             nullif(current_setting('response.status', true), '') AS response_status, ",
        )
        .push(inserted)
        .push(" AS inserted");
}

// ---- statements --------------------------------------------------------------------------

/// A read of a table or view.
pub(crate) struct Read<'q> {
    pub(crate) select: &'q [SelectItem],
    pub(crate) conditions: Conditions<'q>,
    pub(crate) order: &'q [OrderTerm],
    pub(crate) range: Range,
    pub(crate) count: bool,
    pub(crate) body: Body,
}

pub(crate) fn read(table: &Table, r: &Read<'_>) -> Result<Sql, ApiError> {
    let rel = Relation::table(table);
    let mut sql = Sql::default();
    sql.push("WITH pgrst_source AS (SELECT ");
    select_list(&mut sql, &rel, r.select)?;
    sql.push(" FROM ").push(&rel.qualifier);
    let where_start = sql.text.len();
    where_clause(&mut sql, &rel, &r.conditions)?;
    let where_text = sql.text[where_start..].to_owned();
    order_by(&mut sql, &rel, r.order)?;
    limit_offset(&mut sql, &r.range);
    sql.push(")");
    // The count reuses the WHERE text: its `$n` are the same parameters.
    let total = if r.count {
        format!(
            "(SELECT pg_catalog.count(*) FROM {}{where_text})",
            rel.qualifier
        )
    } else {
        "NULL::bigint".to_owned()
    };
    outer(
        &mut sql,
        &total,
        "pg_catalog.count(_postgrest_t)",
        r.body,
        "NULL::int",
    );
    sql.push(" FROM (SELECT * FROM pgrst_source) _postgrest_t");
    Ok(sql)
}

/// What a mutation returns: its rows shaped by `select` (and `order`), or nothing.
pub(crate) struct Returning<'q> {
    pub(crate) select: &'q [SelectItem],
    pub(crate) order: &'q [OrderTerm],
    pub(crate) body: Body,
}

/// `RETURNING`: every column when the body will show `*`, else the selected ones and the
/// primary key (PostgREST's `inferColsEmbedNeeds`), `1` when nothing is returned.
fn returning(sql: &mut Sql, table: &Table, ret: &Returning<'_>) -> Result<(), ApiError> {
    let rel = Relation::table(table);
    if ret.body == Body::None {
        sql.push(" RETURNING 1");
        return Ok(());
    }
    let star = ret.select.is_empty() || ret.select.contains(&SelectItem::Star);
    if star {
        sql.push(" RETURNING ").push(&rel.qualifier).push(".*");
        return Ok(());
    }
    let mut names: Vec<&str> = Vec::new();
    for item in ret.select {
        if let SelectItem::Field { field: f, .. } = item {
            rel.column(&f.name)?;
            if !names.contains(&f.name.as_str()) {
                names.push(&f.name);
            }
        }
    }
    for pk in &table.primary_key {
        if !names.contains(&pk.as_str()) {
            names.push(pk);
        }
    }
    for (i, name) in names.iter().enumerate() {
        sql.push(if i == 0 { " RETURNING " } else { ", " });
        sql.push(&rel.qualifier).push(".").ident(name);
    }
    Ok(())
}

/// The outer query of a mutation: the returned rows, shaped by `select`.
fn mutation_outer(
    sql: &mut Sql,
    table: &Table,
    ret: &Returning<'_>,
    inserted: &str,
) -> Result<(), ApiError> {
    outer(
        sql,
        "NULL::bigint",
        "pg_catalog.count(_postgrest_t)",
        ret.body,
        inserted,
    );
    if ret.body == Body::None {
        sql.push(" FROM (SELECT * FROM pgrst_source) _postgrest_t");
        return Ok(());
    }
    let rel = Relation::source(&table.name, Some(&table.columns));
    sql.push(" FROM (SELECT ");
    select_list(sql, &rel, ret.select)?;
    sql.push(" FROM pgrst_source");
    order_by(sql, &rel, ret.order)?;
    sql.push(") _postgrest_t");
    Ok(())
}

/// The JSON body as rows of typed columns (`fromJsonBodyF`): `json_to_record` for an object,
/// `json_to_recordset` for an array, defaults merged first for `missing=default`.
fn body_rows(
    sql: &mut Sql,
    body: &str,
    is_object: bool,
    columns: &[&Column],
    defaults: bool,
    limit_one: bool,
) {
    let json_type = if defaults { "jsonb" } else { "json" };
    sql.push(" FROM (SELECT ")
        .param(body)
        .push("::")
        .push(json_type)
        .push(" AS json_data) pgrst_payload, ");
    let mut source = "pgrst_payload.json_data".to_owned();
    if defaults {
        let mut build = String::from("jsonb_build_object(");
        let mut n = 0;
        for c in columns {
            if let Some(d) = &c.default {
                if n > 0 {
                    build.push_str(", ");
                }
                // The key is a column name from the catalog and the value its default
                // expression from the catalog: neither comes from the request.
                build.push_str(&format!("'{}', {d}", c.name.replace('\'', "''")));
                n += 1;
            }
        }
        build.push(')');
        if is_object {
            sql.push("LATERAL (SELECT ")
                .push(&build)
                .push(" || pgrst_payload.json_data AS val) pgrst_json_defs, ");
        } else {
            sql.push("LATERAL (SELECT jsonb_agg(")
                .push(&build)
                .push(" || elem) AS val FROM jsonb_array_elements(pgrst_payload.json_data) elem) pgrst_json_defs, ");
        }
        source = "pgrst_json_defs.val".to_owned();
    }
    sql.push("LATERAL (SELECT ");
    if columns.is_empty() {
        // `{}` is one row of defaults; `[{}, {}]` one per element.
        if is_object {
            sql.push("FROM (VALUES (1)) _) pgrst_body");
        } else {
            sql.push("FROM ")
                .push(if defaults {
                    "jsonb_array_elements("
                } else {
                    "json_array_elements("
                })
                .push(&source)
                .push(") _) pgrst_body");
        }
        return;
    }
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.ident(&c.name);
    }
    let func = match (defaults, is_object) {
        (false, true) => "json_to_record",
        (false, false) => "json_to_recordset",
        (true, true) => "jsonb_to_record",
        (true, false) => "jsonb_to_recordset",
    };
    sql.push(" FROM ")
        .push(func)
        .push("(")
        .push(&source)
        .push(") AS _(");
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.ident(&c.name).push(" ").push(&c.type_sql);
    }
    sql.push(")");
    if limit_one {
        sql.push(" LIMIT 1");
    }
    sql.push(") pgrst_body");
}

/// `INSERT`, with `ON CONFLICT` for `resolution=merge-duplicates|ignore-duplicates`.
pub(crate) struct Insert<'q> {
    pub(crate) body: &'q str,
    pub(crate) is_object: bool,
    pub(crate) columns: Vec<&'q Column>,
    /// `(merge, conflict columns)`.
    pub(crate) on_conflict: Option<(bool, Vec<String>)>,
    pub(crate) defaults: bool,
    pub(crate) returning: Returning<'q>,
}

pub(crate) fn insert(table: &Table, ins: &Insert<'_>) -> Result<Sql, ApiError> {
    let rel = Relation::table(table);
    let merge = matches!(&ins.on_conflict, Some((true, cols)) if !cols.is_empty());
    // Counts inserted rows in `pgrst.inserted` so an upsert can answer 201 or 200 (PostgREST's
    // own device: the INSERT's WHERE adds one, the DO UPDATE's WHERE takes one away).
    let count_inserted = "set_config('pgrst.inserted', (coalesce(nullif(current_setting('pgrst.inserted', true), '')::int, 0) + 1)::text, true) <> '0'";
    let count_updated = "set_config('pgrst.inserted', (coalesce(nullif(current_setting('pgrst.inserted', true), '')::int, 0) - 1)::text, true) <> '-1'";
    let mut sql = Sql::default();
    sql.push("WITH pgrst_source AS (INSERT INTO ")
        .push(&rel.qualifier);
    if !ins.columns.is_empty() {
        sql.push("(");
        for (i, c) in ins.columns.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.ident(&c.name);
        }
        sql.push(")");
    }
    sql.push(" SELECT ");
    for (i, c) in ins.columns.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push("pgrst_body.").ident(&c.name);
    }
    body_rows(
        &mut sql,
        ins.body,
        ins.is_object,
        &ins.columns,
        ins.defaults,
        false,
    );
    if merge {
        sql.push(" WHERE ").push(count_inserted);
    }
    if let Some((merge_dups, cols)) = ins
        .on_conflict
        .as_ref()
        .filter(|(_, cols)| !cols.is_empty())
    {
        sql.push(" ON CONFLICT(");
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.ident(c);
        }
        sql.push(") ");
        if *merge_dups && !ins.columns.is_empty() {
            sql.push("DO UPDATE SET ");
            for (i, c) in ins.columns.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.ident(&c.name).push(" = EXCLUDED.").ident(&c.name);
            }
            sql.push(" WHERE ").push(count_updated);
        } else {
            sql.push("DO NOTHING");
        }
    }
    returning(&mut sql, table, &ins.returning)?;
    sql.push(")");
    let inserted = if merge {
        "nullif(current_setting('pgrst.inserted', true), '')::int"
    } else {
        "NULL::int"
    };
    mutation_outer(&mut sql, table, &ins.returning, inserted)?;
    Ok(sql)
}

/// `UPDATE ... SET` from the body's columns, over the filtered rows.
pub(crate) struct Update<'q> {
    pub(crate) body: &'q str,
    pub(crate) is_object: bool,
    pub(crate) columns: Vec<&'q Column>,
    pub(crate) defaults: bool,
    pub(crate) conditions: Conditions<'q>,
    pub(crate) returning: Returning<'q>,
}

pub(crate) fn update(table: &Table, up: &Update<'_>) -> Result<Sql, ApiError> {
    let rel = Relation::table(table);
    let mut sql = Sql::default();
    if up.columns.is_empty() {
        // Nothing to set: no rows, but the same shape (PostgREST selects `WHERE false`).
        sql.push("WITH pgrst_source AS (SELECT ");
        if up.returning.body == Body::None {
            sql.push("NULL");
        } else {
            sql.push(&rel.qualifier).push(".*");
        }
        sql.push(" FROM ")
            .push(&rel.qualifier)
            .push(" WHERE false)");
        mutation_outer(&mut sql, table, &up.returning, "NULL::int")?;
        return Ok(sql);
    }
    sql.push("WITH pgrst_source AS (UPDATE ")
        .push(&rel.qualifier)
        .push(" SET ");
    for (i, c) in up.columns.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.ident(&c.name).push(" = pgrst_body.").ident(&c.name);
    }
    body_rows(
        &mut sql,
        up.body,
        up.is_object,
        &up.columns,
        up.defaults,
        false,
    );
    where_clause(&mut sql, &rel, &up.conditions)?;
    returning(&mut sql, table, &up.returning)?;
    sql.push(")");
    mutation_outer(&mut sql, table, &up.returning, "NULL::int")?;
    Ok(sql)
}

pub(crate) fn delete(
    table: &Table,
    conditions: &Conditions<'_>,
    ret: &Returning<'_>,
) -> Result<Sql, ApiError> {
    let rel = Relation::table(table);
    let mut sql = Sql::default();
    sql.push("WITH pgrst_source AS (DELETE FROM ")
        .push(&rel.qualifier);
    where_clause(&mut sql, &rel, conditions)?;
    returning(&mut sql, table, ret)?;
    sql.push(")");
    mutation_outer(&mut sql, table, ret, "NULL::int")?;
    Ok(sql)
}

/// How a function's arguments arrive.
pub(crate) enum Args<'q> {
    /// A POST body: named arguments from a JSON object (or the first object of an array).
    Json {
        body: &'q str,
        is_object: bool,
        params: Vec<&'q Param>,
    },
    /// The whole POST body as the one unnamed `json`/`jsonb` argument.
    Single { body: &'q str, param: &'q Param },
    /// Query parameters of a GET: each a text value cast to the argument's type (a repeated
    /// variadic argument is an array).
    Direct(Vec<(&'q Param, Vec<String>)>),
}

/// A function call and the read of its result.
pub(crate) struct Call<'q> {
    pub(crate) args: Args<'q>,
    pub(crate) select: &'q [SelectItem],
    pub(crate) conditions: Conditions<'q>,
    pub(crate) order: &'q [OrderTerm],
    pub(crate) range: Range,
    pub(crate) count: bool,
    /// Whether the body must be one object (`Accept: application/vnd.pgrst.object+json`).
    pub(crate) single: bool,
    pub(crate) head: bool,
}

pub(crate) fn call(func: &Function, c: &Call<'_>) -> Result<Sql, ApiError> {
    let scalar = matches!(func.returns, Returns::Scalar { .. });
    let fqn = format!("{}.{}", quote_ident(&func.schema), quote_ident(&func.name));
    let mut sql = Sql::default();
    sql.push("WITH pgrst_source AS (SELECT ");
    sql.push(if scalar {
        "pgrst_call.pgrst_scalar"
    } else {
        "pgrst_call.*"
    });
    let mut arguments = Sql::default();
    match &c.args {
        Args::Json {
            body,
            is_object,
            params,
        } => {
            if params.is_empty() {
                sql.push(" FROM ");
            } else {
                let columns: Vec<Column> = params
                    .iter()
                    .map(|p| Column {
                        name: p.name.clone(),
                        type_sql: p.type_sql.clone(),
                        base_type: p.type_sql.clone(),
                        default: None,
                    })
                    .collect();
                let refs: Vec<&Column> = columns.iter().collect();
                body_rows(&mut sql, body, *is_object, &refs, false, true);
                sql.push(", LATERAL ");
                for (i, p) in params.iter().enumerate() {
                    if i > 0 {
                        arguments.push(", ");
                    }
                    if p.variadic {
                        arguments.push("VARIADIC ");
                    }
                    arguments
                        .ident(&p.name)
                        .push(" := pgrst_body.")
                        .ident(&p.name);
                }
            }
        }
        Args::Single { body, param } => {
            sql.push(" FROM ");
            arguments.param(*body).push("::").push(&param.type_sql);
        }
        Args::Direct(values) => {
            sql.push(" FROM ");
            for (i, (p, vals)) in values.iter().enumerate() {
                if i > 0 {
                    arguments.push(", ");
                }
                if p.variadic {
                    arguments.push("VARIADIC ");
                }
                arguments.ident(&p.name).push(" := ");
                let value = if p.variadic {
                    array_literal(vals)
                } else {
                    vals.last().cloned().unwrap_or_default()
                };
                arguments.param(value).push("::").push(&p.type_sql);
            }
        }
    }
    // The argument SQL was built apart; renumber its parameters after the ones already placed.
    let offset = sql.params.len();
    let args_text = renumber(&arguments.text, offset);
    sql.params.extend(arguments.params);
    if scalar {
        sql.push("(SELECT ")
            .push(&fqn)
            .push("(")
            .push(&args_text)
            .push(") pgrst_scalar) pgrst_call)");
    } else {
        sql.push(&fqn)
            .push("(")
            .push(&args_text)
            .push(") pgrst_call)");
    }

    let (set, void, columns) = match &func.returns {
        Returns::Scalar { set, void } => (*set, *void, None),
        Returns::Composite { set, columns } => (
            *set,
            false,
            (!columns.is_empty()).then_some(columns.as_slice()),
        ),
    };
    let scalar_column = [Column {
        name: "pgrst_scalar".to_owned(),
        type_sql: String::new(),
        base_type: String::new(),
        default: None,
    }];
    let rel = if scalar {
        Relation::source(SOURCE, Some(&scalar_column))
    } else {
        Relation::source(SOURCE, columns)
    };
    let mut inner = Sql {
        text: String::new(),
        params: std::mem::take(&mut sql.params),
    };
    inner.push("SELECT ");
    select_list(&mut inner, &rel, if scalar { &[] } else { c.select })?;
    inner.push(" FROM pgrst_source");
    let where_start = inner.text.len();
    where_clause(&mut inner, &rel, &c.conditions)?;
    let where_text = inner.text[where_start..].to_owned();
    order_by(&mut inner, &rel, c.order)?;
    limit_offset(&mut inner, &c.range);
    sql.params = std::mem::take(&mut inner.params);

    let body = if c.head || void {
        Body::None
    } else if scalar && set {
        Body::ScalarArray
    } else if scalar {
        Body::Scalar
    } else if !set || c.single {
        Body::Object
    } else {
        Body::Array
    };
    let page_total = if set {
        "pg_catalog.count(_postgrest_t)"
    } else {
        "1::bigint"
    };
    let total = if c.count {
        format!("(SELECT pg_catalog.count(*) FROM pgrst_source{where_text})")
    } else {
        "NULL::bigint".to_owned()
    };
    outer(&mut sql, &total, page_total, body, "NULL::int");
    sql.push(" FROM (").push(&inner.text).push(") _postgrest_t");
    Ok(sql)
}

/// Shifts every `$n` in `text` by `offset` (the only `$` in built SQL are placeholders: values
/// are parameters and identifiers are quoted, but a quoted identifier may hold a `$`, so quoted
/// spans are skipped).
fn renumber(text: &str, offset: usize) -> String {
    if offset == 0 {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '"' {
            quoted = !quoted;
        } else if c == '$' && !quoted {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            match digits.parse::<usize>() {
                Ok(n) => out.push_str(&(n + offset).to_string()),
                Err(_) => out.push_str(&digits),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::ast::Field;

    fn table() -> Table {
        let col = |name: &str, ty: &str| Column {
            name: name.into(),
            type_sql: ty.into(),
            base_type: ty.into(),
            default: None,
        };
        Table {
            schema: "test".into(),
            name: "items".into(),
            columns: vec![
                col("id", "integer"),
                col("data", "jsonb"),
                col("name", "text"),
            ],
            primary_key: vec!["id".into()],
        }
    }

    fn eq(col: &str, v: &str) -> Filter {
        Filter {
            field: Field::column(col),
            negated: false,
            operation: Operation::Quant {
                op: QuantOp::Equal,
                quantifier: None,
                value: v.into(),
            },
        }
    }

    #[test]
    fn values_are_parameters_and_identifiers_are_quoted() {
        let t = table();
        let filters = [eq("name", "x'); DROP TABLE items; --")];
        let sql = read(
            &t,
            &Read {
                select: &[],
                conditions: Conditions {
                    filters: &filters,
                    logic: &[],
                },
                order: &[],
                range: Range::ALL,
                count: true,
                body: Body::Array,
            },
        )
        .expect("valid");
        assert!(
            sql.text
                .contains(r#"FROM "test"."items" WHERE ("test"."items"."name" = $1)"#),
            "{}",
            sql.text
        );
        assert!(!sql.text.contains("DROP"));
        assert_eq!(sql.params.len(), 1);
        // The count reuses `$1`.
        assert!(
            sql.text
                .contains(r#"count(*) FROM "test"."items" WHERE ("test"."items"."name" = $1)"#)
        );
    }

    #[test]
    fn unknown_columns_are_refused_before_any_sql() {
        let t = table();
        let filters = [eq("nope", "1")];
        let err = read(
            &t,
            &Read {
                select: &[],
                conditions: Conditions {
                    filters: &filters,
                    logic: &[],
                },
                order: &[],
                range: Range::ALL,
                count: false,
                body: Body::Array,
            },
        )
        .map(|_| ())
        .expect_err("unknown column");
        assert_eq!((err.status, err.code.as_str()), (400, "42703"));
        assert_eq!(err.message, "column items.nope does not exist");
    }

    #[test]
    fn json_paths_and_arrays() {
        let t = table();
        let rel = Relation::table(&t);
        let mut sql = Sql::default();
        let f = Field {
            name: "data".into(),
            path: vec![
                JsonOp::Arrow(JsonOperand::Key("a".into())),
                JsonOp::DoubleArrow(JsonOperand::Index("+0".into())),
            ],
        };
        field(&mut sql, &rel, &f, None).expect("valid");
        assert_eq!(sql.text, r#""test"."items"."data"->$1->>$2::int"#);
        let mut sql = Sql::default();
        let f = Field {
            name: "name".into(),
            path: vec![JsonOp::Arrow(JsonOperand::Key("a".into()))],
        };
        field(&mut sql, &rel, &f, None).expect("valid");
        assert_eq!(sql.text, r#"to_jsonb("test"."items"."name")->$1"#);
        assert_eq!(
            array_literal(&["a,b".into(), "x\"y\\z".into()]),
            r#"{"a,b","x\"y\\z"}"#
        );
        assert_eq!(quote_ident("we\"ird"), r#""we""ird""#);
    }

    #[test]
    fn renumbering_skips_quoted_identifiers() {
        assert_eq!(renumber(r#""a$1" := $1, $2"#, 3), r#""a$1" := $4, $5"#);
    }
}
