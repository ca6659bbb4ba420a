//! Saved filters: the model, presets for common audiences, and versioned JSON import/export.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ast::{Condition, Document, Node, Op, clip};
use super::compile::Filter;
use super::ir::FilterOptions;
use super::schema::Schema;
use crate::batch::Purpose;
use crate::error::{Error, ErrorKind, Result};
use crate::time::{Date, Timestamp};

/// Who can see a saved filter. (Enforcing it is the store's job.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Visibility {
    /// Only the owner.
    Private,
    /// The owner and the listed users.
    Shared {
        /// User ids the filter is shared with (at least one, no duplicates).
        users: Vec<String>,
    },
    /// Everyone on the owner's team.
    Team,
}

/// A named filter a user saved, with its owner, who can see it, and when it changed.
///
/// ```
/// use smsbatch::filter::{AudiencePreset, SavedFilter, Schema, Visibility};
///
/// let now = "2024-05-01T09:00:00Z".parse()?;
/// let mut saved = SavedFilter::new("f1", "Recent", "alice", AudiencePreset::NewCustomers { days: 7 }.document()?, now);
/// saved.set_visibility(Visibility::Shared { users: vec!["bob".into()] }, now);
/// saved.validate(&Schema::customers())?;
/// let json = serde_json::to_value(&saved)?;
/// assert_eq!(json["visibility"], serde_json::json!({"type": "shared", "users": ["bob"]}));
/// assert_eq!(json["filter"]["where"]["op"], "withinLastDays");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SavedFilter {
    /// A stable id, unique among the saved filters.
    pub id: String,
    /// A short name (1 to 200 characters).
    pub name: String,
    /// A longer description (may be empty).
    #[serde(default)]
    pub description: String,
    /// The user id of the owner.
    pub owner: String,
    /// Who can see it.
    pub visibility: Visibility,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed (never before `created_at`).
    pub updated_at: Timestamp,
    /// The filter document.
    pub filter: Document,
}

/// The longest saved-filter name, in characters.
pub const MAX_NAME_LEN: usize = 200;
/// The longest description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 2_000;

fn saved_error(path: impl Into<String>, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidSavedFilter {
        path: path.into(),
        message: message.into(),
    })
}

/// Prefixes the JSON Pointer of a filter error (the filter sits inside a larger document).
fn prefix_path(err: Error, prefix: &str) -> Error {
    let kind = match err.into_kind() {
        ErrorKind::InvalidFilter { path, message } => ErrorKind::InvalidFilter {
            path: format!("{prefix}{path}"),
            message,
        },
        ErrorKind::UnknownField { path, field } => ErrorKind::UnknownField {
            path: format!("{prefix}{path}"),
            field,
        },
        ErrorKind::FilterTooLarge { path, message } => ErrorKind::FilterTooLarge {
            path: format!("{prefix}{path}"),
            message,
        },
        ErrorKind::MissingNow { path } => ErrorKind::MissingNow {
            path: format!("{prefix}{path}"),
        },
        ErrorKind::InvalidSavedFilter { path, message } => ErrorKind::InvalidSavedFilter {
            path: format!("{prefix}{path}"),
            message,
        },
        other => other,
    };
    Error::new(kind)
}

