//! The Unleash client-API state (`GET /api/client/features`), loaded as is.
//!
//! Field names follow Unleash's JSON (camelCase). Fields that do not affect evaluation and that we
//! do not store (`query`, `meta`, `createdAt`, `lastSeenAt`...) are ignored on input. Values that
//! Unleash sends as strings (strategy parameters, constraint values, payload values) are also
//! accepted as JSON numbers or booleans, which hand-written states often use, and kept as their
//! JSON text.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// A whole flag state: features and the global segments their strategies refer to.
///
/// ```
/// use smsbatch::flags::State;
///
/// let state = State::from_json(r#"{
///     "version": 2,
///     "features": [{"name": "new-batch-ui", "enabled": true,
///                   "strategies": [{"name": "flexibleRollout",
///                                   "parameters": {"rollout": "20", "stickiness": "default"}}]}]
/// }"#)?;
/// assert_eq!(state.features[0].strategies[0].parameters["rollout"], "20");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// Format version (1, or 2 when global segments are used).
    #[serde(default = "default_version")]
    pub version: u32,
    /// The feature flags. Required: a document without `features` is not an Unleash state (a
    /// misspelt key or a wrapper object), and reading it as "no flags" would turn every flag off,
    /// kill switches included, without a word.
    #[serde(deserialize_with = "null_as_default")]
    pub features: Vec<Feature>,
    /// Global segments: named constraint lists that strategies refer to by id.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub segments: Vec<Segment>,
}

fn default_version() -> u32 {
    1
}

impl Default for State {
    fn default() -> Self {
        Self {
            version: default_version(),
            features: Vec::new(),
            segments: Vec::new(),
        }
    }
}

impl State {
    /// Parses a client-API state document.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidFlagState`] when the text is not JSON or does not have the shape of a
    /// state (the message gives the line and column). Rules that are well-formed JSON but make no
    /// sense (an unknown operator, a bad regex) are not errors here: the compiler turns them off
    /// with a warning.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| {
            Error::new(ErrorKind::InvalidFlagState {
                message: e.to_string(),
            })
        })
    }

    /// The state as JSON, in Unleash's shape.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs (string keys only) cannot fail; an empty object stands
        // in for the impossible error so that the library never panics.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// One feature flag.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Feature {
    /// The flag's unique name (its key).
    pub name: String,
    /// Unleash's flag type (`release`, `experiment`, `kill-switch`, `operational`, `permission`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub feature_type: Option<String>,
    /// Free text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The Unleash project the flag belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The main switch: when false the flag is off whatever its strategies say.
    #[serde(default, deserialize_with = "null_as_default")]
    pub enabled: bool,
    /// Marked stale in Unleash (informational).
    #[serde(default, deserialize_with = "null_as_default")]
    pub stale: bool,
    /// Whether SDKs should emit impression events (informational).
    #[serde(default, deserialize_with = "null_as_default")]
    pub impression_data: bool,
    /// Activation strategies, OR-ed together; no strategy at all means on.
    #[serde(default, deserialize_with = "null_as_default")]
    pub strategies: Vec<Strategy>,
    /// Flag-level variants, used when the matching strategy has none of its own.
    #[serde(default, deserialize_with = "null_as_default")]
    pub variants: Vec<VariantDefinition>,
    /// Parent flags this flag depends on.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dependencies: Vec<Dependency>,
}

/// An activation strategy: a rule (by name, with parameters) AND its constraints AND its segments.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Strategy {
    /// `default`, `userWithId`, `gradualRolloutUserId`, `gradualRolloutSessionId`,
    /// `gradualRolloutRandom`, `flexibleRollout`, `remoteAddress`; any other name is off.
    pub name: String,
    /// Position in Unleash's UI (strategies are evaluated in array order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<i64>,
    /// Ids of global segments whose constraints also apply.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub segments: Vec<i64>,
    /// Constraints, AND-ed together.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub constraints: Vec<Constraint>,
    /// The strategy's parameters (`rollout`, `stickiness`, `groupId`, `userIds`, `percentage`,
    /// `IPs`...), strings as Unleash sends them.
    #[serde(
        default,
        deserialize_with = "lenient_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub parameters: BTreeMap<String, String>,
    /// Strategy variants: when this strategy is the one that matched, they replace the flag's.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub variants: Vec<VariantDefinition>,
}

