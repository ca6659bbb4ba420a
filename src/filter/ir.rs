//! Lowering: a validated AST becomes a small IR in negation normal form, which every back end
//! emits from. The IR knows nothing about SQL, HTTP or rows.
//!
//! Negations are pushed down to the leaves (De Morgan), and each leaf carries a `negated` flag
//! meaning "exactly the rows the positive leaf does not match, NULL rows included". Positive
//! leaves never match NULL. With that shape, SQL's three-valued logic is harmless: in a formula
//! without `NOT`, a NULL comparison behaves like FALSE, so the back ends can write positive leaves
//! plainly and only negated leaves need a NULL-inclusive form.

use serde_json::Value;

use super::ast::{
    Condition, Limits, Node, Op, check_value_size, clip, invalid, push_token, too_large,
};
use super::schema::{FieldType, Schema};
use crate::error::{Error, ErrorKind, Result};
use crate::time::{Date, Timestamp};

/// A constant of a field's type, parsed once when the filter is compiled.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar {
    Str(String),
    /// The parsed value and the JSON number it came from (printed back verbatim).
    Num(f64, serde_json::Number),
    Date(Date),
    Ts(Timestamp),
    Bool(bool),
}

impl Scalar {
    /// The value as a plain JSON value (a SQL parameter in the CLI's output).
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Scalar::Str(s) => Value::String(s.clone()),
            Scalar::Num(_, n) => Value::Number(n.clone()),
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Date(_) | Scalar::Ts(_) => Value::String(self.to_text()),
        }
    }

    /// The value as PostgreSQL text input (and PostgREST value text).
    pub(crate) fn to_text(&self) -> String {
        match self {
            Scalar::Str(s) => s.clone(),
            Scalar::Num(f, _) => number_text(*f),
            Scalar::Date(d) => d.to_string(),
            // Always UTC with `Z`: no `+` to form-encode, no session time zone involved.
            Scalar::Ts(t) => t.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// The largest integer every number in `[-LIMIT, LIMIT]` of which an `f64` holds exactly.
const EXACT_INTEGERS: u64 = 1 << 53;

/// `n` as the `f64` the in-memory evaluator compares, or why it cannot be one. Integers past
/// ±2^53 are refused rather than rounded: rounded, `9007199254740993` would equal
/// `9007199254740992` in memory and in the browser while PostgreSQL told them apart, and the three
/// back ends must select the same rows.
pub(crate) fn exact_number(n: &serde_json::Number) -> std::result::Result<f64, String> {
    let beyond = match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => u > EXACT_INTEGERS,
        (None, Some(i)) => i.unsigned_abs() > EXACT_INTEGERS,
        // A float this large is an integer already rounded (`18446744073709551617`, past u64,
        // arrives as 18446744073709551616.0): which number was written cannot be known.
        (None, None) => n.as_f64().is_some_and(|f| f.abs() > EXACT_INTEGERS as f64),
    };
    if beyond {
        return Err(format!(
            "{n} is an integer beyond ±2^53 ({EXACT_INTEGERS}), which cannot be compared exactly"
        ));
    }
    n.as_f64()
        .filter(|f| f.is_finite())
        .ok_or_else(|| format!("{n} is not a finite number"))
}

/// A number as PostgreSQL numeric input: integral values without a fraction (so an `integer`
/// column accepts them through PostgREST too), others in shortest round-trip decimal form,
/// never with an exponent.
pub(crate) fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// One end of a range.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Bound {
    pub(crate) value: Scalar,
    pub(crate) inclusive: bool,
}

/// Which part of a string a case-insensitive pattern must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LikeKind {
    Contains,
    StartsWith,
    EndsWith,
}

/// A positive predicate on one field. None of them matches NULL except `Null` and `NullOrEmpty`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Pred {
    Eq(Scalar),
    /// Two or more distinct values.
    In(Vec<Scalar>),
    /// At least one bound is present.
    Range {
        lo: Option<Bound>,
        hi: Option<Bound>,
    },
    /// A case-insensitive literal pattern; `text` is never empty.
    Like(LikeKind, String),
    Null,
    /// NULL or `''` (strings only).
    NullOrEmpty,
    True,
    False,
}

