//! State → [`Engine`]: every rule parsed once; a malformed rule becomes "off" plus a [`Warning`].

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use super::eval::Reason;
use super::hash::NameIndex;
use super::number::parse_f64;
use super::rule::{
    Cidr, Cmp, Constraint, Dependency, Field, Flag, Gate, Stickiness, StrSet, Strategy, Test,
    TextOp, VariantDef, VariantSet,
};
use super::state::{self, Feature, Operator, State, VariantDefinition};
use crate::error::Result;
use crate::time::Timestamp;

/// A compiled, immutable flag set: compile once, evaluate many times from any number of threads.
///
/// Compiling never fails: a strategy or constraint that cannot be understood (an unknown operator,
/// a bad regex, a missing segment, an out-of-range percentage, a custom strategy...) makes that
/// strategy always off and adds a [`Warning`]; the other strategies and flags are unaffected.
///
/// ```
/// use smsbatch::Timestamp;
/// use smsbatch::flags::{Context, Engine, Env, SeededRandom};
///
/// let engine = Engine::from_json(r#"{"features": [
///     {"name": "batch-v2", "enabled": true, "strategies": [
///         {"name": "flexibleRollout", "parameters": {"rollout": "100"},
///          "constraints": [{"contextName": "plan", "operator": "SOUNDS_LIKE", "values": []}]},
///         {"name": "userWithId", "parameters": {"userIds": "7, 8"}}]}]}"#)?;
/// assert_eq!(engine.warnings().len(), 1); // the unknown operator: the first strategy is off
///
/// let mut random = SeededRandom::new(1);
/// let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut random);
/// assert!(engine.is_enabled("batch-v2", &Context::new().user_id("8"), &mut env));
/// assert!(!engine.is_enabled("batch-v2", &Context::new().user_id("9"), &mut env));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Engine {
    pub(crate) flags: Box<[Flag]>,
    pub(crate) index: NameIndex,
    pub(crate) warnings: Box<[Warning]>,
}

impl Engine {
    /// Compiles a state with the default [`Config`].
    pub fn compile(state: &State) -> Self {
        Config::new().build(state)
    }

    /// Parses and compiles a client-API state document.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidFlagState`](crate::ErrorKind::InvalidFlagState) when the document is not
    /// a state; see [`State::from_json`].
    pub fn from_json(json: &str) -> Result<Self> {
        Ok(Self::compile(&State::from_json(json)?))
    }

    /// What the compiler turned off, and why.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Number of flags.
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// True when there are no flags.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    /// True when a flag of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.index_of(name).is_some()
    }

    /// The flag names, in state order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.flags.iter().map(|f| &*f.name)
    }

    #[inline]
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.index
            .get(name, |i| self.flags.get(i).map_or("", |f| &*f.name))
    }
}

/// Something the compiler could not use, and what it did instead (always the safe choice: off).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    /// The flag concerned (`None` for a problem in a global segment or the state itself).
    pub flag: Option<String>,
    /// Index of the strategy concerned in the flag's `strategies`.
    pub strategy: Option<usize>,
    /// What is wrong and what was done about it.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(flag) = &self.flag {
            write!(f, "flag {flag:?}")?;
            if let Some(k) = self.strategy {
                write!(f, ", strategies[{k}]")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

/// Compiler settings; [`Config::build`] compiles a state.
///
/// ```
/// use smsbatch::flags::{Config, State};
///
/// let engine = Config::new().regex_size_limit(1 << 16).build(&State::default());
/// assert!(engine.is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    regex_size_limit: usize,
    regex_input_limit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            regex_size_limit: 1 << 18,
            regex_input_limit: Self::DEFAULT_REGEX_INPUT_LIMIT,
        }
    }
}

impl Config {
    /// The default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Largest compiled size of one `REGEX` constraint, in bytes (default 256 KiB). A bigger
    /// pattern is a malformed constraint: its strategy is off, with a warning. Regexes come from
    /// the flag state, so this bounds what a careless or hostile pattern can cost.
    pub fn regex_size_limit(mut self, bytes: usize) -> Self {
        self.regex_size_limit = bytes;
        self
    }

