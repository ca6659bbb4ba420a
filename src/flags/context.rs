//! The evaluation context: who is asking, in Unleash's shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::json::kind_of;
use crate::time::Timestamp;

/// The facts a flag decision may depend on, as the Unleash SDKs define them.
///
/// Build it with the setters, or read it from JSON (`{"userId": "42", "properties": {...}}`).
/// In JSON, values may be strings, numbers or booleans (numbers and booleans are kept as their
/// JSON text) and `null` means absent; any top-level field that is not one of the standard ones is
/// a custom property, as in the Unleash SDKs. `currentTime` must be an RFC 3339 instant.
///
/// ```
/// use smsbatch::flags::Context;
///
/// let ctx = Context::new().user_id("42").property("plan", "pro");
/// let same: Context = serde_json::from_str(r#"{"userId": 42, "plan": "pro"}"#)?;
/// assert_eq!(ctx, same);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// `userId`: the default stickiness, and what `userWithId` lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `sessionId`: the fallback stickiness when there is no user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// `remoteAddress`: the caller's IP address (for `remoteAddress` and `IN_CIDR`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<String>,
    /// `environment`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// `appName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_name: Option<String>,
    /// `currentTime`: the instant date constraints compare; when absent they use the `now` of the
    /// [`Env`](super::Env).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_time"
    )]
    pub current_time: Option<Timestamp>,
    /// Custom fields (`properties` in Unleash).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `userId`.
    pub fn user_id(mut self, value: impl Into<String>) -> Self {
        self.user_id = Some(value.into());
        self
    }

    /// Sets `sessionId`.
    pub fn session_id(mut self, value: impl Into<String>) -> Self {
        self.session_id = Some(value.into());
        self
    }

    /// Sets `remoteAddress`.
    pub fn remote_address(mut self, value: impl Into<String>) -> Self {
        self.remote_address = Some(value.into());
        self
    }

    /// Sets `environment`.
    pub fn environment(mut self, value: impl Into<String>) -> Self {
        self.environment = Some(value.into());
        self
    }

    /// Sets `appName`.
    pub fn app_name(mut self, value: impl Into<String>) -> Self {
        self.app_name = Some(value.into());
        self
    }

    /// Sets `currentTime`.
    pub fn current_time(mut self, value: Timestamp) -> Self {
        self.current_time = Some(value);
        self
    }

    /// Sets the custom property `name`.
    pub fn property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(name.into(), value.into());
        self
    }

    /// Reads a context from a JSON value (the shape described on [`Context`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidFlagContext`] when the value is not an object, a field holds an object
    /// or an array, or `currentTime` is not an RFC 3339 instant.
    pub fn from_value(value: Value) -> Result<Self> {
        match value {
            Value::Object(map) => Self::from_map(map),
            Value::Null => Ok(Self::default()),
            other => Err(invalid(format!(
                "the context must be a JSON object, not {}",
                kind_of(&other)
            ))),
        }
    }

    fn from_map(map: Map<String, Value>) -> Result<Self> {
        let mut ctx = Self::default();
        let mut custom = BTreeMap::new();
        for (key, value) in map {
            match key.as_str() {
                "userId" => ctx.user_id = scalar(&key, value)?,
                "sessionId" => ctx.session_id = scalar(&key, value)?,
                "remoteAddress" => ctx.remote_address = scalar(&key, value)?,
                "environment" => ctx.environment = scalar(&key, value)?,
                "appName" => ctx.app_name = scalar(&key, value)?,
                "currentTime" => {
                    ctx.current_time = match value {
                        Value::Null => None,
                        Value::String(text) => Some(
                            Timestamp::parse_rfc3339(&text)
                                .map(|(t, _)| t)
                                .map_err(|e| {
                                    invalid(format!(
                                        "currentTime {text:?} is not an RFC 3339 instant: {e}"
                                    ))
                                })?,
                        ),
                        other => {
                            return Err(invalid(format!(
                                "currentTime must be an RFC 3339 string, not {}",
                                kind_of(&other)
                            )));
                        }
                    }
                }
                "properties" => match value {
                    Value::Null => {}
                    Value::Object(props) => {
                        for (name, value) in props {
                            let path = format!("properties.{name}");
                            if let Some(text) = scalar(&path, value)? {
                                ctx.properties.insert(name, text);
                            }
                        }
                    }
                    other => {
                        return Err(invalid(format!(
                            "properties must be an object, not {}",
                            kind_of(&other)
                        )));
                    }
                },
                _ => {
                    if let Some(text) = scalar(&key, value)? {
                        custom.insert(key, text);
                    }
                }
            }
        }
        // An explicit `properties` entry wins over a top-level custom field of the same name.
        for (name, text) in custom {
            ctx.properties.entry(name).or_insert(text);
        }
        Ok(ctx)
    }
}

impl<'de> Deserialize<'de> for Context {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Self::from_value(value).map_err(serde::de::Error::custom)
    }
}

fn serialize_time<S: serde::Serializer>(
    time: &Option<Timestamp>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match time {
        Some(t) => s.collect_str(t),
        None => s.serialize_none(),
    }
}

fn scalar(path: &str, value: Value) -> Result<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(invalid(format!(
            "context field {path} must be a string, a number or a boolean, not {}",
            kind_of(&other)
        ))),
    }
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidFlagContext { message })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_unleash_shape() {
        let ctx = Context::from_value(json!({
            "userId": "123", "sessionId": 7, "remoteAddress": "127.0.0.1",
            "environment": "prod", "appName": "web", "currentTime": "2022-01-22T13:00:00.000+02:00",
            "properties": {"plan": "pro", "seats": 3, "beta": true, "gone": null},
            "tenant": "acme"
        }))
        .unwrap();
        assert_eq!(ctx.session_id.as_deref(), Some("7"));
        assert_eq!(ctx.properties["seats"], "3");
        assert_eq!(ctx.properties["beta"], "true");
        assert_eq!(ctx.properties["tenant"], "acme");
        assert!(!ctx.properties.contains_key("gone"));
        assert_eq!(
            ctx.current_time.unwrap(),
            "2022-01-22T11:00:00Z".parse::<Timestamp>().unwrap()
        );
        let back = serde_json::to_value(&ctx).unwrap();
        assert_eq!(back["currentTime"], json!("2022-01-22T11:00:00Z"));
        assert_eq!(Context::from_value(back).unwrap(), ctx);
    }

    #[test]
    fn explicit_properties_win_over_top_level_custom_fields() {
        let ctx = Context::from_value(json!({"plan": "a", "properties": {"plan": "b"}})).unwrap();
        assert_eq!(ctx.properties["plan"], "b");
    }

    #[test]
    fn bad_shapes_are_errors_that_name_the_field() {
        for (value, needle) in [
            (json!([1]), "must be a JSON object"),
            (json!({"userId": {"id": 1}}), "userId"),
            (json!({"properties": {"tags": ["a"]}}), "properties.tags"),
            (json!({"properties": "x"}), "properties must be an object"),
            (
                json!({"currentTime": "yesterday"}),
                "currentTime \"yesterday\"",
            ),
            (json!({"currentTime": 5}), "currentTime must be"),
        ] {
            let err = Context::from_value(value).unwrap_err();
            assert_eq!(err.kind().code(), "invalidFlagContext");
            assert!(err.to_string().contains(needle), "{err}");
        }
        assert_eq!(Context::from_value(Value::Null).unwrap(), Context::new());
    }
}
