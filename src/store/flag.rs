//! Feature flags: rows of the `sms_feature_flags` and `sms_feature_flag_segments` tables, their
//! conversion to and from the Unleash state, and the repository trait.
//!
//! The serde field names are the column names (snake case, an outside format: what PostgREST
//! returns for these tables). Rule columns are `jsonb` holding Unleash's JSON verbatim, so a row
//! converts to a [`Feature`] and back without loss.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::bundle::Changes;
use crate::error::{Error, ErrorKind, Result};
use crate::flags::{Feature, Segment, State};
use crate::time::Timestamp;

/// One row of `sms_feature_flags`, one flag.
///
/// The table (created by the `0001_init` migration) also has `created_at` and `updated_at`.
///
/// ```
/// use smsbatch::flags::Feature;
/// use smsbatch::store::FlagRow;
///
/// let feature: Feature = serde_json::from_str(r#"{"name": "batch-v2", "enabled": true,
///     "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "20"}}]}"#)?;
/// let row = FlagRow::from_feature(&feature)?;
/// assert_eq!(row.strategies[0]["parameters"]["rollout"], "20");
/// assert_eq!(row.to_feature()?, feature);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlagRow {
    /// `name`: the flag key, primary key.
    pub name: String,
    /// `description`.
    #[serde(default)]
    pub description: Option<String>,
    /// `enabled`: the main switch.
    #[serde(default)]
    pub enabled: bool,
    /// `flag_type`: Unleash's `type` (`release`, `kill-switch`...).
    #[serde(default)]
    pub flag_type: Option<String>,
    /// `project`.
    #[serde(default)]
    pub project: Option<String>,
    /// `stale`.
    #[serde(default)]
    pub stale: bool,
    /// `impression_data`.
    #[serde(default)]
    pub impression_data: bool,
    /// `strategies` (jsonb array).
    #[serde(default = "empty_array")]
    pub strategies: Value,
    /// `variants` (jsonb array).
    #[serde(default = "empty_array")]
    pub variants: Value,
    /// `dependencies` (jsonb array).
    #[serde(default = "empty_array")]
    pub dependencies: Value,
}

fn empty_array() -> Value {
    Value::Array(Vec::new())
}

impl FlagRow {
    /// The row a store writes for a flag that was evaluated before it existed: off, no rules.
    ///
    /// ```
    /// use smsbatch::store::FlagRow;
    ///
    /// let row = FlagRow::off("new-flag");
    /// assert!(!row.enabled);
    /// assert!(!row.to_feature()?.enabled);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn off(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: None,
            enabled: false,
            flag_type: None,
            project: None,
            stale: false,
            impression_data: false,
            strategies: empty_array(),
            variants: empty_array(),
            dependencies: empty_array(),
        }
    }

    /// The row holding `feature`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidFlagRow`] if a rule cannot be turned into JSON, which our own types
    /// never cause; the error exists so that this never panics.
    pub fn from_feature(feature: &Feature) -> Result<Self> {
        let json = |what: &str, value: Result<Value, serde_json::Error>| {
            value.map_err(|e| row_error(&feature.name, format!("{what}: {e}")))
        };
        Ok(Self {
            name: feature.name.clone(),
            description: feature.description.clone(),
            enabled: feature.enabled,
            flag_type: feature.feature_type.clone(),
            project: feature.project.clone(),
            stale: feature.stale,
            impression_data: feature.impression_data,
            strategies: json("strategies", serde_json::to_value(&feature.strategies))?,
            variants: json("variants", serde_json::to_value(&feature.variants))?,
            dependencies: json("dependencies", serde_json::to_value(&feature.dependencies))?,
        })
    }

    /// The flag this row holds.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidFlagRow`] naming the flag and the column when a jsonb column does not
    /// hold what Unleash would (SQL `null` reads as an empty list).
    pub fn to_feature(&self) -> Result<Feature> {
        Ok(Feature {
            name: self.name.clone(),
            feature_type: self.flag_type.clone(),
            description: self.description.clone(),
            project: self.project.clone(),
            enabled: self.enabled,
            stale: self.stale,
            impression_data: self.impression_data,
            strategies: column(&self.name, "strategies", &self.strategies)?,
            variants: column(&self.name, "variants", &self.variants)?,
            dependencies: column(&self.name, "dependencies", &self.dependencies)?,
        })
    }
}

