//! A test-only interpreter of PostgREST query strings, written from the grammar notes (PostgREST's
//! `QueryParams.hs` / `SqlFragment.hs`): it turns a query string into the SQL PostgREST would run,
//! values as untyped literals (PostgREST binds them as `unknown`, so PostgreSQL casts them to the
//! column's type). It is checked against every golden case of PostgREST's own test suite
//! (`tests/data/postgrest/spec_cases.tsv` over `fixture.sql`), then used by the differential test
//! so that the PostgREST strings we emit select the same rows as the SQL and the evaluator.

/// What PostgREST would run for a query string.
#[derive(Debug, Default)]
pub struct Request {
    /// Conditions, ANDed.
    pub wheres: Vec<String>,
    /// `ORDER BY` items from the first `order` parameter.
    pub order: Option<String>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

impl Request {
    pub fn where_sql(&self) -> String {
        if self.wheres.is_empty() {
            "TRUE".to_owned()
        } else {
            self.wheres
                .iter()
                .map(|w| format!("({w})"))
                .collect::<Vec<_>>()
                .join(" AND ")
        }
    }

    pub fn select_sql(&self, columns: &str, table: &str) -> String {
        let mut sql = format!("SELECT {columns} FROM {table} WHERE {}", self.where_sql());
        if let Some(o) = &self.order {
            sql.push_str(&format!(" ORDER BY {o}"));
        }
        if let Some(l) = self.limit {
            sql.push_str(&format!(" LIMIT {l}"));
        }
        if let Some(o) = self.offset {
            sql.push_str(&format!(" OFFSET {o}"));
        }
        sql
    }
}

/// A 400 from PostgREST's parser.
pub type BadRequest = String;

/// `application/x-www-form-urlencoded` decoding with `+` as a space (`parseQueryReplacePlus True`).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                // A `%` not followed by two hex digits stays as it is.
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A SQL string literal (standard_conforming_strings is on: only `'` needs doubling).
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `pgBuildArrayLiteral`: every element quoted, `\` and `"` escaped.
fn array_lit(items: &[String]) -> String {
    let inner: Vec<String> = items
        .iter()
        .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    lit(&format!("{{{}}}", inner.join(",")))
}

pub fn interpret(query: &str) -> Result<Request, BadRequest> {
    let mut req = Request::default();
    for part in query.split('&') {
        let Some((k, v)) = part.split_once('=') else {
            // Parameters with no `=` are dropped.
            continue;
        };
        let (key, value) = (decode(k), decode(v));
        let last = key.rsplit('.').next().unwrap_or("");
        match (key.as_str(), last) {
            ("select" | "columns" | "on_conflict", _) => {}
            (_, "order") => {
                // Only the first `order` parameter is used.
                if req.order.is_none() {
                    req.order = Some(order(&value)?);
                }
            }
            (_, "limit") => {
                req.limit = Some(value.parse().map_err(|_| format!("bad limit {value}"))?)
            }
            (_, "offset") => {
                req.offset = Some(value.parse().map_err(|_| format!("bad offset {value}"))?)
            }
            (_, "and" | "or") => {
                let negated = match key.as_str() {
                    "and" | "or" => false,
                    "not.and" | "not.or" => true,
                    _ => return Err(format!("embedded logic trees are not supported: {key}")),
                };
                let mut p = Parser { s: &value, pos: 0 };
                let sql = p.group_body(last == "and")?;
                // Anything after the closing `)` is silently ignored.
                req.wheres
                    .push(if negated { format!("NOT {sql}") } else { sql });
            }
            _ => {
                if key.contains('.') {
                    return Err(format!("embedded resources are not supported: {key}"));
                }
                let mut p = Parser { s: &value, pos: 0 };
                req.wheres.push(p.op_expr(&key, false)?);
            }
        }
    }
    Ok(req)
}

fn order(value: &str) -> Result<String, BadRequest> {
    let mut items = Vec::new();
    for term in value.split(',') {
        let mut words = term.split('.');
        let col = words.next().unwrap_or("").trim().to_owned();
        let mut dir = "";
        let mut nulls = "";
        for w in words {
            match w {
                "asc" => dir = " ASC",
                "desc" => dir = " DESC",
                "nullsfirst" => nulls = " NULLS FIRST",
                "nullslast" => nulls = " NULLS LAST",
                other => return Err(format!("bad order modifier {other}")),
            }
        }
        items.push(format!("{col}{dir}{nulls}"));
    }
    Ok(items.join(", "))
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, t: &str) -> bool {
        if self.rest().starts_with(t) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }

