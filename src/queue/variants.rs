//! A/B templates inside a batch: each recipient gets the template of the flag variant their
//! customer id lands in, with Unleash's bucketing, through the flags engine.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::flags::{Context, Engine, Env, SeededRandom};
use crate::random::mix;
use crate::time::Timestamp;

/// Where a variant's template comes from. JSON: a string is a stored template's id;
/// `{"id": "..."}` says the same explicitly; `{"text": "Hi {{first_name}}"}` is the template
/// itself.
///
/// ```
/// use smsbatch::queue::TemplateSource;
///
/// let id: TemplateSource = serde_json::from_str(r#""welcome-b""#)?;
/// assert_eq!(id, TemplateSource::Id("welcome-b".into()));
/// let text: TemplateSource = serde_json::from_str(r#"{"text": "Hi {{first_name}}!"}"#)?;
/// assert_eq!(text, TemplateSource::Text("Hi {{first_name}}!".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum TemplateSource {
    /// A stored template, by id.
    Id(String),
    /// The template's text.
    Text(String),
}

impl<'de> Deserialize<'de> for TemplateSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        enum Tagged {
            Id(String),
            Text(String),
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Id(String),
            Tagged(Tagged),
        }
        match Either::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "expected a template id (a string), {\"id\": \"...\"} or {\"text\": \"...\"}",
            )
        })? {
            Either::Id(id) | Either::Tagged(Tagged::Id(id)) => Ok(Self::Id(id)),
            Either::Tagged(Tagged::Text(text)) => Ok(Self::Text(text)),
        }
    }
}

impl fmt::Display for TemplateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "template {id:?}"),
            Self::Text(text) => write!(f, "inline template {text:?}"),
        }
    }
}

/// The `variants` option of a batch: a flag whose variants pick the template.
///
/// JSON: `{"flag": "spring-copy", "templates": {"short": "tpl-short", "long": {"text": "..."}}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Variants {
    /// The flag's name.
    pub flag: String,
    /// Each variant's template; a recipient whose variant is not listed (or who gets none: the
    /// flag is off) gets the batch's own template.
    pub templates: BTreeMap<String, TemplateSource>,
}

impl Variants {
    /// The flag and the templates of its variants.
    pub fn new(
        flag: impl Into<String>,
        templates: impl IntoIterator<Item = (String, TemplateSource)>,
    ) -> Self {
        Self {
            flag: flag.into(),
            templates: templates.into_iter().collect(),
        }
    }
}

/// A recipient's variant and template.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Assignment<'a> {
    /// The variant's name as the flag handed it out; `disabled` when the flag gave none (it is
    /// off, or has no variants). Progress counts recipients under this name.
    pub variant: String,
    /// The variant's template; `None` for the batch's own template.
    pub template: Option<&'a TemplateSource>,
}

/// Assigns recipients to variants with the flags engine (Unleash's variant bucketing on the
/// customer id as `userId`), so a customer gets the same variant every time and in every Unleash
/// SDK.
///
/// ```
/// use smsbatch::Timestamp;
/// use smsbatch::flags::Engine;
/// use smsbatch::queue::{TemplateSource, VariantAssigner, Variants};
///
/// let engine = Engine::from_json(r#"{"features": [{"name": "spring-copy", "enabled": true,
///     "strategies": [{"name": "default"}],
///     "variants": [{"name": "short", "weight": 500, "stickiness": "default"},
///                  {"name": "long", "weight": 500, "stickiness": "default"}]}]}"#)?;
/// let variants: Variants = serde_json::from_str(r#"{"flag": "spring-copy",
///     "templates": {"short": "tpl-short", "long": {"text": "Hi {{first_name}}, spring is here"}}}"#)?;
/// let assigner = VariantAssigner::new(&engine, &variants, Timestamp::UNIX_EPOCH);
/// let a = assigner.assign("customer-42");
/// assert!(a.variant == "short" || a.variant == "long");
/// assert_eq!(assigner.assign("customer-42"), a, "sticky");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct VariantAssigner<'a> {
    engine: &'a Engine,
    variants: &'a Variants,
    now: Timestamp,
}

