//! Templates as data: the stored record, its metadata, and search.

use serde::{Deserialize, Serialize};

use super::fold::fold;
use super::registry::{Template, TemplateMetadata};
use crate::error::Result;
use crate::segment::Segmenter;
use crate::time::Timestamp;

/// A stored message template (camelCase JSON; timestamps in RFC 3339).
///
/// ```
/// use smsbatch::{Segmenter, TemplateRecord};
///
/// let record: TemplateRecord = serde_json::from_str(r#"{
///     "id": "welcome", "name": "Welcome", "body": "Hi {{first_name}}, welcome!",
///     "tags": ["onboarding"],
///     "createdAt": "2025-01-10T09:00:00Z", "updatedAt": "2025-01-12T17:30:00Z"
/// }"#)?;
/// let meta = record.metadata(&Segmenter::default())?;
/// assert_eq!(meta.variables, ["first_name"]);
/// assert_eq!(meta.min_segments, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateRecord {
    /// The template's identifier in its store.
    pub id: String,
    /// A short name people pick the template by.
    pub name: String,
    /// The handlebars source.
    pub body: String,
    /// What the template is for.
    #[serde(default)]
    pub description: String,
    /// Labels for filtering (`"onboarding"`, `"billing"`...).
    #[serde(default)]
    pub tags: Vec<String>,
    /// When the template was created.
    pub created_at: Timestamp,
    /// When the template was last changed.
    pub updated_at: Timestamp,
}

impl TemplateRecord {
    /// A record created (and last updated) at `at`, without description or tags.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        body: impl Into<String>,
        at: Timestamp,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            body: body.into(),
            description: String::new(),
            tags: Vec::new(),
            created_at: at,
            updated_at: at,
        }
    }

    /// Compiles the body; see [`Template::compile`].
    pub fn compile(&self) -> Result<Template> {
        Template::compile(&self.body)
    }

    /// The variables, static-text encoding and minimum segments of the body; fails like
    /// [`Template::compile`].
    pub fn metadata(&self, segmenter: &Segmenter) -> Result<TemplateMetadata> {
        Ok(self.compile()?.metadata(segmenter))
    }
}

/// The templates whose name, body or tags contain every word of `query`, ignoring case and
/// accents; templates matching in the name come first, otherwise the input order is kept. An
/// empty query matches every template.
///
/// Accents are folded for the Latin (Vietnamese included), Greek and Cyrillic alphabets: `cafe`
/// finds `Café`, `nguyen` finds `Nguyễn`, `καλημερα` finds `Καλημέρα`, `елка` finds `Ёлка`.
/// Characters of other scripts are compared as written, lowercased.
///
/// ```
/// use smsbatch::{TemplateRecord, search_templates};
///
/// let at = "2025-01-10T09:00:00Z".parse()?;
/// let templates = [
///     TemplateRecord::new("a", "Order shipped", "Your café order is on its way", at),
///     TemplateRecord::new("b", "Café reminder", "See you soon", at),
/// ];
/// let found: Vec<&str> = search_templates(&templates, "CAFE").iter().map(|t| t.id.as_str()).collect();
/// assert_eq!(found, ["b", "a"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn search_templates<'a>(
    templates: &'a [TemplateRecord],
    query: &str,
) -> Vec<&'a TemplateRecord> {
    let words: Vec<String> = fold(query).split_whitespace().map(str::to_owned).collect();
    let mut in_name = Vec::new();
    let mut elsewhere = Vec::new();
    for t in templates {
        let name = fold(&t.name);
        let rest = format!("{}\n{}", fold(&t.body), fold(&t.tags.join("\n")));
        let mut all_in_name = true;
        let matches = words.iter().all(|w| {
            let here = name.contains(w.as_str());
            all_in_name &= here;
            here || rest.contains(w.as_str())
        });
        if matches {
            if all_in_name && !words.is_empty() {
                in_name.push(t);
            } else {
                elsewhere.push(t);
            }
        }
    }
    in_name.extend(elsewhere);
    in_name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, name: &str, body: &str, tags: &[&str]) -> TemplateRecord {
        let at: Timestamp = "2025-01-10T09:00:00Z".parse().unwrap();
        TemplateRecord {
            id: id.into(),
            name: name.into(),
            body: body.into(),
            description: String::new(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn folding() {
        assert_eq!(fold("Crème BRÛLÉE"), "creme brulee");
        assert_eq!(fold("São Paulo İ"), "sao paulo i");
        assert_eq!(fold("Øresund"), "øresund");
    }

    #[test]
    fn search_by_name_body_and_tags() {
        let templates = [
            record(
                "1",
                "Welcome",
                "Hi {{first_name}}, bienvenue à bord",
                &["onboarding"],
            ),
            record("2", "Payment due", "Your invoice is due", &["billing"]),
            record("3", "Welcome back", "We missed you", &[]),
        ];
        let ids = |q: &str| -> Vec<String> {
            search_templates(&templates, q)
                .iter()
                .map(|t| t.id.clone())
                .collect()
        };
        assert_eq!(ids(""), ["1", "2", "3"]);
        assert_eq!(ids("welcome"), ["1", "3"]);
        assert_eq!(ids("A BORD"), ["1"], "accent-insensitive in the body");
        assert_eq!(ids("billing"), ["2"], "tags");
        assert_eq!(ids("welcome missed"), ["3"], "every word must match");
        assert_eq!(ids("you"), ["2", "3"], "body matches keep input order");
        assert_eq!(ids("zzz"), Vec::<String>::new());
    }

    #[test]
    fn record_json_round_trip() {
        let r = record("1", "Welcome", "Hi", &["a"]);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["createdAt"], "2025-01-10T09:00:00Z");
        assert_eq!(serde_json::from_value::<TemplateRecord>(json).unwrap(), r);
    }
}
