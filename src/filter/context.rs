//! [`FilterContext`]: the schema and options filters are compiled with, as one JSON object.

use serde_json::Value;

use super::ast::clip;
use super::ir::FilterOptions;
use super::schema::Schema;
use crate::error::{Error, ErrorKind, Result};
use crate::json::kind_of;

/// The schema and options filters are compiled with, read from one JSON object
/// `{"schema": {"fields": [...]}, "now": "2025-01-01T00:00:00Z"}`: how a page, a request or a
/// job passes them. Both members are optional: the default is the customer schema
/// ([`Schema::customers`]) and no `now` (then `withinLastDays` conditions are refused with
/// [`ErrorKind::MissingNow`]).
///
/// ```
/// use serde_json::json;
/// use smsbatch::filter::{Filter, FilterContext};
///
/// let context = FilterContext::from_value(&json!({"now": "2025-01-01T00:00:00Z"}))?;
/// let recent = json!({"field": "date_create", "op": "withinLastDays", "value": 30});
/// let filter = Filter::from_value(&recent, &context.schema, &context.options)?;
/// assert!(filter.matches(&json!({"id": 1, "date_create": "2024-12-24T10:00:00Z"}))?);
///
/// let err = FilterContext::from_value(&json!({"now": "yesterday"})).unwrap_err();
/// assert_eq!(err.kind().code(), "invalidInput");
/// # Ok::<(), smsbatch::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default)]
pub struct FilterContext {
    /// The fields filters may name.
    pub schema: Schema,
    /// The current time and the limits for untrusted filters.
    pub options: FilterOptions,
}

impl FilterContext {
    /// A context of `schema` and `options`.
    pub fn new(schema: Schema, options: FilterOptions) -> Self {
        Self { schema, options }
    }

    /// Reads `{"schema"?, "now"?}`; `null` is the default context.
    ///
    /// Errors: [`ErrorKind::InvalidSchema`] for the schema (its path starts with `/schema`),
    /// [`ErrorKind::InvalidInput`] for a `now` that is not RFC 3339 text, another member, or a
    /// value that is not an object.
    pub fn from_value(value: &Value) -> Result<Self> {
        let map = match value {
            Value::Null => return Ok(Self::default()),
            Value::Object(map) => map,
            other => {
                return Err(Error::invalid_input(format!(
                    "the filter context must be an object {{\"schema\", \"now\"}}, not {}",
                    kind_of(other)
                )));
            }
        };
        if let Some(key) = map.keys().find(|k| !matches!(k.as_str(), "schema" | "now")) {
            return Err(Error::invalid_input(format!(
                "unknown member `{}` in the filter context (it has `schema` and `now`)",
                clip(key)
            )));
        }
        let schema = match map.get("schema") {
            None | Some(Value::Null) => Schema::customers(),
            Some(schema) => Schema::from_value(schema).map_err(|e| match e.into_kind() {
                ErrorKind::InvalidSchema { path, message } => {
                    Error::new(ErrorKind::InvalidSchema {
                        path: format!("/schema{path}"),
                        message,
                    })
                }
                other => Error::new(other),
            })?,
        };
        let options = match map.get("now") {
            None | Some(Value::Null) => FilterOptions::new(),
            Some(Value::String(now)) => FilterOptions::new().with_now_rfc3339(now)?,
            Some(other) => {
                return Err(Error::invalid_input(format!(
                    "`now` must be an RFC 3339 string, not {}",
                    kind_of(other)
                )));
            }
        };
        Ok(Self { schema, options })
    }

    /// Like [`FilterContext::from_value`], from JSON text.
    pub fn from_json(json: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(json).map_err(|e| {
            Error::invalid_input(format!("the filter context is not valid JSON: {e}"))
        })?;
        Self::from_value(&value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_and_their_errors() {
        let context = FilterContext::from_value(&json!(null)).unwrap();
        assert_eq!(context.schema, Schema::customers());
        assert_eq!(context.options.now(), None);
        let context = FilterContext::from_json(
            r#"{"schema": {"fields": [{"name": "id", "type": "string", "sortable": true}]},
                "now": "2025-01-01T10:00:00+02:00"}"#,
        )
        .unwrap();
        assert_eq!(context.schema.fields().len(), 1);
        assert_eq!(
            context.options.now().map(|t| t.to_string()).as_deref(),
            Some("2025-01-01T08:00:00Z")
        );
        let code = |v: Value| FilterContext::from_value(&v).unwrap_err().kind().clone();
        assert!(matches!(
            code(json!({"schema": {"fields": [{"name": "x y", "type": "string"}]}})),
            ErrorKind::InvalidSchema { path, .. } if path == "/schema/fields/0/name"
        ));
        assert_eq!(code(json!({"now": 5})).code(), "invalidInput");
        assert_eq!(code(json!({"now": "soon"})).code(), "invalidInput");
        assert!(code(json!({"nwo": "x"})).to_string().contains("`nwo`"));
        assert_eq!(code(json!([])).code(), "invalidInput");
        assert_eq!(
            FilterContext::from_json("{").unwrap_err().kind().code(),
            "invalidInput"
        );
    }
}
