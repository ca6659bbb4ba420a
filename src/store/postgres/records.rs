//! Templates, saved filters, flags and suppressions on PostgreSQL.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{PgView, Retry, Stmt, get, malformed};
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
    Error::new(ErrorKind::InvalidInput {
        message: format!("the {what} {id:?} is listed twice"),
    })
}

/// Sorts returned keys into created, updated and unchanged, in input order.
fn changes<'a>(
    keys: impl IntoIterator<Item = &'a str>,
    returned: &[Row],
    table: &str,
) -> Result<Changes> {
    let mut created = HashMap::new();
    for row in returned {
        let key: String = get(row, table, "key")?;
        let fresh: bool = get(row, table, "created")?;
        created.insert(key, fresh);
    }
    let mut out = Changes::default();
    for key in keys {
        match created.get(key) {
            Some(true) => out.created.push(key.to_owned()),
            Some(false) => out.updated.push(key.to_owned()),
            None => out.unchanged.push(key.to_owned()),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

fn template_from_row(row: &Row) -> Result<TemplateRecord> {
    let t = "sms_templates";
    Ok(TemplateRecord {
        id: get(row, t, "id")?,
        name: get(row, t, "name")?,
        body: get(row, t, "body")?,
        description: get(row, t, "description")?,
        tags: get(row, t, "tags")?,
        created_at: get(row, t, "created_at")?,
        updated_at: get(row, t, "updated_at")?,
    })
}

fn template_json(t: &TemplateRecord) -> Value {
    json!({
        "id": t.id, "name": t.name, "body": t.body, "description": t.description,
        "tags": t.tags, "created_at": t.created_at.to_string(), "updated_at": t.updated_at.to_string(),
    })
}

impl PgView {
    /// After a write that changed nothing: whether the actor can see the row (so the write was
    /// refused), or it is not there for the actor at all.
    async fn visible(&self, sql: &'static str, id: &str) -> Result<bool> {
        Ok(!self
            .rows(Stmt::new(sql).arg(id.to_owned()), Retry::Safe)
            .await?
            .is_empty())
    }
}

#[async_trait]
impl TemplateStore for PgView {
    async fn create(&self, template: &TemplateRecord, team: Option<&str>) -> Result<()> {
        check_template(template)?;
        let t = template;
        self.rows(
            Stmt::new(
                "INSERT INTO sms_templates (id, team_id, owner, name, body, description, tags, \
                 created_at, updated_at) \
                 VALUES ($1, coalesce($2, sms_team_id()), auth.uid(), $3, $4, $5, $6, $7, $8)",
            )
            .arg(t.id.clone())
            .arg(team.map(str::to_owned))
            .arg(t.name.clone())
            .arg(t.body.clone())
            .arg(t.description.clone())
            .arg(t.tags.clone())
            .arg(t.created_at)
            .arg(t.updated_at),
            Retry::Never,
        )
        .await?;
        Ok(())
    }

    async fn update(&self, template: &TemplateRecord) -> Result<()> {
        check_template(template)?;
        let t = template;
        let rows = self
            .rows(
                Stmt::new(
                    "UPDATE sms_templates SET name = $2, body = $3, description = $4, tags = $5, \
                     updated_at = $6 WHERE id = $1 RETURNING id",
                )
                .arg(t.id.clone())
                .arg(t.name.clone())
                .arg(t.body.clone())
                .arg(t.description.clone())
                .arg(t.tags.clone())
                .arg(t.updated_at),
                Retry::Safe,
            )
            .await?;
        if !rows.is_empty() {
            return Ok(());
        }
        if self
            .visible("SELECT 1 FROM sms_templates WHERE id = $1", &t.id)
            .await?
        {
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
        let input = Value::Array(templates.iter().map(template_json).collect());
        let rows = self
            .rows(
                Stmt::new(
                    "INSERT INTO sms_templates AS t (id, team_id, owner, name, body, description, \
                     tags, created_at, updated_at) \
                     SELECT r.id, coalesce($2, sms_team_id()), auth.uid(), r.name, r.body, \
                     r.description, r.tags, r.created_at, r.updated_at \
                     FROM jsonb_to_recordset($1) AS r(id text, name text, body text, \
                     description text, tags text[], created_at timestamptz, updated_at timestamptz) \
                     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, body = EXCLUDED.body, \
                     description = EXCLUDED.description, tags = EXCLUDED.tags, \
                     created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at \
                     WHERE (t.name, t.body, t.description, t.tags, t.created_at, t.updated_at) \
                     IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.body, EXCLUDED.description, \
                     EXCLUDED.tags, EXCLUDED.created_at, EXCLUDED.updated_at) \
                     RETURNING t.id AS key, (t.xmax = 0) AS created",
                )
                .arg(input)
                .arg(team.map(str::to_owned)),
                Retry::Never,
            )
            .await?;
        changes(
            templates.iter().map(|t| t.id.as_str()),
            &rows,
            "sms_templates",
        )
    }

    async fn get(&self, id: &str) -> Result<Option<TemplateRecord>> {
        const SQL: &str = "SELECT id, name, body, description, tags, created_at, updated_at \
                           FROM sms_templates WHERE id = $1";
        let rows = self
            .rows(Stmt::new(SQL).arg(id.to_owned()), Retry::Safe)
            .await?;
        rows.first().map(template_from_row).transpose()
    }

    async fn list(&self) -> Result<Vec<TemplateRecord>> {
        let rows = self
            .rows(
                Stmt::new(
                    "SELECT id, name, body, description, tags, created_at, updated_at \
                     FROM sms_templates ORDER BY name COLLATE \"C\", id COLLATE \"C\"",
                ),
                Retry::Safe,
            )
            .await?;
        rows.iter().map(template_from_row).collect()
    }

    async fn delete(&self, id: &str) -> Result<bool> {
        let rows = self
            .rows(
                Stmt::new("DELETE FROM sms_templates WHERE id = $1 RETURNING id")
                    .arg(id.to_owned()),
                Retry::Never,
            )
            .await?;
        if !rows.is_empty() {
            return Ok(true);
        }
        if self
            .visible("SELECT 1 FROM sms_templates WHERE id = $1", id)
            .await?
        {
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

fn saved_from_row(row: &Row) -> Result<SavedFilter> {
    let t = "sms_saved_filters";
    let owner: Uuid = get(row, t, "owner")?;
    let shared: Vec<Uuid> = get(row, t, "shared_with")?;
    let visibility = match get::<String>(row, t, "visibility")?.as_str() {
        "private" => Visibility::Private,
        "team" => Visibility::Team,
        "shared" => Visibility::Shared {
            users: shared.iter().map(Uuid::to_string).collect(),
        },
        other => {
            return Err(Error::new(ErrorKind::MalformedRow {
                table: t.into(),
                message: format!("unknown visibility {other:?}"),
            }));
        }
    };
    let doc: Value = get(row, t, "filter")?;
    let filter = Document::from_value(&doc).map_err(|e| malformed(t, &e))?;
    Ok(SavedFilter {
        id: get(row, t, "id")?,
        name: get(row, t, "name")?,
        description: get(row, t, "description")?,
        owner: owner.to_string(),
        visibility,
        created_at: get(row, t, "created_at")?,
        updated_at: get(row, t, "updated_at")?,
        filter,
    })
}

fn visibility_sql(v: &Visibility) -> &'static str {
    match v {
        Visibility::Private => "private",
        Visibility::Shared { .. } => "shared",
        Visibility::Team => "team",
    }
}

fn saved_json(f: &SavedFilter) -> Value {
    json!({
        "id": f.id, "owner": f.owner, "name": f.name, "description": f.description,
        "visibility": visibility_sql(&f.visibility),
        "shared_with": shared_users(f).iter().map(Uuid::to_string).collect::<Vec<_>>(),
        "filter": f.filter.to_value(),
        "created_at": f.created_at.to_string(), "updated_at": f.updated_at.to_string(),
    })
}

#[async_trait]
impl SavedFilterStore for PgView {
    async fn create(&self, filter: &SavedFilter, team: Option<&str>) -> Result<()> {
        check_saved(filter, &self.inner.config.schema)?;
        let f = filter;
        self.rows(
            Stmt::new(
                "INSERT INTO sms_saved_filters (id, owner, team_id, name, description, visibility, \
                 shared_with, filter, created_at, updated_at) \
                 VALUES ($1, $2, coalesce($3, sms_team_id()), $4, $5, $6, $7, $8, $9, $10)",
            )
            .arg(f.id.clone())
            .arg(Uuid::parse_str(&f.owner).unwrap_or_default())
            .arg(team.map(str::to_owned))
            .arg(f.name.clone())
            .arg(f.description.clone())
            .arg(visibility_sql(&f.visibility))
            .arg(shared_users(f))
            .arg(f.filter.to_value())
            .arg(f.created_at)
            .arg(f.updated_at),
            Retry::Never,
        )
        .await?;
        Ok(())
    }

    async fn update(&self, filter: &SavedFilter) -> Result<()> {
        check_saved(filter, &self.inner.config.schema)?;
        let f = filter;
        let rows = self
            .rows(
                Stmt::new(
                    "UPDATE sms_saved_filters SET owner = $2, name = $3, description = $4, \
                     visibility = $5, shared_with = $6, filter = $7, updated_at = $8 \
                     WHERE id = $1 RETURNING id",
                )
                .arg(f.id.clone())
                .arg(Uuid::parse_str(&f.owner).unwrap_or_default())
                .arg(f.name.clone())
                .arg(f.description.clone())
                .arg(visibility_sql(&f.visibility))
                .arg(shared_users(f))
                .arg(f.filter.to_value())
                .arg(f.updated_at),
                Retry::Safe,
            )
            .await?;
        if !rows.is_empty() {
            return Ok(());
        }
        if self
            .visible("SELECT 1 FROM sms_saved_filters WHERE id = $1", &f.id)
            .await?
        {
            Err(denied(format!(
                "the saved filter {:?} belongs to another user",
                f.id
            )))
        } else {
            Err(not_found("saved filter", &f.id))
        }
    }

    async fn get(&self, id: &str) -> Result<Option<SavedFilter>> {
        const SQL: &str = "SELECT id, owner, name, description, visibility, shared_with, filter, \
                           created_at, updated_at FROM sms_saved_filters WHERE id = $1";
        let rows = self
            .rows(Stmt::new(SQL).arg(id.to_owned()), Retry::Safe)
            .await?;
        rows.first().map(saved_from_row).transpose()
    }

    async fn list(&self) -> Result<Vec<SavedFilter>> {
        let rows = self
            .rows(
                Stmt::new(
                    "SELECT id, owner, name, description, visibility, shared_with, filter, \
                     created_at, updated_at FROM sms_saved_filters \
                     ORDER BY name COLLATE \"C\", id COLLATE \"C\"",
                ),
                Retry::Safe,
            )
            .await?;
        rows.iter().map(saved_from_row).collect()
    }

    async fn delete(&self, id: &str) -> Result<bool> {
        let rows = self
            .rows(
                Stmt::new("DELETE FROM sms_saved_filters WHERE id = $1 RETURNING id")
                    .arg(id.to_owned()),
                Retry::Never,
            )
            .await?;
        if !rows.is_empty() {
            return Ok(true);
        }
        if self
            .visible("SELECT 1 FROM sms_saved_filters WHERE id = $1", id)
            .await?
        {
            return Err(denied(format!(
                "the saved filter {id:?} belongs to another user"
            )));
        }
        Ok(false)
    }

    async fn import(&self, filters: &[SavedFilter], team: Option<&str>) -> Result<Changes> {
        let mut seen = HashSet::new();
        for f in filters {
            check_saved(f, &self.inner.config.schema)?;
            if !seen.insert(f.id.as_str()) {
                return Err(twice("saved filter", &f.id));
            }
        }
        if filters.is_empty() {
            return Ok(Changes::default());
        }
        let input = Value::Array(filters.iter().map(saved_json).collect());
        let rows = self
            .rows(
                Stmt::new(
                    "INSERT INTO sms_saved_filters AS s (id, owner, team_id, name, description, \
                     visibility, shared_with, filter, created_at, updated_at) \
                     SELECT r.id, r.owner, coalesce($2, sms_team_id()), r.name, r.description, \
                     r.visibility, r.shared_with, r.filter, r.created_at, r.updated_at \
                     FROM jsonb_to_recordset($1) AS r(id text, owner uuid, name text, \
                     description text, visibility text, shared_with uuid[], filter jsonb, \
                     created_at timestamptz, updated_at timestamptz) \
                     ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, name = EXCLUDED.name, \
                     description = EXCLUDED.description, visibility = EXCLUDED.visibility, \
                     shared_with = EXCLUDED.shared_with, filter = EXCLUDED.filter, \
                     created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at \
                     WHERE (s.owner, s.name, s.description, s.visibility, s.shared_with, s.filter, \
                     s.created_at, s.updated_at) IS DISTINCT FROM (EXCLUDED.owner, EXCLUDED.name, \
                     EXCLUDED.description, EXCLUDED.visibility, EXCLUDED.shared_with, \
                     EXCLUDED.filter, EXCLUDED.created_at, EXCLUDED.updated_at) \
                     RETURNING s.id AS key, (s.xmax = 0) AS created",
                )
                .arg(input)
                .arg(team.map(str::to_owned)),
                Retry::Never,
            )
            .await?;
        changes(
            filters.iter().map(|f| f.id.as_str()),
            &rows,
            "sms_saved_filters",
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------------------------

fn flag_from_row(row: &Row) -> Result<FlagRow> {
    let t = "sms_feature_flags";
    Ok(FlagRow {
        name: get(row, t, "name")?,
        description: get(row, t, "description")?,
        enabled: get(row, t, "enabled")?,
        flag_type: get(row, t, "flag_type")?,
        project: get(row, t, "project")?,
        stale: get(row, t, "stale")?,
        impression_data: get(row, t, "impression_data")?,
        strategies: get(row, t, "strategies")?,
        variants: get(row, t, "variants")?,
        dependencies: get(row, t, "dependencies")?,
    })
}

/// Upserts flags, reporting created, updated and unchanged names.
const FLAG_UPSERT: &str = "INSERT INTO sms_feature_flags AS f (name, description, enabled, \
    flag_type, project, stale, impression_data, strategies, variants, dependencies, created_at, \
    updated_at) \
    SELECT r.name, r.description, r.enabled, r.flag_type, r.project, r.stale, r.impression_data, \
    coalesce(r.strategies, '[]'), coalesce(r.variants, '[]'), coalesce(r.dependencies, '[]'), $2, $2 \
    FROM jsonb_to_recordset($1) AS r(name text, description text, enabled boolean, \
    flag_type text, project text, stale boolean, impression_data boolean, strategies jsonb, \
    variants jsonb, dependencies jsonb) \
    ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description, \
    enabled = EXCLUDED.enabled, flag_type = EXCLUDED.flag_type, project = EXCLUDED.project, \
    stale = EXCLUDED.stale, impression_data = EXCLUDED.impression_data, \
    strategies = EXCLUDED.strategies, variants = EXCLUDED.variants, \
    dependencies = EXCLUDED.dependencies, updated_at = EXCLUDED.updated_at \
    WHERE (f.description, f.enabled, f.flag_type, f.project, f.stale, f.impression_data, \
    f.strategies, f.variants, f.dependencies) IS DISTINCT FROM (EXCLUDED.description, \
    EXCLUDED.enabled, EXCLUDED.flag_type, EXCLUDED.project, EXCLUDED.stale, \
    EXCLUDED.impression_data, EXCLUDED.strategies, EXCLUDED.variants, EXCLUDED.dependencies) \
    RETURNING f.name AS key, (f.xmax = 0) AS created";

const SEGMENT_UPSERT: &str = "INSERT INTO sms_feature_flag_segments AS s (id, name, constraints, \
    created_at, updated_at) \
    SELECT r.id, r.name, coalesce(r.constraints, '[]'), $2, $2 \
    FROM jsonb_to_recordset($1) AS r(id bigint, name text, constraints jsonb) \
    ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, constraints = EXCLUDED.constraints, \
    updated_at = EXCLUDED.updated_at \
    WHERE (s.name, s.constraints) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.constraints) \
    RETURNING s.id::text AS key, (s.xmax = 0) AS created";

fn rows_json<T: serde::Serialize>(rows: &[T]) -> Result<Value> {
    serde_json::to_value(rows).map_err(|e| {
        Error::new(ErrorKind::InvalidInput {
            message: format!("cannot write rows as JSON: {e}"),
        })
    })
}

fn unique_flags(flags: &[FlagRow]) -> Result<()> {
    let mut seen = HashSet::new();
    for f in flags {
        if !seen.insert(f.name.as_str()) {
            return Err(twice("flag", &f.name));
        }
    }
    Ok(())
}

#[async_trait]
impl FlagStore for PgView {
    async fn load(&self) -> Result<State> {
        let results = self
            .run(
                &[
                    Stmt::new(
                        "SELECT name, description, enabled, flag_type, project, stale, \
                         impression_data, strategies, variants, dependencies \
                         FROM sms_feature_flags ORDER BY name COLLATE \"C\"",
                    ),
                    Stmt::new(
                        "SELECT id, name, constraints FROM sms_feature_flag_segments ORDER BY id",
                    ),
                ],
                Retry::Safe,
            )
            .await?;
        let flags = results[0]
            .iter()
            .map(flag_from_row)
            .collect::<Result<Vec<_>>>()?;
        let t = "sms_feature_flag_segments";
        let segments = results[1]
            .iter()
            .map(|row| {
                Ok(SegmentRow {
                    id: get(row, t, "id")?,
                    name: get(row, t, "name")?,
                    constraints: get(row, t, "constraints")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        State::from_rows(&flags, &segments)
    }

    async fn get(&self, name: &str) -> Result<Option<FlagRow>> {
        const SQL: &str = "SELECT name, description, enabled, flag_type, project, stale, \
                           impression_data, strategies, variants, dependencies \
                           FROM sms_feature_flags WHERE name = $1";
        let rows = self
            .rows(Stmt::new(SQL).arg(name.to_owned()), Retry::Safe)
            .await?;
        rows.first().map(flag_from_row).transpose()
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
        let results = self
            .run(
                &[
                    Stmt::new(SEGMENT_UPSERT)
                        .arg(rows_json(&segments)?)
                        .arg(now),
                    Stmt::new(FLAG_UPSERT).arg(rows_json(&flags)?).arg(now),
                ],
                Retry::Never,
            )
            .await?;
        let segment_keys: Vec<String> = segments.iter().map(|s| s.id.to_string()).collect();
        Ok(FlagChanges {
            segments: changes(
                segment_keys.iter().map(String::as_str),
                &results[0],
                "sms_feature_flag_segments",
            )?,
            flags: changes(
                flags.iter().map(|f| f.name.as_str()),
                &results[1],
                "sms_feature_flags",
            )?,
        })
    }

    async fn upsert(&self, flags: &[FlagRow], now: Timestamp) -> Result<Changes> {
        check_flag_rows(flags)?;
        unique_flags(flags)?;
        let rows = self
            .rows(
                Stmt::new(FLAG_UPSERT).arg(rows_json(flags)?).arg(now),
                Retry::Never,
            )
            .await?;
        changes(
            flags.iter().map(|f| f.name.as_str()),
            &rows,
            "sms_feature_flags",
        )
    }

    async fn set_enabled(&self, name: &str, enabled: bool, now: Timestamp) -> Result<()> {
        let rows = self
            .rows(
                Stmt::new(
                    "UPDATE sms_feature_flags SET enabled = $2, updated_at = $3 \
                     WHERE name = $1 RETURNING name",
                )
                .arg(name.to_owned())
                .arg(enabled)
                .arg(now),
                Retry::Safe,
            )
            .await?;
        if rows.is_empty() {
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
        let rows = self
            .rows(
                Stmt::new("SELECT sms_ensure_flags($1, $2) AS name")
                    .arg(wanted.clone())
                    .arg(now),
                Retry::Never,
            )
            .await?;
        let created: HashSet<String> = rows
            .iter()
            .map(|r| get::<String>(r, "sms_feature_flags", "name"))
            .collect::<Result<_>>()?;
        let mut seen = HashSet::new();
        Ok(wanted
            .into_iter()
            .filter(|n| created.contains(n) && seen.insert(n.clone()))
            .collect())
    }

    async fn delete(&self, name: &str) -> Result<bool> {
        let rows = self
            .rows(
                Stmt::new("DELETE FROM sms_feature_flags WHERE name = $1 RETURNING name")
                    .arg(name.to_owned()),
                Retry::Never,
            )
            .await?;
        Ok(!rows.is_empty())
    }
}

// ---------------------------------------------------------------------------------------------
// Suppressions
// ---------------------------------------------------------------------------------------------

fn suppression_from_row(row: &Row) -> Result<Suppression> {
    let t = "sms_suppressions";
    Ok(Suppression {
        phone: get(row, t, "phone")?,
        reason: get(row, t, "reason")?,
        created_at: get(row, t, "created_at")?,
    })
}

/// Keeps the first of each phone, in order.
fn first_of_each<T>(items: &[T], key: impl Fn(&T) -> &str) -> Vec<&T> {
    let mut seen = HashSet::new();
    items.iter().filter(|i| seen.insert(key(i))).collect()
}

#[async_trait]
impl SuppressionStore for PgView {
    async fn add(&self, phones: &[(String, Option<String>)], now: Timestamp) -> Result<Changes> {
        check_phones(phones.iter().map(|(p, _)| p.as_str()))?;
        for (_, reason) in phones {
            if let Some(r) = reason {
                crate::store::customer::check_text(r, "/reason")?;
            }
        }
        let unique = first_of_each(phones, |(p, _)| p.as_str());
        if unique.is_empty() {
            return Ok(Changes::default());
        }
        let input = Value::Array(
            unique
                .iter()
                .map(|(p, r)| json!({"phone": p, "reason": r}))
                .collect(),
        );
        let rows = self
            .rows(
                Stmt::new(
                    "INSERT INTO sms_suppressions (phone, reason, created_at) \
                     SELECT r.phone, r.reason, $2 \
                     FROM jsonb_to_recordset($1) AS r(phone text, reason text) \
                     ON CONFLICT (phone) DO NOTHING RETURNING phone",
                )
                .arg(input)
                .arg(now),
                Retry::Never,
            )
            .await?;
        let added: HashSet<String> = rows
            .iter()
            .map(|r| get::<String>(r, "sms_suppressions", "phone"))
            .collect::<Result<_>>()?;
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
        let rows = self
            .rows(
                Stmt::new("DELETE FROM sms_suppressions WHERE phone = ANY($1) RETURNING phone")
                    .arg(phones.to_vec()),
                Retry::Never,
            )
            .await?;
        let removed: HashSet<String> = rows
            .iter()
            .map(|r| get::<String>(r, "sms_suppressions", "phone"))
            .collect::<Result<_>>()?;
        let mut seen = HashSet::new();
        Ok(phones
            .iter()
            .filter(|p| removed.contains(*p) && seen.insert(p.as_str()))
            .cloned()
            .collect())
    }

    async fn check(&self, phones: &[String]) -> Result<Vec<String>> {
        let rows = self
            .rows(
                Stmt::new("SELECT phone FROM sms_suppressions WHERE phone = ANY($1)")
                    .arg(phones.to_vec()),
                Retry::Safe,
            )
            .await?;
        let found: HashSet<String> = rows
            .iter()
            .map(|r| get::<String>(r, "sms_suppressions", "phone"))
            .collect::<Result<_>>()?;
        Ok(phones
            .iter()
            .filter(|p| found.contains(*p))
            .cloned()
            .collect())
    }

    async fn list(&self, after: Option<&str>, limit: u32) -> Result<Vec<Suppression>> {
        let rows = self
            .rows(
                Stmt::new(
                    "SELECT phone, reason, created_at FROM sms_suppressions \
                     WHERE $1::text IS NULL OR phone COLLATE \"C\" > $1::text \
                     ORDER BY phone COLLATE \"C\" LIMIT $2",
                )
                .arg(after.map(str::to_owned))
                .arg(i64::from(limit)),
                Retry::Safe,
            )
            .await?;
        rows.iter().map(suppression_from_row).collect()
    }
}
