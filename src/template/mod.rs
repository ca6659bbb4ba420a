//! Handlebars message templates: compiled once, rendered strictly for many recipients.

mod compiled;
mod fold;
mod helpers;
mod nesting;
mod record;
mod registry;
mod vars;

pub(crate) use self::helpers::Failure;
pub use self::record::{TemplateRecord, search_templates};
pub(crate) use self::registry::failure_error;
pub use self::registry::{Template, TemplateMetadata};
