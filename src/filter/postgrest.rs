//! PostgREST query parameters from the IR, following PostgREST's grammar (`QueryParams.hs`).
//!
//! The rules, each with its reason:
//! - Negations are already at the leaves (the IR is in negation normal form), because PostgREST's
//!   `not.`, `neq` and `not.in` are plain SQL negation and drop NULL rows. A negated leaf is
//!   written NULL-inclusively: `isdistinct` for `notEquals`, `not.is.null`/`not.is.true`/
//!   `not.is.false` where an `IS` test exists, and `or(col.is.null,col.not.<op>...)` otherwise.
//! - At top level a value is the rest of the parameter, verbatim: no quoting (quotes would be
//!   literal characters). Several top-level parameters are ANDed, so a root `and` becomes one
//!   parameter per child, and a two-sided range becomes `col=gte.a&col=lte.b`.
//! - Inside `or=(..)`/`and(..)`, every value is written `"…"` with `\` and `"` escaped by `\`: an
//!   unquoted `,` is a 400 and an unquoted `)` silently truncates the value.
//! - `in.(..)` lists quote every element (unquoted elements lose leading spaces and cannot hold
//!   `,` or `)`). The lowering never produces `in.("")` (which matches nothing): a one-element
//!   list is an `eq`.
//! - `contains`/`startsWith`/`endsWith` are `ilike` with the value LIKE-escaped (`\` `%` `_`)
//!   before the `*` wildcards are added, because PostgREST turns every `*` into `%` and keeps
//!   LIKE's own escapes. A literal `*` cannot be written in like/ilike at all, so a value holding
//!   one is matched with a regular expression instead: `match` (case-sensitive) where each letter
//!   is a bracket class of every character that lowercases to the same letter (`k` becomes `[kK]`
//!   plus the Kelvin sign U+212A) and
//!   every ASCII punctuation character is escaped. That is exactly ILIKE's rule (`lower(x)` and
//!   `lower(value)` equal character by character); `imatch` would not be, because PostgreSQL's
//!   case-insensitive regexes only add each character's own upper and lower case (so `k` would
//!   not match the Kelvin sign U+212A, which ILIKE matches).
//! - The whole query string is form-encoded (`application/x-www-form-urlencoded`), so `+` (phone
//!   numbers, offsets) travels as `%2B`: PostgREST decodes a raw `+` as a space.
//! - `FALSE` (an `or` of nothing, `in []`) is `id=in.()`, which PostgREST turns into
//!   `= ANY('{}')`: no row, NULL keys included. `TRUE` is no parameter at all.

use serde::Serialize;

use super::ir::{Bound, Ir, Leaf, LikeKind, Pred, Scalar};
use super::schema::FieldType;
use crate::time::Timestamp;

/// PostgREST query parameters: the raw (decoded) pairs and the form-encoded query string.
/// Serializes as the list of `[key, value]` pairs.
///
/// ```
/// use smsbatch::filter::{Filter, FilterOptions, Schema};
///
/// let filter = Filter::from_json(
///     r#"{"field": "phone", "op": "notStartsWith", "value": "+44"}"#,
///     &Schema::customers(),
///     &FilterOptions::new(),
/// )?;
/// let params = filter.postgrest();
/// assert_eq!(params.pairs(), &[("or".to_string(), r#"(phone.is.null,phone.not.ilike."+44*")"#.to_string())]);
/// assert_eq!(params.query_string(), "or=%28phone.is.null%2Cphone.not.ilike.%22%2B44*%22%29");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PostgrestParams {
    pairs: Vec<(String, String)>,
}

impl PostgrestParams {
    /// The `(key, value)` pairs, not encoded; the same key may repeat (conditions are ANDed).
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The pairs, by value.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.pairs
    }

    /// The pairs as a form-encoded query string (without a leading `?`).
    pub fn query_string(&self) -> String {
        query_string(&self.pairs)
    }

    pub(crate) fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((key.into(), value.into()));
    }
}

/// Form-encodes `pairs` as `k=v&k=v`.
pub(crate) fn query_string(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        form_encode_into(&mut out, k);
        out.push('=');
        form_encode_into(&mut out, v);
    }
    out
}

/// The `application/x-www-form-urlencoded` byte serializer (WHATWG URL standard): ASCII
/// alphanumerics and `*-._` stay, space becomes `+`, every other byte is `%XX`.
fn form_encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

