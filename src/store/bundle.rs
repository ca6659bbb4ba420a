//! [`Store`]: every repository of one store, acting for one [`Actor`]; [`Backend`]: what hands
//! them out.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::actor::Actor;
use super::batch::BatchStore;
use super::customer::CustomerStore;
use super::exclusion::ExclusionStore;
use super::flag::FlagStore;
use super::log::BatchLogStore;
use super::message::MessageStore;
use super::saved::SavedFilterStore;
use super::suppression::SuppressionStore;
use super::template::TemplateStore;
use crate::error::Result;

/// What an import or upsert changed, by key (JSON: `{"created": [...], "updated": [...],
/// "unchanged": [...]}`), each list in input order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    /// Keys that did not exist.
    pub created: Vec<String>,
    /// Keys whose content changed.
    pub updated: Vec<String>,
    /// Keys that already held exactly this.
    pub unchanged: Vec<String>,
}

/// Every repository of one store, acting for one [`Actor`]: cheap to clone, and each part an
/// `Arc<dyn ...>` that tokio tasks can hold.
///
/// ```
/// use smsbatch::store::{Actor, Backend, MemoryStore};
///
/// # async fn demo() -> smsbatch::Result<()> {
/// let backend = MemoryStore::new();
/// let store = backend.store(Actor::Service)?;
/// assert!(store.templates.list().await?.is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Store {
    /// The `customers` table.
    pub customers: Arc<dyn CustomerStore>,
    /// The `sms_templates` table.
    pub templates: Arc<dyn TemplateStore>,
    /// The `sms_saved_filters` table.
    pub saved_filters: Arc<dyn SavedFilterStore>,
    /// The `sms_batches` table.
    pub batches: Arc<dyn BatchStore>,
    /// The `sms_batch_messages` table and the queue functions.
    pub messages: Arc<dyn MessageStore>,
    /// The `sms_batch_excluded` table.
    pub exclusions: Arc<dyn ExclusionStore>,
    /// The `sms_batch_logs` table.
    pub logs: Arc<dyn BatchLogStore>,
    /// The `sms_feature_flags` and `sms_feature_flag_segments` tables.
    pub flags: Arc<dyn FlagStore>,
    /// The `sms_suppressions` table.
    pub suppressions: Arc<dyn SuppressionStore>,
}

impl Store {
    /// A store whose every repository is `all` (a type that implements them all, as each of
    /// the crate's stores does).
    pub fn from_all<T>(all: Arc<T>) -> Self
    where
        T: CustomerStore
            + TemplateStore
            + SavedFilterStore
            + BatchStore
            + MessageStore
            + ExclusionStore
            + BatchLogStore
            + FlagStore
            + SuppressionStore
            + 'static,
    {
        Self {
            customers: all.clone(),
            templates: all.clone(),
            saved_filters: all.clone(),
            batches: all.clone(),
            messages: all.clone(),
            exclusions: all.clone(),
            logs: all.clone(),
            flags: all.clone(),
            suppressions: all,
        }
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// A store that can act for anyone: [`MemoryStore`](super::MemoryStore), and with the
/// `postgres` feature `PgStore`. A server hands each request the store of its user.
pub trait Backend: Send + Sync {
    /// The repositories, acting for `actor`.
    fn store(&self, actor: Actor) -> Result<Store>;
}