impl SavedFilter {
    /// A private filter created (and last updated) at `now`.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        owner: impl Into<String>,
        filter: Document,
        now: Timestamp,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            description: String::new(),
            owner: owner.into(),
            visibility: Visibility::Private,
            created_at: now,
            updated_at: now,
            filter,
        }
    }

    /// Replaces the filter and bumps `updated_at`.
    pub fn set_filter(&mut self, filter: Document, now: Timestamp) {
        self.filter = filter;
        self.touch(now);
    }

    /// Renames it and bumps `updated_at`.
    pub fn rename(&mut self, name: impl Into<String>, now: Timestamp) {
        self.name = name.into();
        self.touch(now);
    }

    /// Changes who can see it and bumps `updated_at`.
    pub fn set_visibility(&mut self, visibility: Visibility, now: Timestamp) {
        self.visibility = visibility;
        self.touch(now);
    }

    fn touch(&mut self, now: Timestamp) {
        self.updated_at = now.max(self.created_at);
    }

    /// Checks the fields and validates the filter against `schema` (error paths point into the
    /// saved filter's JSON form, e.g. `/filter/where/and/0`).
    pub fn validate(&self, schema: &Schema) -> Result<()> {
        let nonempty = |s: &str, path: &str, what: &str| {
            if s.trim().is_empty() {
                Err(saved_error(path, format!("{what} must not be empty")))
            } else {
                Ok(())
            }
        };
        nonempty(&self.id, "/id", "the id")?;
        nonempty(&self.name, "/name", "the name")?;
        nonempty(&self.owner, "/owner", "the owner")?;
        if self.name.chars().count() > MAX_NAME_LEN {
            return Err(saved_error(
                "/name",
                format!("the name is longer than {MAX_NAME_LEN} characters"),
            ));
        }
        if self.description.chars().count() > MAX_DESCRIPTION_LEN {
            return Err(saved_error(
                "/description",
                format!("the description is longer than {MAX_DESCRIPTION_LEN} characters"),
            ));
        }
        if self.updated_at < self.created_at {
            return Err(saved_error(
                "/updatedAt",
                "`updatedAt` is before `createdAt`",
            ));
        }
        if let Visibility::Shared { users } = &self.visibility {
            if users.is_empty() {
                return Err(saved_error(
                    "/visibility/users",
                    "a shared filter needs at least one user",
                ));
            }
            for (i, u) in users.iter().enumerate() {
                if u.trim().is_empty() {
                    return Err(saved_error(
                        format!("/visibility/users/{i}"),
                        "a user id must not be empty",
                    ));
                }
                if users[..i].contains(u) {
                    return Err(saved_error(
                        format!("/visibility/users/{i}"),
                        format!("the user `{}` is listed twice", clip(u)),
                    ));
                }
            }
        }
        // Only validity matters here; any fixed `now` lets relative conditions compile.
        let options = FilterOptions::new().with_now(self.updated_at);
        Filter::from_document(&self.filter, schema, &options)
            .map(|_| ())
            .map_err(|e| prefix_path(e, "/filter"))
    }
}

/// The `format` member of an export file.
pub const EXPORT_FORMAT: &str = "smsbatch.savedFilters";
/// The export file version this library writes and reads.
pub const EXPORT_VERSION: u32 = 1;

/// Writes saved filters as a versioned export file:
/// `{"format": "smsbatch.savedFilters", "version": 1, "exportedAt": "...", "filters": [...]}`.
pub fn export_saved(filters: &[SavedFilter], now: Timestamp) -> Value {
    serde_json::json!({
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exportedAt": now.to_string(),
        "filters": filters,
    })
}

