//! Saved filters: the `sms_saved_filters` table.

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

use super::bundle::Changes;
use crate::error::{Error, ErrorKind, Result};
use crate::filter::{SavedFilter, Schema, Visibility, export_saved};
use crate::time::Timestamp;

/// The `sms_saved_filters` table.
///
/// A user sees its own filters, those shared with it and those its team can see
/// ([`Visibility`]); it writes only its own. Owners and the users a filter is shared with are
/// user ids (UUIDs). Every write validates the filter against the store's customer schema.
#[async_trait]
pub trait SavedFilterStore: Send + Sync {
    /// Adds a saved filter. `team` is the team a [`Visibility::Team`] filter is visible to:
    /// `None` means the acting user's team. [`ErrorKind::UniqueViolation`] if the id exists;
    /// [`ErrorKind::PermissionDenied`] when a user saves a filter owned by someone else.
    async fn create(&self, filter: &SavedFilter, team: Option<&str>) -> Result<()>;

    /// Replaces an existing filter (everything but `createdAt`). [`ErrorKind::NotFound`] if the
    /// actor cannot see it, [`ErrorKind::PermissionDenied`] if it can but does not own it.
    async fn update(&self, filter: &SavedFilter) -> Result<()>;

    /// The filter with this id, if the actor can see it.
    async fn get(&self, id: &str) -> Result<Option<SavedFilter>>;

    /// Every filter the actor can see, by name then id.
    async fn list(&self) -> Result<Vec<SavedFilter>>;

    /// Deletes a filter; `false` if the actor cannot see it, [`ErrorKind::PermissionDenied`] if
    /// it can but does not own it.
    async fn delete(&self, id: &str) -> Result<bool>;

    /// Creates or replaces each filter (by id), as an import does; reports which ids were
    /// created, updated or already identical. Nothing is written when one is refused.
    async fn import(&self, filters: &[SavedFilter], team: Option<&str>) -> Result<Changes>;

    /// The filters the actor can see, as an export file ([`export_saved`]).
    async fn export(&self, now: Timestamp) -> Result<Value> {
        Ok(export_saved(&self.list().await?, now))
    }
}

/// What every store checks before writing a saved filter: its own rules, its filter against the
/// schema, and user ids that are UUIDs.
pub(crate) fn check_saved(filter: &SavedFilter, schema: &Schema) -> Result<()> {
    filter.validate(schema)?;
    let not_uuid = |path: &str, id: &str| {
        Error::new(ErrorKind::InvalidSavedFilter {
            path: path.to_owned(),
            message: format!("`{}` is not a user id (a UUID)", crate::filter::clip(id)),
        })
    };
    Uuid::parse_str(&filter.owner).map_err(|_| not_uuid("/owner", &filter.owner))?;
    if let Visibility::Shared { users } = &filter.visibility {
        for (i, u) in users.iter().enumerate() {
            Uuid::parse_str(u).map_err(|_| not_uuid(&format!("/visibility/users/{i}"), u))?;
        }
    }
    for (path, text) in [
        ("/id", &filter.id),
        ("/name", &filter.name),
        ("/description", &filter.description),
    ] {
        super::customer::check_text(text, path).map_err(|e| {
            Error::new(ErrorKind::InvalidSavedFilter {
                path: path.to_owned(),
                message: e.to_string(),
            })
        })?;
    }
    // The filter document's strings go into jsonb too.
    if filter.filter.to_value().to_string().contains("\\u0000") {
        return Err(Error::new(ErrorKind::InvalidSavedFilter {
            path: "/filter".into(),
            message: "the filter contains a NUL character, which PostgreSQL cannot store".into(),
        }));
    }
    Ok(())
}

/// The user ids of a shared filter (none for the others).
pub(crate) fn shared_users(filter: &SavedFilter) -> Vec<Uuid> {
    match &filter.visibility {
        Visibility::Shared { users } => users
            .iter()
            .filter_map(|u| Uuid::parse_str(u).ok())
            .collect(),
        _ => Vec::new(),
    }
}