/// One row of `sms_feature_flag_segments`, one global segment (`id`, `name`, `constraints`,
/// plus `created_at` and `updated_at` in the table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentRow {
    /// `id`: what strategies refer to.
    pub id: i64,
    /// `name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `constraints` (jsonb array).
    #[serde(default = "empty_array")]
    pub constraints: Value,
}

impl SegmentRow {
    /// The row holding `segment`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidFlagRow`] if the constraints cannot be turned into JSON (never for our
    /// own types).
    pub fn from_segment(segment: &Segment) -> Result<Self> {
        Ok(Self {
            id: segment.id,
            name: segment.name.clone(),
            constraints: serde_json::to_value(&segment.constraints)
                .map_err(|e| row_error(&segment_label(segment.id), format!("constraints: {e}")))?,
        })
    }

    /// The segment this row holds.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidFlagRow`] when `constraints` does not hold a list of Unleash constraints.
    pub fn to_segment(&self) -> Result<Segment> {
        Ok(Segment {
            id: self.id,
            name: self.name.clone(),
            constraints: column(&segment_label(self.id), "constraints", &self.constraints)?,
        })
    }
}

impl State {
    /// The rows that store this state: one per flag, one per segment.
    ///
    /// # Errors
    ///
    /// See [`FlagRow::from_feature`].
    pub fn to_rows(&self) -> Result<(Vec<FlagRow>, Vec<SegmentRow>)> {
        let flags = self
            .features
            .iter()
            .map(FlagRow::from_feature)
            .collect::<Result<_>>()?;
        let segments = self
            .segments
            .iter()
            .map(SegmentRow::from_segment)
            .collect::<Result<_>>()?;
        Ok((flags, segments))
    }

    /// The state stored in these rows (version 2 when there are segments, else 1).
    ///
    /// # Errors
    ///
    /// The first row that does not hold valid Unleash JSON, as [`ErrorKind::InvalidFlagRow`].
    pub fn from_rows(flags: &[FlagRow], segments: &[SegmentRow]) -> Result<Self> {
        Ok(Self {
            version: if segments.is_empty() { 1 } else { 2 },
            features: flags
                .iter()
                .map(FlagRow::to_feature)
                .collect::<Result<_>>()?,
            segments: segments
                .iter()
                .map(SegmentRow::to_segment)
                .collect::<Result<_>>()?,
        })
    }
}

fn segment_label(id: i64) -> String {
    format!("segment {id}")
}

fn column<T: serde::de::DeserializeOwned + Default>(
    name: &str,
    column: &str,
    value: &Value,
) -> Result<T> {
    if value.is_null() {
        return Ok(T::default());
    }
    T::deserialize(value).map_err(|e| row_error(name, format!("column {column}: {e}")))
}

fn row_error(name: &str, message: String) -> Error {
    Error::new(ErrorKind::InvalidFlagRow {
        name: name.to_owned(),
        message,
    })
}

/// What [`FlagStore::import`] changed (JSON: `{"flags": {...}, "segments": {...}}`, segment ids
/// as text).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagChanges {
    /// The flags, by name.
    pub flags: Changes,
    /// The segments, by id.
    pub segments: Changes,
}

/// The `sms_feature_flags` and `sms_feature_flag_segments` tables. Users may read them and
/// [`FlagStore::ensure`] missing flags; only the service changes flags.
#[async_trait]
pub trait FlagStore: Send + Sync {
    /// The whole flag state (flags by name, segments by id), ready for
    /// [`Engine::compile`](crate::flags::Engine::compile).
    async fn load(&self) -> Result<State>;

    /// The flag called `name`.
    async fn get(&self, name: &str) -> Result<Option<FlagRow>>;

    /// Creates or replaces every flag and segment of an Unleash state (flags and segments not in
    /// it are left alone).
    async fn import(&self, state: &State, now: Timestamp) -> Result<FlagChanges>;

    /// Creates or replaces flags.
    async fn upsert(&self, flags: &[FlagRow], now: Timestamp) -> Result<Changes>;