/// A predicate on one field, possibly negated (the complement, NULL rows included).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Leaf {
    pub(crate) field: String,
    pub(crate) ty: FieldType,
    pub(crate) negated: bool,
    pub(crate) pred: Pred,
}

/// The IR: and/or of leaves, with constants only at the root after simplification.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Ir {
    Const(bool),
    And(Vec<Ir>),
    Or(Vec<Ir>),
    Leaf(Leaf),
}

impl Ir {
    /// The complement (De Morgan down to the leaves).
    pub(crate) fn negate(self) -> Ir {
        match self {
            Ir::Const(b) => Ir::Const(!b),
            Ir::And(children) => Ir::Or(children.into_iter().map(Ir::negate).collect()),
            Ir::Or(children) => Ir::And(children.into_iter().map(Ir::negate).collect()),
            Ir::Leaf(mut leaf) => {
                leaf.negated = !leaf.negated;
                Ir::Leaf(leaf)
            }
        }
    }

    /// `and` of `children`, flattened, with constants folded away.
    pub(crate) fn and(children: Vec<Ir>) -> Ir {
        Self::group(children, true)
    }

    /// `or` of `children`, flattened, with constants folded away.
    pub(crate) fn or(children: Vec<Ir>) -> Ir {
        Self::group(children, false)
    }

    fn group(children: Vec<Ir>, is_and: bool) -> Ir {
        // For `and`, TRUE is the identity and FALSE absorbs; for `or` the other way round.
        let mut out = Vec::with_capacity(children.len());
        for child in children {
            match child {
                Ir::Const(b) if b == is_and => {}
                Ir::Const(b) => return Ir::Const(b),
                Ir::And(grand) if is_and => out.extend(grand),
                Ir::Or(grand) if !is_and => out.extend(grand),
                other => out.push(other),
            }
        }
        match out.len() {
            0 => Ir::Const(is_and),
            1 => out.pop().unwrap_or(Ir::Const(is_and)),
            _ if is_and => Ir::And(out),
            _ => Ir::Or(out),
        }
    }
}

/// The smallest and largest years a date or timestamp constant may have, so that every day
/// boundary the filter needs (a day's end is the next day's start) exists in PostgreSQL and in
/// [`Timestamp`]'s range alike.
const MIN_YEAR: i16 = 1;
const MAX_YEAR: i16 = 9998;
/// The largest N of `withinLastDays` (about 273 years).
pub(crate) const MAX_DAYS: u64 = 100_000;

/// Parses a strict `YYYY-MM-DD` date.
pub(crate) fn parse_date(s: &str) -> Option<Date> {
    s.parse().ok()
}

/// A timestamp constant: an instant, or a date-only value standing for a whole UTC day.
enum TsValue {
    Instant(Timestamp),
    Day(Date),
}

/// Options for [`Filter::compile`](super::Filter::compile): the current time (for `withinLastDays`) and input limits.
///
/// ```
/// use smsbatch::filter::FilterOptions;
///
/// let options = FilterOptions::new().with_now_rfc3339("2024-05-01T12:00:00Z")?;
/// assert_eq!(options.now().map(|t| t.to_string()).as_deref(), Some("2024-05-01T12:00:00Z"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct FilterOptions {
    now: Option<Timestamp>,
    limits: Limits,
}

impl FilterOptions {
    /// No `now` and the default [`Limits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the current time, which `withinLastDays` counts back from. A [`Timestamp`] has
    /// microseconds, PostgreSQL's precision, so every back end sees the same instant.
    pub fn with_now(mut self, now: Timestamp) -> Self {
        self.now = Some(now);
        self
    }

    /// Like [`FilterOptions::with_now`], from RFC 3339 text; digits finer than a microsecond
    /// are dropped. Errors with [`ErrorKind::InvalidInput`].
    pub fn with_now_rfc3339(self, now: &str) -> Result<Self> {
        let (ts, _) = Timestamp::parse_rfc3339(now).map_err(|e| {
            Error::new(ErrorKind::InvalidInput {
                message: format!("`now` is not an RFC 3339 timestamp: {e}"),
            })
        })?;
        Ok(self.with_now(ts))
    }