/// A test of one context field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Constraint {
    /// The context field: `userId`, `sessionId`, `remoteAddress`, `environment`, `appName`,
    /// `currentTime`, or the name of a custom property.
    pub context_name: String,
    /// The comparison.
    pub operator: Operator,
    /// Operands of the list operators (`IN`, `NOT_IN`, `STR_*`, `IN_CIDR`).
    #[serde(
        default,
        deserialize_with = "lenient_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub values: Vec<String>,
    /// Operand of the single-value operators (`NUM_*`, `DATE_*`, `SEMVER_*`, `REGEX`).
    #[serde(
        default,
        deserialize_with = "lenient_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<String>,
    /// Negates the result (a missing field is "false" before negation, so `true` after).
    #[serde(default, deserialize_with = "null_as_default")]
    pub inverted: bool,
    /// Compare ignoring case (`STR_*` with Unicode lowercase; `REGEX` with ASCII case folding, see
    /// [`Operator::Regex`]).
    #[serde(default, deserialize_with = "null_as_default")]
    pub case_insensitive: bool,
}

/// A constraint operator. Unknown names are kept (so a state round-trips) and compile to "off".
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operator {
    /// `IN`: the value is one of `values`.
    In,
    /// `NOT_IN`: the value is none of `values` (a missing value is not in the list).
    NotIn,
    /// `STR_STARTS_WITH`: starts with one of `values`.
    StrStartsWith,
    /// `STR_ENDS_WITH`: ends with one of `values`.
    StrEndsWith,
    /// `STR_CONTAINS`: contains one of `values`.
    StrContains,
    /// `NUM_EQ`: numerically equal to `value`.
    NumEq,
    /// `NUM_GT`: greater than `value`.
    NumGt,
    /// `NUM_GTE`: greater than or equal to `value`.
    NumGte,
    /// `NUM_LT`: less than `value`.
    NumLt,
    /// `NUM_LTE`: less than or equal to `value`.
    NumLte,
    /// `DATE_AFTER`: strictly after the RFC 3339 instant `value`.
    DateAfter,
    /// `DATE_BEFORE`: strictly before the RFC 3339 instant `value`.
    DateBefore,
    /// `SEMVER_EQ`: equal SemVer 2.0 precedence.
    SemverEq,
    /// `SEMVER_GT`: greater SemVer precedence.
    SemverGt,
    /// `SEMVER_GTE`: greater or equal SemVer precedence.
    SemverGte,
    /// `SEMVER_LT`: lower SemVer precedence.
    SemverLt,
    /// `SEMVER_LTE`: lower or equal SemVer precedence.
    SemverLte,
    /// `REGEX`: the regular expression `value` matches somewhere in the value (anchor it with
    /// `^...$` to match the whole value).
    ///
    /// The syntax is the `regex` crate's (which Unleash's own Rust engine uses), run by
    /// `regex-lite` to keep the WebAssembly package small. It passes every test of the Unleash
    /// client specification, and differs from `regex` only where Unicode tables would be needed:
    ///
    /// - `\d`, `\w`, `\s` and `\b` are ASCII (`\d` is `[0-9]`, `\w` is `[0-9A-Za-z_]`), as in
    ///   JavaScript regexes and so in Unleash's Node SDK. With `regex`, `\d` also matched `٣`,
    ///   `\w` matched `é`, and `\bcafé\b` matched inside `"un café noir"`; here they do not.
    /// - Case-insensitive matching (`caseInsensitive`, or `(?i)` in the pattern) folds ASCII
    ///   letters only: `(?i)beta` matches `BETA`, but `(?i)é` does not match `É`, nor `(?i)k` the
    ///   Kelvin sign.
    /// - Class intersection, difference and symmetric difference (`[a-z&&[^aeiou]]`, `--`, `~~`)
    ///   are not supported. Such a pattern is an invalid regex, so its strategy is off with a
    ///   [`Warning`](super::Warning), as are Unicode classes (`\p{L}`), look-around and
    ///   backreferences, which the previous `regex` build rejected too.
    ///
    /// Everything else behaves as before: `.` and `[^...]` match whole characters, `(?i)`,
    /// `(?m)`, `(?s)`, `[[:alpha:]]`, lazy and counted repetition, and the compiled-size limit of
    /// [`Config::regex_size_limit`](super::Config::regex_size_limit).
    ///
    /// **Warning:** a value longer than
    /// [`Config::regex_input_limit`](super::Config::regex_input_limit) (1 KiB by default) is not
    /// run through the pattern (matching costs the pattern's size times the value's length, and
    /// context values come from callers): the constraint fails, **whether it is `inverted` or
    /// not**. This departs from Unleash's rule that inversion applies to a constraint's result
    /// (where a missing value is "no match", so an inverted constraint holds): an inverted
    /// pattern is often a deny list (`userId` not matching `^blocked-`), which a long value must
    /// not get past.
    Regex,
    /// `IN_CIDR`: the value is an IP address inside one of the addresses or CIDR blocks `values`.
    InCidr,
    /// Any other name, kept verbatim.
    Unknown(String),
}