    /// `'(' tree (',' tree)* ')'` with spaces around; returns the SQL group.
    fn group_body(&mut self, is_and: bool) -> Result<String, BadRequest> {
        self.ws();
        if !self.eat("(") {
            return Err("expected (".into());
        }
        let mut parts = Vec::new();
        loop {
            self.ws();
            parts.push(self.tree()?);
            self.ws();
            if self.eat(",") {
                continue;
            }
            if self.eat(")") {
                break;
            }
            return Err(format!("expected , or ) at {:?}", self.rest()));
        }
        let joiner = if is_and { " AND " } else { " OR " };
        Ok(format!(
            "({})",
            parts
                .iter()
                .map(|p| format!("({p})"))
                .collect::<Vec<_>>()
                .join(joiner)
        ))
    }

    /// `['not.'] ('and'|'or') '(' ... ')' | field '.' opExpr`.
    fn tree(&mut self) -> Result<String, BadRequest> {
        let start = self.pos;
        let negated = self.eat("not.");
        for (word, is_and) in [("and", true), ("or", false)] {
            if self.rest().starts_with(word) {
                let after = self.pos + word.len();
                let next_non_ws = self.s[after..]
                    .trim_start_matches([' ', '\t'])
                    .chars()
                    .next();
                if next_non_ws == Some('(') {
                    self.pos = after;
                    let g = self.group_body(is_and)?;
                    return Ok(if negated { format!("NOT {g}") } else { g });
                }
            }
        }
        self.pos = start;
        let field_end = self
            .rest()
            .find('.')
            .ok_or_else(|| format!("expected field.op at {:?}", self.rest()))?;
        let field = self.rest()[..field_end].trim().to_owned();
        if field.is_empty() || field.contains([',', '(', ')']) {
            return Err(format!("bad field {field:?}"));
        }
        self.pos += field_end + 1;
        self.op_expr(&field, true)
    }

    /// `[not.]op.value`; inside a tree the value ends at `,` or `)`.
    fn op_expr(&mut self, col: &str, in_tree: bool) -> Result<String, BadRequest> {
        let negated = self.eat("not.");
        if self.rest().starts_with("not.") {
            return Err("not.not. is not allowed".into());
        }
        let op_end = self
            .rest()
            .find('.')
            .ok_or_else(|| format!("expected op.value at {:?}", self.rest()))?;
        let op = self.rest()[..op_end].to_owned();
        self.pos += op_end + 1;
        let expr = match op.as_str() {
            "in" => {
                let items = self.list()?;
                // `in.()`, `in.(  )` and `in.("")` are all the empty array.
                let items = if items.len() == 1 && items[0].is_empty() {
                    vec![]
                } else {
                    items
                };
                format!("{col} = ANY({})", array_lit(&items))
            }
            "is" => {
                let v = self.single(in_tree)?;
                match v.to_ascii_lowercase().as_str() {
                    "null" => format!("{col} IS NULL"),
                    "not_null" => format!("{col} IS NOT NULL"),
                    "true" => format!("{col} IS TRUE"),
                    "false" => format!("{col} IS FALSE"),
                    "unknown" => format!("{col} IS UNKNOWN"),
                    other => return Err(format!("bad is value {other}")),
                }
            }
            "isdistinct" => format!("{col} IS DISTINCT FROM {}", lit(&self.single(in_tree)?)),
            "eq" | "neq" | "gt" | "gte" | "lt" | "lte" | "match" | "imatch" | "cs" | "cd"
            | "ov" | "sl" | "sr" | "nxr" | "nxl" | "adj" => {
                let sql_op = match op.as_str() {
                    "eq" => "=",
                    "neq" => "<>",
                    "gt" => ">",
                    "gte" => ">=",
                    "lt" => "<",
                    "lte" => "<=",
                    "match" => "~",
                    "imatch" => "~*",
                    "cs" => "@>",
                    "cd" => "<@",
                    "ov" => "&&",
                    "sl" => "<<",
                    "sr" => ">>",
                    "nxr" => "&<",
                    "nxl" => "&>",
                    _ => "-|-",
                };
                format!("{col} {sql_op} {}", lit(&self.single(in_tree)?))
            }
            // Every `*` is the like wildcard; `%` and `_` stay LIKE's own.
            "like" => format!(
                "{col} LIKE {}",
                lit(&self.single(in_tree)?.replace('*', "%"))
            ),
            "ilike" => format!(
                "{col} ILIKE {}",
                lit(&self.single(in_tree)?.replace('*', "%"))
            ),
            fts if fts.starts_with("fts")
                || fts.starts_with("plfts")
                || fts.starts_with("phfts")
                || fts.starts_with("wfts") =>
            {
                let (name, lang) = match fts.split_once('(') {
                    Some((n, l)) => (n, Some(l.trim_end_matches(')'))),
                    None => (fts, None),
                };
                let func = match name {
                    "fts" => "to_tsquery",
                    "plfts" => "plainto_tsquery",
                    "phfts" => "phraseto_tsquery",
                    "wfts" => "websearch_to_tsquery",
                    other => return Err(format!("unknown operator {other}")),
                };
                let v = lit(&self.single(in_tree)?);
                match lang {
                    Some(l) => format!("{col} @@ {func}({}, {v})", lit(l)),
                    None => format!("{col} @@ {func}({v})"),
                }
            }
            other => return Err(format!("unknown operator {other}")),
        };
        Ok(if negated {
            format!("NOT ({expr})")
        } else {
            expr
        })
    }