    /// Switches a flag on or off (a kill switch, say). [`ErrorKind::NotFound`] if there is none.
    async fn set_enabled(&self, name: &str, enabled: bool, now: Timestamp) -> Result<()>;

    /// Creates, off and without rules ([`FlagRow::off`]), the named flags that do not exist:
    /// what a store does for flags evaluated before they existed. Returns the names it created.
    async fn ensure(&self, names: &[String], now: Timestamp) -> Result<Vec<String>>;

    /// Deletes a flag; `false` if there was none.
    async fn delete(&self, name: &str) -> Result<bool>;
}

/// What every store checks before writing flags.
pub(crate) fn check_flag_rows(rows: &[FlagRow]) -> Result<()> {
    for row in rows {
        if row.name.trim().is_empty() {
            return Err(row_error("", "a flag needs a name".into()));
        }
        super::customer::check_text(&row.name, "/name")
            .map_err(|e| row_error(&row.name, e.to_string()))?;
        // Refuse a row whose rules would not load back.
        row.to_feature()?;
        let text = serde_json::to_string(row).map_err(|e| row_error(&row.name, e.to_string()))?;
        if text.contains("\\u0000") {
            return Err(row_error(
                &row.name,
                "contains a NUL character, which PostgreSQL cannot store".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STATE: &str = r#"{"version": 2,
      "features": [
        {"name": "a", "type": "kill-switch", "description": "stop sending", "project": "sms",
         "enabled": true, "stale": true, "impressionData": true,
         "strategies": [{"name": "default", "segments": [1],
                         "constraints": [{"contextName": "environment", "operator": "IN", "values": ["prod"]}]}],
         "variants": [{"name": "v", "weight": 1000, "stickiness": "default",
                       "payload": {"type": "json", "value": "{}"},
                       "overrides": [{"contextName": "userId", "values": ["1"]}]}]},
        {"name": "b", "enabled": false, "dependencies": [{"feature": "a", "variants": ["v"]}]}
      ],
      "segments": [{"id": 1, "name": "beta", "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}]}]}"#;

    #[test]
    fn state_round_trips_through_rows() {
        let state = State::from_json(STATE).unwrap();
        let (flags, segments) = state.to_rows().unwrap();
        assert_eq!(flags.len(), 2);
        assert_eq!(flags[0].flag_type.as_deref(), Some("kill-switch"));
        assert!(flags[0].stale && flags[0].impression_data);
        assert_eq!(
            flags[1].dependencies,
            json!([{"feature": "a", "variants": ["v"]}])
        );
        assert_eq!(segments[0].constraints[0]["operator"], "IN");
        assert_eq!(State::from_rows(&flags, &segments).unwrap(), state);

        // And through the column JSON a store would read back.
        let wire = serde_json::to_string(&flags).unwrap();
        assert!(wire.contains("\"impression_data\":true"), "{wire}");
        let back: Vec<FlagRow> = serde_json::from_str(&wire).unwrap();
        assert_eq!(back, flags);
    }

    #[test]
    fn sparse_rows_and_sql_nulls_read_as_defaults() {
        let row: FlagRow =
            serde_json::from_value(json!({"name": "x", "strategies": null})).unwrap();
        assert_eq!(row.strategies, Value::Null);
        let feature = row.to_feature().unwrap();
        assert!(feature.strategies.is_empty() && !feature.enabled);
        assert_eq!(FlagRow::from_feature(&feature).unwrap(), FlagRow::off("x"));
    }

    #[test]
    fn bad_columns_are_errors_naming_flag_and_column() {
        let mut row = FlagRow::off("x");
        row.variants = json!({"not": "a list"});
        let err = row.to_feature().unwrap_err();
        assert_eq!(err.kind().code(), "invalidFlagRow");
        assert!(err.to_string().contains("\"x\""), "{err}");
        assert!(err.to_string().contains("column variants"), "{err}");

        let seg = SegmentRow {
            id: 4,
            name: None,
            constraints: json!([{"operator": "IN"}]),
        };
        let err = seg.to_segment().unwrap_err();
        assert!(err.to_string().contains("segment 4"), "{err}");
        assert!(err.to_string().contains("contextName"), "{err}");
    }
}
