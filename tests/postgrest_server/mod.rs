//! The PostgREST-compatible test server (`testserver/`): PostgREST's own golden cases over
//! HTTP, reads, counts and ranges, writes, RPC, roles and row-level security from JWTs, error
//! bodies, and the `postgrest_server` example as a process.

mod auth;
mod example;
mod reads;
mod rpc;
mod spec;
pub(crate) mod support;
mod writes;
