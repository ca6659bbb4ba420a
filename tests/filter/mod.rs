//! Audience filters: the operator spec, PostgREST strings, the differential test against
//! PostgreSQL, queries, saved filters and the CLI.

mod cli;
mod differential;
mod operators;
mod pg;
mod postgrest;
mod postgrest_interp;
mod query;
mod roundtrip;
mod saved;
