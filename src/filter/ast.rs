//! The filter wire form as an AST that prints back to the JSON it was parsed from:
//! `{"and": [..]}`, `{"or": [..]}`, `{"not": node}` or a condition `{"field", "op", "value"}`, in a
//! document `{"version": 1, "where": node}`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::schema::FieldType;
use crate::error::{Error, ErrorKind, Result};
use crate::json::kind_of;

/// A filter node: `{"and": [..]}`, `{"or": [..]}`, `{"not": node}` or a condition.
///
/// Serializing a node writes exactly the wire form; deserializing checks the shape (not the
/// schema) under the default [`Limits`]. Use [`Node::from_value`] for a JSON Pointer in errors
/// and your own limits.
///
/// ```
/// use smsbatch::filter::Node;
///
/// let json = serde_json::json!({"or": [
///     {"field": "city", "op": "equals", "value": "Paris"},
///     {"not": {"field": "phone", "op": "isEmpty"}}
/// ]});
/// let node = Node::from_value(&json)?;
/// assert_eq!(serde_json::to_value(&node)?, json);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// Matches rows every child matches (`{"and": []}` matches every row).
    And(Vec<Node>),
    /// Matches rows some child matches (`{"or": []}` matches no row).
    Or(Vec<Node>),
    /// Matches exactly the rows the child does not match (NULLs included).
    Not(Box<Node>),
    /// One condition on one field.
    Condition(Condition),
}

/// `{"field": "<name>", "op": "<op>", "value": <json>}`; no `value` for value-less operators.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The field name, looked up in the schema when the filter is compiled.
    pub field: String,
    /// The operator.
    pub op: Op,
    /// The value, verbatim (checked against the field's type when the filter is compiled).
    pub value: Option<Value>,
}

impl Condition {
    /// A condition with a value.
    pub fn new(field: impl Into<String>, op: Op, value: impl Into<Value>) -> Self {
        Self {
            field: field.into(),
            op,
            value: Some(value.into()),
        }
    }

    /// A condition for a value-less operator (`isEmpty`, `isTrue`...).
    pub fn unary(field: impl Into<String>, op: Op) -> Self {
        Self {
            field: field.into(),
            op,
            value: None,
        }
    }
}

impl From<Condition> for Node {
    fn from(c: Condition) -> Self {
        Node::Condition(c)
    }
}

/// What value an operator takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueShape {
    /// No `value` member.
    None,
    /// One value of the field's type.
    Scalar,
    /// An array of values of the field's type.
    List,
    /// `[low, high]`, both of the field's type.
    Pair,
    /// A whole number of days, 0 or more.
    Days,
}