    /// A single value: verbatim at top level; inside a tree quoted, `{..}` or raw up to `,`/`)`.
    fn single(&mut self, in_tree: bool) -> Result<String, BadRequest> {
        if !in_tree {
            let v = self.rest().to_owned();
            self.pos = self.s.len();
            return Ok(v);
        }
        if let Some(v) = self.quoted() {
            return Ok(v);
        }
        if self.peek() == Some('{') {
            let end = self.rest().find('}').ok_or("unclosed {")?;
            let v = self.rest()[..=end].to_owned();
            self.pos += end + 1;
            if !matches!(self.peek(), Some(',' | ')')) {
                return Err(format!("unexpected text after {v}"));
            }
            return Ok(v);
        }
        Ok(self.raw())
    }

    /// `"…"` with `\` escaping any character, closing quote followed by `,` or `)`; backtracks
    /// (returns `None`) otherwise.
    fn quoted(&mut self) -> Option<String> {
        let mut chars = self.rest().char_indices();
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut out = String::new();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?.1),
                '"' => {
                    let after = &self.rest()[i + 1..];
                    if after.starts_with(',') || after.starts_with(')') {
                        self.pos += i + 1;
                        return Some(out);
                    }
                    return None;
                }
                c => out.push(c),
            }
        }
        None
    }

    fn raw(&mut self) -> String {
        let end = self.rest().find([',', ')']).unwrap_or(self.rest().len());
        let v = self.rest()[..end].to_owned();
        self.pos += end;
        v
    }

    /// `ws '(' ws elem (',' elem)* ws ')' ws`; the first element loses its leading spaces.
    fn list(&mut self) -> Result<Vec<String>, BadRequest> {
        self.ws();
        if !self.eat("(") {
            return Err("expected ( after in.".into());
        }
        self.ws();
        let mut items = Vec::new();
        loop {
            let item = match self.quoted() {
                Some(v) => v,
                None => self.raw(),
            };
            items.push(item);
            if self.eat(",") {
                continue;
            }
            if self.eat(")") {
                break;
            }
            return Err("unclosed in list".into());
        }
        self.ws();
        Ok(items)
    }
}

#[test]
fn decoding() {
    assert_eq!(decode("a+b%2Bc%2x%"), "a b+c%2x%");
    assert_eq!(decode("%C3%A9"), "é");
}

