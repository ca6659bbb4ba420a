//! Templates, saved filters, flags and suppressions over PostgREST.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Call, Method, Retry, SbView, eq, in_list};
use crate::error::{Error, ErrorKind, Result};
use crate::filter::{Document, SavedFilter, Visibility};
use crate::flags::State;
use crate::store::bundle::Changes;
use crate::store::flag::{FlagChanges, FlagRow, FlagStore, SegmentRow, check_flag_rows};
use crate::store::saved::{SavedFilterStore, check_saved, shared_users};
use crate::store::suppression::{Suppression, SuppressionStore, check_phones};
use crate::store::template::{TemplateStore, check_template};
use crate::template::TemplateRecord;
use crate::time::Timestamp;

fn denied(message: String) -> Error {
    Error::new(ErrorKind::PermissionDenied { message })
}

fn not_found(what: &str, id: &str) -> Error {
    Error::new(ErrorKind::NotFound {
        what: what.into(),
        id: id.into(),
    })
}

fn twice(what: &str, id: &str) -> Error {
    Error::invalid_input(format!("the {what} {id:?} is listed twice"))
}

/// One `{key, created}` row of the upsert functions.
#[derive(Deserialize)]
struct Changed {
    key: String,
    created: bool,
}

/// Sorts returned keys into created, updated and unchanged, in input order.
fn changes<'a>(keys: impl IntoIterator<Item = &'a str>, returned: Vec<Changed>) -> Changes {
    let created: HashMap<String, bool> = returned.into_iter().map(|c| (c.key, c.created)).collect();
    let mut out = Changes::default();
    for key in keys {
        match created.get(key) {
            Some(true) => out.created.push(key.to_owned()),
            Some(false) => out.updated.push(key.to_owned()),
            None => out.unchanged.push(key.to_owned()),
        }
    }
    out
}

