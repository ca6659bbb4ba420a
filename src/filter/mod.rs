//! Audience filters: one wire form, validated against a schema, compiled to PostgREST parameters, parameterised SQL and an in-memory evaluator that agree on every row.
//!
//! ```
//! use serde_json::json;
//! use smsbatch::filter::{Filter, FilterOptions, Schema};
//!
//! // Customers of Lyon whose first name does not contain "ann" (a missing name does not).
//! let filter = Filter::from_value(
//!     &json!({"version": 1, "where": {"and": [
//!         {"field": "city", "op": "equals", "value": "Lyon"},
//!         {"field": "first_name", "op": "notContains", "value": "ann"}
//!     ]}}),
//!     &Schema::customers(),
//!     &FilterOptions::new(),
//! )?;
//! assert!(!filter.matches(&json!({"id": 1, "city": "Lyon", "first_name": "Anna"}))?);
//! assert!(filter.matches(&json!({"id": 2, "city": "Lyon"}))?);
//! assert!(filter.postgrest().query_string().contains("city=eq.Lyon"));
//! assert!(!filter.sql_where().where_clause().contains("Lyon")); // values are bind parameters
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
