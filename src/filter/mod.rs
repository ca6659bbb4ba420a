//! Audience filters: one wire form, validated against a schema, compiled to PostgREST parameters, parameterised SQL and an in-memory evaluator that agree on every row.

mod ast;
mod compile;
mod context;
mod eval;
mod ir;
mod postgrest;
mod query;
mod saved;
mod schema;
mod sql;

pub(crate) use ast::clip;
pub use ast::{Condition, Document, Limits, Node, Op, ValueShape};
pub use compile::{Filter, validate};
pub use context::FilterContext;
pub use eval::{Evaluator, Table};
pub use ir::FilterOptions;
#[cfg(feature = "postgres")]
pub(crate) use ir::{Scalar, number_text};
pub use postgrest::PostgrestParams;
#[cfg(feature = "supabase")]
pub(crate) use postgrest::{PostgrestTarget, query_string as postgrest_query_string};
pub use query::{
    CompiledQuery, Cursor, Direction, MAX_SEARCH_TERMS, Nulls, PostgrestRequest, Query, QueryPage,
    SortKey, SqlQuery,
};
pub use saved::{
    AudiencePreset, EXPORT_FORMAT, EXPORT_VERSION, MAX_BIRTHDAY_YEARS, MAX_DESCRIPTION_LEN,
    MAX_NAME_LEN, SavedFilter, Visibility, export_saved, import_saved,
};
pub use schema::{Field, FieldType, Schema};
pub use sql::{SqlBuilder, SqlParam, SqlStatement, SqlTarget, SqlWhere};