macro_rules! ops {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// A filter operator, written in camelCase on the wire. A positive condition never
        /// matches NULL (nor `""`, except `equals ""`, `in [..""..]` and `isEmpty`); each
        /// negative operator selects exactly the rows its positive twin does not, NULL and empty
        /// values included.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Op {
            $(#[doc = $doc] $variant,)*
        }

        impl Op {
            /// Every operator: those of every type, then the string, ordering, relative-date and
            /// boolean ones.
            pub const ALL: &'static [Op] = &[$(Op::$variant,)*];

            /// The wire name, e.g. `"notContains"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Op::$variant => $name,)*
                }
            }

            /// Looks up an operator by its wire name.
            pub fn from_name(name: &str) -> Option<Op> {
                match name {
                    $($name => Some(Op::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

ops! {
    Equals => "equals", "Equal to the value (strings: exact, case-sensitive).";
    NotEquals => "notEquals", "The complement of `equals` (keeps NULL).";
    In => "in", "Equal to one of the values; `in []` matches nothing.";
    NotIn => "notIn", "The complement of `in` (keeps NULL); `notIn []` matches everything.";
    IsEmpty => "isEmpty", "NULL, or `''` for strings.";
    IsNotEmpty => "isNotEmpty", "The complement of `isEmpty`.";
    Contains => "contains", "Case-insensitive substring, matched literally.";
    NotContains => "notContains", "The complement of `contains` (keeps NULL and `''`).";
    StartsWith => "startsWith", "Case-insensitive prefix, matched literally.";
    NotStartsWith => "notStartsWith", "The complement of `startsWith`.";
    EndsWith => "endsWith", "Case-insensitive suffix, matched literally.";
    NotEndsWith => "notEndsWith", "The complement of `endsWith`.";
    Gt => "gt", "Greater than the value.";
    Gte => "gte", "Greater than or equal to the value.";
    Lt => "lt", "Less than the value.";
    Lte => "lte", "Less than or equal to the value.";
    Between => "between", "Within `[low, high]`, both bounds inclusive.";
    NotBetween => "notBetween", "The complement of `between` (keeps NULL).";
    WithinLastDays => "withinLastDays", "Within the last N days up to `now`, inclusive.";
    NotWithinLastDays => "notWithinLastDays", "The complement of `withinLastDays`.";
    IsTrue => "isTrue", "True.";
    IsFalse => "isFalse", "False.";
    IsNotTrue => "isNotTrue", "False or NULL.";
    IsNotFalse => "isNotFalse", "True or NULL.";
}

impl Op {
    /// The positive operator this one is the complement of, and whether it is negated:
    /// `notContains` is `(contains, true)`, `contains` is `(contains, false)`.
    pub fn positive(self) -> (Op, bool) {
        use Op::*;
        match self {
            NotEquals => (Equals, true),
            NotIn => (In, true),
            IsNotEmpty => (IsEmpty, true),
            NotContains => (Contains, true),
            NotStartsWith => (StartsWith, true),
            NotEndsWith => (EndsWith, true),
            NotBetween => (Between, true),
            NotWithinLastDays => (WithinLastDays, true),
            IsNotTrue => (IsTrue, true),
            IsNotFalse => (IsFalse, true),
            other => (other, false),
        }
    }

    /// What `value` this operator takes.
    pub fn value_shape(self) -> ValueShape {
        use Op::*;
        match self.positive().0 {
            IsEmpty | IsTrue | IsFalse => ValueShape::None,
            In => ValueShape::List,
            Between => ValueShape::Pair,
            WithinLastDays => ValueShape::Days,
            _ => ValueShape::Scalar,
        }
    }

    /// Whether the operator applies to a field of type `ty`.
    pub fn applies_to(self, ty: FieldType) -> bool {
        use Op::*;
        match self.positive().0 {
            Equals | In | IsEmpty => true,
            Contains | StartsWith | EndsWith => ty == FieldType::String,
            Gt | Gte | Lt | Lte | Between => {
                matches!(
                    ty,
                    FieldType::Number | FieldType::Date | FieldType::Timestamp
                )
            }
            WithinLastDays => matches!(ty, FieldType::Date | FieldType::Timestamp),
            IsTrue | IsFalse => ty == FieldType::Boolean,
            _ => false,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Op {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Op::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown operator `{}`", clip(&name))))
    }
}

/// Limits for untrusted filters; crossing one is a [`ErrorKind::FilterTooLarge`] error.
///
/// ```
/// use smsbatch::filter::{Limits, Node};
///
/// let deep = serde_json::json!({"not": {"not": {"not": {"field": "id", "op": "isEmpty"}}}});
/// let err = Node::from_value_with(&deep, &Limits::new().with_max_depth(3)).unwrap_err();
/// assert_eq!(err.kind().code(), "filterTooLarge");
/// assert_eq!(err.kind().path(), Some("/not/not/not"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    max_depth: usize,
    max_nodes: usize,
    max_value_len: usize,
    max_list_len: usize,
    max_values: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}

impl Limits {
    /// The defaults: depth 32, 1,000 nodes, values of 1,000 characters, lists of 1,000 items,
    /// 10,000 list items in all (which keeps the SQL well under PostgreSQL's 65,535 parameters).
    pub const fn new() -> Self {
        Self {
            max_depth: 32,
            max_nodes: 1_000,
            max_value_len: 1_000,
            max_list_len: 1_000,
            max_values: 10_000,
        }
    }

    /// Sets the most `in` / `notIn` items in one filter, all lists together.
    pub const fn with_max_values(mut self, n: usize) -> Self {
        self.max_values = n;
        self
    }

    /// Sets the deepest nesting of nodes (the root is depth 1).
    pub const fn with_max_depth(mut self, n: usize) -> Self {
        self.max_depth = n;
        self
    }

    /// Sets the most nodes (groups, `not`s and conditions) in one filter.
    pub const fn with_max_nodes(mut self, n: usize) -> Self {
        self.max_nodes = n;
        self
    }

    /// Sets the longest string value, in characters (also bounds field names).
    pub const fn with_max_value_len(mut self, n: usize) -> Self {
        self.max_value_len = n;
        self
    }

    /// Sets the longest `in` / `notIn` list.
    pub const fn with_max_list_len(mut self, n: usize) -> Self {
        self.max_list_len = n;
        self
    }

    /// The most `in` / `notIn` items in one filter, all lists together.
    pub const fn max_values(&self) -> usize {
        self.max_values
    }

    /// The deepest nesting of nodes.
    pub const fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// The most nodes in one filter.
    pub const fn max_nodes(&self) -> usize {
        self.max_nodes
    }

    /// The longest string value, in characters.
    pub const fn max_value_len(&self) -> usize {
        self.max_value_len
    }

    /// The longest `in` / `notIn` list.
    pub const fn max_list_len(&self) -> usize {
        self.max_list_len
    }
}

pub(crate) use crate::json::clip;

/// Appends one reference token to a JSON Pointer, escaping `~` and `/` (RFC 6901).
pub(crate) fn push_token(path: &mut String, token: &str) {
    path.push('/');
    for c in token.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}

pub(crate) fn invalid(path: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidFilter {
        path: path.to_owned(),
        message: message.into(),
    })
}

pub(crate) fn too_large(path: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::FilterTooLarge {
        path: path.to_owned(),
        message: message.into(),
    })
}

/// Walks a JSON filter, checking shape and limits while building the AST.
struct Parser<'a> {
    limits: &'a Limits,
    nodes: usize,
    path: String,
}

impl Parser<'_> {
    fn node(&mut self, v: &Value, depth: usize) -> Result<Node> {
        self.nodes += 1;
        if depth > self.limits.max_depth {
            return Err(too_large(
                &self.path,
                format!("nesting deeper than {} levels", self.limits.max_depth),
            ));
        }
        if self.nodes > self.limits.max_nodes {
            return Err(too_large(
                &self.path,
                format!("more than {} nodes", self.limits.max_nodes),
            ));
        }
        let Value::Object(obj) = v else {
            return Err(invalid(
                &self.path,
                format!("a filter node must be an object, not {}", kind_of(v)),
            ));
        };
        if let Some(group) = ["and", "or", "not"]
            .into_iter()
            .find(|k| obj.contains_key(*k))
        {
            if obj.len() != 1 {
                return Err(invalid(
                    &self.path,
                    format!(
                        "a `{group}` node must have no other member (found {})",
                        members(obj)
                    ),
                ));
            }
            let child = &obj[group];
            let len = self.path.len();
            push_token(&mut self.path, group);
            let node = if group == "not" {
                Node::Not(Box::new(self.node(child, depth + 1)?))
            } else {
                let Value::Array(items) = child else {
                    self.path.truncate(len);
                    return Err(invalid(
                        &self.path,
                        format!("`{group}` takes an array of nodes, not {}", kind_of(child)),
                    ));
                };
                let mut children = Vec::with_capacity(items.len().min(self.limits.max_nodes));
                for (i, item) in items.iter().enumerate() {
                    let len = self.path.len();
                    push_token(&mut self.path, &i.to_string());
                    children.push(self.node(item, depth + 1)?);
                    self.path.truncate(len);
                }
                if group == "and" {
                    Node::And(children)
                } else {
                    Node::Or(children)
                }
            };
            self.path.truncate(len);
            return Ok(node);
        }
        self.condition(obj).map(Node::Condition)
    }

    fn condition(&self, obj: &Map<String, Value>) -> Result<Condition> {
        if let Some(extra) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "field" | "op" | "value"))
        {
            return Err(invalid(
                &self.path,
                format!(
                    "unknown member `{}` (a node is {{\"and\"}}, {{\"or\"}}, {{\"not\"}} or {{\"field\", \"op\", \"value\"}})",
                    clip(extra)
                ),
            ));
        }
        let field = match obj.get("field") {
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(invalid(
                    &self.path,
                    format!("`field` must be a string, not {}", kind_of(other)),
                ));
            }
            None => return Err(invalid(&self.path, "a condition needs a `field`")),
        };
        if field.chars().count() > self.limits.max_value_len {
            return Err(too_large(
                &self.path,
                format!(
                    "the field name is longer than {} characters",
                    self.limits.max_value_len
                ),
            ));
        }
        let op = match obj.get("op") {
            Some(Value::String(s)) => Op::from_name(s)
                .ok_or_else(|| invalid(&self.path, format!("unknown operator `{}`", clip(s))))?,
            Some(other) => {
                return Err(invalid(
                    &self.path,
                    format!("`op` must be a string, not {}", kind_of(other)),
                ));
            }
            None => return Err(invalid(&self.path, "a condition needs an `op`")),
        };
        let value = obj.get("value");
        match (op.value_shape(), value) {
            (ValueShape::None, Some(_)) => {
                return Err(invalid(&self.path, format!("`{op}` takes no `value`")));
            }
            (ValueShape::None, None) => {}
            (_, None) => return Err(invalid(&self.path, format!("`{op}` needs a `value`"))),
            (_, Some(v)) => check_value_size(v, self.limits, &self.path)?,
        }
        Ok(Condition {
            field: field.clone(),
            op,
            value: value.cloned(),
        })
    }
}