    /// Sets the limits for untrusted filters.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The current time, if one was set.
    pub fn now(&self) -> Option<Timestamp> {
        self.now
    }

    /// The limits for untrusted filters.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// Lowers `node` (whose JSON Pointer is `base`) against `schema`.
pub(crate) fn lower(
    node: &Node,
    schema: &Schema,
    options: &FilterOptions,
    base: &str,
) -> Result<Ir> {
    let limits = &options.limits;
    let (nodes, depth) = node.size();
    if depth > limits.max_depth() {
        return Err(too_large(
            base,
            format!("nesting deeper than {} levels", limits.max_depth()),
        ));
    }
    if nodes > limits.max_nodes() {
        return Err(too_large(
            base,
            format!("more than {} nodes", limits.max_nodes()),
        ));
    }
    let mut lowerer = Lowerer {
        schema,
        options,
        path: base.to_owned(),
        values: 0,
    };
    lowerer.node(node, false)
}

/// Parses a constant of type `ty` (a cursor value, for instance) with the filter's rules; errors
/// name `path`.
pub(crate) fn parse_scalar(
    ty: FieldType,
    value: &Value,
    path: &str,
    schema: &Schema,
) -> Result<Scalar> {
    let options = FilterOptions::default();
    let lowerer = Lowerer {
        schema,
        options: &options,
        path: path.to_owned(),
        values: 0,
    };
    lowerer.scalar(ty, value, "the value")
}

struct Lowerer<'a> {
    schema: &'a Schema,
    options: &'a FilterOptions,
    path: String,
    /// List items seen so far (each one a SQL parameter).
    values: usize,
}

