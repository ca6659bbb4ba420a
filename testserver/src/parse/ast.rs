//! What a request's query string means, before it meets the schema: PostgREST's own data types
//! (`ApiRequest/Types.hs`), trimmed to what this server implements.

/// One step of a JSON path: `->` keeps JSON, `->>` gives text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JsonOp {
    Arrow(JsonOperand),
    DoubleArrow(JsonOperand),
}

/// A JSON object key, or an array index written with its sign (`+0`, `-1`) as PostgREST does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JsonOperand {
    Key(String),
    Index(String),
}

/// A column, possibly followed by a JSON path (`data->a->>b`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) path: Vec<JsonOp>,
}

/// `col=[not.]op.value` or `col.[not.]op.value` inside a logic tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Filter {
    pub(crate) field: Field,
    pub(crate) negated: bool,
    pub(crate) operation: Operation,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    /// `in.(a,b)`: the list elements, unquoted.
    In(Vec<String>),
    Is(IsValue),
    IsDistinct(String),
    Fts {
        op: FtsOp,
        lang: Option<String>,
        value: String,
    },
    Simple {
        op: SimpleOp,
        value: String,
    },
    Quant {
        op: QuantOp,
        quantifier: Option<Quantifier>,
        value: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IsValue {
    Null,
    NotNull,
    True,
    False,
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FtsOp {
    Fts,
    Plain,
    Phrase,
    Websearch,
}

/// Operators that take one value and no `(any)`/`(all)` quantifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SimpleOp {
    NotEqual,
    Contains,
    Contained,
    Overlap,
    StrictlyLeft,
    StrictlyRight,
    NotExtendsRight,
    NotExtendsLeft,
    Adjacent,
}

/// Operators that may take `(any)`/`(all)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QuantOp {
    Equal,
    GreaterThanEqual,
    GreaterThan,
    LessThanEqual,
    LessThan,
    Like,
    ILike,
    Match,
    IMatch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Quantifier {
    Any,
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogicOp {
    And,
    Or,
}

/// `or=(..)` / `and=(..)` and their nesting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LogicTree {
    Filter(Filter),
    Expr {
        negated: bool,
        op: LogicOp,
        children: Vec<LogicTree>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Asc,
    Desc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nulls {
    First,
    Last,
}

/// One term of `order=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OrderTerm {
    pub(crate) field: Field,
    pub(crate) direction: Option<Direction>,
    pub(crate) nulls: Option<Nulls>,
}

/// One item of `select=`. Embedded resources and aggregates are refused by the parser (this
/// server has no relationships and, like PostgREST's default, no aggregates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SelectItem {
    Star,
    Field {
        alias: Option<String>,
        field: Field,
        cast: Option<String>,
    },
}