/// LIKE's escapes: `\`, `%` and `_` are matched literally after a `\`.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes a literal for a PostgreSQL regular expression (ARE): a `\` before any ASCII
/// punctuation makes it literal. Letters and digits are left alone, because `\` followed by an
/// alphanumeric is a class escape (`\d`, `\m`...).
#[cfg(test)]
pub(crate) fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The case-folded form of one character (see `eval::fold_case`); always one
/// character, as in PostgreSQL.
fn fold_char(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// For each folded character, the other characters that fold to it (`k` → `K` and U+212A). Built once,
/// on the first value with a `*` in it, by scanning every code point.
fn fold_classes() -> &'static std::collections::HashMap<char, Vec<char>> {
    static CLASSES: std::sync::OnceLock<std::collections::HashMap<char, Vec<char>>> =
        std::sync::OnceLock::new();
    CLASSES.get_or_init(|| {
        let mut map: std::collections::HashMap<char, Vec<char>> = std::collections::HashMap::new();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let f = fold_char(c);
            if f != c {
                map.entry(f).or_default().push(c);
            }
        }
        map
    })
}

/// A case-sensitive regular expression matching `s` the way ILIKE does: each character becomes
/// the class of all characters that fold to the same one, punctuation is escaped.
pub(crate) fn regex_fold_escape(s: &str) -> String {
    let classes = fold_classes();
    let mut out = String::with_capacity(s.len() * 3);
    for c in s.chars() {
        let f = fold_char(c);
        match classes.get(&f) {
            // Case variants are letters (never `]`, `\`, `^` or `-`), so a bracket class needs no
            // escaping inside.
            Some(others) => {
                out.push('[');
                out.push(f);
                out.extend(others.iter());
                out.push(']');
            }
            None => {
                if f.is_ascii_punctuation() {
                    out.push('\\');
                }
                out.push(f);
            }
        }
    }
    out
}

/// Quotes a value inside a logic tree: `"…"` with `\` and `"` escaped by `\`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '\\' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Where the fields of a filter live for PostgREST: columns of their own by default, and, for
/// a table that keeps custom fields in a `jsonb` column (the customers' `attributes`), a JSON path
/// into it. PostgREST cannot cast in a filter, so typed fields are compared through a second,
/// generated `jsonb` column that holds comparable values (migration `0003_supabase`,
/// `sms_typed_attributes`): JSON `null` members are left out (so they are SQL NULL, as the SQL
/// back end's `(attributes ->> 'f')::type` makes them), and RFC 3339 UTC timestamps are rewritten
/// with six fraction digits, so that they sort as text in time order (`…:00Z` would otherwise sort
/// after `…:00.5Z`).
///
/// - string and date fields: `attributes->>f`, text (dates are fixed width, so text order is date
///   order);
/// - number and boolean fields: `typed->f`, `jsonb`, compared with a JSON literal (jsonb compares
///   numbers as numbers);
/// - timestamp fields: `typed->>f`, fixed-width text, compared with a fixed-width literal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PostgrestTarget {
    json: Option<JsonFields>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct JsonFields {
    column: String,
    typed: String,
    columns: Vec<String>,
}

/// How a field is written and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// A column of its own.
    Column,
    /// Text out of the JSON column (`->>`).
    Text,
    /// `jsonb` out of the typed column (`->`): literals are JSON.
    Json,
    /// Fixed-width timestamp text out of the typed column (`->>`).
    FixedTimestamp,
}

impl PostgrestTarget {
    /// Every field is a column of its own.
    #[cfg_attr(not(feature = "supabase"), allow(dead_code))]
    pub(crate) fn columns() -> Self {
        Self::default()
    }

    /// Fields other than `columns` live in the `jsonb` column `column`, with their comparable
    /// forms in the generated column `typed`. Names are plain identifiers (checked by the
    /// caller's schema), so they need no quoting in a PostgREST path.
    #[cfg_attr(not(feature = "supabase"), allow(dead_code))]
    pub(crate) fn json_column<S: AsRef<str>>(
        mut self,
        column: &str,
        typed: &str,
        columns: impl IntoIterator<Item = S>,
    ) -> Self {
        self.json = Some(JsonFields {
            column: column.to_owned(),
            typed: typed.to_owned(),
            columns: columns.into_iter().map(|c| c.as_ref().to_owned()).collect(),
        });
        self
    }