impl Lowerer<'_> {
    fn node(&mut self, node: &Node, negated: bool) -> Result<Ir> {
        match node {
            Node::And(children) | Node::Or(children) => {
                let key = if matches!(node, Node::And(_)) {
                    "and"
                } else {
                    "or"
                };
                let len = self.path.len();
                push_token(&mut self.path, key);
                let mut out = Vec::with_capacity(children.len());
                for (i, child) in children.iter().enumerate() {
                    let len = self.path.len();
                    push_token(&mut self.path, &i.to_string());
                    out.push(self.node(child, negated)?);
                    self.path.truncate(len);
                }
                self.path.truncate(len);
                // De Morgan: a negated `and` is an `or` of negated children.
                Ok(if (key == "and") != negated {
                    Ir::and(out)
                } else {
                    Ir::or(out)
                })
            }
            Node::Not(child) => {
                let len = self.path.len();
                push_token(&mut self.path, "not");
                let ir = self.node(child, !negated)?;
                self.path.truncate(len);
                Ok(ir)
            }
            Node::Condition(c) => {
                let ir = self.condition(c)?;
                Ok(if negated { ir.negate() } else { ir })
            }
        }
    }

    fn condition(&mut self, c: &Condition) -> Result<Ir> {
        if let Some(Value::Array(items)) = &c.value {
            self.values += items.len();
            let max = self.options.limits.max_values();
            if self.values > max {
                return Err(too_large(
                    &self.path,
                    format!("more than {max} list items in all"),
                ));
            }
        }
        let path = self.path.as_str();
        let Some(field) = self.schema.field(&c.field) else {
            return Err(Error::new(ErrorKind::UnknownField {
                path: path.to_owned(),
                field: clip(&c.field),
            }));
        };
        let ty = field.ty;
        if !c.op.applies_to(ty) {
            return Err(invalid(
                path,
                format!(
                    "`{}` does not apply to the {} field `{}`",
                    c.op,
                    ty.as_str(),
                    field.name
                ),
            ));
        }
        let value = match (c.op.value_shape(), &c.value) {
            (super::ast::ValueShape::None, Some(_)) => {
                return Err(invalid(path, format!("`{}` takes no `value`", c.op)));
            }
            (super::ast::ValueShape::None, None) => &Value::Null,
            (_, None) => return Err(invalid(path, format!("`{}` needs a `value`", c.op))),
            (_, Some(v)) => {
                check_value_size(v, &self.options.limits, path)?;
                v
            }
        };
        let (op, negated) = c.op.positive();
        let leaf = |pred| {
            Ir::Leaf(Leaf {
                field: field.name.clone(),
                ty,
                negated: false,
                pred,
            })
        };
        let positive = match op {
            Op::Equals => self.equals(ty, value, "value", &leaf)?,
            Op::In => {
                let Value::Array(items) = value else {
                    return Err(invalid(
                        path,
                        format!("`{}` takes an array of values", c.op),
                    ));
                };
                let mut plain: Vec<Scalar> = Vec::new();
                let mut days = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let what = format!("item {i} of the value");
                    if ty == FieldType::Timestamp {
                        match self.ts_value(item, &what)? {
                            TsValue::Instant(t) => push_unique(&mut plain, Scalar::Ts(t)),
                            TsValue::Day(d) => days.push(self.day_range(d, d, &leaf)?),
                        }
                    } else {
                        push_unique(&mut plain, self.scalar(ty, item, &what)?);
                    }
                }
                let plain = match plain.len() {
                    0 => Ir::Const(false),
                    1 => leaf(Pred::Eq(plain.remove(0))),
                    _ => leaf(Pred::In(plain)),
                };
                days.push(plain);
                Ir::or(days)
            }
            Op::IsEmpty if ty == FieldType::String => leaf(Pred::NullOrEmpty),
            Op::IsEmpty => leaf(Pred::Null),
            Op::Contains | Op::StartsWith | Op::EndsWith => {
                let text = self.string(value, "value")?;
                if text.is_empty() {
                    // Every non-empty string contains "" (and a positive condition never matches
                    // '' or NULL), so this is `isNotEmpty`.
                    leaf(Pred::NullOrEmpty).negate()
                } else {
                    let kind = match op {
                        Op::Contains => LikeKind::Contains,
                        Op::StartsWith => LikeKind::StartsWith,
                        _ => LikeKind::EndsWith,
                    };
                    leaf(Pred::Like(kind, text))
                }
            }
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                let (lo, hi) = self.one_sided(op, ty, value)?;
                leaf(Pred::Range { lo, hi })
            }
            Op::Between => {
                let pair = match value {
                    Value::Array(items) if items.len() == 2 => items,
                    _ => {
                        return Err(invalid(path, format!("`{}` takes `[low, high]`", c.op)));
                    }
                };
                let (lo, _) = self.one_sided_at(Op::Gte, ty, &pair[0], "the low bound")?;
                let (_, hi) = self.one_sided_at(Op::Lte, ty, &pair[1], "the high bound")?;
                leaf(Pred::Range { lo, hi })
            }
            Op::WithinLastDays => {
                let days = match value {
                    Value::Number(n) => n.as_u64().filter(|&d| d <= MAX_DAYS),
                    _ => None,
                };
                let Some(days) = days else {
                    return Err(invalid(
                        path,
                        format!(
                            "`{}` takes a whole number of days from 0 to {MAX_DAYS}",
                            c.op
                        ),
                    ));
                };
                let Some(now) = self.options.now else {
                    return Err(Error::new(ErrorKind::MissingNow {
                        path: path.to_owned(),
                    }));
                };
                let out_of_range =
                    || invalid(path, format!("{days} days before now is out of range"));
                let (lo, hi) = if ty == FieldType::Date {
                    let today = now.date();
                    let start = today
                        .checked_sub_days(days as i64)
                        .filter(|d| d.year() >= MIN_YEAR)
                        .ok_or_else(out_of_range)?;
                    (Scalar::Date(start), Scalar::Date(today))
                } else {
                    let start = now
                        .checked_sub_days(days as i64)
                        .filter(|t| t.date().year() >= MIN_YEAR)
                        .ok_or_else(out_of_range)?;
                    (Scalar::Ts(start), Scalar::Ts(now))
                };
                leaf(Pred::Range {
                    lo: Some(Bound {
                        value: lo,
                        inclusive: true,
                    }),
                    hi: Some(Bound {
                        value: hi,
                        inclusive: true,
                    }),
                })
            }
            Op::IsTrue => leaf(Pred::True),
            Op::IsFalse => leaf(Pred::False),
            _ => unreachable_positive(path, c.op)?,
        };
        Ok(if negated { positive.negate() } else { positive })
    }

    fn equals(
        &self,
        ty: FieldType,
        value: &Value,
        what: &str,
        leaf: &dyn Fn(Pred) -> Ir,
    ) -> Result<Ir> {
        if ty == FieldType::Timestamp {
            return Ok(match self.ts_value(value, what)? {
                TsValue::Instant(t) => leaf(Pred::Eq(Scalar::Ts(t))),
                TsValue::Day(d) => self.day_range(d, d, leaf)?,
            });
        }
        Ok(leaf(Pred::Eq(self.scalar(ty, value, what)?)))
    }

    /// `[start of from, start of the day after to)` as a range leaf.
    fn day_range(&self, from: Date, to: Date, leaf: &dyn Fn(Pred) -> Ir) -> Result<Ir> {
        let lo = self.day_bound(from, false)?;
        let hi = self.day_bound(to, true)?;
        Ok(leaf(Pred::Range {
            lo: Some(Bound {
                value: Scalar::Ts(lo),
                inclusive: true,
            }),
            hi: Some(Bound {
                value: Scalar::Ts(hi),
                inclusive: false,
            }),
        }))
    }

    /// The start of `d` (or of the next day, when `next`).
    fn day_bound(&self, d: Date, next: bool) -> Result<Timestamp> {
        let d = if next { d.checked_add_days(1) } else { Some(d) };
        d.map(Date::start)
            .ok_or_else(|| invalid(&self.path, "the date is out of range"))
    }

    fn one_sided(
        &self,
        op: Op,
        ty: FieldType,
        value: &Value,
    ) -> Result<(Option<Bound>, Option<Bound>)> {
        self.one_sided_at(op, ty, value, "value")
    }

    /// The bound a `gt`/`gte`/`lt`/`lte` comparison with `value` sets. A date-only value against
    /// a timestamp field stands for the whole UTC day: `gt` is after its end, `gte` from its
    /// start, `lt` before its start, `lte` up to its end.
    fn one_sided_at(
        &self,
        op: Op,
        ty: FieldType,
        value: &Value,
        what: &str,
    ) -> Result<(Option<Bound>, Option<Bound>)> {
        let (value, inclusive) = if ty == FieldType::Timestamp {
            match self.ts_value(value, what)? {
                TsValue::Instant(t) => (Scalar::Ts(t), matches!(op, Op::Gte | Op::Lte)),
                TsValue::Day(d) => match op {
                    Op::Gt => (Scalar::Ts(self.day_bound(d, true)?), true),
                    Op::Gte => (Scalar::Ts(self.day_bound(d, false)?), true),
                    Op::Lt => (Scalar::Ts(self.day_bound(d, false)?), false),
                    _ => (Scalar::Ts(self.day_bound(d, true)?), false),
                },
            }
        } else {
            (
                self.scalar(ty, value, what)?,
                matches!(op, Op::Gte | Op::Lte),
            )
        };
        let bound = Some(Bound { value, inclusive });
        Ok(if matches!(op, Op::Gt | Op::Gte) {
            (bound, None)
        } else {
            (None, bound)
        })
    }

    fn string(&self, value: &Value, what: &str) -> Result<String> {
        match value {
            Value::String(s) if s.contains('\0') => Err(invalid(
                &self.path,
                format!("{what} contains a NUL character, which PostgreSQL text cannot hold"),
            )),
            Value::String(s) => Ok(s.clone()),
            other => Err(self.wrong_type(what, "a string", other)),
        }
    }

    fn scalar(&self, ty: FieldType, value: &Value, what: &str) -> Result<Scalar> {
        match ty {
            FieldType::String => self.string(value, what).map(Scalar::Str),
            FieldType::Number => match value {
                Value::Number(n) => exact_number(n)
                    .map(|f| Scalar::Num(f, n.clone()))
                    .map_err(|why| invalid(&self.path, format!("{what} {why}"))),
                other => Err(self.wrong_type(what, "a number", other)),
            },
            FieldType::Boolean => match value {
                Value::Bool(b) => Ok(Scalar::Bool(*b)),
                other => Err(self.wrong_type(what, "true or false", other)),
            },
            FieldType::Date => match value {
                Value::String(s) => {
                    let d = parse_date(s).ok_or_else(|| {
                        invalid(
                            &self.path,
                            format!("{what} `{}` is not a date (YYYY-MM-DD)", clip(s)),
                        )
                    })?;
                    self.check_year(d.year(), what)?;
                    Ok(Scalar::Date(d))
                }
                other => Err(self.wrong_type(what, "a date string (YYYY-MM-DD)", other)),
            },
            FieldType::Timestamp => match self.ts_value(value, what)? {
                TsValue::Instant(t) => Ok(Scalar::Ts(t)),
                TsValue::Day(d) => Ok(Scalar::Ts(d.start())),
            },
        }
    }

    fn ts_value(&self, value: &Value, what: &str) -> Result<TsValue> {
        let Value::String(s) = value else {
            return Err(self.wrong_type(what, "an RFC 3339 timestamp or a YYYY-MM-DD date", value));
        };
        if let Some(d) = parse_date(s) {
            self.check_year(d.year(), what)?;
            return Ok(TsValue::Day(d));
        }
        let (t, finer) = Timestamp::parse_rfc3339(s).map_err(|e| {
            invalid(
                &self.path,
                format!(
                    "{what} `{}` is not an RFC 3339 timestamp or a YYYY-MM-DD date: {e}",
                    clip(s)
                ),
            )
        })?;
        if finer {
            return Err(invalid(
                &self.path,
                format!(
                    "{what} `{}` is finer than a microsecond, PostgreSQL's precision",
                    clip(s)
                ),
            ));
        }
        self.check_year(t.date().year(), what)?;
        Ok(TsValue::Instant(t))
    }

    fn check_year(&self, year: i16, what: &str) -> Result<()> {
        if (MIN_YEAR..=MAX_YEAR).contains(&year) {
            Ok(())
        } else {
            Err(invalid(
                &self.path,
                format!("{what} is outside the supported years {MIN_YEAR:04} to {MAX_YEAR}"),
            ))
        }
    }

    fn wrong_type(&self, what: &str, expected: &str, got: &Value) -> Error {
        let got = match got {
            Value::Null => "null".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => format!("the string `{}`", clip(s)),
            Value::Array(_) => "an array".to_owned(),
            Value::Object(_) => "an object".to_owned(),
        };
        invalid(&self.path, format!("{what} must be {expected}, not {got}"))
    }
}