fn members(obj: &Map<String, Value>) -> String {
    obj.keys()
        .map(|k| format!("`{}`", clip(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks string lengths and list length of a condition value against the limits.
pub(crate) fn check_value_size(v: &Value, limits: &Limits, path: &str) -> Result<()> {
    let check_str = |s: &str| {
        if s.chars().count() > limits.max_value_len {
            Err(too_large(
                path,
                format!("a value is longer than {} characters", limits.max_value_len),
            ))
        } else {
            Ok(())
        }
    };
    match v {
        Value::String(s) => check_str(s),
        Value::Array(items) => {
            if items.len() > limits.max_list_len {
                return Err(too_large(
                    path,
                    format!("a list has more than {} items", limits.max_list_len),
                ));
            }
            for item in items {
                if let Value::String(s) = item {
                    check_str(s)?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

impl Node {
    /// Parses a node from JSON under the default [`Limits`]; errors name the JSON Pointer of the
    /// bad node. Field names and value types are checked later, against a schema, by
    /// [`Filter::compile`](super::Filter::compile).
    pub fn from_value(v: &Value) -> Result<Node> {
        Self::from_value_with(v, &Limits::default())
    }

    /// Parses a node from JSON under the given limits.
    pub fn from_value_with(v: &Value, limits: &Limits) -> Result<Node> {
        parse_at(v, limits, String::new())
    }

    /// Parses a node from JSON text under the default limits.
    pub fn from_json(json: &str) -> Result<Node> {
        let v: Value = serde_json::from_str(json)
            .map_err(|e| invalid("", format!("the filter is not valid JSON: {e}")))?;
        Self::from_value(&v)
    }

    /// The wire form as a JSON value.
    pub fn to_value(&self) -> Value {
        match self {
            Node::And(children) => {
                serde_json::json!({ "and": children.iter().map(Node::to_value).collect::<Vec<_>>() })
            }
            Node::Or(children) => {
                serde_json::json!({ "or": children.iter().map(Node::to_value).collect::<Vec<_>>() })
            }
            Node::Not(child) => serde_json::json!({ "not": child.to_value() }),
            Node::Condition(c) => {
                let mut obj = Map::new();
                obj.insert("field".into(), Value::String(c.field.clone()));
                obj.insert("op".into(), Value::String(c.op.as_str().into()));
                if let Some(v) = &c.value {
                    obj.insert("value".into(), v.clone());
                }
                Value::Object(obj)
            }
        }
    }

    /// `{"and": nodes}`.
    pub fn and(nodes: impl IntoIterator<Item = Node>) -> Node {
        Node::And(nodes.into_iter().collect())
    }

    /// `{"or": nodes}`.
    pub fn or(nodes: impl IntoIterator<Item = Node>) -> Node {
        Node::Or(nodes.into_iter().collect())
    }

    /// `{"not": node}`.
    pub fn negate(node: Node) -> Node {
        Node::Not(Box::new(node))
    }

    /// Counts nodes and the deepest nesting (the root is depth 1), without recursion: a tree
    /// built through the constructors may be far deeper than the limits it is then refused by
    /// (200,000 nested negations), and counting it must not exhaust the stack.
    pub(crate) fn size(&self) -> (usize, usize) {
        let (mut nodes, mut deepest) = (0, 0);
        let mut stack = vec![(self, 1usize)];
        while let Some((node, depth)) = stack.pop() {
            nodes += 1;
            deepest = deepest.max(depth);
            match node {
                Node::Condition(_) => {}
                Node::Not(child) => stack.push((child, depth + 1)),
                Node::And(children) | Node::Or(children) => {
                    stack.extend(children.iter().map(|c| (c, depth + 1)));
                }
            }
        }
        (nodes, deepest)
    }
}

/// Drops the tree without recursion (the derived drop recurses once per level, so a tree of
/// 200,000 nested negations built through the constructors would overflow the stack): children
/// are moved to a list and dropped once they have no children of their own.
impl Drop for Node {
    fn drop(&mut self) {
        fn take_children(node: &mut Node, into: &mut Vec<Node>) {
            match node {
                Node::And(children) | Node::Or(children) => into.append(children),
                Node::Not(child) => {
                    into.push(std::mem::replace(&mut **child, Node::And(Vec::new())))
                }
                Node::Condition(_) => {}
            }
        }
        let leaf = match self {
            Node::Condition(_) => true,
            Node::And(children) | Node::Or(children) => children.is_empty(),
            Node::Not(child) => matches!(**child, Node::Condition(_)),
        };
        if leaf {
            return;
        }
        let mut pending = Vec::new();
        take_children(self, &mut pending);
        while let Some(mut node) = pending.pop() {
            take_children(&mut node, &mut pending);
        }
    }
}

/// Parses a node whose JSON Pointer starts at `base` (`"/where"` inside a document).
pub(crate) fn parse_at(v: &Value, limits: &Limits, base: String) -> Result<Node> {
    Parser {
        limits,
        nodes: 0,
        path: base,
    }
    .node(v, 1)
}

impl Serialize for Node {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Node::from_value(&v).map_err(serde::de::Error::custom)
    }
}

/// `{"version": 1, "where": node}`: a filter as it is saved, exported and sent over the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The wire-form version; only `1` exists.
    pub version: u32,
    /// The filter.
    pub filter: Node,
}

impl Document {
    /// The current wire-form version.
    pub const VERSION: u32 = 1;

    /// A version-1 document around `filter`.
    pub fn new(filter: Node) -> Self {
        Self {
            version: Self::VERSION,
            filter,
        }
    }

    /// Parses a document under the default limits; node errors are reported under `/where`.
    pub fn from_value(v: &Value) -> Result<Document> {
        Self::from_value_with(v, &Limits::default())
    }

    /// Parses a document under the given limits.
    pub fn from_value_with(v: &Value, limits: &Limits) -> Result<Document> {
        let Value::Object(obj) = v else {
            return Err(invalid(
                "",
                format!("a filter document must be an object, not {}", kind_of(v)),
            ));
        };
        if let Some(extra) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "version" | "where"))
        {
            return Err(invalid(
                "",
                format!(
                    "unknown member `{}` in a filter document (expected `version` and `where`)",
                    clip(extra)
                ),
            ));
        }
        match obj.get("version") {
            Some(Value::Number(n)) if n.as_u64() == Some(u64::from(Self::VERSION)) => {}
            Some(other) => {
                return Err(invalid(
                    "/version",
                    format!(
                        "unsupported filter document version {other} (this library reads version 1)"
                    ),
                ));
            }
            None => return Err(invalid("", "a filter document needs a `version`")),
        }
        let Some(node) = obj.get("where") else {
            return Err(invalid("", "a filter document needs a `where` node"));
        };
        Ok(Document {
            version: Self::VERSION,
            filter: parse_at(node, limits, "/where".into())?,
        })
    }

    /// The wire form as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::json!({ "version": self.version, "where": self.filter.to_value() })
    }
}

impl Serialize for Document {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Document::from_value(&v).map_err(serde::de::Error::custom)
    }
}

/// Parses either a bare node or a document (an object with a `version` member), as the CLI and
/// the browser accept both. Returns the node and the pointer prefix its errors use.
pub(crate) fn node_or_document(v: &Value, limits: &Limits) -> Result<(Node, &'static str)> {
    if v.get("version").is_some() {
        Document::from_value_with(v, limits).map(|d| (d.filter, "/where"))
    } else {
        Node::from_value_with(v, limits).map(|n| (n, ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> Error {
        Node::from_value(&v).unwrap_err()
    }

    #[test]
    fn every_op_name_round_trips() {
        for &op in Op::ALL {
            assert_eq!(Op::from_name(op.as_str()), Some(op));
            let (pos, neg) = op.positive();
            assert!(!pos.positive().1, "{op}: twin of a twin");
            if neg {
                assert!(
                    op.as_str().contains("Not") || op.as_str().starts_with("not"),
                    "{op}"
                );
            }
            assert_eq!(op.value_shape(), pos.value_shape());
        }
        assert_eq!(Op::ALL.len(), 24);
        assert_eq!(Op::from_name("Equals"), None);
    }

    #[test]
    fn shape_errors_name_the_node() {
        let e = err(
            json!({"and": [{"field": "a", "op": "equals", "value": 1}, {"or": [{"field": "b", "op": "nope", "value": 1}]}]}),
        );
        assert_eq!(e.kind().code(), "invalidFilter");
        assert_eq!(e.kind().path(), Some("/and/1/or/0"));
        assert!(e.to_string().contains("unknown operator `nope`"), "{e}");

        let e = err(json!({"not": {"field": "a", "op": "isEmpty", "value": 1}}));
        assert_eq!(e.kind().path(), Some("/not"));
        assert!(e.to_string().contains("takes no `value`"));

        let e = err(json!({"field": "a", "op": "equals"}));
        assert_eq!(e.kind().path(), Some(""));
        assert!(e.to_string().contains("needs a `value`"));

        let e = err(json!({"and": {"field": "a"}}));
        assert!(e.to_string().contains("array of nodes"));
        let e = err(json!({"and": [], "or": []}));
        assert!(e.to_string().contains("no other member"));
        let e = err(json!({"field": "a", "op": "isEmpty", "extra": true}));
        assert!(e.to_string().contains("unknown member `extra`"));
        let e = err(json!([1]));
        assert!(e.to_string().contains("must be an object"));
        let e = err(json!({"field": 3, "op": "isEmpty"}));
        assert!(e.to_string().contains("`field` must be a string"));
        let e = err(json!({"op": "isEmpty"}));
        assert!(e.to_string().contains("needs a `field`"));
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        let mut p = String::new();
        push_token(&mut p, "a/b~c");
        assert_eq!(p, "/a~1b~0c");
    }

    #[test]
    fn limits_are_enforced_with_paths() {
        let limits = Limits::new()
            .with_max_nodes(3)
            .with_max_list_len(2)
            .with_max_value_len(3);
        let e = Node::from_value_with(
            &json!({"and": [{"field": "a", "op": "isEmpty"}, {"field": "a", "op": "isEmpty"}, {"field": "a", "op": "isEmpty"}]}),
            &limits,
        )
        .unwrap_err();
        assert_eq!(e.kind().code(), "filterTooLarge");
        assert_eq!(e.kind().path(), Some("/and/2"));
        let e = Node::from_value_with(
            &json!({"field": "a", "op": "in", "value": [1, 2, 3]}),
            &limits,
        )
        .unwrap_err();
        assert!(e.to_string().contains("more than 2 items"), "{e}");
        let e = Node::from_value_with(
            &json!({"field": "a", "op": "equals", "value": "abcd"}),
            &limits,
        )
        .unwrap_err();
        assert!(e.to_string().contains("longer than 3"), "{e}");
        let e =
            Node::from_value_with(&json!({"field": "abcd", "op": "isEmpty"}), &limits).unwrap_err();
        assert!(e.to_string().contains("field name"), "{e}");
        // A very deep input stops at the limit instead of recursing on.
        let mut v = json!({"field": "a", "op": "isEmpty"});
        for _ in 0..100 {
            v = json!({ "not": v });
        }
        let e = Node::from_value(&v).unwrap_err();
        assert_eq!(e.kind().code(), "filterTooLarge");
        assert_eq!(e.kind().path().map(|p| p.matches("/not").count()), Some(32));
    }

    #[test]
    fn documents() {
        let doc = json!({"version": 1, "where": {"or": []}});
        let d = Document::from_value(&doc).unwrap();
        assert_eq!(d.to_value(), doc);
        let e = Document::from_value(&json!({"version": 2, "where": {"or": []}})).unwrap_err();
        assert_eq!(e.kind().path(), Some("/version"));
        let e =
            Document::from_value(&json!({"version": 1, "where": {"or": [{"x": 1}]}})).unwrap_err();
        assert_eq!(e.kind().path(), Some("/where/or/0"));
        let e = Document::from_value(&json!({"version": 1})).unwrap_err();
        assert!(e.to_string().contains("`where`"));
        let (_, prefix) = node_or_document(&doc, &Limits::default()).unwrap();
        assert_eq!(prefix, "/where");
    }

    #[test]
    fn serde_round_trip() {
        let v = json!({"and": [{"not": {"field": "x", "op": "in", "value": [1, "a", null]}}, {"or": []}]});
        let node: Node = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&node).unwrap(), v);
        assert_eq!(node.size(), (4, 3));
        assert!(serde_json::from_value::<Node>(json!({"field": 1})).is_err());
    }
}