    /// The default of [`regex_input_limit`](Self::regex_input_limit): 1 KiB, several times the
    /// longest user id, session id, address or user agent.
    pub const DEFAULT_REGEX_INPUT_LIMIT: usize = 1024;

    /// Longest context value, in bytes, that a `REGEX` constraint is run on (default 1 KiB);
    /// for a longer value the constraint fails, inverted or not (see
    /// [`Operator::Regex`](super::Operator::Regex)).
    ///
    /// # Warning
    ///
    /// Matching costs the pattern's compiled size times the value's length: `[a-z]{1,2000}b`
    /// against a 1 MB `userId` took 30 seconds for one evaluation. Context values come from
    /// callers (a web request's user id, a header), so they are bounded here; a limit above
    /// the values your application really sends only raises what a hostile one can cost.
    pub fn regex_input_limit(mut self, bytes: usize) -> Self {
        self.regex_input_limit = bytes;
        self
    }

    /// Compiles `state` into an [`Engine`].
    pub fn build(&self, state: &State) -> Engine {
        Compiler {
            config: self,
            warnings: Vec::new(),
        }
        .run(state)
    }
}

struct Compiler<'a> {
    config: &'a Config,
    warnings: Vec<Warning>,
}

/// A compiled segment: its constraints, or why it cannot be used.
type CompiledSegment = std::result::Result<Vec<Constraint>, String>;