fn push_unique(list: &mut Vec<Scalar>, s: Scalar) {
    if !list.contains(&s) {
        list.push(s);
    }
}

fn unreachable_positive(path: &str, op: Op) -> Result<Ir> {
    // `Op::positive` only returns positive operators, all handled above.
    Err(invalid(
        path,
        format!("internal error: `{op}` has no lowering"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Regression: integers past 2^53 were rounded in memory and in PostgREST text but sent
    /// exactly as SQL parameters, so the back ends selected different rows.
    #[test]
    fn integers_past_2_pow_53_are_refused_not_rounded() {
        use crate::filter::{Filter, Table};
        let schema = Schema::customers();
        let options = FilterOptions::new();
        for value in [
            json!(9_007_199_254_740_993u64),
            json!(-9_007_199_254_740_993i64),
            // Issue 10, item 8: past u64 the number arrives as a rounded float.
            serde_json::from_str::<Value>("18446744073709551617").unwrap(),
            serde_json::from_str::<Value>("-18446744073709551617").unwrap(),
            json!(1e300),
        ] {
            let err = Filter::from_value(
                &json!({"field": "id", "op": "equals", "value": value}),
                &schema,
                &options,
            )
            .unwrap_err();
            assert_eq!(err.kind().code(), "invalidFilter");
            assert!(err.to_string().contains("beyond ±2^53"), "{err}");
        }
        // 2^53 itself is exact, and so are fractions.
        for value in [
            json!(9_007_199_254_740_992u64),
            json!(-9_007_199_254_740_992i64),
            json!(0.5),
        ] {
            assert!(
                Filter::from_value(
                    &json!({"field": "id", "op": "equals", "value": value}),
                    &schema,
                    &options
                )
                .is_ok()
            );
        }
        // Issue 10, item 8: such an id does not fail the table; only a filter that compares it
        // does, on the row that has it, like the lazy evaluator over the same rows.
        let rows = [
            json!({"id": 9_007_199_254_740_992u64, "city": "Porto"}),
            json!({"id": 9_007_199_254_740_993u64, "city": "Porto"}),
        ];
        let table = Table::from_rows(&schema, &rows).unwrap();
        let by_city = Filter::from_json(
            r#"{"field": "city", "op": "equals", "value": "Porto"}"#,
            &schema,
            &options,
        )
        .unwrap();
        assert_eq!(by_city.evaluator().filter_table(&table).unwrap(), [0, 1]);
        assert_eq!(by_city.evaluator().filter(&rows).unwrap(), [0, 1]);
        let not_null =
            Filter::from_json(r#"{"field": "id", "op": "isNotEmpty"}"#, &schema, &options).unwrap();
        assert_eq!(not_null.evaluator().filter_table(&table).unwrap(), [0, 1]);
        assert_eq!(not_null.evaluator().filter(&rows).unwrap(), [0, 1]);
        let by_id = Filter::from_json(
            r#"{"field": "id", "op": "gt", "value": 1}"#,
            &schema,
            &options,
        )
        .unwrap();
        for err in [
            by_id.evaluator().filter_table(&table).unwrap_err(),
            by_id.evaluator().filter(&rows).unwrap_err(),
        ] {
            assert_eq!(err.kind().code(), "invalidRow");
            assert_eq!(err.kind().path(), Some("/1/id"));
            assert!(err.to_string().contains("2^53"), "{err}");
        }
    }

    fn lower_json(v: Value) -> Ir {
        let options = FilterOptions::new()
            .with_now_rfc3339("2024-03-10T12:00:00.123456789Z")
            .unwrap();
        lower(
            &Node::from_value(&v).unwrap(),
            &Schema::customers(),
            &options,
            "",
        )
        .unwrap()
    }

    fn leaf(field: &str, ty: FieldType, negated: bool, pred: Pred) -> Ir {
        Ir::Leaf(Leaf {
            field: field.into(),
            ty,
            negated,
            pred,
        })
    }

    #[test]
    fn not_is_pushed_to_the_leaves() {
        let ir = lower_json(json!({"not": {"and": [
            {"field": "opted_in", "op": "isTrue"},
            {"or": [{"field": "phone", "op": "isEmpty"}, {"field": "city", "op": "notEquals", "value": "x"}]}
        ]}}));
        assert_eq!(
            ir,
            Ir::Or(vec![
                leaf("opted_in", FieldType::Boolean, true, Pred::True),
                Ir::And(vec![
                    leaf("phone", FieldType::String, true, Pred::NullOrEmpty),
                    leaf(
                        "city",
                        FieldType::String,
                        false,
                        Pred::Eq(Scalar::Str("x".into()))
                    ),
                ]),
            ])
        );
    }

    #[test]
    fn constants_fold_and_groups_flatten() {
        assert_eq!(lower_json(json!({"and": []})), Ir::Const(true));
        assert_eq!(lower_json(json!({"not": {"or": []}})), Ir::Const(true));
        assert_eq!(
            lower_json(json!({"and": [{"or": []}, {"field": "id", "op": "isEmpty"}]})),
            Ir::Const(false)
        );
        assert_eq!(
            lower_json(json!({"field": "city", "op": "notIn", "value": []})),
            Ir::Const(true)
        );
        let ir = lower_json(
            json!({"and": [{"and": [{"field": "id", "op": "isEmpty"}]}, {"field": "city", "op": "isEmpty"}]}),
        );
        assert!(matches!(ir, Ir::And(ref v) if v.len() == 2), "{ir:?}");
        // A one-element list is an equality; duplicates collapse.
        assert_eq!(
            lower_json(json!({"field": "city", "op": "in", "value": ["a", "a"]})),
            leaf(
                "city",
                FieldType::String,
                false,
                Pred::Eq(Scalar::Str("a".into()))
            )
        );
    }

    #[test]
    fn dates_on_timestamps_are_whole_days_and_now_is_truncated() {
        let ts = |s: &str| Scalar::Ts(s.parse().unwrap());
        let b = |s: &str, inclusive| {
            Some(Bound {
                value: ts(s),
                inclusive,
            })
        };
        assert_eq!(
            lower_json(
                json!({"field": "date_create", "op": "between", "value": ["2024-01-01", "2024-01-31T10:00:00Z"]})
            ),
            leaf(
                "date_create",
                FieldType::Timestamp,
                false,
                Pred::Range {
                    lo: b("2024-01-01T00:00:00Z", true),
                    hi: b("2024-01-31T10:00:00Z", true),
                }
            )
        );
        assert_eq!(
            lower_json(json!({"field": "date_create", "op": "gt", "value": "2024-02-28"})),
            leaf(
                "date_create",
                FieldType::Timestamp,
                false,
                Pred::Range {
                    lo: b("2024-02-29T00:00:00Z", true),
                    hi: None
                }
            )
        );
        assert_eq!(
            lower_json(json!({"field": "date_create", "op": "withinLastDays", "value": 1})),
            leaf(
                "date_create",
                FieldType::Timestamp,
                false,
                Pred::Range {
                    lo: b("2024-03-09T12:00:00.123456Z", true),
                    hi: b("2024-03-10T12:00:00.123456Z", true),
                }
            )
        );
    }

    #[test]
    fn value_errors() {
        let err = |v: Value| {
            lower(
                &Node::from_value(&v).unwrap(),
                &Schema::customers(),
                &FilterOptions::new(),
                "",
            )
            .unwrap_err()
            .to_string()
        };
        assert!(
            err(json!({"field": "birthday", "op": "equals", "value": "20240101"}))
                .contains("YYYY-MM-DD")
        );
        assert!(
            err(json!({"field": "birthday", "op": "equals", "value": "0000-01-01"}))
                .contains("supported years")
        );
        assert!(err(json!({"field": "date_create", "op": "equals", "value": "2024-01-01T00:00:00.0000001Z"})).contains("microsecond"));
        assert!(
            err(json!({"field": "date_create", "op": "equals", "value": "2024-01-01T00:00:00"}))
                .contains("RFC 3339")
        );
        assert!(
            err(json!({"field": "date_create", "op": "withinLastDays", "value": 3}))
                .contains("no `now`")
        );
        assert!(
            err(json!({"field": "birthday", "op": "withinLastDays", "value": -1}))
                .contains("whole number")
        );
        assert!(err(json!({"field": "city", "op": "equals", "value": "a\u{0}b"})).contains("NUL"));
        assert!(err(json!({"field": "city", "op": "in", "value": ["a", 1]})).contains("item 1"));
        assert!(
            err(json!({"field": "total_spent", "op": "equals", "value": "5"}))
                .contains("must be a number")
        );
        assert!(
            err(json!({"field": "opted_in", "op": "gt", "value": true})).contains("does not apply")
        );
        assert!(
            err(json!({"field": "total_spent", "op": "between", "value": [1]}))
                .contains("[low, high]")
        );
        let options = FilterOptions::new().with_limits(Limits::new().with_max_values(3));
        let node = Node::from_value(&json!({"or": [
            {"field": "city", "op": "in", "value": ["a", "b"]},
            {"field": "city", "op": "notIn", "value": ["c", "d"]}
        ]}))
        .unwrap();
        let e = lower(&node, &Schema::customers(), &options, "").unwrap_err();
        assert_eq!(
            (e.kind().code(), e.kind().path()),
            ("filterTooLarge", Some("/or/1"))
        );
    }

    #[test]
    fn numbers_print_as_postgres_input() {
        assert_eq!(number_text(5.0), "5");
        assert_eq!(number_text(-0.0), "0");
        assert_eq!(number_text(2.5), "2.5");
        assert_eq!(number_text(1e20), "100000000000000000000");
        assert_eq!(number_text(1e-7), "0.0000001");
    }
}