impl Operator {
    /// Every operator of the Unleash client specification (all but [`Operator::Unknown`]).
    pub const KNOWN: [Operator; 19] = [
        Self::In,
        Self::NotIn,
        Self::StrStartsWith,
        Self::StrEndsWith,
        Self::StrContains,
        Self::NumEq,
        Self::NumGt,
        Self::NumGte,
        Self::NumLt,
        Self::NumLte,
        Self::DateAfter,
        Self::DateBefore,
        Self::SemverEq,
        Self::SemverGt,
        Self::SemverGte,
        Self::SemverLt,
        Self::SemverLte,
        Self::Regex,
        Self::InCidr,
    ];

    /// Unleash's name for the operator.
    pub fn as_str(&self) -> &str {
        match self {
            Self::In => "IN",
            Self::NotIn => "NOT_IN",
            Self::StrStartsWith => "STR_STARTS_WITH",
            Self::StrEndsWith => "STR_ENDS_WITH",
            Self::StrContains => "STR_CONTAINS",
            Self::NumEq => "NUM_EQ",
            Self::NumGt => "NUM_GT",
            Self::NumGte => "NUM_GTE",
            Self::NumLt => "NUM_LT",
            Self::NumLte => "NUM_LTE",
            Self::DateAfter => "DATE_AFTER",
            Self::DateBefore => "DATE_BEFORE",
            Self::SemverEq => "SEMVER_EQ",
            Self::SemverGt => "SEMVER_GT",
            Self::SemverGte => "SEMVER_GTE",
            Self::SemverLt => "SEMVER_LT",
            Self::SemverLte => "SEMVER_LTE",
            Self::Regex => "REGEX",
            Self::InCidr => "IN_CIDR",
            Self::Unknown(name) => name,
        }
    }

    /// The operator named `name` (exact, upper case as Unleash writes it), or [`Operator::Unknown`].
    pub fn from_name(name: &str) -> Self {
        match name {
            "IN" => Self::In,
            "NOT_IN" => Self::NotIn,
            "STR_STARTS_WITH" => Self::StrStartsWith,
            "STR_ENDS_WITH" => Self::StrEndsWith,
            "STR_CONTAINS" => Self::StrContains,
            "NUM_EQ" => Self::NumEq,
            "NUM_GT" => Self::NumGt,
            "NUM_GTE" => Self::NumGte,
            "NUM_LT" => Self::NumLt,
            "NUM_LTE" => Self::NumLte,
            "DATE_AFTER" => Self::DateAfter,
            "DATE_BEFORE" => Self::DateBefore,
            "SEMVER_EQ" => Self::SemverEq,
            "SEMVER_GT" => Self::SemverGt,
            "SEMVER_GTE" => Self::SemverGte,
            "SEMVER_LT" => Self::SemverLt,
            "SEMVER_LTE" => Self::SemverLte,
            "REGEX" => Self::Regex,
            "IN_CIDR" => Self::InCidr,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Operator {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Operator {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Self::from_name(&name))
    }
}

/// A global segment: constraints shared by several strategies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Segment {
    /// The id strategies refer to.
    pub id: i64,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Constraints, AND-ed with the strategy's own.
    #[serde(default, deserialize_with = "null_as_default")]
    pub constraints: Vec<Constraint>,
}

/// A variant as defined on a flag or a strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantDefinition {
    /// The variant's name, what evaluation returns.
    pub name: String,
    /// Relative weight (Unleash uses a total of 1000 for flag variants).
    #[serde(default)]
    pub weight: i64,
    /// `variable` or `fix` (how Unleash's UI distributes weights; informational here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_type: Option<String>,
    /// Stickiness of the split (only the first variant's counts, as in every SDK).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stickiness: Option<String>,
    /// Data handed out with the variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    /// Context values that force this variant whatever the split says.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub overrides: Vec<Override>,
}