impl SbView {
    /// After a write that changed nothing: whether the actor can see the row (so the write was
    /// refused by row-level security), or it is not there for the actor at all.
    async fn visible(&self, table: &str, key: &str, value: &str) -> Result<bool> {
        let rows: Vec<Value> = self
            .json(
                Call::get(table).param("select", key).param(key, eq(value)),
                table,
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// Rows a write returned (`select=<key>`), counted.
    async fn affected(&self, call: Call, table: &str) -> Result<usize> {
        let rows: Vec<Value> = self.json(call, table).await?;
        Ok(rows.len())
    }
}

/// Byte order, as every store sorts names and ids.
fn by_bytes(a: &str, b: &str) -> std::cmp::Ordering {
    a.as_bytes().cmp(b.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

const TEMPLATE_COLUMNS: &str = "id,name,body,description,tags,created_at,updated_at";

#[derive(Deserialize)]
struct TemplateRow {
    id: String,
    name: String,
    body: String,
    description: String,
    tags: Vec<String>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<TemplateRow> for TemplateRecord {
    fn from(r: TemplateRow) -> Self {
        TemplateRecord {
            id: r.id,
            name: r.name,
            body: r.body,
            description: r.description,
            tags: r.tags,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn template_json(t: &TemplateRecord) -> Map<String, Value> {
    let Value::Object(map) = json!({
        "id": t.id, "name": t.name, "body": t.body, "description": t.description,
        "tags": t.tags, "created_at": t.created_at.to_string(), "updated_at": t.updated_at.to_string(),
    }) else {
        unreachable!("a JSON object literal")
    };
    map
}

#[async_trait]
impl TemplateStore for SbView {
    async fn create(&self, template: &TemplateRecord, team: Option<&str>) -> Result<()> {
        check_template(template)?;
        let mut row = template_json(template);
        // Without a team the column default (the user's team from the JWT) applies; the owner
        // is always the column default, the requesting user.
        if let Some(team) = team {
            row.insert("team_id".into(), Value::String(team.to_owned()));
        }
        self.send(
            Call::new(Method::Post, "sms_templates")
                .body(Value::Object(row).to_string())
                .param("select", "id"),
        )
        .await?;
        Ok(())
    }

    async fn update(&self, template: &TemplateRecord) -> Result<()> {
        check_template(template)?;
        let t = template;
        let changed = self
            .affected(
                Call::new(Method::Patch, "sms_templates")
                    .body(
                        json!({"name": t.name, "body": t.body, "description": t.description,
                               "tags": t.tags, "updated_at": t.updated_at.to_string()})
                        .to_string(),
                    )
                    .param("id", eq(&t.id))
                    .param("select", "id")
                    .retry(Retry::Safe),
                "sms_templates",
            )
            .await?;
        if changed > 0 {
            return Ok(());
        }
        if self.visible("sms_templates", "id", &t.id).await? {
            Err(denied(format!(
                "the template {:?} belongs to another user",
                t.id
            )))
        } else {
            Err(not_found("template", &t.id))
        }
    }

    async fn upsert(&self, templates: &[TemplateRecord], team: Option<&str>) -> Result<Changes> {
        let mut seen = HashSet::new();
        for t in templates {
            check_template(t)?;
            if !seen.insert(t.id.as_str()) {
                return Err(twice("template", &t.id));
            }
        }
        if templates.is_empty() {
            return Ok(Changes::default());
        }
        let rows: Vec<Value> = templates
            .iter()
            .map(|t| Value::Object(template_json(t)))
            .collect();
        let returned: Vec<Changed> = self
            .json(
                Call::rpc(
                    "sms_upsert_templates",
                    json!({"p_rows": rows, "p_team": team}),
                ),
                "sms_templates",
            )
            .await?;
        Ok(changes(templates.iter().map(|t| t.id.as_str()), returned))
    }

    async fn get(&self, id: &str) -> Result<Option<TemplateRecord>> {
        let rows: Vec<TemplateRow> = self
            .json(
                Call::get("sms_templates")
                    .param("select", TEMPLATE_COLUMNS)
                    .param("id", eq(id)),
                "sms_templates",
            )
            .await?;
        Ok(rows.into_iter().next().map(Into::into))
    }

    async fn list(&self) -> Result<Vec<TemplateRecord>> {
        let rows: Vec<TemplateRow> = self
            .json(
                Call::get("sms_templates").param("select", TEMPLATE_COLUMNS),
                "sms_templates",
            )
            .await?;
        let mut all: Vec<TemplateRecord> = rows.into_iter().map(Into::into).collect();
        all.sort_by(|a, b| by_bytes(&a.name, &b.name).then_with(|| by_bytes(&a.id, &b.id)));
        Ok(all)
    }

    async fn delete(&self, id: &str) -> Result<bool> {
        let deleted = self
            .affected(
                Call::new(Method::Delete, "sms_templates")
                    .param("id", eq(id))
                    .param("select", "id"),
                "sms_templates",
            )
            .await?;
        if deleted > 0 {
            return Ok(true);
        }
        if self.visible("sms_templates", "id", id).await? {
            return Err(denied(format!(
                "the template {id:?} belongs to another user"
            )));
        }
        Ok(false)
    }
}

// ---------------------------------------------------------------------------------------------
// Saved filters
// ---------------------------------------------------------------------------------------------

const SAVED_COLUMNS: &str =
    "id,owner,name,description,visibility,shared_with,filter,created_at,updated_at";

#[derive(Deserialize)]
struct SavedRow {
    id: String,
    owner: Uuid,
    name: String,
    description: String,
    visibility: String,
    shared_with: Vec<Uuid>,
    filter: Value,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl SavedRow {
    fn into_saved(self) -> Result<SavedFilter> {
        let t = "sms_saved_filters";
        let malformed = |message: String| {
            Error::new(ErrorKind::MalformedRow {
                table: t.into(),
                message,
            })
        };
        let visibility = match self.visibility.as_str() {
            "private" => Visibility::Private,
            "team" => Visibility::Team,
            "shared" => Visibility::Shared {
                users: self.shared_with.iter().map(Uuid::to_string).collect(),
            },
            other => return Err(malformed(format!("unknown visibility {other:?}"))),
        };
        let filter = Document::from_value(&self.filter).map_err(|e| malformed(e.to_string()))?;
        Ok(SavedFilter {
            id: self.id,
            name: self.name,
            description: self.description,
            owner: self.owner.to_string(),
            visibility,
            created_at: self.created_at,
            updated_at: self.updated_at,
            filter,
        })
    }
}

fn visibility_sql(v: &Visibility) -> &'static str {
    match v {
        Visibility::Private => "private",
        Visibility::Shared { .. } => "shared",
        Visibility::Team => "team",
    }
}

fn saved_json(f: &SavedFilter) -> Map<String, Value> {
    let Value::Object(map) = json!({
        "id": f.id, "owner": f.owner, "name": f.name, "description": f.description,
        "visibility": visibility_sql(&f.visibility),
        "shared_with": shared_users(f).iter().map(Uuid::to_string).collect::<Vec<_>>(),
        "filter": f.filter.to_value(),
        "created_at": f.created_at.to_string(), "updated_at": f.updated_at.to_string(),
    }) else {
        unreachable!("a JSON object literal")
    };
    map
}

#[async_trait]
impl SavedFilterStore for SbView {
    async fn create(&self, filter: &SavedFilter, team: Option<&str>) -> Result<()> {
        check_saved(filter, &self.config().schema)?;
        let mut row = saved_json(filter);
        if let Some(team) = team {
            row.insert("team_id".into(), Value::String(team.to_owned()));
        }
        self.send(
            Call::new(Method::Post, "sms_saved_filters")
                .body(Value::Object(row).to_string())
                .param("select", "id"),
        )
        .await?;
        Ok(())
    }

    async fn update(&self, filter: &SavedFilter) -> Result<()> {
        check_saved(filter, &self.config().schema)?;
        let f = filter;
        let mut row = saved_json(f);
        row.remove("id");
        row.remove("created_at");
        let changed = self
            .affected(
                Call::new(Method::Patch, "sms_saved_filters")
                    .body(Value::Object(row).to_string())
                    .param("id", eq(&f.id))
                    .param("select", "id")
                    .retry(Retry::Safe),
                "sms_saved_filters",
            )
            .await?;
        if changed > 0 {
            return Ok(());
        }
        if self.visible("sms_saved_filters", "id", &f.id).await? {
            Err(denied(format!(
                "the saved filter {:?} belongs to another user",
                f.id
            )))
        } else {
            Err(not_found("saved filter", &f.id))
        }
    }

    async fn get(&self, id: &str) -> Result<Option<SavedFilter>> {
        let rows: Vec<SavedRow> = self
            .json(
                Call::get("sms_saved_filters")
                    .param("select", SAVED_COLUMNS)
                    .param("id", eq(id)),
                "sms_saved_filters",
            )
            .await?;
        rows.into_iter()
            .next()
            .map(SavedRow::into_saved)
            .transpose()
    }

    async fn list(&self) -> Result<Vec<SavedFilter>> {
        let rows: Vec<SavedRow> = self
            .json(
                Call::get("sms_saved_filters").param("select", SAVED_COLUMNS),
                "sms_saved_filters",
            )
            .await?;
        let mut all = rows
            .into_iter()
            .map(SavedRow::into_saved)
            .collect::<Result<Vec<_>>>()?;
        all.sort_by(|a, b| by_bytes(&a.name, &b.name).then_with(|| by_bytes(&a.id, &b.id)));
        Ok(all)
    }

    async fn delete(&self, id: &str) -> Result<bool> {
        let deleted = self
            .affected(
                Call::new(Method::Delete, "sms_saved_filters")
                    .param("id", eq(id))
                    .param("select", "id"),
                "sms_saved_filters",
            )
            .await?;
        if deleted > 0 {
            return Ok(true);
        }
        if self.visible("sms_saved_filters", "id", id).await? {
            return Err(denied(format!(
                "the saved filter {id:?} belongs to another user"
            )));
        }
        Ok(false)
    }

    async fn import(&self, filters: &[SavedFilter], team: Option<&str>) -> Result<Changes> {
        let mut seen = HashSet::new();
        for f in filters {
            check_saved(f, &self.config().schema)?;
            if !seen.insert(f.id.as_str()) {
                return Err(twice("saved filter", &f.id));
            }
        }
        if filters.is_empty() {
            return Ok(Changes::default());
        }
        let rows: Vec<Value> = filters
            .iter()
            .map(|f| Value::Object(saved_json(f)))
            .collect();
        let returned: Vec<Changed> = self
            .json(
                Call::rpc(
                    "sms_import_saved_filters",
                    json!({"p_rows": rows, "p_team": team}),
                ),
                "sms_saved_filters",
            )
            .await?;
        Ok(changes(filters.iter().map(|f| f.id.as_str()), returned))
    }
}

// ---------------------------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------------------------

const FLAG_COLUMNS: &str = "name,description,enabled,flag_type,project,stale,impression_data,strategies,variants,dependencies";

fn unique_flags(flags: &[FlagRow]) -> Result<()> {
    let mut seen = HashSet::new();
    for f in flags {
        if !seen.insert(f.name.as_str()) {
            return Err(twice("flag", &f.name));
        }
    }
    Ok(())
}

fn rows_json<T: serde::Serialize>(rows: &[T]) -> Result<Value> {
    serde_json::to_value(rows)
        .map_err(|e| Error::invalid_input(format!("cannot write rows as JSON: {e}")))
}

#[derive(Deserialize)]
struct ImportedRow {
    kind: String,
    key: String,
    created: bool,
}

#[async_trait]
impl FlagStore for SbView {
    async fn load(&self) -> Result<State> {
        let mut flags: Vec<FlagRow> = self
            .json(
                Call::get("sms_feature_flags").param("select", FLAG_COLUMNS),
                "sms_feature_flags",
            )
            .await?;
        flags.sort_by(|a, b| by_bytes(&a.name, &b.name));
        let segments: Vec<SegmentRow> = self
            .json(
                Call::get("sms_feature_flag_segments")
                    .param("select", "id,name,constraints")
                    .param("order", "id.asc"),
                "sms_feature_flag_segments",
            )
            .await?;
        State::from_rows(&flags, &segments)
    }

    async fn get(&self, name: &str) -> Result<Option<FlagRow>> {
        let rows: Vec<FlagRow> = self
            .json(
                Call::get("sms_feature_flags")
                    .param("select", FLAG_COLUMNS)
                    .param("name", eq(name)),
                "sms_feature_flags",
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    async fn import(&self, state: &State, now: Timestamp) -> Result<FlagChanges> {
        let (flags, segments) = state.to_rows()?;
        check_flag_rows(&flags)?;
        unique_flags(&flags)?;
        let mut ids = HashSet::new();
        for s in &segments {
            if !ids.insert(s.id) {
                return Err(twice("segment", &s.id.to_string()));
            }
        }
        // Segments and flags in one request, so in one transaction.
        let returned: Vec<ImportedRow> = self
            .json(
                Call::rpc(
                    "sms_import_flags",
                    json!({"p_flags": rows_json(&flags)?, "p_segments": rows_json(&segments)?,
                           "p_now": now.to_string()}),
                ),
                "sms_feature_flags",
            )
            .await?;
        let (mut seg, mut flag) = (Vec::new(), Vec::new());
        for r in returned {
            let c = Changed {
                key: r.key,
                created: r.created,
            };
            if r.kind == "segment" {
                seg.push(c);
            } else {
                flag.push(c);
            }
        }
        let segment_keys: Vec<String> = segments.iter().map(|s| s.id.to_string()).collect();
        Ok(FlagChanges {
            segments: changes(segment_keys.iter().map(String::as_str), seg),
            flags: changes(flags.iter().map(|f| f.name.as_str()), flag),
        })
    }

    async fn upsert(&self, flags: &[FlagRow], now: Timestamp) -> Result<Changes> {
        check_flag_rows(flags)?;
        unique_flags(flags)?;
        let returned: Vec<Changed> = self
            .json(
                Call::rpc(
                    "sms_upsert_flags",
                    json!({"p_rows": rows_json(flags)?, "p_now": now.to_string()}),
                ),
                "sms_feature_flags",
            )
            .await?;
        Ok(changes(flags.iter().map(|f| f.name.as_str()), returned))
    }

    async fn set_enabled(&self, name: &str, enabled: bool, now: Timestamp) -> Result<()> {
        let changed = self
            .affected(
                Call::new(Method::Patch, "sms_feature_flags")
                    .body(json!({"enabled": enabled, "updated_at": now.to_string()}).to_string())
                    .param("name", eq(name))
                    .param("select", "name")
                    .retry(Retry::Safe),
                "sms_feature_flags",
            )
            .await?;
        if changed == 0 {
            return Err(not_found("flag", name));
        }
        Ok(())
    }

    async fn ensure(&self, names: &[String], now: Timestamp) -> Result<Vec<String>> {
        let wanted: Vec<String> = names
            .iter()
            .filter(|n| !n.is_empty() && !n.contains('\0'))
            .cloned()
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let created: Vec<String> = self
            .json(
                Call::rpc(
                    "sms_ensure_flags",
                    json!({"p_names": wanted, "p_now": now.to_string()}),
                ),
                "sms_feature_flags",
            )
            .await?;
        let created: HashSet<String> = created.into_iter().collect();
        let mut seen = HashSet::new();
        Ok(wanted
            .into_iter()
            .filter(|n| created.contains(n) && seen.insert(n.clone()))
            .collect())
    }

    async fn delete(&self, name: &str) -> Result<bool> {
        Ok(self
            .affected(
                Call::new(Method::Delete, "sms_feature_flags")
                    .param("name", eq(name))
                    .param("select", "name"),
                "sms_feature_flags",
            )
            .await?
            > 0)
    }
}

// ---------------------------------------------------------------------------------------------
// Suppressions
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct PhoneRow {
    phone: String,
}

#[derive(Deserialize)]
struct SuppressionRow {
    phone: String,
    reason: Option<String>,
    created_at: Timestamp,
}

#[async_trait]
impl SuppressionStore for SbView {
    async fn add(&self, phones: &[(String, Option<String>)], now: Timestamp) -> Result<Changes> {
        check_phones(phones.iter().map(|(p, _)| p.as_str()))?;
        for (_, reason) in phones {
            if let Some(r) = reason {
                crate::store::customer::check_text(r, "/reason")?;
            }
        }
        let mut seen = HashSet::new();
        let unique: Vec<Value> = phones
            .iter()
            .filter(|(p, _)| seen.insert(p.as_str()))
            .map(|(p, r)| json!({"phone": p, "reason": r, "created_at": now.to_string()}))
            .collect();
        if unique.is_empty() {
            return Ok(Changes::default());
        }
        // `ON CONFLICT (phone) DO NOTHING`: the rows returned are those added.
        let added: Vec<PhoneRow> = self
            .json(
                Call::new(Method::Post, "sms_suppressions")
                    .body(Value::Array(unique).to_string())
                    .prefer("resolution=ignore-duplicates")
                    .param("on_conflict", "phone")
                    .param("select", "phone"),
                "sms_suppressions",
            )
            .await?;
        let added: HashSet<String> = added.into_iter().map(|r| r.phone).collect();
        let mut out = Changes::default();
        for (phone, _) in phones {
            if added.contains(phone) && !out.created.contains(phone) {
                out.created.push(phone.clone());
            } else {
                out.unchanged.push(phone.clone());
            }
        }
        Ok(out)
    }

    async fn remove(&self, phones: &[String]) -> Result<Vec<String>> {
        let mut removed = HashSet::new();
        for chunk in self.key_chunks(phones) {
            let rows: Vec<PhoneRow> = self
                .json(
                    Call::new(Method::Delete, "sms_suppressions")
                        .param("phone", in_list(chunk))
                        .param("select", "phone"),
                    "sms_suppressions",
                )
                .await?;
            removed.extend(rows.into_iter().map(|r| r.phone));
        }
        let mut seen = HashSet::new();
        Ok(phones
            .iter()
            .filter(|p| removed.contains(*p) && seen.insert(p.as_str()))
            .cloned()
            .collect())
    }

    async fn check(&self, phones: &[String]) -> Result<Vec<String>> {
        let mut found = HashSet::new();
        for chunk in self.key_chunks(phones) {
            let rows: Vec<PhoneRow> = self
                .json(
                    Call::get("sms_suppressions")
                        .param("select", "phone")
                        .param("phone", in_list(chunk)),
                    "sms_suppressions",
                )
                .await?;
            found.extend(rows.into_iter().map(|r| r.phone));
        }
        Ok(phones
            .iter()
            .filter(|p| found.contains(*p))
            .cloned()
            .collect())
    }

    async fn list(&self, after: Option<&str>, limit: u32) -> Result<Vec<Suppression>> {
        let mut call = Call::get("sms_suppressions")
            .param("select", "phone,reason,created_at")
            .param("order", "phone.asc")
            .param("limit", limit.to_string());
        if let Some(after) = after {
            call = call.param("phone", format!("gt.{after}"));
        }
        let rows: Vec<SuppressionRow> = self.json(call, "sms_suppressions").await?;
        Ok(rows
            .into_iter()
            .map(|r| Suppression {
                phone: r.phone,
                reason: r.reason,
                created_at: r.created_at,
            })
            .collect())
    }
}
