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
//! # Crate features
//!
//! - `tokio`: the async send-queue runner.
//! - `postgres`: the direct PostgreSQL store.
//! - `supabase`: the Supabase/PostgREST store.
//! - `twilio`: the Twilio provider adapter.
//! - `testing`: deterministic fakes for your own tests.
//! - `cli`: the `smsbatch` command line.
//!
//! # Modules
//!
//! - [`flags`]: Unleash-compatible feature flags (load a client-API state, compile once, evaluate
//!   with the same buckets as every Unleash SDK; time and randomness are passed in).

#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod error;
pub mod flags;

pub use crate::error::{Error, ErrorKind, Result};
