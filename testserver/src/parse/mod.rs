//! The query string: decoding (`+` is a space, `&` and `;` separate parameters) and the meaning
//! of each parameter, as PostgREST's `QueryParams.parse` gives it.

pub(crate) mod ast;
mod grammar;

use ast::{Field, Filter, LogicTree, OrderTerm, SelectItem};
use grammar::{Fail, Parser, Unsupported};

use crate::error::ApiError;
use crate::range::{self, Range};

/// What the query string asks for.
#[derive(Debug, Default)]
pub(crate) struct QueryParams {
    /// `select=` (empty: every column).
    pub(crate) select: Vec<SelectItem>,
    /// Horizontal filters, ANDed.
    pub(crate) filters: Vec<Filter>,
    /// `or=`/`and=` trees, ANDed with the filters.
    pub(crate) logic: Vec<LogicTree>,
    /// The first `order=` parameter.
    pub(crate) order: Vec<OrderTerm>,
    /// `limit`/`offset`, when given.
    pub(crate) range: Option<Range>,
    /// `columns=`.
    pub(crate) columns: Option<Vec<String>>,
    /// `on_conflict=`.
    pub(crate) on_conflict: Option<Vec<String>>,
    /// Parameters without an operator on a `GET`/`HEAD` RPC: the function's arguments.
    pub(crate) rpc_args: Vec<(String, String)>,
}