impl Compiler<'_> {
    fn warn(&mut self, flag: Option<&str>, strategy: Option<usize>, message: String) -> usize {
        self.warnings.push(Warning {
            flag: flag.map(str::to_owned),
            strategy,
            message,
        });
        self.warnings.len() - 1
    }

    fn run(mut self, state: &State) -> Engine {
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(state.features.len());
        let mut kept: Vec<&Feature> = Vec::with_capacity(state.features.len());
        for feature in &state.features {
            if index.contains_key(feature.name.as_str()) {
                self.warn(
                    Some(&feature.name),
                    None,
                    "defined more than once; the first definition is used".into(),
                );
            } else {
                index.insert(feature.name.as_str(), kept.len());
                kept.push(feature);
            }
        }

        let mut segments: HashMap<i64, CompiledSegment> = HashMap::new();
        for segment in &state.segments {
            if segments.contains_key(&segment.id) {
                self.warn(
                    None,
                    None,
                    format!(
                        "segment {} is defined more than once; the first definition is used",
                        segment.id
                    ),
                );
                continue;
            }
            let mut notes = Vec::new();
            let compiled = segment
                .constraints
                .iter()
                .map(|c| self.constraint(c, &mut notes))
                .collect::<std::result::Result<Vec<_>, _>>();
            for note in notes {
                self.warn(None, None, format!("segment {}: {note}", segment.id));
            }
            segments.insert(segment.id, compiled);
        }

        let flags: Box<[Flag]> = kept
            .iter()
            .map(|feature| self.flag(feature, &index, &kept, &segments))
            .collect();
        Engine {
            index: NameIndex::new(flags.iter().map(|f| &*f.name)),
            flags,
            warnings: self.warnings.into_boxed_slice(),
        }
    }

    fn flag(
        &mut self,
        feature: &Feature,
        index: &HashMap<&str, usize>,
        kept: &[&Feature],
        segments: &HashMap<i64, CompiledSegment>,
    ) -> Flag {
        let name = feature.name.as_str();
        let strategies = feature
            .strategies
            .iter()
            .enumerate()
            .map(|(k, s)| self.strategy(name, k, s, segments))
            .collect();

        let stickiness = Stickiness::new(
            feature
                .variants
                .first()
                .and_then(|v| v.stickiness.as_deref()),
        );
        let (variants, variants_problem) = match variant_set(&feature.variants, stickiness, name) {
            Ok(set) => (set, None),
            Err(message) => {
                let w = self.warn(
                    Some(name),
                    None,
                    format!("variants: {message}; the flag hands out the \"disabled\" variant"),
                );
                (None, Some(w))
            }
        };

        let dependencies = feature
            .dependencies
            .iter()
            .map(|d| {
                let parent = match index.get(d.feature.as_str()) {
                    None => {
                        self.warn(
                            Some(name),
                            None,
                            format!(
                                "depends on {:?}, which does not exist; the flag is off",
                                d.feature
                            ),
                        );
                        None
                    }
                    Some(&p) if !kept[p].dependencies.is_empty() => {
                        self.warn(
                            Some(name),
                            None,
                            format!(
                                "depends on {:?}, which has dependencies of its own (Unleash \
                                 supports one level); the flag is off",
                                d.feature
                            ),
                        );
                        None
                    }
                    Some(&p) => Some(p),
                };
                Dependency {
                    parent,
                    enabled: d.enabled.unwrap_or(true),
                    variants: d
                        .variants
                        .iter()
                        .flatten()
                        .map(|v| v.as_str().into())
                        .collect(),
                }
            })
            .collect();

        Flag {
            name: name.into(),
            enabled: feature.enabled,
            strategies,
            variants,
            variants_problem,
            dependencies,
        }
    }

    fn strategy(
        &mut self,
        flag: &str,
        k: usize,
        s: &state::Strategy,
        segments: &HashMap<i64, CompiledSegment>,
    ) -> Strategy {
        let mut notes = Vec::new();
        let compiled = self.strategy_parts(flag, s, segments, &mut notes);
        for note in notes {
            self.warn(Some(flag), Some(k), note);
        }

        let group = group_id(s, flag);
        let stickiness = Stickiness::new(s.parameters.get("stickiness").map(String::as_str));
        let variants = match variant_set(&s.variants, stickiness, group) {
            Ok(set) => set,
            Err(message) => {
                self.warn(
                    Some(flag),
                    Some(k),
                    format!("variants: {message}; the flag's own variants are used instead"),
                );
                None
            }
        };

        match compiled {
            Ok((gate, constraints)) => {
                let reason = reason_of(&gate, &constraints);
                Strategy {
                    gate,
                    constraints: constraints.into_boxed_slice(),
                    variants,
                    reason,
                    problem: None,
                }
            }
            Err(message) => {
                let w = self.warn(
                    Some(flag),
                    Some(k),
                    format!("{message}; the strategy is off"),
                );
                Strategy {
                    gate: Gate::Never,
                    constraints: Box::new([]),
                    variants: None,
                    reason: Reason::Default,
                    problem: Some(w),
                }
            }
        }
    }

    fn strategy_parts(
        &self,
        flag: &str,
        s: &state::Strategy,
        segments: &HashMap<i64, CompiledSegment>,
        notes: &mut Vec<String>,
    ) -> std::result::Result<(Gate, Vec<Constraint>), String> {
        let gate = self.gate(flag, s, notes)?;
        let mut constraints = Vec::with_capacity(s.constraints.len());
        for c in &s.constraints {
            constraints.push(self.constraint(c, notes)?);
        }
        for id in &s.segments {
            match segments.get(id) {
                None => return Err(format!("segment {id} does not exist")),
                Some(Err(message)) => return Err(format!("segment {id}: {message}")),
                Some(Ok(list)) => constraints.extend(list.iter().cloned()),
            }
        }
        Ok((gate, constraints))
    }

    fn gate(
        &self,
        flag: &str,
        s: &state::Strategy,
        notes: &mut Vec<String>,
    ) -> std::result::Result<Gate, String> {
        let param = |name: &str| {
            s.parameters
                .get(name)
                .map(String::as_str)
                .ok_or_else(|| format!("{} needs the parameter {name}", s.name))
        };
        Ok(match s.name.as_str() {
            "default" => Gate::Always,
            "userWithId" => Gate::UserIds(StrSet::new(
                param("userIds")?
                    .split(',')
                    .map(str::trim)
                    .filter(|id| !id.is_empty()),
            )),
            "gradualRolloutUserId" => Gate::Rollout {
                percent: percent("percentage", param("percentage")?)?,
                stickiness: Stickiness::Field(Field::UserId),
                group: group_id(s, flag).into(),
            },
            "gradualRolloutSessionId" => Gate::Rollout {
                percent: percent("percentage", param("percentage")?)?,
                stickiness: Stickiness::Field(Field::SessionId),
                group: group_id(s, flag).into(),
            },
            "gradualRolloutRandom" => Gate::Rollout {
                percent: percent("percentage", param("percentage")?)?,
                stickiness: Stickiness::Random,
                group: group_id(s, flag).into(),
            },
            "flexibleRollout" => Gate::Rollout {
                percent: percent("rollout", param("rollout")?)?,
                stickiness: Stickiness::new(s.parameters.get("stickiness").map(String::as_str)),
                group: group_id(s, flag).into(),
            },
            "remoteAddress" => {
                Gate::Addresses(cidrs(param("IPs")?.split(','), "remoteAddress IPs", notes)?)
            }
            "applicationHostname" => {
                return Err(
                    "applicationHostname needs the host name, which the library does not read \
                     (no I/O in the core)"
                        .into(),
                );
            }
            other => {
                return Err(format!(
                    "unknown strategy {other:?} (custom strategies are not supported)"
                ));
            }
        })
    }

    fn constraint(
        &self,
        c: &state::Constraint,
        notes: &mut Vec<String>,
    ) -> std::result::Result<Constraint, String> {
        let what = format!("constraint {} {}", c.context_name, c.operator);
        let single = || {
            c.value
                .as_deref()
                .ok_or_else(|| format!("{what}: the operator needs a \"value\""))
        };
        let text = |op| Test::Text {
            op,
            values: c
                .values
                .iter()
                .map(|v| {
                    if c.case_insensitive {
                        v.to_lowercase().into()
                    } else {
                        v.as_str().into()
                    }
                })
                .collect(),
            ignore_case: c.case_insensitive,
        };
        let number = |cmp| -> std::result::Result<Test, String> {
            let v = single()?;
            match parse_f64(v.trim()) {
                Some(value) if value.is_finite() => Ok(Test::Number { cmp, value }),
                _ => Err(format!("{what}: {v:?} is not a number")),
            }
        };
        let date = |after| -> std::result::Result<Test, String> {
            let v = single()?;
            let (value, _) = Timestamp::parse_rfc3339(v.trim())
                .map_err(|e| format!("{what}: {v:?} is not an RFC 3339 instant: {e}"))?;
            Ok(Test::Date { after, value })
        };
        let version = |cmp| -> std::result::Result<Test, String> {
            let v = single()?;
            let value = semver::Version::parse(v)
                .map_err(|e| format!("{what}: {v:?} is not a semantic version: {e}"))?;
            Ok(Test::Semver { cmp, value })
        };
        // `caseInsensitive` only changes the STR_* operators and REGEX, as in the Unleash SDKs.
        let test = match &c.operator {
            Operator::In => Test::In(StrSet::new(c.values.iter().map(String::as_str))),
            Operator::NotIn => Test::NotIn(StrSet::new(c.values.iter().map(String::as_str))),
            Operator::StrStartsWith => text(TextOp::StartsWith),
            Operator::StrEndsWith => text(TextOp::EndsWith),
            Operator::StrContains => text(TextOp::Contains),
            Operator::NumEq => number(Cmp::Eq)?,
            Operator::NumGt => number(Cmp::Gt)?,
            Operator::NumGte => number(Cmp::Gte)?,
            Operator::NumLt => number(Cmp::Lt)?,
            Operator::NumLte => number(Cmp::Lte)?,
            Operator::DateAfter => date(true)?,
            Operator::DateBefore => date(false)?,
            Operator::SemverEq => version(Cmp::Eq)?,
            Operator::SemverGt => version(Cmp::Gt)?,
            Operator::SemverGte => version(Cmp::Gte)?,
            Operator::SemverLt => version(Cmp::Lt)?,
            Operator::SemverLte => version(Cmp::Lte)?,
            Operator::Regex => {
                let pattern = single()?;
                let re = regex_lite::RegexBuilder::new(pattern)
                    .case_insensitive(c.case_insensitive)
                    .size_limit(self.config.regex_size_limit)
                    .build()
                    .map_err(|e| format!("{what}: invalid regex {pattern:?}: {e}"))?;
                Test::Regex(re, self.config.regex_input_limit)
            }
            Operator::InCidr => {
                Test::Cidr(cidrs(c.values.iter().map(String::as_str), &what, notes)?)
            }
            Operator::Unknown(name) => {
                return Err(format!(
                    "constraint {}: unknown operator {name:?}",
                    c.context_name
                ));
            }
        };
        Ok(Constraint {
            field: Field::new(&c.context_name),
            test,
            inverted: c.inverted,
        })
    }
}