/// Reads an export file, validating every filter against `schema`. Errors name the JSON
/// Pointer of the bad member, e.g. `/filters/2/filter/where/or/0` or `/filters/0/name`.
///
/// ```
/// use smsbatch::filter::{AudiencePreset, SavedFilter, Schema, export_saved, import_saved};
///
/// let now = "2024-05-01T09:00:00Z".parse()?;
/// let saved = vec![SavedFilter::new("f1", "No phone", "alice", AudiencePreset::NoPhone.document()?, now)];
/// let file = export_saved(&saved, now);
/// assert_eq!(import_saved(&file.to_string(), &Schema::customers())?, saved);
///
/// let mut bad = file.clone();
/// bad["filters"][0]["filter"]["where"]["field"] = "fax".into();
/// let err = import_saved(&bad.to_string(), &Schema::customers()).unwrap_err();
/// assert_eq!(err.kind().code(), "unknownField");
/// assert_eq!(err.kind().path(), Some("/filters/0/filter/where"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn import_saved(json: &str, schema: &Schema) -> Result<Vec<SavedFilter>> {
    let file: Value = serde_json::from_str(json)
        .map_err(|e| saved_error("", format!("the export file is not valid JSON: {e}")))?;
    let Value::Object(obj) = &file else {
        return Err(saved_error("", "the export file must be a JSON object"));
    };
    if let Some(extra) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "format" | "version" | "exportedAt" | "filters"))
    {
        return Err(saved_error("", format!("unknown member `{}`", clip(extra))));
    }
    if obj.get("format").and_then(Value::as_str) != Some(EXPORT_FORMAT) {
        return Err(saved_error(
            "/format",
            format!("`format` must be \"{EXPORT_FORMAT}\""),
        ));
    }
    match obj.get("version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(EXPORT_VERSION) => {}
        _ => {
            return Err(saved_error(
                "/version",
                format!("unsupported export version (this library reads version {EXPORT_VERSION})"),
            ));
        }
    }
    let Some(Value::Array(items)) = obj.get("filters") else {
        return Err(saved_error("/filters", "`filters` must be an array"));
    };
    let mut out: Vec<SavedFilter> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let base = format!("/filters/{i}");
        // The document first, so its errors keep their kind and point at the bad node.
        if let Some(doc) = item.get("filter") {
            Document::from_value(doc).map_err(|e| prefix_path(e, &format!("{base}/filter")))?;
        }
        let saved: SavedFilter = SavedFilter::deserialize(item)
            .map_err(|e| saved_error(base.clone(), format!("not a saved filter: {e}")))?;
        saved.validate(schema).map_err(|e| prefix_path(e, &base))?;
        if out.iter().any(|s| s.id == saved.id) {
            return Err(saved_error(
                format!("{base}/id"),
                format!("the id `{}` appears twice", clip(&saved.id)),
            ));
        }
        out.push(saved);
    }
    Ok(out)
}

/// Ready-made filters for common audiences, over the default customer schema's fields.
///
/// JSON (camelCase, tagged by `preset`): `{"preset": "newCustomers", "days": 7}`,
/// `{"preset": "reachable", "purpose": "transactional"}`.
///
/// "Birthday this month" has no operator of its own (the wire form has none for months), so
/// [`AudiencePreset::BirthdayInMonth`] is an `or` of one `between` per year over a year span the
/// caller passes (birthdays are dates of birth, so the span is the birth years to cover).
///
/// ```
/// use serde_json::json;
/// use smsbatch::Purpose;
/// use smsbatch::filter::AudiencePreset;
///
/// let marketing = AudiencePreset::Reachable { purpose: Purpose::Marketing }.document()?;
/// assert_eq!(marketing.to_value()["where"], json!({"and": [
///     {"field": "phone", "op": "isNotEmpty"},
///     {"field": "opted_out", "op": "isNotTrue"},
///     {"field": "opted_in", "op": "isTrue"},
/// ]}));
/// # Ok::<(), smsbatch::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "preset", rename_all = "camelCase", deny_unknown_fields)]
pub enum AudiencePreset {
    /// Customers created within the last `days` days.
    NewCustomers {
        /// How many days back.
        days: u32,
    },
    /// Customers with no phone number (NULL or empty).
    NoPhone,
    /// Customers with no email address (NULL or empty).
    NoEmail,
    /// Customers who consented to marketing messages and did not opt out (`opted_in` true,
    /// `opted_out` not true).
    OptedIn,
    /// Customers who asked to stop (`opted_out` true).
    OptedOut,
    /// Customers a batch with this purpose can text: with a phone number, not opted out, and
    /// for marketing opted in. (The preview applies the same rule, and also the suppression
    /// list, which no filter sees.)
    Reachable {
        /// What the messages are for (default: marketing).
        #[serde(default)]
        purpose: Purpose,
    },
    /// Customers with no order within the last `days` days (never ordered included).
    Inactive {
        /// How many days back.
        days: u32,
    },
    /// Customers who spent at least `min_total`.
    BigSpenders {
        /// The minimum total spent.
        #[serde(rename = "minTotal")]
        min_total: f64,
    },
    /// Customers born in `month` of a year from `from_year` to `to_year` (inclusive).
    #[serde(rename_all = "camelCase")]
    BirthdayInMonth {
        /// 1 to 12.
        month: u8,
        /// The first birth year covered.
        from_year: i16,
        /// The last birth year covered.
        to_year: i16,
    },
}

