//! Sending: batch preparation, the runner and the worker (issue 14).

#[cfg(feature = "cli")]
mod cli;
#[cfg(feature = "cli")]
mod crash;
mod prepare;
mod runner;
