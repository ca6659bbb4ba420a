//! Feature flags: the Unleash client specification run as data, property tests, a differential
//! test against Unleash's own engine (yggdrasil), and the `smsbatch flags` command line.

mod cli;
mod oracle;
mod props;
mod spec;
