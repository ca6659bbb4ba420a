//! The one integration-test binary: each module tests one area against the files in `tests/data/`.

mod analytics;
#[cfg(feature = "cli")]
mod campaign;
mod db;
mod filter;
mod flags;
mod hostile;
mod postgrest_server;
mod preview;
mod queue;
mod segment;
mod send;
mod store;
mod support;
mod template;
#[cfg(feature = "twilio")]
mod twilio;
#[cfg(feature = "web")]
mod web;
