//! Stores: the contract suite on every store, row-level security, concurrency, hostile values,
//! migrations, and the store commands of the CLI.

#[cfg(all(feature = "cli", feature = "postgres"))]
mod cli;
#[macro_use]
pub mod contract;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(all(feature = "supabase", feature = "postgres"))]
mod supabase;
