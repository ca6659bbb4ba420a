//! A PostgREST-compatible HTTP server over a real PostgreSQL, for tests.
//!
//! No PostgREST can be installed where smsbatch is built and tested, so its Supabase store is
//! tested against this server instead: the same HTTP API as PostgREST (the API Supabase serves
//! under `/rest/v1`), turning each request into parameterised SQL run by the real database, with
//! the roles and row-level security of the request's JSON Web Token.
//!
//! ```no_run
//! use smsbatch_postgrest_testserver::{Config, Server};
//!
//! // The tables, views and functions of schema `public`, on an ephemeral port.
//! let server = Server::start(Config::new("postgres://postgres@127.0.0.1:5432/app"))?;
//! println!("PostgREST at {}, Supabase-style at {}", server.url(), server.rest_url());
//! // Tokens signed with the server's secret choose the role requests run as.
//! let user = server.user_token(
//!     "7f0c3e1e-0000-4000-8000-000000000001",
//!     &serde_json::json!({"app_metadata": {"team_id": "t1"}}),
//! );
//! # let _ = user;
//! // Dropping the server stops it.
//! # Ok::<(), smsbatch_postgrest_testserver::Error>(())
//! ```
//!
//! # What it implements
//!
//! PostgREST 13's behaviour for what a Supabase client uses, checked against PostgREST's own
//! test expectations (`tests/data/postgrest/spec_cases.tsv` in the smsbatch repository):
//!
//! - **Routes**: `/TABLE` and `/rpc/FN`, also under `/rest/v1`; tables, views, materialised
//!   views and foreign tables of the served schemas; `Accept-Profile` / `Content-Profile` choose
//!   among several schemas.
//! - **Horizontal filters** with PostgREST's exact grammar: `eq neq gt gte lt lte like ilike
//!   match imatch in is isdistinct cs cd ov sl sr nxr nxl adj fts plfts phfts wfts`, `not.`,
//!   `(any)`/`(all)` quantifiers, `*` as the LIKE wildcard, top-level values taken verbatim,
//!   quoted values with `\` escapes in `in.(..)` and logic trees, `{..}` array tokens, raw
//!   values ending at `,`/`)`, text after a complete tree ignored, `+` decoded as a space,
//!   JSON paths (`data->a->>b`). Values are bound as untyped parameters, so PostgreSQL casts them
//!   to the column's type and a bad literal is PostgreSQL's error (`22P02`, HTTP 400).
//! - **Logic trees**: `or=(..)`, `and=(..)`, `not.or`, `not.and`, nesting.
//! - **Shaping**: `select` (columns, `alias:`, `::cast`, JSON paths), `order` (first `order`
//!   parameter wins; `asc`/`desc`, `nullsfirst`/`nullslast`; typos are 400), `limit`/`offset`,
//!   the `Range` header (GET only).
//! - **Counting**: `Prefer: count=exact` (and `planned`/`estimated`, which count exactly here),
//!   `Content-Range`, statuses 200/206/416, `HEAD`.
//! - **Writes**: `POST` (an object or an array of objects with the same keys, `columns=`),
//!   upserts with `Prefer: resolution=merge-duplicates|ignore-duplicates` and `on_conflict=`,
//!   `missing=default`, `PATCH`, `DELETE`; `Prefer: return=representation|minimal|headers-only`,
//!   `max-affected` with `handling=strict`, `Accept: application/vnd.pgrst.object+json`.
//! - **RPC**: `POST /rpc/FN` with a JSON object of named arguments (or one unnamed `json`
//!   argument), `GET`/`HEAD` with arguments in the query; overloads resolved by argument names;
//!   results as PostgREST gives them (a scalar, an array of scalars, an object for a function
//!   returning one row, an array of rows; 204 for `void`), filterable and orderable; `GET` and
//!   non-volatile functions run read-only.
//! - **Auth**: HS256/384/512 tokens from `Authorization: Bearer` (or, when absent, `apikey`, as
//!   Supabase's gateway passes it on); no token runs as the anonymous role, a token as its `role`
//!   claim. Each request is one transaction that first does `set_config('role', ..)` and
//!   `set_config('request.jwt.claims', ..)` (plus `search_path`, `request.method`,
//!   `request.path`, `request.headers`, `request.cookies`), so row-level security is real.
//! - **Errors**: PostgREST's JSON bodies (`code`, `details`, `hint`, `message`), codes
//!   (PGRST100 and the rest) and statuses (42501 → 401 anonymous / 403 otherwise, 23505 → 409,
//!   `RAISE SQLSTATE 'PGRST'`, `PTnnn`, ...), `response.status` / `response.headers` set by SQL.
//!
//! Not implemented (a request using them gets `PGRST127 Feature not implemented`, or PGRST123
//! for aggregates as in PostgREST's default configuration): resource embedding, aggregates,
//! `PUT`, CSV and other media types, OpenAPI at `/`, `count=planned` estimates.
//!
//! # Roles on plain PostgreSQL
//!
//! Supabase provides the `anon`, `authenticated` and `service_role` roles; a plain PostgreSQL
//! needs them created once per cluster: [`SUPABASE_ROLES_SQL`] does that where they are missing.
//! The server connects with the URL's user (typically a superuser) and switches to the request's
//! role inside each transaction.

#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod auth;
mod config;
mod db;
mod error;
mod http;
mod parse;
mod prefer;
mod range;
mod schema;
mod server;
mod sql;

pub use auth::{DEFAULT_JWT_SECRET, sign_jwt};
pub use config::{Config, USAGE};
pub use error::Error;
pub use server::Server;

/// Creates, where missing, the roles Supabase provides: `anon` and `authenticated` (no login,
/// no bypass) and `service_role` (`BYPASSRLS`). Safe to run concurrently and repeatedly.
pub const SUPABASE_ROLES_SQL: &str = "
DO $$ BEGIN CREATE ROLE anon NOLOGIN NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE authenticated NOLOGIN NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
";
