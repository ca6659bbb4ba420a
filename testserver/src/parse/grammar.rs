//! PostgREST's query-parameter grammar, rule for rule (`ApiRequest/QueryParams.hs`, a Parsec
//! grammar): field names, JSON paths, operator expressions, `in` lists, logic trees, `order` and
//! `select`.
//!
//! Parsec's backtracking decides what a query means, so it is kept: where PostgREST writes
//! `try p <|> q` this parser saves its position, tries `p` and rewinds; where PostgREST has no
//! `try`, a rule that consumed input and then failed is an error, not a fallback. None of the
//! rules ask for the end of the input, as in PostgREST: text after a complete logic tree, `in`
//! list or key is ignored.

use super::ast::{
    Direction, Field, Filter, FtsOp, IsValue, JsonOp, JsonOperand, LogicOp, LogicTree, Nulls,
    Operation, OrderTerm, QuantOp, Quantifier, SelectItem, SimpleOp,
};

/// Where and why a rule failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fail {
    /// Byte offset in the input.
    pub(crate) pos: usize,
    /// What the rule wanted there, in Parsec's words.
    pub(crate) expected: &'static str,
    /// A well-formed item this server refuses (an embedded resource, an aggregate).
    pub(crate) unsupported: Option<Unsupported>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Unsupported {
    /// `select=rel(..)` or `order=rel(col)`: resource embedding (no relationships here).
    Relation(String),
    /// `count()`, `col.sum()`: aggregates are off, as in PostgREST's default configuration.
    Aggregate,
}

type PResult<T> = Result<T, Fail>;