/// Every golden case of PostgREST's test suite: the rows it returns, or its 400, or the
/// PostgreSQL error it relays.
#[test]
fn postgrest_golden_cases() {
    let Some(mut db) = super::pg::TestDb::create("golden") else {
        return;
    };
    db.client
        .batch_execute(&crate::support::data("postgrest/fixture.sql"))
        .expect("load fixture");
    let cases = crate::support::data("postgrest/spec_cases.tsv");
    let mut ran = 0;
    for line in cases
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let (name, table, key, query) = (cols[0], cols[1], cols[2], cols[3]);
        let expected = cols.get(4).copied().unwrap_or("");
        ran += 1;
        let req = match interpret(query) {
            Ok(r) => r,
            Err(e) => {
                assert_eq!(
                    expected, "ERR",
                    "{name}: interpreter said 400 ({e}) for {query}"
                );
                continue;
            }
        };
        assert_ne!(expected, "ERR", "{name}: PostgREST answers 400 for {query}");
        let sql = req.select_sql(&format!("({key})::text"), &format!("test.{table}"));
        match db.client.query(&sql, &[]) {
            Ok(rows) => {
                let mut got: Vec<String> = rows
                    .iter()
                    .map(|r| {
                        r.get::<_, Option<String>>(0)
                            .unwrap_or_else(|| "NULL".into())
                    })
                    .collect();
                got.sort();
                let mut want: Vec<String> = if expected.is_empty() {
                    vec![]
                } else {
                    expected.split('|').map(String::from).collect()
                };
                want.sort();
                assert_eq!(got, want, "{name}: {query}\n{sql}");
            }
            Err(e) => {
                let msg = e
                    .as_db_error()
                    .map(|d| d.message().to_owned())
                    .unwrap_or_else(|| e.to_string());
                let want = expected
                    .strip_prefix("PGERR:")
                    .unwrap_or_else(|| panic!("{name}: unexpected error {msg}\n{sql}"));
                assert_eq!(want.trim_start_matches("ERROR:").trim(), msg, "{name}");
            }
        }
    }
    assert_eq!(ran, 61);
}

/// Values with a literal `*` go through a regular expression; it must fold case exactly as
/// ILIKE does, including letters whose case partners are not their own upper/lower case (the
/// Kelvin sign lowercases to `k`, `İ` to `i`). PostgreSQL's `imatch` (`~*`) would not.
#[test]
fn star_values_fold_case_like_ilike() {
    use smsbatch::filter::{Filter, FilterOptions, Schema};
    let names = [
        "k*x",
        "K*x",
        "\u{212A}*x",
        "ſ*x",
        "S*x",
        "s*x",
        "İ*x",
        "i*x",
        "I*x",
        "ı*x",
        "ß*x",
        "ẞ*x",
        "SS*x",
    ];
    let rows: Vec<serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| serde_json::json!({"id": i + 1, "first_name": n}))
        .chain([serde_json::json!({"id": 99})])
        .collect();
    let Some(mut db) = super::pg::TestDb::create("star") else {
        return;
    };
    db.load_customers(&rows);
    let mut naive_differs = 0;
    for value in ["k*", "\u{212A}*", "s*", "ſ*", "i*", "İ*", "ı*", "ß*", "ẞ*"] {
        for op in ["contains", "startsWith", "notContains"] {
            let f = Filter::from_value(
                &serde_json::json!({"field": "first_name", "op": op, "value": value}),
                &Schema::customers(),
                &FilterOptions::new(),
            )
            .expect("compiles");
            let memory: Vec<i32> = f
                .evaluator()
                .filter(&rows)
                .expect("rows")
                .iter()
                .map(|&i| rows[i]["id"].as_i64().expect("id") as i32)
                .collect();
            let sql = f.sql_where();
            let from_sql: Vec<i32> = db
                .query_text(
                    &format!(
                        "SELECT id FROM customers WHERE {} ORDER BY id",
                        sql.where_clause()
                    ),
                    &sql.text_params(),
                )
                .iter()
                .map(|r| r.get(0))
                .collect();
            let request = interpret(&f.postgrest().query_string()).expect("valid PostgREST");
            let from_postgrest: Vec<i32> = db
                .query_text(
                    &format!("{} ORDER BY id", request.select_sql("id", "customers")),
                    &[],
                )
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert_eq!(from_sql, memory, "{op} {value}");
            assert_eq!(
                from_postgrest,
                memory,
                "{op} {value}: {}",
                f.postgrest().query_string()
            );
            if op == "contains" {
                let escaped: String = value
                    .chars()
                    .map(|c| {
                        if c == '*' {
                            "\\*".to_string()
                        } else {
                            c.to_string()
                        }
                    })
                    .collect();
                let naive: Vec<i32> = db
                    .query_text(
                        "SELECT id FROM customers WHERE first_name ~* $1::text ORDER BY id",
                        &[escaped],
                    )
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                if naive != memory {
                    naive_differs += 1;
                }
            }
        }
    }
    // The reason for the bracket classes: case-insensitive regexes disagree with ILIKE here.
    assert!(naive_differs > 0, "imatch agreed with ILIKE on every value");
}