/// `%XX` decoding (a `%` not followed by two hex digits stays), `+` as a space when asked.
/// Invalid UTF-8 is replaced, not refused.
pub(crate) fn percent_decode(s: &str, plus_as_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match bytes[i] {
            b'+' if plus_as_space => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    // OK because two hex digits make at most 255.
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `parseQueryReplacePlus True`: pairs in order; a parameter without `=` has no value.
pub(crate) fn decode_query(raw: &str) -> Vec<(String, Option<String>)> {
    let raw = raw.strip_prefix('?').unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(['&', ';'])
        .map(|part| match part.split_once('=') {
            Some((k, v)) => (percent_decode(k, true), Some(percent_decode(v, true))),
            None => (percent_decode(part, true), None),
        })
        .collect()
}

/// A grammar failure as PostgREST words it: the message names the parameter and the column.
fn syntax_error(source: String, input: &str, fail: Fail) -> ApiError {
    match fail.unsupported {
        Some(Unsupported::Aggregate) => return ApiError::aggregates_not_allowed(),
        Some(Unsupported::Relation(name)) => {
            return ApiError::not_implemented(format!(
                "resource embedding ('{name}'): this test server serves tables and functions without relationships"
            ));
        }
        None => {}
    }
    let before = &input[..fail.pos.min(input.len())];
    let column = before.chars().count() + 1;
    let unexpected = match input[fail.pos.min(input.len())..].chars().next() {
        Some(c) => format!("unexpected {:?}", c.to_string()),
        None => "unexpected end of input".to_owned(),
    };
    ApiError::query_param(
        format!("\"{source}\" (line 1, column {column})"),
        format!("{unexpected} expecting {}", fail.expected),
    )
}

/// The last `.`-separated word of a key decides its role.
fn last_word(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// Parses a query string. `rpc_read` is a `GET`/`HEAD` on a function, where parameters without
/// an operator are arguments.
pub(crate) fn parse(raw_query: &str, rpc_read: bool) -> Result<QueryParams, ApiError> {
    let pairs = decode_query(raw_query);
    let lookup = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
    };
    let with_values: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k.as_str(), v)))
        .collect();

    // Each step in PostgREST's order, so the first error reported is the same one.
    let mut orders = Vec::new();
    for (key, value) in with_values.iter().filter(|(k, _)| last_word(k) == "order") {
        let path = embed_path(key, "tree path")?;
        let terms = Parser::new(value)
            .order()
            .map_err(|f| syntax_error(format!("failed to parse order ({value})"), value, f))?;
        orders.push((path, terms));
    }

    let mut logic = Vec::new();
    for (key, value) in with_values
        .iter()
        .filter(|(k, _)| matches!(last_word(k), "and" | "or"))
    {
        let names = Parser::new(key)
            .dotted_names()
            .map_err(|f| syntax_error(format!("failed to parse logic path ({key})"), key, f))?;
        let negated = names.iter().any(|n| n == "not");
        let op = names.last().cloned().unwrap_or_default();
        let path: Vec<String> = names[..names.len().saturating_sub(1)]
            .iter()
            .filter(|n| *n != "not")
            .cloned()
            .collect();
        // `or=(..)` is parsed as `or(..)`, `not.or=(..)` as `not.or(..)`.
        let text = format!("{}{op}{value}", if negated { "not." } else { "" });
        let tree = Parser::new(&text)
            .logic_tree()
            .map_err(|f| syntax_error(format!("failed to parse logic tree ({value})"), &text, f))?;
        logic.push((path, tree));
    }

    let columns = match lookup("columns") {
        Some(v) => Some(Parser::new(&v).columns().map_err(|f| {
            syntax_error(format!("failed to parse columns parameter ({v})"), &v, f)
        })?),
        None => None,
    };

    let select_text = lookup("select").unwrap_or_else(|| "*".to_owned());
    let select = Parser::new(&select_text).select().map_err(|f| {
        syntax_error(
            format!("failed to parse select parameter ({select_text})"),
            &select_text,
            f,
        )
    })?;

    let mut filters = Vec::new();
    let mut rpc_args = Vec::new();
    for (key, value) in with_values.iter().filter(|(k, _)| {
        !matches!(last_word(k), "order" | "limit" | "offset" | "and" | "or")
            && !matches!(*k, "select" | "columns" | "on_conflict")
    }) {
        let (path, field) = Parser::new(key)
            .tree_path()
            .map_err(|f| syntax_error(format!("failed to parse tree path ({key})"), key, f))?;
        let mut p = Parser::new(value);
        match p.op_expr(false) {
            Ok((negated, operation)) => filters.push((
                path,
                Filter {
                    field,
                    negated,
                    operation,
                },
            )),
            // On a read RPC, a value that is no operator expression (and did not start one)
            // is an argument.
            Err(f) if rpc_read && !starts_operator(value) => {
                let _ = f;
                rpc_args.push((field.name, (*value).to_owned()));
            }
            Err(f) => {
                return Err(syntax_error(
                    format!("failed to parse filter ({value})"),
                    value,
                    f,
                ));
            }
        }
    }

    let on_conflict = match lookup("on_conflict") {
        Some(v) => Some(Parser::new(&v).columns().map_err(|f| {
            syntax_error(
                format!("failed to parse on_conflict parameter ({v})"),
                &v,
                f,
            )
        })?),
        None => None,
    };

    // Limits and offsets by embedded path: the last of each, as PostgREST's map keeps it.
    let mut limit = None;
    let mut offset = None;
    for (key, value) in &with_values {
        let word = last_word(key);
        if word == "limit" || word == "offset" {
            let path = embed_path(key, "tree path")?;
            if let Some(resource) = path.first() {
                return Err(ApiError::not_embedded(resource));
            }
            if word == "limit" {
                limit = Some(*value);
            } else {
                offset = Some(*value);
            }
        }
    }
    let range = if limit.is_some() || offset.is_some() {
        range::from_params(limit, offset)
    } else {
        None
    };

    // Nothing is embedded here, so anything aimed at an embedded resource is PGRST108.
    let root = |path: &[String]| match path.first() {
        Some(resource) => Err(ApiError::not_embedded(resource)),
        None => Ok(()),
    };
    let mut root_filters = Vec::new();
    for (path, f) in filters {
        root(&path)?;
        root_filters.push(f);
    }
    let mut order = None;
    for (path, terms) in orders {
        root(&path)?;
        order.get_or_insert(terms);
    }
    let mut root_logic = Vec::new();
    for (path, tree) in logic {
        root(&path)?;
        root_logic.push(tree);
    }

    Ok(QueryParams {
        select,
        filters: root_filters,
        logic: root_logic,
        order: order.unwrap_or_default(),
        range,
        columns,
        on_conflict,
        rpc_args,
    })
}

