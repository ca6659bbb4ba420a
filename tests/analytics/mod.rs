//! Analytics over real stores: export round trips (memory and PostgreSQL), the report of a batch
//! sent through the fake provider, metrics, and the `report` / `export` commands.

#[cfg(all(feature = "cli", feature = "postgres"))]
mod cli;
#[cfg(feature = "export")]
mod export;
pub mod fixture;
#[cfg(feature = "testing")]
mod sent;
mod spec;
