//! Sending: batch preparation, the runner and the worker (issue 14).

mod runner;
