//! Stores (SPEC §6): one repository trait per table, the in-memory store, with the `postgres` feature the PostgreSQL store with its migrations (the Supabase schema, row-level security, the queue functions), and with the `supabase` feature the same operations over Supabase's REST API.
//!
//! ```
//! use smsbatch::store::{Actor, Backend, Customer, MemoryStore};
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let memory = MemoryStore::new();
//! let service = memory.store(Actor::Service)?;
//! let mut ana = Customer::new(1);
//! ana.phone = Some("+447400123456".into());
//! service.customers.upsert(&[ana]).await?;
//! let stored = service.customers.get(1).await?.unwrap();
//! assert_eq!(stored.phone.as_deref(), Some("+447400123456"));
//!
//! // The anonymous role may do nothing: row-level security, the same in every store.
//! let anonymous = memory.store(Actor::Anonymous)?;
//! let err = anonymous.customers.get(1).await.unwrap_err();
//! assert_eq!(err.kind().code(), "permissionDenied");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod actor;
mod batch;
mod bundle;
mod customer;
mod exclusion;
mod flag;
mod log;
mod memory;
mod message;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
mod saved;
#[cfg(feature = "supabase")]
#[cfg_attr(docsrs, doc(cfg(feature = "supabase")))]
pub mod supabase;
mod suppression;
mod template;

pub use self::actor::{Actor, UserClaims, decode_jwt_claims};
pub use self::batch::{Batch, BatchQuery, BatchStore, CreatedBatch, NewBatch};
pub use self::bundle::{Backend, Changes, Store};
pub use self::customer::{
    CUSTOMER_COLUMNS, Customer, CustomerPage, CustomerScan, CustomerStore, check_customer_schema,
};
pub use self::exclusion::{Exclusion, ExclusionStore, NewExclusion};
pub use self::flag::{FlagChanges, FlagRow, FlagStore, SegmentRow};
pub use self::log::{BatchLog, BatchLogStore, LogLevel, NewBatchLog};
pub use self::memory::MemoryStore;
pub use self::message::{
    CheckClaim, CheckKind, CheckResult, Checks, Claim, Fence, Message, MessageError, MessageQuery,
    MessageScan, MessageStore, MessageTotals, NewMessage, Requeued, Rescued, Transition,
};
pub use self::saved::SavedFilterStore;
pub use self::suppression::{Suppression, SuppressionStore};
pub use self::template::TemplateStore;
/// The id type of users, batches and claim tokens (the `uuid` crate's), so callers need not
/// depend on it themselves.
pub use uuid::Uuid;
