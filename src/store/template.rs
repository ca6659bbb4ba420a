//! Message templates: the `sms_templates` table.

use async_trait::async_trait;

use super::bundle::Changes;
use super::customer::check_text;
use crate::error::{Error, ErrorKind, Result};
use crate::template::{TemplateRecord, search_templates};

/// The `sms_templates` table: the templates of each team.
///
/// A user reads its team's templates and writes its own (created with its id as owner); the
/// service reads and writes all. Every write compiles the body first, so a store never holds a
/// template that cannot render ([`ErrorKind::TemplateSyntax`]).
#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Adds a template. `team` is the team it belongs to: `None` means the acting user's team (no
    /// team for the service). [`ErrorKind::UniqueViolation`] if the id exists.
    async fn create(&self, template: &TemplateRecord, team: Option<&str>) -> Result<()>;

    /// Replaces the name, body, description, tags and `updatedAt` of an existing template.
    /// [`ErrorKind::NotFound`] if the actor cannot see it, [`ErrorKind::PermissionDenied`] if it
    /// can but may not change it.
    async fn update(&self, template: &TemplateRecord) -> Result<()>;

    /// Creates or replaces each template (by id); reports which ids were created, updated or
    /// already identical. Nothing is written when one template is refused.
    async fn upsert(&self, templates: &[TemplateRecord], team: Option<&str>) -> Result<Changes>;

    /// The template with this id, if the actor can see it.
    async fn get(&self, id: &str) -> Result<Option<TemplateRecord>>;

    /// Every template the actor can see, by name then id.
    async fn list(&self) -> Result<Vec<TemplateRecord>>;

    /// Deletes a template; `false` if the actor cannot see it, [`ErrorKind::PermissionDenied`]
    /// if it can but may not delete it.
    async fn delete(&self, id: &str) -> Result<bool>;

    /// The templates whose name, body or tags contain every word of `query`, ignoring case and
    /// accents, name matches first ([`search_templates`]); the same on every store.
    async fn search(&self, query: &str) -> Result<Vec<TemplateRecord>> {
        let all = self.list().await?;
        Ok(search_templates(&all, query).into_iter().cloned().collect())
    }
}

fn template_error(message: String) -> Error {
    Error::new(ErrorKind::InvalidInput { message })
}

/// What every store checks before writing a template.
pub(crate) fn check_template(t: &TemplateRecord) -> Result<()> {
    if t.id.trim().is_empty() {
        return Err(template_error("a template needs an id".into()));
    }
    if t.name.trim().is_empty() {
        return Err(template_error(format!(
            "the template {:?} needs a name",
            crate::filter::clip(&t.id)
        )));
    }
    for (what, text) in [
        ("/id", &t.id),
        ("/name", &t.name),
        ("/body", &t.body),
        ("/description", &t.description),
    ] {
        check_text(text, what)?;
    }
    for (i, tag) in t.tags.iter().enumerate() {
        check_text(tag, &format!("/tags/{i}"))?;
    }
    if t.updated_at < t.created_at {
        return Err(template_error(format!(
            "the template {:?} was updated before it was created",
            crate::filter::clip(&t.id)
        )));
    }
    t.compile().map(|_| ())
}