/// The widest year span [`AudiencePreset::BirthdayInMonth`] accepts.
pub const MAX_BIRTHDAY_YEARS: i16 = 150;

fn preset_error(message: impl Into<String>) -> Error {
    saved_error("", message)
}

impl AudiencePreset {
    /// "Birthday this month": [`AudiencePreset::BirthdayInMonth`] for `now`'s UTC month.
    pub fn birthday_this_month(now: Timestamp, from_year: i16, to_year: i16) -> Self {
        let month = now.date().month();
        Self::BirthdayInMonth {
            month,
            from_year,
            to_year,
        }
    }

    /// A short identifier, e.g. `"newCustomers"` (the JSON `preset`).
    pub fn key(&self) -> &'static str {
        match self {
            Self::NewCustomers { .. } => "newCustomers",
            Self::NoPhone => "noPhone",
            Self::NoEmail => "noEmail",
            Self::OptedIn => "optedIn",
            Self::OptedOut => "optedOut",
            Self::Reachable { .. } => "reachable",
            Self::Inactive { .. } => "inactive",
            Self::BigSpenders { .. } => "bigSpenders",
            Self::BirthdayInMonth { .. } => "birthdayInMonth",
        }
    }

    /// The filter document.
    pub fn document(&self) -> Result<Document> {
        let c = |field: &str, op, value: Value| Node::Condition(Condition::new(field, op, value));
        let u = |field: &str, op| Node::Condition(Condition::unary(field, op));
        let node = match self {
            Self::NewCustomers { days } => c("date_create", Op::WithinLastDays, (*days).into()),
            Self::NoPhone => u("phone", Op::IsEmpty),
            Self::NoEmail => u("email", Op::IsEmpty),
            Self::OptedIn => Node::and([u("opted_in", Op::IsTrue), u("opted_out", Op::IsNotTrue)]),
            Self::OptedOut => u("opted_out", Op::IsTrue),
            Self::Reachable { purpose } => {
                let mut all = vec![u("phone", Op::IsNotEmpty), u("opted_out", Op::IsNotTrue)];
                if *purpose == Purpose::Marketing {
                    all.push(u("opted_in", Op::IsTrue));
                }
                Node::and(all)
            }
            Self::Inactive { days } => c("last_order_at", Op::NotWithinLastDays, (*days).into()),
            Self::BigSpenders { min_total } => {
                let n = serde_json::Number::from_f64(*min_total)
                    .ok_or_else(|| preset_error("`minTotal` must be a finite number"))?;
                c("total_spent", Op::Gte, Value::Number(n))
            }
            Self::BirthdayInMonth {
                month,
                from_year,
                to_year,
            } => {
                if !(1..=12).contains(month) {
                    return Err(preset_error(format!("month {month} is not 1 to 12")));
                }
                if from_year > to_year
                    || !(1..=9998).contains(from_year)
                    || !(1..=9998).contains(to_year)
                {
                    return Err(preset_error(format!(
                        "the years {from_year} to {to_year} are not an increasing span within 1 to 9998"
                    )));
                }
                if to_year - from_year >= MAX_BIRTHDAY_YEARS {
                    return Err(preset_error(format!(
                        "the span is wider than {MAX_BIRTHDAY_YEARS} years"
                    )));
                }
                let mut ranges = Vec::new();
                for year in *from_year..=*to_year {
                    let first = Date::new(year, *month, 1)
                        .ok_or_else(|| preset_error(format!("no date {year}-{month}-01")))?;
                    let last = first.last_of_month();
                    ranges.push(c(
                        "birthday",
                        Op::Between,
                        serde_json::json!([first.to_string(), last.to_string()]),
                    ));
                }
                Node::Or(ranges)
            }
        };
        Ok(Document::new(node))
    }
}