    fn access(&self, field: &str, ty: FieldType) -> (String, Access) {
        match &self.json {
            Some(j) if !j.columns.iter().any(|c| c == field) => match ty {
                FieldType::String | FieldType::Date => {
                    (format!("{}->>{field}", j.column), Access::Text)
                }
                FieldType::Number | FieldType::Boolean => {
                    (format!("{}->{field}", j.typed), Access::Json)
                }
                FieldType::Timestamp => (format!("{}->>{field}", j.typed), Access::FixedTimestamp),
            },
            _ => (field.to_owned(), Access::Column),
        }
    }

    /// The expression `order=` sorts a field by.
    pub(crate) fn order_path(&self, field: &str, ty: FieldType) -> String {
        self.access(field, ty).0
    }
}

/// `2024-05-01T09:30:00.000000Z`: a timestamp as `sms_typed_attributes` stores it (fixed
/// width, so that text order is time order).
pub(crate) fn fixed_width_timestamp(t: &Timestamp) -> String {
    let text = t.to_string();
    let (head, rest) = text.split_at(text.len().min(19));
    let fraction = rest
        .strip_prefix('.')
        .map(|r| r.trim_end_matches('Z'))
        .unwrap_or("");
    format!("{head}.{fraction:0<6}Z")
}

fn literal(value: &Scalar, access: Access) -> String {
    match (value, access) {
        (Scalar::Ts(t), Access::FixedTimestamp) => fixed_width_timestamp(t),
        (Scalar::Date(d), Access::FixedTimestamp) => format!("{d}T00:00:00.000000Z"),
        _ => value.to_text(),
    }
}

/// A PostgREST condition before it is placed at top level or inside a tree.
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cond {
        field: String,
        op: &'static str,
        value: Val,
    },
}

enum Val {
    /// A value: verbatim at top level, quoted inside a tree.
    Text(String),
    /// An `in.(..)` list, every element quoted.
    List(Vec<String>),
    /// `null`, `true`, `false` after `is.`: never quoted.
    Keyword(&'static str),
}

fn cond(field: &str, op: &'static str, value: Val) -> Expr {
    Expr::Cond {
        field: field.to_owned(),
        op,
        value,
    }
}

fn leaf_expr(leaf: &Leaf, target: &PostgrestTarget) -> Expr {
    let (path, access) = target.access(&leaf.field, leaf.ty);
    let f = path.as_str();
    let lit = |v: &Scalar| Val::Text(literal(v, access));
    let text = |b: &Bound| lit(&b.value);
    let is_null = || cond(f, "is", Val::Keyword("null"));
    // A negated leaf whose PostgREST negation would drop NULL rows: add `col.is.null`.
    let or_null = |e: Expr| Expr::Or(vec![is_null(), e]);
    match (&leaf.pred, leaf.negated) {
        (Pred::Eq(v), false) => cond(f, "eq", lit(v)),
        // `IS DISTINCT FROM` counts NULL as a value, so NULL rows are kept.
        (Pred::Eq(v), true) => cond(f, "isdistinct", lit(v)),
        (Pred::In(vs), neg) => {
            let list = Val::List(vs.iter().map(|v| literal(v, access)).collect());
            if neg {
                or_null(cond(f, "not.in", list))
            } else {
                cond(f, "in", list)
            }
        }
        (Pred::Range { lo, hi }, false) => {
            let mut parts = Vec::new();
            if let Some(b) = lo {
                parts.push(cond(f, if b.inclusive { "gte" } else { "gt" }, text(b)));
            }
            if let Some(b) = hi {
                parts.push(cond(f, if b.inclusive { "lte" } else { "lt" }, text(b)));
            }
            and_of(parts)
        }
        (Pred::Range { lo, hi }, true) => {
            // Outside the range, or NULL: `x < lo` (or `<=` for an exclusive bound), `x > hi`.
            let mut parts = vec![is_null()];
            if let Some(b) = lo {
                parts.push(cond(f, if b.inclusive { "lt" } else { "lte" }, text(b)));
            }
            if let Some(b) = hi {
                parts.push(cond(f, if b.inclusive { "gt" } else { "gte" }, text(b)));
            }
            Expr::Or(parts)
        }
        (Pred::Like(kind, s), neg) => {
            let (op, value) = if s.contains('*') {
                let re = regex_fold_escape(s);
                let re = match kind {
                    LikeKind::Contains => re,
                    LikeKind::StartsWith => format!("^{re}"),
                    LikeKind::EndsWith => format!("{re}$"),
                };
                (if neg { "not.match" } else { "match" }, re)
            } else {
                let esc = like_escape(s);
                let pattern = match kind {
                    LikeKind::Contains => format!("*{esc}*"),
                    LikeKind::StartsWith => format!("{esc}*"),
                    LikeKind::EndsWith => format!("*{esc}"),
                };
                (if neg { "not.ilike" } else { "ilike" }, pattern)
            };
            let e = cond(f, op, Val::Text(value));
            if neg { or_null(e) } else { e }
        }
        (Pred::Null, false) => is_null(),
        // `not.is.null`, never `is.not_null` (PostgREST 13+ only).
        (Pred::Null, true) => cond(f, "not.is", Val::Keyword("null")),
        (Pred::NullOrEmpty, false) => {
            Expr::Or(vec![is_null(), cond(f, "eq", Val::Text(String::new()))])
        }
        // `<> ''` is false for '' and NULL for NULL: exactly the non-empty strings.
        (Pred::NullOrEmpty, true) => cond(f, "neq", Val::Text(String::new())),
        // A `jsonb` value has no `IS TRUE`: compare with the JSON literal, NULL-inclusively
        // when negated.
        (Pred::True | Pred::False, neg) if access == Access::Json => {
            let word = if matches!(leaf.pred, Pred::True) {
                "true"
            } else {
                "false"
            };
            if neg {
                or_null(cond(f, "neq", Val::Text(word.into())))
            } else {
                cond(f, "eq", Val::Text(word.into()))
            }
        }
        (Pred::True, false) => cond(f, "is", Val::Keyword("true")),
        (Pred::True, true) => cond(f, "not.is", Val::Keyword("true")),
        (Pred::False, false) => cond(f, "is", Val::Keyword("false")),
        (Pred::False, true) => cond(f, "not.is", Val::Keyword("false")),
    }
}

fn and_of(mut parts: Vec<Expr>) -> Expr {
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        Expr::And(parts)
    }
}

