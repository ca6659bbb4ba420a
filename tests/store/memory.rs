//! The contract on the in-memory store.

use std::sync::Arc;

use async_trait::async_trait;
use smsbatch::filter::Schema;
use smsbatch::store::MemoryStore;

use super::contract::{Fixture, Harness};

pub struct MemoryHarness;

#[async_trait]
impl Harness for MemoryHarness {
    async fn fresh(&self, schema: Schema) -> Option<Fixture> {
        let store = MemoryStore::with_schema(schema).expect("a schema that fits the table");
        Some(Fixture::new(Arc::new(store), None))
    }
}

crate::contract_tests!(MemoryHarness);

/// Object safety: every repository works as `Arc<dyn ...>` held by tokio tasks.
#[test]
fn repositories_are_object_safe_send_and_sync() {
    fn send_sync<T: Send + Sync + ?Sized>() {}
    send_sync::<dyn smsbatch::store::CustomerStore>();
    send_sync::<dyn smsbatch::store::TemplateStore>();
    send_sync::<dyn smsbatch::store::SavedFilterStore>();
    send_sync::<dyn smsbatch::store::BatchStore>();
    send_sync::<dyn smsbatch::store::MessageStore>();
    send_sync::<dyn smsbatch::store::ExclusionStore>();
    send_sync::<dyn smsbatch::store::BatchLogStore>();
    send_sync::<dyn smsbatch::store::FlagStore>();
    send_sync::<dyn smsbatch::store::SuppressionStore>();
    send_sync::<dyn smsbatch::store::Backend>();
    send_sync::<smsbatch::store::Store>();
}