impl<'a> VariantAssigner<'a> {
    /// Assigns with `engine`'s current rules; `now` is the time date constraints see.
    pub fn new(engine: &'a Engine, variants: &'a Variants, now: Timestamp) -> Self {
        Self {
            engine,
            variants,
            now,
        }
    }

    /// The variant of the customer `customer_id`.
    pub fn assign(&self, customer_id: &str) -> Assignment<'a> {
        self.assign_with(customer_id, &Context::new().user_id(customer_id))
    }

    /// The variant for a context of your own (with properties for the flag's constraints); its
    /// `userId` should be the customer id. `customer_id` seeds the random source that `random`
    /// stickiness would use, so even that stays the same for the same customer.
    pub fn assign_with(&self, customer_id: &str, context: &Context) -> Assignment<'a> {
        let mut seed = 0xcbf2_9ce4_8422_2325_u64;
        for b in customer_id.bytes() {
            seed = mix(seed ^ u64::from(b));
        }
        let mut random = SeededRandom::new(seed);
        let mut env = Env::new(self.now, &mut random);
        let variant = self.engine.variant(&self.variants.flag, context, &mut env);
        let template = if variant.enabled {
            self.variants.templates.get(&variant.name)
        } else {
            None
        };
        Assignment {
            variant: variant.name,
            template,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"{"features": [{"name": "ab", "enabled": true,
        "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "100", "stickiness": "default", "groupId": "ab"}}],
        "variants": [{"name": "a", "weight": 333, "stickiness": "default"},
                     {"name": "b", "weight": 333, "stickiness": "default"},
                     {"name": "c", "weight": 334, "stickiness": "default"}]},
        {"name": "off", "enabled": false, "strategies": [],
         "variants": [{"name": "a", "weight": 1000}]}]}"#;

    fn variants(flag: &str) -> Variants {
        Variants::new(
            flag,
            [
                ("a".to_owned(), TemplateSource::Id("tpl-a".into())),
                ("b".to_owned(), TemplateSource::Text("B {{x}}".into())),
            ],
        )
    }

    #[test]
    fn sticky_and_the_engines_answer() {
        let engine = Engine::from_json(STATE).unwrap();
        let v = variants("ab");
        let assigner = VariantAssigner::new(&engine, &v, Timestamp::UNIX_EPOCH);
        let mut seen = BTreeMap::new();
        for id in 0..3000 {
            let id = id.to_string();
            let a = assigner.assign(&id);
            assert_eq!(assigner.assign(&id), a);
            let mut random = SeededRandom::new(1);
            let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut random);
            let expected = engine.variant("ab", &Context::new().user_id(&id), &mut env);
            assert_eq!(a.variant, expected.name);
            match a.variant.as_str() {
                "a" => assert_eq!(a.template, Some(&TemplateSource::Id("tpl-a".into()))),
                "b" => assert_eq!(a.template, Some(&TemplateSource::Text("B {{x}}".into()))),
                _ => assert_eq!(a.template, None, "c has no template: the batch's own"),
            }
            *seen.entry(a.variant).or_insert(0) += 1;
        }
        // Roughly a third each.
        assert!(seen.values().all(|&n| (850..1150).contains(&n)), "{seen:?}");
    }

    #[test]
    fn flag_off_gives_the_batch_template() {
        let engine = Engine::from_json(STATE).unwrap();
        for flag in ["off", "missing"] {
            let v = variants(flag);
            let a = VariantAssigner::new(&engine, &v, Timestamp::UNIX_EPOCH).assign("7");
            assert_eq!((a.variant.as_str(), a.template), ("disabled", None));
        }
    }

    #[test]
    fn template_source_json() {
        let bad = serde_json::from_str::<TemplateSource>(r#"{"name": "x"}"#).unwrap_err();
        assert!(bad.to_string().contains("template id"), "{bad}");
        assert_eq!(
            serde_json::to_string(&TemplateSource::Text("x".into())).unwrap(),
            r#"{"text":"x"}"#
        );
        assert_eq!(
            serde_json::from_str::<TemplateSource>(r#"{"id": "t"}"#).unwrap(),
            TemplateSource::Id("t".into())
        );
    }
}