/// `groupId`, or the flag name when it is missing or empty (as the Unleash SDKs do).
fn group_id<'a>(s: &'a state::Strategy, flag: &'a str) -> &'a str {
    match s.parameters.get("groupId").map(String::as_str) {
        Some(g) if !g.is_empty() => g,
        _ => flag,
    }
}

/// A percentage from 0 to 100; a fraction is rounded down, since buckets are whole numbers.
fn percent(name: &str, text: &str) -> std::result::Result<u32, String> {
    match parse_f64(text.trim()) {
        // OK because the range check bounds the value to 0..=100 before the cast.
        Some(p) if (0.0..=100.0).contains(&p) => Ok(p.floor() as u32),
        _ => Err(format!(
            "parameter {name} {text:?} is not a percentage from 0 to 100"
        )),
    }
}

/// Parses addresses and CIDR blocks. Invalid entries are skipped with a note, as the Unleash
/// specification asks (22: "invalid values should be ignored when valid ones exist"); a list with
/// entries but none valid is malformed.
fn cidrs<'s>(
    entries: impl Iterator<Item = &'s str>,
    what: &str,
    notes: &mut Vec<String>,
) -> std::result::Result<Box<[Cidr]>, String> {
    let mut blocks = Vec::new();
    let mut invalid = Vec::new();
    for entry in entries.map(str::trim).filter(|e| !e.is_empty()) {
        match Cidr::parse(entry) {
            Some(block) => blocks.push(block),
            None => invalid.push(entry),
        }
    }
    if blocks.is_empty() && !invalid.is_empty() {
        return Err(format!(
            "{what}: no valid address or CIDR block in {invalid:?}"
        ));
    }
    for entry in invalid {
        notes.push(format!(
            "{what}: {entry:?} is not an IP address or CIDR block; ignored"
        ));
    }
    Ok(blocks.into_boxed_slice())
}