/// A variant's payload: a type tag (`string`, `json`, `csv`, `number`) and the text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// The type tag.
    #[serde(rename = "type")]
    pub payload_type: String,
    /// The payload itself, always a string as Unleash sends it.
    #[serde(deserialize_with = "lenient_string")]
    pub value: String,
}

/// Forces a variant for listed values of a context field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Override {
    /// The context field.
    pub context_name: String,
    /// Values that select the variant.
    #[serde(default, deserialize_with = "lenient_list")]
    pub values: Vec<String>,
}

/// A dependency on a parent flag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    /// The parent flag's name.
    pub feature: String,
    /// Whether the parent must be on (the default) or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// When the parent must be on: the parent's variant must be one of these (empty: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<String>>,
}

/// `null` reads as the type's default (Unleash sends `"variants": null` and the like).
fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A string, or a number or boolean kept as its JSON text.
struct Lenient(String);

impl<'de> Deserialize<'de> for Lenient {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Lenient;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number or a boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Lenient, E> {
                Ok(Lenient(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Lenient, E> {
                Ok(Lenient(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Lenient, E> {
                Ok(Lenient(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Lenient, E> {
                Ok(Lenient(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Lenient, E> {
                Ok(Lenient(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Lenient, E> {
                // serde_json's own number text, so `1.5` stays `1.5`.
                Ok(Lenient(
                    serde_json::Number::from_f64(v)
                        .map_or_else(|| v.to_string(), |n| n.to_string()),
                ))
            }
        }
        d.deserialize_any(V)
    }
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(Lenient::deserialize(d)?.0)
}

fn lenient_option<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    Ok(Option::<Lenient>::deserialize(d)?.map(|l| l.0))
}

fn lenient_list<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    let list = Option::<Vec<Lenient>>::deserialize(d)?.unwrap_or_default();
    Ok(list.into_iter().map(|l| l.0).collect())
}

/// A map of lenient values; `null` is an empty map. Entries go straight into the result (a later
/// duplicate key wins, as with `BTreeMap`'s own `Deserialize`): going through a
/// `BTreeMap<String, Lenient>` and collecting cost a second map type and a sort in the
/// WebAssembly build.
fn lenient_map<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map")
        }
        fn visit_none<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
        fn visit_some<D2: Deserializer<'de>>(
            self,
            d: D2,
        ) -> std::result::Result<Self::Value, D2::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: de::MapAccess<'de>>(
            self,
            mut access: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut map = BTreeMap::new();
            while let Some((key, value)) = access.next_entry::<String, Lenient>()? {
                map.insert(key, value.0);
            }
            Ok(map)
        }
    }
    d.deserialize_option(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_parameters_are_lenient() {
        let params = |json: &str| {
            let text = format!(
                r#"{{"features": [{{"name": "f", "strategies": [{{"name": "default", "parameters": {json}}}]}}]}}"#
            );
            State::from_json(&text).map(|s| s.features[0].strategies[0].parameters.clone())
        };
        assert!(params("null").unwrap().is_empty());
        let map = params(r#"{"b": 1.5, "a": true, "b": "later"}"#).unwrap();
        assert_eq!(
            map.into_iter().collect::<Vec<_>>(),
            [("a".into(), "true".into()), ("b".into(), "later".into())]
        );
        let err = params(r#"["rollout"]"#).unwrap_err().to_string();
        assert!(err.contains("expected a map"), "{err}");
        assert!(params(r#"{"a": [1]}"#).is_err());
    }

    #[test]
    fn loads_every_part_of_a_client_state() {
        let state = State::from_json(
            r#"{
              "version": 2,
              "query": {"project": ["default"]},
              "features": [{
                "name": "f", "type": "release", "enabled": true, "impressionData": null,
                "strategies": [{
                  "name": "flexibleRollout", "sortOrder": 1, "segments": [7],
                  "parameters": {"rollout": 25, "stickiness": "userId", "groupId": "g"},
                  "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro", 3]},
                                  {"contextName": "age", "operator": "NUM_GT", "value": 17.5,
                                   "inverted": true, "caseInsensitive": false}],
                  "variants": [{"name": "a", "weight": 1, "stickiness": "userId"}]
                }],
                "variants": [{"name": "v", "weight": 1000, "weightType": "variable",
                              "payload": {"type": "number", "value": 2},
                              "overrides": [{"contextName": "userId", "values": ["1"]}]}],
                "dependencies": [{"feature": "p", "enabled": false, "variants": ["x"]}]
              }],
              "segments": [{"id": 7, "name": "beta", "constraints": []}]
            }"#,
        )
        .unwrap();
        let f = &state.features[0];
        assert!(!f.impression_data);
        let s = &f.strategies[0];
        assert_eq!(s.parameters["rollout"], "25");
        assert_eq!(s.constraints[0].values, ["pro", "3"]);
        assert_eq!(s.constraints[1].value.as_deref(), Some("17.5"));
        assert_eq!(s.constraints[1].operator, Operator::NumGt);
        assert_eq!(f.variants[0].payload.as_ref().unwrap().value, "2");
        assert_eq!(f.dependencies[0].enabled, Some(false));
        assert_eq!(state.segments[0].id, 7);

        // Round trip through our own JSON.
        assert_eq!(State::from_json(&state.to_json()).unwrap(), state);
    }

    #[test]
    fn unknown_operators_are_kept() {
        let c: Constraint = serde_json::from_str(
            r#"{"contextName": "x", "operator": "SOUNDS_LIKE", "values": []}"#,
        )
        .unwrap();
        assert_eq!(c.operator, Operator::Unknown("SOUNDS_LIKE".into()));
        assert_eq!(
            serde_json::to_value(&c).unwrap()["operator"],
            serde_json::json!("SOUNDS_LIKE")
        );
    }

    #[test]
    fn every_operator_name_round_trips() {
        for op in Operator::KNOWN {
            let name = op.as_str();
            assert_eq!(Operator::from_name(name), op, "{name}");
        }
        // The names are distinct and upper snake case, as Unleash writes them.
        let names: std::collections::BTreeSet<&str> =
            Operator::KNOWN.iter().map(Operator::as_str).collect();
        assert_eq!(names.len(), Operator::KNOWN.len());
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        );
        assert!(matches!(Operator::from_name("in"), Operator::Unknown(_)));
    }

    #[test]
    fn structural_errors_name_the_place() {
        let err =
            State::from_json(r#"{"features": [{"name": "f", "strategies": "oops"}]}"#).unwrap_err();
        assert_eq!(err.kind().code(), "invalidFlagState");
        assert!(err.to_string().contains("line 1"), "{err}");
        let err = State::from_json(r#"{"features": [{"enabled": true}]}"#).unwrap_err();
        assert!(err.to_string().contains("name"), "{err}");
    }

    /// Regression: a document without `features` (a typo, or a whole specification file instead
    /// of its `state`) loaded as an empty state, so every flag, kill switches included, read off.
    #[test]
    fn a_state_needs_its_features() {
        for json in [
            r#"{"featurs": []}"#,
            r#"{"name": "spec", "state": {"features": []}, "tests": []}"#,
            "{}",
        ] {
            let err = State::from_json(json).unwrap_err();
            assert_eq!(err.kind().code(), "invalidFlagState");
            assert!(
                err.to_string().contains("missing field `features`"),
                "{err}"
            );
        }
        // `null` is Unleash's "no flags", and extra keys (`query`, `meta`) are ignored.
        let state =
            State::from_json(r#"{"version": 2, "features": null, "query": {}, "meta": {}}"#)
                .unwrap();
        assert!(state.features.is_empty());
    }
}
