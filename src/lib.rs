//! smsbatch: batch SMS campaigns, from audience to bill.
//!
//! ```
//! use smsbatch::ErrorKind;
//!
//! let kind = ErrorKind::EmptyMessage;
//! assert_eq!(kind.code(), "emptyMessage");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modules
//!
//! - [`filter`]: audience filters, one wire form compiled to PostgREST parameters, parameterised
//!   SQL and an in-memory evaluator that select the same rows.
//!
//! # Crate features
//!
//! - `tokio`: the async send-queue runner.
//! - `postgres`: the direct PostgreSQL store.
//! - `supabase`: the Supabase/PostgREST store.
//! - `twilio`: the Twilio provider adapter.
//! - `testing`: deterministic fakes for your own tests.
//! - `cli`: the `smsbatch` command line.

#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod error;
pub mod filter;

pub use crate::error::{Error, ErrorKind, Result};