/// The embedded path of an `order`/`limit`/`offset` key (every word but the last).
fn embed_path(key: &str, what: &str) -> Result<Vec<String>, ApiError> {
    let mut names = Parser::new(key)
        .dotted_names()
        .map_err(|f| syntax_error(format!("failed to parse {what} ({key})"), key, f))?;
    names.pop();
    Ok(names)
}

/// Whether an operator expression consumed input before failing (`not.`, `in.`, `is.`): such
/// a value is an error even where a plain value would be an argument, as in PostgREST.
fn starts_operator(value: &str) -> bool {
    value.starts_with("not.") || value.starts_with("in.") || value.starts_with("is.")
}

impl Field {
    /// A plain column reference (no JSON path).
    #[cfg(test)]
    pub(crate) fn column(name: &str) -> Field {
        Field {
            name: name.to_owned(),
            path: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ast::{Operation, QuantOp};
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a+b%2Bc%2x%", true), "a b+c%2x%");
        assert_eq!(percent_decode("%C3%A9", true), "é");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(
            decode_query("a=1&b&c=x;d=%20"),
            vec![
                ("a".into(), Some("1".into())),
                ("b".into(), None),
                ("c".into(), Some("x".into())),
                ("d".into(), Some(" ".into())),
            ]
        );
    }

    #[test]
    fn roles_of_parameters() {
        let q = parse(
            "id=eq.1&select=id,name&order=id.desc&order=name&or=(a.eq.1,b.eq.2)&limit=2&offset=1&name=not.is.null",
            false,
        )
        .expect("valid");
        assert_eq!(q.filters.len(), 2);
        assert_eq!(q.logic.len(), 1);
        // The first `order` wins.
        assert_eq!(q.order.len(), 1);
        assert_eq!(q.order[0].field, Field::column("id"));
        let r = q.range.expect("range");
        assert_eq!((r.offset(), r.limit()), (1, Some(2)));
        assert_eq!(q.select.len(), 2);
    }

    #[test]
    fn errors() {
        let err = |q: &str| {
            parse(q, false)
                .map(|_| ())
                .map_err(|e| (e.status, e.code.clone()))
        };
        assert_eq!(err("id="), Err((400, "PGRST100".into())));
        assert_eq!(err("or=()"), Err((400, "PGRST100".into())));
        assert_eq!(err("order=id.descc"), Err((400, "PGRST100".into())));
        assert_eq!(err("a.b=eq.1"), Err((400, "PGRST108".into())));
        assert_eq!(err("select=count()"), Err((400, "PGRST123".into())));
        let e = parse("id=noop.1", false).map(|_| ()).expect_err("bad op");
        assert_eq!(
            e.message,
            "\"failed to parse filter (noop.1)\" (line 1, column 1)"
        );
        assert!(
            e.details
                .as_str()
                .is_some_and(|d| d.starts_with("unexpected \"n\"")),
            "{:?}",
            e.details
        );
    }

    #[test]
    fn rpc_reads_take_plain_values_as_arguments() {
        let q = parse("a=1&b=eq.2&c=input", true).expect("valid");
        assert_eq!(
            q.rpc_args,
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("c".to_owned(), "input".to_owned())
            ]
        );
        assert_eq!(q.filters.len(), 1);
        assert!(matches!(
            q.filters[0].operation,
            Operation::Quant {
                op: QuantOp::Equal,
                ..
            }
        ));
        assert!(parse("a=not.x", true).is_err());
    }
}
