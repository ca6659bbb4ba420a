//! Sending: batch preparation, the runner and the worker (issue 14).

#[cfg(feature = "cli")]
mod cli;
mod runner;