fn ir_expr(ir: &Ir, target: &PostgrestTarget) -> Option<Expr> {
    match ir {
        // Constants survive simplification only at the root, handled by `emit`.
        Ir::Const(_) => None,
        Ir::Leaf(leaf) => Some(leaf_expr(leaf, target)),
        Ir::And(children) => Some(Expr::And(flatten(children, true, target))),
        Ir::Or(children) => Some(Expr::Or(flatten(children, false, target))),
    }
}

/// Emits `children`, splicing a child group of the same kind into its parent (a negated leaf's
/// `or(col.is.null,..)` inside an `or` needs no nesting).
fn flatten(children: &[Ir], is_and: bool, target: &PostgrestTarget) -> Vec<Expr> {
    let mut out = Vec::with_capacity(children.len());
    for e in children.iter().filter_map(|c| ir_expr(c, target)) {
        match e {
            Expr::And(grand) if is_and => out.extend(grand),
            Expr::Or(grand) if !is_and => out.extend(grand),
            other => out.push(other),
        }
    }
    out
}

/// Emits the parameters for `ir`; `id` is the key column used to write FALSE.
pub(crate) fn emit(ir: &Ir, id: &str, target: &PostgrestTarget) -> PostgrestParams {
    let mut out = PostgrestParams::default();
    match ir {
        Ir::Const(true) => {}
        Ir::Const(false) => out.push(id, "in.()"),
        other => {
            if let Some(e) = ir_expr(other, target) {
                top_level(&e, &mut out);
            }
        }
    }
    out
}

fn top_level(e: &Expr, out: &mut PostgrestParams) {
    match e {
        Expr::And(children) => children.iter().for_each(|c| top_level(c, out)),
        Expr::Or(children) => {
            let mut s = String::from("(");
            tree_list(children, &mut s);
            s.push(')');
            out.push("or", s);
        }
        Expr::Cond { field, op, value } => {
            let v = match value {
                Val::Text(t) => format!("{op}.{t}"),
                Val::List(items) => format!("{op}.{}", list(items)),
                Val::Keyword(k) => format!("{op}.{k}"),
            };
            out.push(field.clone(), v);
        }
    }
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("({})", quoted.join(","))
}

fn tree_list(children: &[Expr], s: &mut String) {
    for (i, c) in children.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        tree(c, s);
    }
}