fn variant_set(
    defs: &[VariantDefinition],
    stickiness: Stickiness,
    group: &str,
) -> std::result::Result<Option<VariantSet>, String> {
    if defs.is_empty() {
        return Ok(None);
    }
    let mut total = 0u32;
    let mut variants = Vec::with_capacity(defs.len());
    for d in defs {
        let weight = u32::try_from(d.weight)
            .map_err(|_| format!("variant {:?} has an invalid weight {}", d.name, d.weight))?;
        total = total
            .checked_add(weight)
            .ok_or_else(|| "the weights add up to more than 2^32".to_string())?;
        variants.push(VariantDef {
            name: d.name.as_str().into(),
            weight,
            payload: d.payload.clone(),
            overrides: d
                .overrides
                .iter()
                .map(|o| {
                    (
                        Field::new(&o.context_name),
                        StrSet::new(o.values.iter().map(String::as_str)),
                    )
                })
                .collect(),
        });
    }
    if total == 0 {
        return Err("the weights add up to zero".into());
    }
    Ok(Some(VariantSet {
        variants: variants.into_boxed_slice(),
        total,
        stickiness,
        group: group.into(),
    }))
}

/// The reason reported when a strategy turns its flag on: a strategy that cannot say no is
/// static, a percentage below 100 is a split, anything else is targeting.
fn reason_of(gate: &Gate, constraints: &[Constraint]) -> Reason {
    match gate {
        Gate::Rollout { percent, .. } if *percent < 100 => Reason::Split,
        Gate::Always if constraints.is_empty() => Reason::Static,
        Gate::Rollout {
            stickiness: Stickiness::Default | Stickiness::Random,
            ..
        } if constraints.is_empty() => Reason::Static,
        _ => Reason::TargetingMatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(json: &str) -> Engine {
        Engine::from_json(json).unwrap()
    }

    fn messages(e: &Engine) -> Vec<String> {
        e.warnings().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn malformed_rules_turn_off_only_their_strategy() {
        let e = engine(
            r#"{"features": [
              {"name": "a", "enabled": true, "strategies": [
                {"name": "flexibleRollout", "parameters": {"rollout": "150"}},
                {"name": "default", "constraints": [{"contextName": "v", "operator": "SEMVER_EQ", "value": "v1.0.0"}]},
                {"name": "default", "constraints": [{"contextName": "v", "operator": "REGEX", "value": "(a"}]},
                {"name": "default", "constraints": [{"contextName": "n", "operator": "NUM_GT", "value": "NaN"}]},
                {"name": "default", "constraints": [{"contextName": "t", "operator": "DATE_AFTER", "value": "2022-01-01"}]},
                {"name": "default", "constraints": [{"contextName": "t", "operator": "DATE_AFTER"}]},
                {"name": "default", "segments": [9]},
                {"name": "myCustom"},
                {"name": "userWithId"},
                {"name": "applicationHostname", "parameters": {"hostNames": "a"}},
                {"name": "remoteAddress", "parameters": {"IPs": "nope"}},
                {"name": "default", "constraints": [{"contextName": "x", "operator": "LIKE"}]}
              ]},
              {"name": "b", "enabled": true, "strategies": [{"name": "default"}]}
            ]}"#,
        );
        let m = messages(&e);
        assert_eq!(m.len(), 12, "{m:#?}");
        for (k, needle) in [
            "parameter rollout \"150\"",
            "\"v1.0.0\" is not a semantic version",
            "invalid regex \"(a\"",
            "\"NaN\" is not a number",
            "\"2022-01-01\" is not an RFC 3339 instant",
            "needs a \"value\"",
            "segment 9 does not exist",
            "unknown strategy \"myCustom\"",
            "userWithId needs the parameter userIds",
            "applicationHostname",
            "no valid address",
            "unknown operator \"LIKE\"",
        ]
        .into_iter()
        .enumerate()
        {
            assert!(
                m[k].starts_with(&format!("flag \"a\", strategies[{k}]: ")),
                "{}",
                m[k]
            );
            assert!(m[k].contains(needle), "{} lacks {needle}", m[k]);
            assert!(m[k].ends_with("; the strategy is off"), "{}", m[k]);
        }
        let a = &e.flags[e.index_of("a").unwrap()];
        assert!(a.strategies.iter().all(|s| matches!(s.gate, Gate::Never)));
        assert!(a.strategies.iter().all(|s| s.problem.is_some()));
        assert!(e.contains("b"));
    }

    #[test]
    fn flag_level_problems_are_warnings() {
        let e = engine(
            r#"{"features": [
              {"name": "a", "enabled": true, "variants": [{"name": "x", "weight": 0}]},
              {"name": "a", "enabled": false},
              {"name": "c", "enabled": true, "dependencies": [{"feature": "nope"}]},
              {"name": "d", "enabled": true, "dependencies": [{"feature": "c"}]},
              {"name": "e", "enabled": true, "variants": [{"name": "x", "weight": -1}]},
              {"name": "f", "enabled": true, "strategies": [{"name": "default",
                 "constraints": [{"contextName": "ip", "operator": "IN_CIDR", "values": ["10.0.0.0/8", "bad"]}],
                 "variants": [{"name": "y", "weight": 0}]}]}
            ], "segments": [{"id": 1, "constraints": []}, {"id": 1, "constraints": []}]}"#,
        );
        let m = messages(&e);
        assert_eq!(
            m,
            [
                "flag \"a\": defined more than once; the first definition is used",
                "segment 1 is defined more than once; the first definition is used",
                "flag \"a\": variants: the weights add up to zero; the flag hands out the \"disabled\" variant",
                "flag \"c\": depends on \"nope\", which does not exist; the flag is off",
                "flag \"d\": depends on \"c\", which has dependencies of its own (Unleash supports one level); the flag is off",
                "flag \"e\": variants: variant \"x\" has an invalid weight -1; the flag hands out the \"disabled\" variant",
                "flag \"f\", strategies[0]: constraint ip IN_CIDR: \"bad\" is not an IP address or CIDR block; ignored",
                "flag \"f\", strategies[0]: variants: the weights add up to zero; the flag's own variants are used instead",
            ]
        );
        assert_eq!(e.len(), 5);
        assert!(
            e.flags[0].enabled,
            "the first definition of a duplicate wins"
        );
    }

    #[test]
    fn percentages() {
        assert_eq!(percent("p", "0"), Ok(0));
        assert_eq!(percent("p", " 100 "), Ok(100));
        assert_eq!(percent("p", "33.9"), Ok(33));
        for bad in ["-1", "100.5", "NaN", "inf", "", "ten"] {
            assert!(percent("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reasons_per_strategy() {
        let e = engine(
            r#"{"features": [{"name": "a", "enabled": true, "strategies": [
                {"name": "default"},
                {"name": "default", "constraints": [{"contextName": "x", "operator": "IN", "values": ["1"]}]},
                {"name": "flexibleRollout", "parameters": {"rollout": "50"}},
                {"name": "flexibleRollout", "parameters": {"rollout": "100"}},
                {"name": "flexibleRollout", "parameters": {"rollout": "100", "stickiness": "tenant"}},
                {"name": "userWithId", "parameters": {"userIds": "1"}}
            ]}]}"#,
        );
        let reasons: Vec<Reason> = e.flags[0].strategies.iter().map(|s| s.reason).collect();
        assert_eq!(
            reasons,
            [
                Reason::Static,
                Reason::TargetingMatch,
                Reason::Split,
                Reason::Static,
                Reason::TargetingMatch,
                Reason::TargetingMatch
            ]
        );
    }

    /// The differences from the `regex` crate documented on `Operator::Regex`, pinned.
    #[test]
    fn regex_classes_and_case_folding_are_ascii() {
        let flag = |pattern: &str, case_insensitive: bool| {
            let state = serde_json::json!({"features": [{"name": "f", "enabled": true,
                "strategies": [{"name": "default", "constraints": [{"contextName": "userId",
                "operator": "REGEX", "value": pattern, "caseInsensitive": case_insensitive}]}]}]});
            engine(&state.to_string())
        };
        let on = |pattern: &str, case_insensitive: bool, value: &str| {
            let mut random = crate::flags::SeededRandom::new(0);
            let mut env = crate::flags::Env::new(Timestamp::UNIX_EPOCH, &mut random);
            let ctx = crate::flags::Context::new().user_id(value);
            flag(pattern, case_insensitive).is_enabled("f", &ctx, &mut env)
        };
        assert!(on(r"^\d+$", false, "123") && !on(r"^\d+$", false, "١٢٣"));
        assert!(on(r"^\w+$", false, "cafe_1") && !on(r"^\w+$", false, "café"));
        assert!(!on(r"\bcafé\b", false, "un café noir"));
        assert!(on("beta", true, "BETA") && on("(?i)beta", false, "BeTa"));
        assert!(!on("é", true, "É") && !on("(?i)k", false, "\u{212A}"));
        assert!(
            on("^.$", false, "😀") && on("^[^a]$", false, "é"),
            "whole characters"
        );
        for unsupported in [r"[a-z&&[^aeiou]]", r"[a-z--b]", r"\p{L}", "(?=a)", r"(a)\1"] {
            let e = flag(unsupported, false);
            assert!(messages(&e)[0].contains("invalid regex"), "{unsupported}");
        }
    }

    #[test]
    fn regex_size_is_limited() {
        let state = State::from_json(
            r#"{"features": [{"name": "a", "enabled": true, "strategies": [{"name": "default",
                "constraints": [{"contextName": "x", "operator": "REGEX", "value": "a{200}"}]}]}]}"#,
        )
        .unwrap();
        let small = Config::new().regex_size_limit(1024).build(&state);
        assert_eq!(small.warnings().len(), 1);
        assert!(small.warnings()[0].message.contains("invalid regex"));
        let big = Config::new().regex_size_limit(1 << 24).build(&state);
        assert!(big.warnings().is_empty(), "{:?}", big.warnings());
    }

    #[test]
    fn engine_is_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Engine>();
    }
}