/// A cursor over one parameter's text.
pub(crate) struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Parser { s, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Consumes `t` if the input starts with it (Parsec's `try (string t)`).
    fn eat(&mut self, t: &str) -> bool {
        if self.rest().starts_with(t) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }

    fn eat_char(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// `ws = many (oneOf " \t")`; tells whether it consumed anything.
    fn ws(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
        self.pos != start
    }

    fn fail<T>(&self, expected: &'static str) -> PResult<T> {
        Err(Fail {
            pos: self.pos,
            expected,
            unsupported: None,
        })
    }

    fn unsupported<T>(&self, what: Unsupported) -> PResult<T> {
        Err(Fail {
            pos: self.pos,
            expected: "",
            unsupported: Some(what),
        })
    }

    /// Parsec's `try`: runs `f`, rewinding when it gives nothing.
    fn attempt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let start = self.pos;
        let out = f(self);
        if out.is_none() {
            self.pos = start;
        }
        out
    }

    /// `lexeme (char c)`: blanks, `c`, blanks.
    fn lexeme_char(&mut self, c: char, expected: &'static str) -> PResult<()> {
        self.ws();
        if !self.eat_char(c) {
            return self.fail(expected);
        }
        self.ws();
        Ok(())
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !keep(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }

    // ---- names ----------------------------------------------------------------------------

    /// `pQuotedValue`: `"…"` where `\` escapes any next character. `None` when the input does
    /// not start with a quote or the quote is never closed (the caller rewinds).
    fn quoted(&mut self) -> Option<String> {
        if !self.eat_char('"') {
            return None;
        }
        let mut out = String::new();
        loop {
            match self.bump()? {
                '\\' => out.push(self.bump()?),
                '"' => return Some(out),
                c => out.push(c),
            }
        }
    }

    /// A quoted value directly followed by `,`, `)` or the end
    /// (`pQuotedValue <* notFollowedBy (noneOf ",)")`).
    fn quoted_then_delimiter(&mut self) -> Option<String> {
        let v = self.quoted()?;
        matches!(self.peek(), None | Some(',' | ')')).then_some(v)
    }

    /// `pIdentifier`: letters, digits, `_`, `$` and spaces, trimmed.
    fn identifier(&mut self) -> Option<String> {
        let raw = self.take_while(|c| c.is_alphabetic() || c.is_ascii_digit() || "_ $".contains(c));
        (!raw.is_empty()).then(|| raw.trim().to_owned())
    }

    /// `pJsonKeyIdentifier`: anything but `(-:.,>)`, trimmed.
    fn json_key_identifier(&mut self) -> Option<String> {
        let raw = self.take_while(|c| !"(-:.,>)".contains(c));
        (!raw.is_empty()).then(|| raw.trim().to_owned())
    }

    /// `sepByDash`: items joined by `-` (a `-` not followed by `>`, which starts a JSON arrow).
    fn sep_by_dash(&mut self, item: fn(&mut Self) -> Option<String>) -> Option<String> {
        let mut parts = vec![item(self)?];
        while self.rest().starts_with('-') && !self.rest()[1..].starts_with('>') {
            self.pos += 1;
            parts.push(item(self)?);
        }
        Some(parts.join("-"))
    }

    /// `pFieldName`: a quoted name or dash-joined identifiers.
    pub(crate) fn field_name(&mut self) -> PResult<String> {
        let name = if self.peek() == Some('"') {
            self.quoted()
        } else {
            self.sep_by_dash(Self::identifier)
        };
        match name {
            Some(n) => Ok(n),
            None => self.fail("field name (* or [a..z0..9_$])"),
        }
    }

    /// `pJsonPath`: `->key`, `->>key`, `->0`, `->>-1`, repeated.
    fn json_path(&mut self) -> PResult<Vec<JsonOp>> {
        let mut ops = Vec::new();
        loop {
            let double = if self.eat("->>") {
                true
            } else if self.eat("->") {
                false
            } else {
                return Ok(ops);
            };
            let operand = if let Some(i) = self.attempt(Self::json_index) {
                JsonOperand::Index(i)
            } else if let Some(k) = self.attempt(Self::json_key) {
                JsonOperand::Key(k)
            } else {
                return self.fail("any non reserved character different from: .,>()");
            };
            ops.push(if double {
                JsonOp::DoubleArrow(operand)
            } else {
                JsonOp::Arrow(operand)
            });
        }
    }

    /// An array index: an optional `-`, digits, then `->`, `::`, `.`, `,` or the end.
    fn json_index(&mut self) -> Option<String> {
        let sign = if self.eat_char('-') { '-' } else { '+' };
        let digits = self.take_while(|c| c.is_ascii_digit());
        if digits.is_empty() {
            return None;
        }
        let r = self.rest();
        let ends = r.is_empty()
            || r.starts_with("->")
            || r.starts_with("::")
            || r.starts_with('.')
            || r.starts_with(',');
        ends.then(|| format!("{sign}{digits}"))
    }

    fn json_key(&mut self) -> Option<String> {
        if self.peek() == Some('"') {
            self.quoted()
        } else {
            self.sep_by_dash(Self::json_key_identifier)
        }
    }

    /// `pField`: blanks, a name, an optional JSON path, blanks.
    fn field(&mut self) -> PResult<Field> {
        self.ws();
        let name = self.field_name()?;
        let path = self.json_path()?;
        self.ws();
        Ok(Field { name, path })
    }

    /// `pTreePath` (a filter's key): `a.b.c` is the embedded path `[a, b]` and the field `c`.
    pub(crate) fn tree_path(&mut self) -> PResult<(Vec<String>, Field)> {
        let mut names = vec![self.field_name()?];
        while self.eat_char('.') {
            names.push(self.field_name()?);
        }
        let path = self.json_path()?;
        let name = names.pop().unwrap_or_default();
        Ok((names, Field { name, path }))
    }

    /// `pFieldName `sepBy1` pDelimiter` (the key of `or`/`and`/`order`/`limit` parameters).
    pub(crate) fn dotted_names(&mut self) -> PResult<Vec<String>> {
        let mut names = vec![self.field_name()?];
        while self.eat_char('.') {
            names.push(self.field_name()?);
        }
        Ok(names)
    }

    /// `pColumns` (`columns=` and `on_conflict=`): names separated by `,` with blanks.
    pub(crate) fn columns(&mut self) -> PResult<Vec<String>> {
        let mut names = vec![self.field_name()?];
        loop {
            let consumed = self.ws();
            if self.eat_char(',') {
                self.ws();
                names.push(self.field_name()?);
            } else if consumed {
                return self.fail("\",\"");
            } else {
                return Ok(names);
            }
        }
    }

    // ---- operators and values ----------------------------------------------------------------

    /// `pOpExpr`: `[not.]op.value`. At top level the value is the rest of the text; inside a
    /// logic tree it is quoted, a `{..}` array or raw up to `,`/`)`.
    pub(crate) fn op_expr(&mut self, in_tree: bool) -> PResult<(bool, Operation)> {
        let negated = self.eat("not.");
        let operation = if self.eat("in.") {
            Operation::In(self.list()?)
        } else if self.eat("is.") {
            Operation::Is(self.is_value()?)
        } else if self.eat("isdistinct.") {
            Operation::IsDistinct(self.single_value(in_tree))
        } else if let Some(op) = self.attempt(|p| p.fts(in_tree)) {
            op
        } else if let Some(op) = self.attempt(|p| p.simple(in_tree)) {
            op
        } else if let Some(op) = self.attempt(|p| p.quant(in_tree)) {
            op
        } else {
            return self.fail("operator (eq, gt, ...)");
        };
        Ok((negated, operation))
    }

    fn fts(&mut self, in_tree: bool) -> Option<Operation> {
        let op = [
            ("fts", FtsOp::Fts),
            ("plfts", FtsOp::Plain),
            ("phfts", FtsOp::Phrase),
            ("wfts", FtsOp::Websearch),
        ]
        .into_iter()
        .find(|(name, _)| self.eat(name))?
        .1;
        let lang = self.attempt(|p| {
            if !p.eat_char('(') {
                return None;
            }
            let lang = p.identifier()?;
            p.eat_char(')').then_some(lang)
        });
        if !self.eat_char('.') {
            return None;
        }
        Some(Operation::Fts {
            op,
            lang,
            value: self.single_value(in_tree),
        })
    }

    fn simple(&mut self, in_tree: bool) -> Option<Operation> {
        let op = [
            ("neq", SimpleOp::NotEqual),
            ("cs", SimpleOp::Contains),
            ("cd", SimpleOp::Contained),
            ("ov", SimpleOp::Overlap),
            ("sl", SimpleOp::StrictlyLeft),
            ("sr", SimpleOp::StrictlyRight),
            ("nxr", SimpleOp::NotExtendsRight),
            ("nxl", SimpleOp::NotExtendsLeft),
            ("adj", SimpleOp::Adjacent),
        ]
        .into_iter()
        .find(|(name, _)| self.eat(name))?
        .1;
        if !self.eat_char('.') {
            return None;
        }
        Some(Operation::Simple {
            op,
            value: self.single_value(in_tree),
        })
    }

    fn quant(&mut self, in_tree: bool) -> Option<Operation> {
        // `gte` before `gt` and `lte` before `lt`, as PostgREST tries them.
        let op = [
            ("eq", QuantOp::Equal),
            ("gte", QuantOp::GreaterThanEqual),
            ("gt", QuantOp::GreaterThan),
            ("lte", QuantOp::LessThanEqual),
            ("lt", QuantOp::LessThan),
            ("like", QuantOp::Like),
            ("ilike", QuantOp::ILike),
            ("match", QuantOp::Match),
            ("imatch", QuantOp::IMatch),
        ]
        .into_iter()
        .find(|(name, _)| self.eat(name))?
        .1;
        let quantifier = self.attempt(|p| {
            if !p.eat_char('(') {
                return None;
            }
            let q = if p.eat("any") {
                Quantifier::Any
            } else if p.eat("all") {
                Quantifier::All
            } else {
                return None;
            };
            p.eat_char(')').then_some(q)
        });
        if !self.eat_char('.') {
            return None;
        }
        Some(Operation::Quant {
            op,
            quantifier,
            value: self.single_value(in_tree),
        })
    }

    /// `pIsVal`: case-insensitive, tried in PostgREST's order; what follows is not looked at.
    fn is_value(&mut self) -> PResult<IsValue> {
        for (word, value) in [
            ("null", IsValue::Null),
            ("not_null", IsValue::NotNull),
            ("true", IsValue::True),
            ("false", IsValue::False),
            ("unknown", IsValue::Unknown),
        ] {
            let matched = self.attempt(|p| {
                for expected in word.chars() {
                    let c = p.bump()?;
                    if c != expected && c != expected.to_ascii_uppercase() {
                        return None;
                    }
                }
                Some(())
            });
            if matched.is_some() {
                return Ok(value);
            }
        }
        self.fail("isVal: (null, not_null, true, false, unknown)")
    }

    fn single_value(&mut self, in_tree: bool) -> String {
        if !in_tree {
            let v = self.rest().to_owned();
            self.pos = self.s.len();
            return v;
        }
        if let Some(v) = self.attempt(Self::quoted_then_delimiter) {
            return v;
        }
        if let Some(v) = self.attempt(Self::pg_array) {
            return v;
        }
        self.raw()
    }

    /// `{…}` with no nested braces, kept as written (PostgreSQL parses it).
    fn pg_array(&mut self) -> Option<String> {
        let start = self.pos;
        if !self.eat_char('{') {
            return None;
        }
        self.take_while(|c| c != '{' && c != '}');
        self.eat_char('}')
            .then(|| self.s[start..self.pos].to_owned())
    }

    /// `many (noneOf ",)")`.
    fn raw(&mut self) -> String {
        self.take_while(|c| c != ',' && c != ')').to_owned()
    }

    /// `pListVal`: `(` elements separated by `,` `)`, with blanks around the parentheses.
    fn list(&mut self) -> PResult<Vec<String>> {
        self.lexeme_char('(', "\"(\"")?;
        let mut items = vec![self.list_element()];
        while self.eat_char(',') {
            items.push(self.list_element());
        }
        self.lexeme_char(')', "\",\" or \")\"")?;
        Ok(items)
    }

    fn list_element(&mut self) -> String {
        self.attempt(Self::quoted_then_delimiter)
            .unwrap_or_else(|| self.raw())
    }

    // ---- logic trees -------------------------------------------------------------------------

    /// `pLogicTree`: a filter `field.op.value`, or `[not.]and(..)` / `[not.]or(..)`.
    pub(crate) fn logic_tree(&mut self) -> PResult<LogicTree> {
        let start = self.pos;
        match self.logic_filter() {
            Ok(f) => return Ok(LogicTree::Filter(f)),
            Err(_) => self.pos = start,
        }
        let negated = self.eat("not.");
        let op = if self.eat("and") {
            LogicOp::And
        } else if self.eat("or") {
            LogicOp::Or
        } else {
            return self.fail("logic operator (and, or)");
        };
        self.lexeme_char('(', "\"(\"")?;
        let mut children = vec![self.logic_tree()?];
        loop {
            // `lexeme (char ',')` as a separator: blanks that are not followed by a comma are an
            // error (the separator consumed them), not the end of the list.
            let blanks = self.ws();
            if self.eat_char(',') {
                self.ws();
                children.push(self.logic_tree()?);
            } else if blanks {
                return self.fail("\",\"");
            } else {
                break;
            }
        }
        self.lexeme_char(')', "\",\" or \")\"")?;
        Ok(LogicTree::Expr {
            negated,
            op,
            children,
        })
    }

    fn logic_filter(&mut self) -> PResult<Filter> {
        let field = self.field()?;
        if !self.eat_char('.') {
            return self.fail("delimiter (.)");
        }
        let (negated, operation) = self.op_expr(true)?;
        Ok(Filter {
            field,
            negated,
            operation,
        })
    }

    // ---- order -------------------------------------------------------------------------------

    /// `pOrder`: `field[.asc|.desc][.nullsfirst|.nullslast]` separated by `,`; each term must end
    /// at a `,` or the end of the input (so `id.descc` and `id.desc ` are errors).
    pub(crate) fn order(&mut self) -> PResult<Vec<OrderTerm>> {
        let mut terms = vec![self.order_term()?];
        while self.eat_char(',') {
            terms.push(self.order_term()?);
        }
        Ok(terms)
    }

    fn order_term(&mut self) -> PResult<OrderTerm> {
        self.ws();
        let related = self.attempt(|p| {
            let relation = p.field_name().ok()?;
            if !p.eat_char('(') {
                return None;
            }
            p.field().ok()?;
            p.eat_char(')').then_some(relation)
        });
        if let Some(relation) = related {
            return self.unsupported(Unsupported::Relation(relation));
        }
        let field = self.field()?;
        let direction = if self.eat(".asc") {
            Some(Direction::Asc)
        } else if self.eat(".desc") {
            Some(Direction::Desc)
        } else {
            None
        };
        let nulls = if self.eat(".nullsfirst") {
            Some(Nulls::First)
        } else if self.eat(".nullslast") {
            Some(Nulls::Last)
        } else {
            None
        };
        if !(self.at_end() || self.peek() == Some(',')) {
            return self.fail(if direction.is_none() && nulls.is_none() {
                "\"asc\", \"desc\", \"nullsfirst\" or \"nullslast\""
            } else {
                "\",\" or end of input"
            });
        }
        Ok(OrderTerm {
            field,
            direction,
            nulls,
        })
    }

    // ---- select ------------------------------------------------------------------------------

    /// `pFieldForest`: items separated by `,`. An empty list means every column.
    pub(crate) fn select(&mut self) -> PResult<Vec<SelectItem>> {
        let start = self.pos;
        let first = match self.select_item() {
            Ok(item) => item,
            // `sepBy`: a first item that fails without consuming anything is an empty list.
            Err(e) if self.pos == start && e.unsupported.is_none() => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut items = vec![first];
        loop {
            let blanks = self.ws();
            if self.eat_char(',') {
                self.ws();
                items.push(self.select_item()?);
            } else if blanks {
                return self.fail("\",\"");
            } else {
                return Ok(items);
            }
        }
    }

    /// `pEnd` of a select item: a `)`, a `,` or the end, not consumed.
    fn select_end(&self) -> bool {
        matches!(self.peek(), None | Some(')' | ','))
    }

    /// `alias:` (a `:` not followed by another `:`).
    fn alias(&mut self) -> Option<String> {
        self.attempt(|p| {
            let name = p.field_name().ok()?;
            (p.eat_char(':') && p.peek() != Some(':')).then_some(name)
        })
    }

    /// `!hint` / `!inner` / `!left`, at most twice.
    fn embed_params(&mut self) {
        for _ in 0..2 {
            let taken = self.attempt(|p| {
                if !p.eat_char('!') {
                    return None;
                }
                if p.eat("left") || p.eat("inner") {
                    return Some(());
                }
                p.field_name().ok().map(|_| ())
            });
            if taken.is_none() {
                return;
            }
        }
    }

    fn select_item(&mut self) -> PResult<SelectItem> {
        self.ws();
        let spread = self.attempt(|p| {
            if !p.eat("...") {
                return None;
            }
            let name = p.field_name().ok()?;
            p.embed_params();
            (p.peek() == Some('(')).then_some(name)
        });
        let relation = spread.or_else(|| {
            self.attempt(|p| {
                p.alias();
                let name = p.field_name().ok()?;
                if name == "count" {
                    return None;
                }
                p.embed_params();
                (p.peek() == Some('(')).then_some(name)
            })
        });
        if let Some(name) = relation {
            return self.unsupported(Unsupported::Relation(name));
        }
        if self
            .attempt(|p| (p.eat_char('*') && p.select_end()).then_some(()))
            .is_some()
        {
            self.ws();
            return Ok(SelectItem::Star);
        }
        let count = self.attempt(|p| {
            p.alias();
            if !p.eat("count()") {
                return None;
            }
            if p.eat("::") {
                p.identifier()?;
            }
            p.select_end().then_some(())
        });
        if count.is_some() {
            return self.unsupported(Unsupported::Aggregate);
        }
        let alias = self.alias();
        let field = self.field()?;
        let cast = if self.eat("::") {
            match self.identifier() {
                Some(cast) => Some(cast),
                None => return self.fail("letter or digit"),
            }
        } else {
            None
        };
        let aggregate = self.attempt(|p| {
            if !p.eat_char('.') {
                return None;
            }
            ["sum", "avg", "count", "max", "min"]
                .into_iter()
                .find(|name| p.eat(name))?;
            p.eat("()").then_some(())
        });
        if aggregate.is_some() {
            return self.unsupported(Unsupported::Aggregate);
        }
        if !self.select_end() {
            return self.fail("\"->>\", \"->\", \"::\", \",\" or end of input");
        }
        self.ws();
        Ok(SelectItem::Field { alias, field, cast })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(s: &str) -> PResult<LogicTree> {
        Parser::new(s).logic_tree()
    }

    fn filter(s: &str) -> PResult<(bool, Operation)> {
        Parser::new(s).op_expr(false)
    }

    fn field(name: &str) -> Field {
        Field {
            name: name.into(),
            path: vec![],
        }
    }

    fn leaf(col: &str, negated: bool, operation: Operation) -> LogicTree {
        LogicTree::Filter(Filter {
            field: field(col),
            negated,
            operation,
        })
    }

    fn eq(v: &str) -> Operation {
        Operation::Quant {
            op: QuantOp::Equal,
            quantifier: None,
            value: v.into(),
        }
    }

    #[test]
    fn top_level_values_are_the_rest_verbatim() {
        assert_eq!(filter("eq.Smith, John"), Ok((false, eq("Smith, John"))));
        assert_eq!(filter("eq.\"a\""), Ok((false, eq("\"a\""))));
        assert_eq!(filter("eq."), Ok((false, eq(""))));
        assert_eq!(filter("not.eq.(x)"), Ok((true, eq("(x)"))));
        assert!(filter("not.not.eq.1").is_err());
        assert!(filter("noop.1").is_err());
        assert!(filter("").is_err());
    }

    #[test]
    fn operators_are_tried_in_postgrest_order() {
        let quant = |op, q, v: &str| {
            Ok((
                false,
                Operation::Quant {
                    op,
                    quantifier: q,
                    value: v.into(),
                },
            ))
        };
        assert_eq!(filter("gte.5"), quant(QuantOp::GreaterThanEqual, None, "5"));
        assert_eq!(filter("gt.5"), quant(QuantOp::GreaterThan, None, "5"));
        assert_eq!(
            filter("eq(any).{1,2}"),
            quant(QuantOp::Equal, Some(Quantifier::Any), "{1,2}")
        );
        assert_eq!(filter("ilike.*a*"), quant(QuantOp::ILike, None, "*a*"));
        assert_eq!(
            filter("isdistinct.x"),
            Ok((false, Operation::IsDistinct("x".into())))
        );
        assert_eq!(
            filter("is.NoT_NuLl"),
            Ok((false, Operation::Is(IsValue::NotNull)))
        );
        // Nothing after the `is` value is looked at.
        assert_eq!(
            filter("is.nullx"),
            Ok((false, Operation::Is(IsValue::Null)))
        );
        assert!(filter("is.maybe").is_err());
        assert_eq!(
            filter("fts(english).a b"),
            Ok((
                false,
                Operation::Fts {
                    op: FtsOp::Fts,
                    lang: Some("english".into()),
                    value: "a b".into()
                }
            ))
        );
        assert!(filter("fts().x").is_err());
        assert!(filter("eq().x").is_err());
        assert!(filter("gtex.5").is_err());
        assert_eq!(
            filter("neq.1"),
            Ok((
                false,
                Operation::Simple {
                    op: SimpleOp::NotEqual,
                    value: "1".into()
                }
            ))
        );
    }

    #[test]
    fn lists() {
        let list = |s: &str| match filter(s) {
            Ok((_, Operation::In(items))) => Ok(items),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(list("in.()"), Ok(vec!["".into()]));
        // The blanks after `(` belong to `lexeme (char '(')`.
        assert_eq!(list("in.(  )"), Ok(vec!["".into()]));
        assert_eq!(list("in.( a, b)"), Ok(vec!["a".into(), " b".into()]));
        assert_eq!(list(r#"in.("a,b",c)"#), Ok(vec!["a,b".into(), "c".into()]));
        assert_eq!(list(r#"in.(")"#), Ok(vec!["\"".into()]));
        assert_eq!(list(r#"in.(\)"#), Ok(vec!["\\".into()]));
        assert_eq!(list(r#"in.("D\a\vid")"#), Ok(vec!["David".into()]));
        // A quoted element followed by anything but `,`/`)` is raw, quotes included.
        assert_eq!(list(r#"in.("a" )"#), Ok(vec!["\"a\" ".into()]));
        assert!(list("in.(1,2").is_err());
        assert!(list("in.1,2").is_err());
        // Text after the list is ignored.
        assert_eq!(list("in.(1)xyz"), Ok(vec!["1".into()]));
    }

    #[test]
    fn logic_trees() {
        assert_eq!(
            tree("or(id.eq.1,id.eq.2)"),
            Ok(LogicTree::Expr {
                negated: false,
                op: LogicOp::Or,
                children: vec![leaf("id", false, eq("1")), leaf("id", false, eq("2"))]
            })
        );
        // Quoted values end at `"` followed by `,`/`)`; raw ones at `,`/`)`.
        assert_eq!(
            tree(r#"or(name.eq."a,b",name.eq.Seven(007))"#),
            Ok(LogicTree::Expr {
                negated: false,
                op: LogicOp::Or,
                children: vec![
                    leaf("name", false, eq("a,b")),
                    leaf("name", false, eq("Seven(007"))
                ]
            })
        );
        assert_eq!(
            tree("and(arr.cs.{1,2},id.eq.1)"),
            Ok(LogicTree::Expr {
                negated: false,
                op: LogicOp::And,
                children: vec![
                    leaf(
                        "arr",
                        false,
                        Operation::Simple {
                            op: SimpleOp::Contains,
                            value: "{1,2}".into()
                        }
                    ),
                    leaf("id", false, eq("1"))
                ]
            })
        );
        assert!(tree("or()").is_err());
        assert!(tree("or(id.in.1,2,id.eq.3)").is_err());
        assert!(tree("and(ord(id.eq.1,id.eq.1),id.eq.2)").is_err());
        assert!(tree("or(id.eq.1,not.xor(id.eq.2,id.eq.3))").is_err());
        assert!(tree("and(arr.cs.{x}y)").is_err());
        // Blanks before `)` after an `is` value: the separator took them, so it is an error.
        assert!(tree("or(a.is.null )").is_err());
        assert!(tree("or(a.is.null)").is_ok());
        // Trailing text after the tree is ignored.
        assert!(tree("and(id.eq.1,id.neq.2))").is_ok());
        // `or.eq.5` is a filter on a column named `or`.
        assert_eq!(tree("or.eq.5"), Ok(leaf("or", false, eq("5"))));
    }

    #[test]
    fn field_names_and_json_paths() {
        let mut p = Parser::new("data->a->>0->>-1.eq");
        let f = p.field().expect("field");
        assert_eq!(f.name, "data");
        assert_eq!(
            f.path,
            vec![
                JsonOp::Arrow(JsonOperand::Key("a".into())),
                JsonOp::DoubleArrow(JsonOperand::Index("+0".into())),
                JsonOp::DoubleArrow(JsonOperand::Index("-1".into())),
            ]
        );
        assert_eq!(Parser::new("\"a.b\"").field_name(), Ok("a.b".into()));
        assert_eq!(
            Parser::new("with-dash").field_name(),
            Ok("with-dash".into())
        );
        assert_eq!(
            Parser::new(" spaced name ").field_name(),
            Ok("spaced name".into())
        );
        assert!(Parser::new(":").field_name().is_err());
        assert!(Parser::new("data->>-78xy").field().map(|f| f.path).is_err());
        assert_eq!(
            Parser::new("a.b.c").tree_path().map(|(p, f)| (p, f.name)),
            Ok((vec!["a".to_owned(), "b".to_owned()], "c".to_owned()))
        );
    }

    #[test]
    fn order_terms() {
        let order = |s: &str| Parser::new(s).order();
        assert_eq!(
            order("name.desc.nullsfirst,id"),
            Ok(vec![
                OrderTerm {
                    field: field("name"),
                    direction: Some(Direction::Desc),
                    nulls: Some(Nulls::First)
                },
                OrderTerm {
                    field: field("id"),
                    direction: None,
                    nulls: None
                }
            ])
        );
        for bad in [
            "id.ac",
            "id.descc",
            "id.nulsfist",
            "id.nullslasttt",
            "id.asc.nlsfst",
            "id.smth34",
            "id,",
            "id.desc ",
        ] {
            assert!(order(bad).is_err(), "{bad}");
        }
        assert!(order(" id , name").is_ok());
        assert_eq!(
            order("clients(name).desc").map_err(|e| e.unsupported),
            Err(Some(Unsupported::Relation("clients".into())))
        );
    }

    #[test]
    fn select_items() {
        let select = |s: &str| Parser::new(s).select();
        assert_eq!(select(""), Ok(vec![]));
        assert_eq!(select("*"), Ok(vec![SelectItem::Star]));
        assert_eq!(
            select("id, n:name::text ,data->>k"),
            Ok(vec![
                SelectItem::Field {
                    alias: None,
                    field: field("id"),
                    cast: None
                },
                SelectItem::Field {
                    alias: Some("n".into()),
                    field: field("name"),
                    cast: Some("text".into())
                },
                SelectItem::Field {
                    alias: None,
                    field: Field {
                        name: "data".into(),
                        path: vec![JsonOp::DoubleArrow(JsonOperand::Key("k".into()))]
                    },
                    cast: None
                },
            ])
        );
        assert_eq!(
            select("id,clients(*)").map_err(|e| e.unsupported),
            Err(Some(Unsupported::Relation("clients".into())))
        );
        assert_eq!(
            select("count()").map_err(|e| e.unsupported),
            Err(Some(Unsupported::Aggregate))
        );
        assert_eq!(
            select("id.sum()").map_err(|e| e.unsupported),
            Err(Some(Unsupported::Aggregate))
        );
        assert!(select("name!hint").is_err());
        assert!(select("name::").is_err());
    }
}