fn tree(e: &Expr, s: &mut String) {
    match e {
        Expr::And(children) | Expr::Or(children) => {
            s.push_str(if matches!(e, Expr::And(_)) {
                "and("
            } else {
                "or("
            });
            tree_list(children, s);
            s.push(')');
        }
        Expr::Cond { field, op, value } => {
            s.push_str(field);
            s.push('.');
            s.push_str(op);
            s.push('.');
            match value {
                Val::Text(t) => s.push_str(&quote(t)),
                Val::List(items) => s.push_str(&list(items)),
                Val::Keyword(k) => s.push_str(k),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_follows_whatwg() {
        let form_encode = |s: &str| {
            let mut out = String::new();
            form_encode_into(&mut out, s);
            out
        };
        assert_eq!(
            form_encode("a+b c*d-e.f_g~h/é"),
            "a%2Bb+c*d-e.f_g%7Eh%2F%C3%A9"
        );
        assert_eq!(
            query_string(&[("or".into(), "(a,b)".into()), ("x".into(), "eq.".into())]),
            "or=%28a%2Cb%29&x=eq."
        );
    }

    #[test]
    fn custom_fields_are_json_paths() {
        use crate::filter::{Filter, FilterOptions, Schema};
        let schema = Schema::from_json(
            r#"{"fields": [{"name": "id", "type": "number", "sortable": true},
                {"name": "city", "type": "string"}, {"name": "points", "type": "number"},
                {"name": "vip", "type": "boolean"}, {"name": "seen", "type": "timestamp"},
                {"name": "tier", "type": "string"}, {"name": "since", "type": "date"}]}"#,
        )
        .unwrap();
        let target = PostgrestTarget::columns().json_column("attributes", "typed", ["id", "city"]);
        let f = Filter::from_json(
            r#"{"and": [{"field": "points", "op": "gt", "value": 10},
                {"field": "vip", "op": "isNotTrue"}, {"field": "vip", "op": "isFalse"},
                {"field": "seen", "op": "gte", "value": "2024-03-01T00:00:00.5Z"},
                {"field": "tier", "op": "contains", "value": "g"},
                {"field": "since", "op": "lt", "value": "2024-01-02"},
                {"field": "points", "op": "in", "value": [1, 2.5]},
                {"field": "city", "op": "equals", "value": "x"}]}"#,
            &schema,
            &FilterOptions::new(),
        )
        .unwrap();
        let pairs: Vec<String> = f
            .postgrest_in(&target)
            .pairs()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            pairs,
            [
                "typed->points=gt.10",
                "or=(typed->vip.is.null,typed->vip.neq.\"true\")",
                "typed->vip=eq.false",
                "typed->>seen=gte.2024-03-01T00:00:00.500000Z",
                "attributes->>tier=ilike.*g*",
                "attributes->>since=lt.2024-01-02",
                "typed->points=in.(\"1\",\"2.5\")",
                "city=eq.x",
            ]
        );
        // The plain form is unchanged.
        assert!(f.postgrest().pairs().iter().any(|(k, _)| k == "points"));
        assert_eq!(
            target.order_path("seen", FieldType::Timestamp),
            "typed->>seen"
        );
    }

    #[test]
    fn fixed_width_timestamps_sort_as_text() {
        let ts = |s: &str| fixed_width_timestamp(&s.parse().unwrap());
        assert_eq!(ts("2024-01-01T09:00:00Z"), "2024-01-01T09:00:00.000000Z");
        assert_eq!(ts("2024-01-01T09:00:00.5Z"), "2024-01-01T09:00:00.500000Z");
        assert_eq!(
            ts("2024-01-01T10:00:00.123456+01:00"),
            "2024-01-01T09:00:00.123456Z"
        );
        let mut texts: Vec<String> = ["00.55", "00", "00.5", "01", "00.000001"]
            .iter()
            .map(|s| ts(&format!("2024-01-01T09:00:{s}Z")))
            .collect();
        texts.sort();
        assert_eq!(
            texts,
            [
                "2024-01-01T09:00:00.000000Z",
                "2024-01-01T09:00:00.000001Z",
                "2024-01-01T09:00:00.500000Z",
                "2024-01-01T09:00:00.550000Z",
                "2024-01-01T09:00:01.000000Z"
            ]
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(like_escape(r"50%_off\"), r"50\%\_off\\");
        assert_eq!(regex_escape("a*b.c(d)ü1"), r"a\*b\.c\(d\)ü1");
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(regex_fold_escape("K*1.ß"), "[kK\u{212A}]\\*1\\.[ßẞ]");
        assert_eq!(regex_fold_escape("\u{212A}"), "[kK\u{212A}]");
        assert_eq!(regex_fold_escape("İ"), "[iIİ]");
    }
}
