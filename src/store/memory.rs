//! The in-memory store: every repository in process, with the in-memory filter evaluator and
//! the same row-level security as the database schema, safe under concurrent tasks.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::actor::{Actor, UserClaims};
use super::batch::{
    Batch, BatchQuery, BatchStore, CreatedBatch, NewBatch, batch_not_found, check_new_batch,
    check_transition, refused,
};
use super::bundle::{Backend, Changes, Store};
use super::customer::{Customer, CustomerPage, CustomerStore, check_customer_schema};
use super::exclusion::{Exclusion, ExclusionStore, NewExclusion, check_exclusions};
use super::flag::{FlagChanges, FlagRow, FlagStore, SegmentRow, check_flag_rows};
use super::log::{BatchLog, BatchLogStore, NewBatchLog, check_logs};
use super::message::{
    CheckClaim, CheckKind, CheckResult, Checks, Claim, Fence, Message, MessageQuery, MessageStore,
    MessageTotals, NewMessage, Requeued, Rescued, Transition, check_change, check_changes,
    check_check, check_new_messages, lease_lost, lease_millis, message_not_found,
};
use super::saved::{SavedFilterStore, check_saved, shared_users};
use super::suppression::{Suppression, SuppressionStore, check_phones};
use super::template::{TemplateStore, check_template};
use crate::batch::{Amount, ExclusionReason};
use crate::error::{Error, ErrorKind, Result};
use crate::filter::{FilterOptions, Query, SavedFilter, Schema, Table, Visibility};
use crate::flags::State;
use crate::queue::{
    BatchState, ErrorCategory, MessageStatus, PauseReason, SpendGuard, StatusCounts,
};
use crate::random::SplitMix64;
use crate::template::TemplateRecord;
use crate::time::Timestamp;

/// The in-memory store (always available, also in the browser build): every repository over
/// data in process, queries run by the in-memory evaluator, and the row-level security of the
/// database schema applied to each [`Actor`]. Clones share the data; every operation holds one
/// lock for its whole length, so each is atomic, as a statement is in the database (a claim
/// never hands a message to two tasks).
///
/// ```
/// use smsbatch::filter::{FilterOptions, Query};
/// use smsbatch::store::{Actor, Backend, Customer, MemoryStore};
///
/// # async fn demo() -> smsbatch::Result<()> {
/// let store = MemoryStore::new().store(Actor::Service)?;
/// let mut zoe = Customer::new(1);
/// zoe.first_name = Some("Zoë".into());
/// store.customers.upsert(&[zoe, Customer::new(2)]).await?;
/// let query: Query = serde_json::from_str(r#"{"search": "zoe", "count": true}"#).unwrap();
/// let page = store.customers.query(&query, &FilterOptions::new(), None).await?;
/// assert_eq!(page.total, Some(0)); // search is case-insensitive, not accent-insensitive
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    schema: Schema,
    data: Mutex<Data>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The data can be large: only its size.
        let data = self.inner.data.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("MemoryStore")
            .field("customers", &data.customers.len())
            .field("batches", &data.batches.len())
            .field("messages", &data.messages.len())
            .finish_non_exhaustive()
    }
}

struct TemplateRow {
    record: TemplateRecord,
    team: Option<String>,
    owner: Option<Uuid>,
}

struct SavedRow {
    filter: SavedFilter,
    owner: Uuid,
    shared: Vec<Uuid>,
    team: Option<String>,
}

#[derive(Default)]
struct Data {
    /// Customers in insertion order, their flat form (what filters see), and an index by id.
    customers: Vec<Customer>,
    flat: Vec<Value>,
    by_id: HashMap<i64, usize>,
    /// The flat rows parsed into typed columns, built by the first query after a write (so
    /// repeated queries, a page typing a filter, do not parse every row again).
    table: Option<Arc<Table>>,
    templates: BTreeMap<String, TemplateRow>,
    saved: BTreeMap<String, SavedRow>,
    batches: HashMap<Uuid, Batch>,
    batch_keys: HashMap<(Uuid, String), Uuid>,
    messages: BTreeMap<i64, Message>,
    /// Per batch: message ids (in order), customers and phones (the unique keys).
    batch_messages: HashMap<Uuid, BTreeSet<i64>>,
    message_customers: HashSet<(Uuid, i64)>,
    message_phones: HashSet<(Uuid, String)>,
    provider_ids: HashMap<String, i64>,
    /// Pending messages by batch, in claim order; processing ones by lease end.
    pending: HashMap<Uuid, BTreeSet<(Timestamp, i64)>>,
    leases: BTreeSet<(Timestamp, i64)>,
    next_message: i64,
    exclusions: BTreeMap<i64, Exclusion>,
    exclusion_keys: HashSet<(Uuid, i64)>,
    next_exclusion: i64,
    logs: BTreeMap<i64, BatchLog>,
    next_log: i64,
    flags: BTreeMap<String, FlagRow>,
    segments: BTreeMap<i64, SegmentRow>,
    suppressions: BTreeMap<String, Suppression>,
    ids: Option<SplitMix64>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store over the default customer schema.
    pub fn new() -> Self {
        Self::build(Schema::customers())
    }

    /// An empty store whose customer queries use `schema` (its fields that are not columns of
    /// the customers table live in `attributes`).
    pub fn with_schema(schema: Schema) -> Result<Self> {
        check_customer_schema(&schema)?;
        Ok(Self::build(schema))
    }

    fn build(schema: Schema) -> Self {
        Self {
            inner: Arc::new(Inner {
                schema,
                data: Mutex::new(Data::default()),
            }),
        }
    }
}

impl Backend for MemoryStore {
    fn store(&self, actor: Actor) -> Result<Store> {
        Ok(Store::from_all(Arc::new(MemoryView {
            inner: Arc::clone(&self.inner),
            actor,
        })))
    }
}

/// The store acting for one actor.
struct MemoryView {
    inner: Arc<Inner>,
    actor: Actor,
}

impl std::fmt::Debug for MemoryView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryView")
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

fn denied(what: impl Into<String>) -> Error {
    Error::new(ErrorKind::PermissionDenied {
        message: what.into(),
    })
}

fn not_found(what: &str, id: impl ToString) -> Error {
    Error::new(ErrorKind::NotFound {
        what: what.into(),
        id: id.to_string(),
    })
}

fn unique(constraint: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::UniqueViolation {
        constraint: constraint.into(),
        message: message.into(),
    })
}

/// Who is acting, once the anonymous caller (who may do nothing) is ruled out.
enum Who<'a> {
    Service,
    User(&'a UserClaims),
}

impl Who<'_> {
    fn team(&self) -> Option<&str> {
        match self {
            Who::Service => None,
            Who::User(u) => u.team_id(),
        }
    }
}

/// `a = b` in SQL: NULL never equals anything.
fn sql_eq(a: Option<&str>, b: Option<&str>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a == b)
}

impl MemoryView {
    fn data(&self) -> MutexGuard<'_, Data> {
        // A panic while the lock was held can only come from a bug in this file; the data is
        // still consistent because every operation checks before it changes anything.
        self.inner
            .data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn who(&self, table: &str) -> Result<Who<'_>> {
        match &self.actor {
            Actor::Service => Ok(Who::Service),
            Actor::User(u) => Ok(Who::User(u)),
            Actor::Anonymous => Err(denied(format!(
                "the anonymous role has no access to {table}"
            ))),
        }
    }

    /// Only the service may do this.
    fn service_only(&self, table: &str, what: &str) -> Result<()> {
        match self.who(table)? {
            Who::Service => Ok(()),
            Who::User(_) => Err(denied(format!("a user may not {what} {table}"))),
        }
    }

    fn sees_customer(who: &Who<'_>, c: &Customer) -> bool {
        match who {
            Who::Service => true,
            Who::User(u) => sql_eq(c.team_id.as_deref(), u.team_id()),
        }
    }

    fn sees_template(who: &Who<'_>, t: &TemplateRow) -> bool {
        match who {
            Who::Service => true,
            Who::User(u) => sql_eq(t.team.as_deref(), u.team_id()),
        }
    }

    fn owns_template(who: &Who<'_>, t: &TemplateRow) -> bool {
        match who {
            Who::Service => true,
            Who::User(u) => t.owner == Some(u.id()),
        }
    }

    fn sees_saved(who: &Who<'_>, s: &SavedRow) -> bool {
        match who {
            Who::Service => true,
            Who::User(u) => {
                s.owner == u.id()
                    || (matches!(s.filter.visibility, Visibility::Shared { .. })
                        && s.shared.contains(&u.id()))
                    || (matches!(s.filter.visibility, Visibility::Team)
                        && sql_eq(s.team.as_deref(), u.team_id()))
            }
        }
    }

    fn owns_batch(who: &Who<'_>, b: &Batch) -> bool {
        match who {
            Who::Service => true,
            Who::User(u) => b.owner == Some(u.id()),
        }
    }

    /// The batch, if the actor may see it and what hangs off it.
    fn visible_batch<'d>(who: &Who<'_>, data: &'d Data, id: Uuid) -> Option<&'d Batch> {
        data.batches.get(&id).filter(|b| Self::owns_batch(who, b))
    }

    /// Checks that rows may be written under a batch: for a user its own batch (else
    /// permission denied, as the policy's check), for the service an existing one.
    fn writable_batch(who: &Who<'_>, data: &Data, id: Uuid, table: &str) -> Result<()> {
        match (Self::visible_batch(who, data, id), who) {
            (Some(_), _) => Ok(()),
            (None, Who::User(_)) => Err(denied(format!(
                "new row violates row-level security policy for table \"{table}\""
            ))),
            (None, Who::Service) => Err(batch_not_found(id)),
        }
    }

    /// The team a user's row gets: the one given, else the user's; the service's rows get the
    /// one given.
    fn row_team(who: &Who<'_>, team: Option<&str>) -> Option<String> {
        team.or_else(|| who.team()).map(str::to_owned)
    }
}

// ---------------------------------------------------------------------------------------------
// Customers
// ---------------------------------------------------------------------------------------------

#[async_trait]
impl CustomerStore for MemoryView {
    fn schema(&self) -> &Schema {
        &self.inner.schema
    }

    async fn upsert(&self, customers: &[Customer]) -> Result<u64> {
        self.service_only("customers", "write")?;
        let mut rows = customers.to_vec();
        for c in &mut rows {
            c.normalize(&self.inner.schema)?;
        }
        let mut data = self.data();
        data.table = None;
        for c in rows {
            let flat = c.to_flat();
            match data.by_id.get(&c.id).copied() {
                Some(i) => {
                    data.customers[i] = c;
                    data.flat[i] = flat;
                }
                None => {
                    let i = data.customers.len();
                    data.by_id.insert(c.id, i);
                    data.customers.push(c);
                    data.flat.push(flat);
                }
            }
        }
        Ok(customers.len() as u64)
    }

    async fn get(&self, id: i64) -> Result<Option<Customer>> {
        let who = self.who("customers")?;
        let data = self.data();
        Ok(data
            .by_id
            .get(&id)
            .map(|&i| &data.customers[i])
            .filter(|c| Self::sees_customer(&who, c))
            .cloned())
    }

    async fn delete(&self, ids: &[i64]) -> Result<u64> {
        self.service_only("customers", "delete from")?;
        let mut data = self.data();
        data.table = None;
        let mut deleted = 0;
        for id in ids {
            let Some(i) = data.by_id.remove(id) else {
                continue;
            };
            data.customers.swap_remove(i);
            data.flat.swap_remove(i);
            if let Some(moved) = data.customers.get(i).map(|c| c.id) {
                data.by_id.insert(moved, i);
            }
            deleted += 1;
        }
        Ok(deleted)
    }

    async fn query(
        &self,
        query: &Query,
        options: &FilterOptions,
        team: Option<&str>,
    ) -> Result<CustomerPage> {
        let who = self.who("customers")?;
        let compiled = query.compile(&self.inner.schema, options)?;
        let mut data = self.data();
        let scoped = |c: &Customer| {
            Self::sees_customer(&who, c) && team.is_none_or(|t| c.team_id.as_deref() == Some(t))
        };
        let page = if data.customers.iter().all(scoped) {
            let table = match &data.table {
                Some(table) => Arc::clone(table),
                None => {
                    let table = Arc::new(Table::from_rows(&self.inner.schema, &data.flat)?);
                    data.table = Some(Arc::clone(&table));
                    table
                }
            };
            let page = compiled.run_table(&data.flat, &table)?;
            let rows = page.rows.iter().map(|&i| data.customers[i].clone());
            (rows.collect(), page.total, page.next)
        } else {
            let positions: Vec<usize> = (0..data.customers.len())
                .filter(|&i| scoped(&data.customers[i]))
                .collect();
            let flat: Vec<&Value> = positions.iter().map(|&i| &data.flat[i]).collect();
            let page = compiled.run(&flat)?;
            let rows = page
                .rows
                .iter()
                .map(|&i| data.customers[positions[i]].clone());
            (rows.collect(), page.total, page.next)
        };
        Ok(CustomerPage {
            rows: page.0,
            total: page.1.map(|t| t as u64),
            next: page.2,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

impl MemoryView {
    /// Checks that a user may create a template row with this team.
    fn may_create_template(who: &Who<'_>, team: Option<&str>) -> Result<()> {
        match who {
            Who::Service => Ok(()),
            Who::User(u) if sql_eq(team, u.team_id()) => Ok(()),
            Who::User(_) => Err(denied(
                "new row violates row-level security policy for table \"sms_templates\"",
            )),
        }
    }
}

#[async_trait]
impl TemplateStore for MemoryView {
    async fn create(&self, template: &TemplateRecord, team: Option<&str>) -> Result<()> {
        let who = self.who("sms_templates")?;
        check_template(template)?;
        let team = Self::row_team(&who, team);
        Self::may_create_template(&who, team.as_deref())?;
        let mut data = self.data();
        if data.templates.contains_key(&template.id) {
            return Err(unique(
                "sms_templates_pkey",
                format!("the template {:?} exists", template.id),
            ));
        }
        data.templates.insert(
            template.id.clone(),
            TemplateRow {
                record: template.clone(),
                team,
                owner: self.actor.user_id(),
            },
        );
        Ok(())
    }

    async fn update(&self, template: &TemplateRecord) -> Result<()> {
        let who = self.who("sms_templates")?;
        check_template(template)?;
        let mut data = self.data();
        let Some(row) = data
            .templates
            .get_mut(&template.id)
            .filter(|r| Self::sees_template(&who, r))
        else {
            return Err(not_found("template", &template.id));
        };
        if !Self::owns_template(&who, row) {
            return Err(denied(format!(
                "the template {:?} belongs to another user",
                template.id
            )));
        }
        let created_at = row.record.created_at;
        row.record = template.clone();
        row.record.created_at = created_at;
        Ok(())
    }

    async fn upsert(&self, templates: &[TemplateRecord], team: Option<&str>) -> Result<Changes> {
        let who = self.who("sms_templates")?;
        for t in templates {
            check_template(t)?;
        }
        let team = Self::row_team(&who, team);
        let mut data = self.data();
        // Check every row first: nothing is written when one is refused.
        let mut seen = HashSet::new();
        for t in templates {
            if !seen.insert(&t.id) {
                return Err(Error::new(ErrorKind::InvalidInput {
                    message: format!("the template {:?} is listed twice", t.id),
                }));
            }
            match data.templates.get(&t.id) {
                Some(row)
                    if !(Self::sees_template(&who, row) && Self::owns_template(&who, row)) =>
                {
                    return Err(denied(format!(
                        "the template {:?} belongs to another user",
                        t.id
                    )));
                }
                Some(_) => {}
                None => Self::may_create_template(&who, team.as_deref())?,
            }
        }
        let mut changes = Changes::default();
        for t in templates {
            match data.templates.get_mut(&t.id) {
                Some(row) if &row.record == t => changes.unchanged.push(t.id.clone()),
                Some(row) => {
                    row.record = t.clone();
                    changes.updated.push(t.id.clone());
                }
                None => {
                    data.templates.insert(
                        t.id.clone(),
                        TemplateRow {
                            record: t.clone(),
                            team: team.clone(),
                            owner: self.actor.user_id(),
                        },
                    );
                    changes.created.push(t.id.clone());
                }
            }
        }
        Ok(changes)
    }

    async fn get(&self, id: &str) -> Result<Option<TemplateRecord>> {
        let who = self.who("sms_templates")?;
        let data = self.data();
        Ok(data
            .templates
            .get(id)
            .filter(|r| Self::sees_template(&who, r))
            .map(|r| r.record.clone()))
    }

    async fn list(&self) -> Result<Vec<TemplateRecord>> {
        let who = self.who("sms_templates")?;
        let data = self.data();
        let mut out: Vec<TemplateRecord> = data
            .templates
            .values()
            .filter(|r| Self::sees_template(&who, r))
            .map(|r| r.record.clone())
            .collect();
        out.sort_by(|a, b| {
            (a.name.as_bytes(), a.id.as_bytes()).cmp(&(b.name.as_bytes(), b.id.as_bytes()))
        });
        Ok(out)
    }

    async fn delete(&self, id: &str) -> Result<bool> {
        let who = self.who("sms_templates")?;
        let mut data = self.data();
        match data.templates.get(id) {
            Some(row) if Self::sees_template(&who, row) => {
                if !Self::owns_template(&who, row) {
                    return Err(denied(format!(
                        "the template {id:?} belongs to another user"
                    )));
                }
                data.templates.remove(id);
                // Batches keep their body snapshot; their template id is cleared.
                for batch in data.batches.values_mut() {
                    if batch.template_id.as_deref() == Some(id) {
                        batch.template_id = None;
                    }
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Saved filters
// ---------------------------------------------------------------------------------------------

impl MemoryView {
    fn saved_row(filter: &SavedFilter, team: Option<String>) -> SavedRow {
        SavedRow {
            owner: Uuid::parse_str(&filter.owner).unwrap_or_default(),
            shared: shared_users(filter),
            filter: filter.clone(),
            team,
        }
    }

    /// The policy's check on a row a user writes: its own, with its team.
    fn may_write_saved(who: &Who<'_>, row: &SavedRow) -> Result<()> {
        match who {
            Who::Service => Ok(()),
            Who::User(u) if row.owner == u.id() && row.team.as_deref() == u.team_id() => Ok(()),
            Who::User(_) => Err(denied(
                "new row violates row-level security policy for table \"sms_saved_filters\"",
            )),
        }
    }

    fn owns_saved(who: &Who<'_>, row: &SavedRow) -> bool {
        match who {
            Who::Service => true,
            Who::User(u) => row.owner == u.id(),
        }
    }
}

#[async_trait]
impl SavedFilterStore for MemoryView {
    async fn create(&self, filter: &SavedFilter, team: Option<&str>) -> Result<()> {
        let who = self.who("sms_saved_filters")?;
        check_saved(filter, &self.inner.schema)?;
        let row = Self::saved_row(filter, Self::row_team(&who, team));
        Self::may_write_saved(&who, &row)?;
        let mut data = self.data();
        if data.saved.contains_key(&filter.id) {
            return Err(unique(
                "sms_saved_filters_pkey",
                format!("the saved filter {:?} exists", filter.id),
            ));
        }
        data.saved.insert(filter.id.clone(), row);
        Ok(())
    }

    async fn update(&self, filter: &SavedFilter) -> Result<()> {
        let who = self.who("sms_saved_filters")?;
        check_saved(filter, &self.inner.schema)?;
        let mut data = self.data();
        let Some(row) = data
            .saved
            .get_mut(&filter.id)
            .filter(|r| Self::sees_saved(&who, r))
        else {
            return Err(not_found("saved filter", &filter.id));
        };
        if !Self::owns_saved(&who, row) {
            return Err(denied(format!(
                "the saved filter {:?} belongs to another user",
                filter.id
            )));
        }
        let mut updated = Self::saved_row(filter, row.team.clone());
        updated.filter.created_at = row.filter.created_at;
        Self::may_write_saved(&who, &updated)?;
        *row = updated;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<SavedFilter>> {
        let who = self.who("sms_saved_filters")?;
        let data = self.data();
        Ok(data
            .saved
            .get(id)
            .filter(|r| Self::sees_saved(&who, r))
            .map(|r| r.filter.clone()))
    }

    async fn list(&self) -> Result<Vec<SavedFilter>> {
        let who = self.who("sms_saved_filters")?;
        let data = self.data();
        let mut out: Vec<SavedFilter> = data
            .saved
            .values()
            .filter(|r| Self::sees_saved(&who, r))
            .map(|r| r.filter.clone())
            .collect();
        out.sort_by(|a, b| {
            (a.name.as_bytes(), a.id.as_bytes()).cmp(&(b.name.as_bytes(), b.id.as_bytes()))
        });
        Ok(out)
    }

    async fn delete(&self, id: &str) -> Result<bool> {
        let who = self.who("sms_saved_filters")?;
        let mut data = self.data();
        match data.saved.get(id) {
            Some(row) if Self::sees_saved(&who, row) => {
                if !Self::owns_saved(&who, row) {
                    return Err(denied(format!(
                        "the saved filter {id:?} belongs to another user"
                    )));
                }
                data.saved.remove(id);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn import(&self, filters: &[SavedFilter], team: Option<&str>) -> Result<Changes> {
        let who = self.who("sms_saved_filters")?;
        for f in filters {
            check_saved(f, &self.inner.schema)?;
        }
        let team = Self::row_team(&who, team);
        let mut data = self.data();
        let mut seen = HashSet::new();
        for f in filters {
            if !seen.insert(&f.id) {
                return Err(Error::new(ErrorKind::InvalidInput {
                    message: format!("the saved filter {:?} is listed twice", f.id),
                }));
            }
            match data.saved.get(&f.id) {
                Some(row) => {
                    if !(Self::sees_saved(&who, row) && Self::owns_saved(&who, row)) {
                        return Err(denied(format!(
                            "the saved filter {:?} belongs to another user",
                            f.id
                        )));
                    }
                    Self::may_write_saved(&who, &Self::saved_row(f, row.team.clone()))?;
                }
                None => Self::may_write_saved(&who, &Self::saved_row(f, team.clone()))?,
            }
        }
        let mut changes = Changes::default();
        for f in filters {
            match data.saved.get_mut(&f.id) {
                Some(row) if &row.filter == f => changes.unchanged.push(f.id.clone()),
                Some(row) => {
                    *row = Self::saved_row(f, row.team.clone());
                    changes.updated.push(f.id.clone());
                }
                None => {
                    data.saved
                        .insert(f.id.clone(), Self::saved_row(f, team.clone()));
                    changes.created.push(f.id.clone());
                }
            }
        }
        Ok(changes)
    }
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

#[async_trait]
impl BatchStore for MemoryView {
    async fn create(&self, batch: &NewBatch, now: Timestamp) -> Result<CreatedBatch> {
        let who = self.who("sms_batches")?;
        check_new_batch(batch)?;
        let owner = batch.owner.or(self.actor.user_id());
        let team = Self::row_team(&who, batch.team_id.as_deref());
        if let Who::User(u) = &who
            && (owner != Some(u.id()) || team.as_deref() != u.team_id())
        {
            return Err(denied(
                "new row violates row-level security policy for table \"sms_batches\"",
            ));
        }
        let mut data = self.data();
        if let Some(key) = &batch.idempotency_key
            && let Some(id) = data
                .batch_keys
                .get(&(owner.unwrap_or_default(), key.clone()))
            && let Some(existing) = data.batches.get(id)
        {
            return Ok(CreatedBatch {
                batch: existing.clone(),
                created: false,
            });
        }
        let id = match batch.id {
            Some(id) => id,
            None => {
                let rng = data
                    .ids
                    .get_or_insert_with(|| SplitMix64::new(0x5EED_BA7C_4000_0001));
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
                bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
                uuid::Builder::from_random_bytes(bytes).into_uuid()
            }
        };
        if data.batches.contains_key(&id) {
            return Err(unique("sms_batches_pkey", format!("the batch {id} exists")));
        }
        let row = Batch {
            id,
            owner,
            team_id: team,
            state: batch.state,
            pause_reason: None,
            purpose: batch.purpose,
            template_id: batch.template_id.clone(),
            template_body: batch.template_body.clone(),
            sender: batch.sender.clone(),
            filter: batch.filter.clone(),
            options: batch.options.clone(),
            idempotency_key: batch.idempotency_key.clone(),
            send_at: batch.send_at,
            progress: Value::Object(Map::new()),
            currency: batch.currency.clone(),
            budget: batch.budget,
            budget_reserved: Amount::ZERO,
            budget_spent: Amount::ZERO,
            created_at: now,
            updated_at: now,
            started_at: None,
            completed_at: None,
        };
        if let Some(template) = &row.template_id
            && !data.templates.contains_key(template)
        {
            return Err(Error::new(ErrorKind::NotFound {
                what: "template".into(),
                id: template.clone(),
            }));
        }
        if let Some(key) = &batch.idempotency_key {
            data.batch_keys
                .insert((owner.unwrap_or_default(), key.clone()), id);
        }
        data.batches.insert(id, row.clone());
        Ok(CreatedBatch {
            batch: row,
            created: true,
        })
    }

    async fn get(&self, id: Uuid) -> Result<Option<Batch>> {
        let who = self.who("sms_batches")?;
        let data = self.data();
        Ok(Self::visible_batch(&who, &data, id).cloned())
    }

    async fn list(&self, query: &BatchQuery) -> Result<Vec<Batch>> {
        let who = self.who("sms_batches")?;
        let data = self.data();
        let mut out: Vec<&Batch> = data
            .batches
            .values()
            .filter(|b| Self::owns_batch(&who, b))
            .filter(|b| query.states.is_empty() || query.states.contains(&b.state))
            .filter(|b| {
                query.after.is_none_or(|after| {
                    let key = (b.created_at, b.id);
                    if query.newest_first {
                        key < after
                    } else {
                        key > after
                    }
                })
            })
            .collect();
        out.sort_by_key(|b| (b.created_at, b.id));
        if query.newest_first {
            out.reverse();
        }
        let limit = query.limit.map_or(usize::MAX, |l| l as usize);
        Ok(out.into_iter().take(limit).cloned().collect())
    }

    async fn transition(
        &self,
        id: Uuid,
        to: BatchState,
        reason: Option<PauseReason>,
        now: Timestamp,
    ) -> Result<Batch> {
        let who = self.who("sms_batches")?;
        check_transition(to, reason)?;
        let mut data = self.data();
        let Some(batch) = data
            .batches
            .get_mut(&id)
            .filter(|b| Self::owns_batch(&who, b))
        else {
            return Err(batch_not_found(id));
        };
        if !batch.state.can_become(to) {
            return Err(refused(batch.state, to));
        }
        batch.state = to;
        batch.pause_reason = if to == BatchState::Paused {
            reason
        } else {
            None
        };
        if to == BatchState::Sending && batch.started_at.is_none() {
            batch.started_at = Some(now);
        }
        if to.is_terminal() {
            batch.completed_at = Some(now);
        }
        batch.updated_at = now;
        Ok(batch.clone())
    }

    async fn set_progress(&self, id: Uuid, progress: &Value, now: Timestamp) -> Result<()> {
        let who = self.who("sms_batches")?;
        if progress.to_string().contains("\\u0000") {
            return Err(Error::new(ErrorKind::InvalidInput {
                message: "the progress contains a NUL character, which PostgreSQL cannot store"
                    .into(),
            }));
        }
        let mut data = self.data();
        let Some(batch) = data
            .batches
            .get_mut(&id)
            .filter(|b| Self::owns_batch(&who, b))
        else {
            return Err(batch_not_found(id));
        };
        batch.progress = progress.clone();
        batch.updated_at = now;
        Ok(())
    }

    async fn delete(&self, id: Uuid) -> Result<bool> {
        let who = self.who("sms_batches")?;
        let mut data = self.data();
        let Some(batch) = Self::visible_batch(&who, &data, id).cloned() else {
            return Ok(false);
        };
        data.batches.remove(&id);
        if let Some(key) = &batch.idempotency_key {
            data.batch_keys
                .remove(&(batch.owner.unwrap_or_default(), key.clone()));
        }
        for mid in data.batch_messages.remove(&id).unwrap_or_default() {
            if let Some(m) = data.messages.remove(&mid) {
                data.unindex(&m);
                data.message_customers.remove(&(id, m.customer_id));
                data.message_phones.remove(&(id, m.phone.clone()));
                if let Some(p) = &m.provider_id {
                    data.provider_ids.remove(p);
                }
            }
        }
        data.pending.remove(&id);
        data.exclusions.retain(|_, e| e.batch_id != id);
        data.exclusion_keys.retain(|(b, _)| *b != id);
        data.logs.retain(|_, l| l.batch_id != id);
        Ok(true)
    }
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

impl Data {
    /// Gives a message's budget reservation back to its batch (batches with a budget keep one).
    fn give_back(&mut self, batch_id: Uuid, cost: Amount) {
        if let Some(batch) = self.batches.get_mut(&batch_id)
            && batch.budget.is_some()
        {
            batch.budget_reserved = SpendGuard::release(batch.budget_reserved, cost);
        }
    }

    /// Whether a move from `from` to `to` gives the reservation back: the provider did not
    /// take the message (failed), or it will be claimed again (pending).
    fn releases(from: MessageStatus, to: MessageStatus) -> bool {
        matches!(from, MessageStatus::Processing | MessageStatus::InDoubt)
            && matches!(to, MessageStatus::Pending | MessageStatus::Failed)
    }

    /// Removes a message from the queue indexes.
    fn unindex(&mut self, m: &Message) {
        match m.status {
            MessageStatus::Pending => {
                if let Some(set) = self.pending.get_mut(&m.batch_id) {
                    set.remove(&(m.run_at, m.id));
                }
            }
            MessageStatus::Processing => {
                if let Some(lease) = m.lease_expires_at {
                    self.leases.remove(&(lease, m.id));
                }
            }
            _ => {}
        }
    }

    /// Adds a message to the queue indexes.
    fn index(&mut self, m: &Message) {
        match m.status {
            MessageStatus::Pending => {
                self.pending
                    .entry(m.batch_id)
                    .or_default()
                    .insert((m.run_at, m.id));
            }
            MessageStatus::Processing => {
                if let Some(lease) = m.lease_expires_at {
                    self.leases.insert((lease, m.id));
                }
            }
            _ => {}
        }
    }

    /// Replaces a message, keeping the indexes right.
    fn replace(&mut self, updated: Message) -> Result<Message> {
        let Some(old) = self.messages.get(&updated.id).cloned() else {
            return Err(lease_lost(updated.id));
        };
        if updated.provider_id != old.provider_id
            && let Some(p) = &updated.provider_id
            && self
                .provider_ids
                .get(p)
                .is_some_and(|&other| other != updated.id)
        {
            return Err(unique(
                "sms_batch_messages_provider_idx",
                format!("the provider id {p:?} belongs to another message"),
            ));
        }
        self.unindex(&old);
        if let Some(p) = &old.provider_id {
            self.provider_ids.remove(p);
        }
        if let Some(p) = &updated.provider_id {
            self.provider_ids.insert(p.clone(), updated.id);
        }
        self.index(&updated);
        self.messages.insert(updated.id, updated.clone());
        Ok(updated)
    }
}

impl MemoryView {
    /// A message the actor may see.
    fn visible_message<'d>(who: &Who<'_>, data: &'d Data, id: i64) -> Option<&'d Message> {
        data.messages
            .get(&id)
            .filter(|m| Self::visible_batch(who, data, m.batch_id).is_some())
    }

    /// The message for a fenced update, or why it cannot be updated: not found (the actor cannot
    /// see it) or lease lost.
    fn fenced(
        who: &Who<'_>,
        data: &Data,
        id: i64,
        holds: impl FnOnce(&Message) -> bool,
    ) -> Result<Message> {
        match Self::visible_message(who, data, id) {
            None => Err(message_not_found(id)),
            Some(m) if holds(m) => Ok(m.clone()),
            Some(_) => Err(lease_lost(id)),
        }
    }
}

/// Whether a fenced change may apply to `m`.
fn holds(m: &Message, fence: Fence, change: &Transition) -> bool {
    let held = match fence {
        Fence::Claim(token) => {
            m.status == MessageStatus::Processing && m.claim_token == Some(token)
        }
        Fence::Status(status) => m.status == status,
    };
    held && m.status.can_become(change.status)
}

/// `m` after `change` (the fence already checked).
fn moved(mut m: Message, change: &Transition, now: Timestamp) -> Message {
    m.status = change.status;
    m.claim_token = None;
    m.lease_expires_at = None;
    m.check_after = None;
    if let Some(run_at) = change.run_at {
        m.run_at = run_at;
    }
    if let Some(p) = &change.provider_id {
        m.provider_id = Some(p.clone());
    }
    if let Some(p) = &change.provider_status {
        m.provider_status = Some(p.clone());
    }
    if let Some(s) = change.provider_segments {
        m.provider_segments = Some(s);
    }
    if let Some(c) = change.error.category {
        m.error_category = Some(c);
    }
    if let Some(c) = &change.error.code {
        m.error_code = Some(c.clone());
    }
    if let Some(msg) = &change.error.message {
        m.error_message = Some(msg.clone());
    }
    if let Some(price) = &change.price {
        m.price = Some(price.amount);
        m.price_currency = Some(price.currency.clone());
    }
    if change.status.was_accepted() && m.accepted_at.is_none() {
        m.accepted_at = Some(now);
    }
    if change.status == MessageStatus::Delivered && m.delivered_at.is_none() {
        m.delivered_at = Some(now);
    }
    m.updated_at = now;
    m
}

fn plus(now: Timestamp, lease: Duration) -> Timestamp {
    let micros = lease_millis(lease).saturating_mul(1000);
    Timestamp::from_unix_micros(now.as_unix_micros().saturating_add(micros))
        .unwrap_or(Timestamp::MAX)
}

#[async_trait]
impl MessageStore for MemoryView {
    async fn insert(&self, batch_id: Uuid, messages: &[NewMessage], now: Timestamp) -> Result<u64> {
        let who = self.who("sms_batch_messages")?;
        check_new_messages(messages)?;
        let mut data = self.data();
        Self::writable_batch(&who, &data, batch_id, "sms_batch_messages")?;
        let mut inserted = 0;
        for m in messages {
            if data.message_customers.contains(&(batch_id, m.customer_id))
                || data.message_phones.contains(&(batch_id, m.phone.clone()))
            {
                continue;
            }
            data.next_message += 1;
            let id = data.next_message;
            let row = Message {
                id,
                batch_id,
                customer_id: m.customer_id,
                phone: m.phone.clone(),
                sender: m.sender.clone(),
                country_code: m.country_code.clone(),
                body: m.body.clone(),
                encoding: m.encoding,
                segments: m.segments,
                estimated_cost: m.estimated_cost,
                variant: m.variant.clone(),
                time_zone: m.time_zone.clone(),
                status: MessageStatus::Pending,
                claim_token: None,
                lease_expires_at: None,
                attempts: 0,
                max_attempts: m.max_attempts,
                run_at: m.run_at.unwrap_or(now),
                claimed_at: None,
                send_started_at: None,
                accepted_at: None,
                delivered_at: None,
                provider_id: None,
                provider_status: None,
                provider_segments: None,
                error_category: None,
                error_code: None,
                error_message: None,
                price: None,
                price_currency: None,
                verified: 0,
                verified_at: None,
                check_after: None,
                created_at: now,
                updated_at: now,
            };
            data.message_customers.insert((batch_id, m.customer_id));
            data.message_phones.insert((batch_id, m.phone.clone()));
            data.batch_messages.entry(batch_id).or_default().insert(id);
            data.index(&row);
            data.messages.insert(id, row);
            inserted += 1;
        }
        Ok(inserted)
    }

    async fn claim(&self, claim: &Claim) -> Result<Vec<Message>> {
        let who = self.who("sms_batch_messages")?;
        let mut data = self.data();
        let batches: Vec<Uuid> = data
            .batches
            .values()
            .filter(|b| b.state == BatchState::Sending && Self::owns_batch(&who, b))
            .filter(|b| claim.batch_id.is_none_or(|id| id == b.id))
            .map(|b| b.id)
            .collect();
        // The first `limit` due messages of each batch, then the first `limit` of those: the
        // order of the SQL function (run_at, then id).
        let limit = claim.limit as usize;
        let mut due: Vec<(Timestamp, i64)> = Vec::new();
        for b in batches {
            if let Some(set) = data.pending.get(&b) {
                let from = match claim.after {
                    Some(after) => std::ops::Bound::Excluded(after),
                    None => std::ops::Bound::Unbounded,
                };
                due.extend(
                    set.range((from, std::ops::Bound::Unbounded))
                        .take_while(|(run_at, _)| *run_at <= claim.now)
                        .take(limit)
                        .copied(),
                );
            }
        }
        due.sort_unstable();
        due.truncate(limit);
        let lease_end = plus(claim.now, claim.lease);
        let mut out = Vec::with_capacity(due.len());
        // Batches whose budget the claim found exhausted: no later message of theirs is taken.
        let mut full: HashSet<Uuid> = HashSet::new();
        for (_, id) in due {
            let Some(mut m) = data.messages.get(&id).cloned() else {
                continue;
            };
            if full.contains(&m.batch_id) {
                continue;
            }
            // The budget guard, as the SQL function: reserve the estimated cost on the batch if
            // it fits, else pause the batch (reason budget) and take none of its later messages.
            if let Some(batch) = data.batches.get_mut(&m.batch_id)
                && let Some(budget) = batch.budget
            {
                let guard = SpendGuard::new(budget);
                if guard.fits(batch.budget_reserved, m.estimated_cost) {
                    batch.budget_reserved = Amount::from_nanos(
                        batch.budget_reserved.nanos() + m.estimated_cost.nanos(),
                    );
                } else {
                    full.insert(m.batch_id);
                    if batch.state == BatchState::Sending {
                        batch.state = BatchState::Paused;
                        batch.pause_reason = Some(PauseReason::Budget);
                        batch.updated_at = claim.now;
                    }
                    continue;
                }
            }
            m.status = MessageStatus::Processing;
            m.claim_token = Some(claim.token);
            m.claimed_at = Some(claim.now);
            m.lease_expires_at = Some(lease_end);
            m.send_started_at = claim.start_sends.then_some(claim.now);
            m.attempts += 1;
            m.updated_at = claim.now;
            out.push(data.replace(m)?);
        }
        Ok(out)
    }

    async fn mark_send_started(&self, id: i64, token: Uuid, now: Timestamp) -> Result<Message> {
        let who = self.who("sms_batch_messages")?;
        let mut data = self.data();
        let mut m = Self::fenced(&who, &data, id, |m| {
            m.status == MessageStatus::Processing && m.claim_token == Some(token)
        })?;
        m.send_started_at = Some(now);
        m.updated_at = now;
        data.replace(m)
    }

    async fn extend_lease(
        &self,
        id: i64,
        token: Uuid,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Message> {
        let who = self.who("sms_batch_messages")?;
        let mut data = self.data();
        let mut m = Self::fenced(&who, &data, id, |m| {
            m.status == MessageStatus::Processing && m.claim_token == Some(token)
        })?;
        m.lease_expires_at = Some(plus(now, lease));
        m.updated_at = now;
        data.replace(m)
    }

    async fn release(&self, id: i64, token: Uuid, now: Timestamp) -> Result<Message> {
        let who = self.who("sms_batch_messages")?;
        let mut data = self.data();
        let mut m = Self::fenced(&who, &data, id, |m| {
            m.status == MessageStatus::Processing
                && m.claim_token == Some(token)
                && m.send_started_at.is_none()
        })?;
        m.status = MessageStatus::Pending;
        m.claim_token = None;
        m.lease_expires_at = None;
        m.attempts = m.attempts.saturating_sub(1);
        m.updated_at = now;
        data.give_back(m.batch_id, m.estimated_cost);
        data.replace(m)
    }

    async fn transition(
        &self,
        id: i64,
        fence: Fence,
        change: &Transition,
        now: Timestamp,
    ) -> Result<Message> {
        let who = self.who("sms_batch_messages")?;
        check_change(change)?;
        let mut data = self.data();
        let m = Self::fenced(&who, &data, id, |m| holds(m, fence, change))?;
        if Data::releases(m.status, change.status) {
            data.give_back(m.batch_id, m.estimated_cost);
        }
        data.replace(moved(m, change, now))
    }

    async fn transition_many(
        &self,
        changes: &[(i64, Fence, Transition)],
        now: Timestamp,
    ) -> Result<Vec<Result<Message>>> {
        let who = self.who("sms_batch_messages")?;
        check_changes(changes)?;
        let mut data = self.data();
        let mut released: Vec<(Uuid, Amount)> = Vec::new();
        let outcomes: Vec<Result<Message>> = changes
            .iter()
            .map(|(id, fence, change)| {
                Self::fenced(&who, &data, *id, |m| holds(m, *fence, change)).map(|m| {
                    if Data::releases(m.status, change.status) {
                        released.push((m.batch_id, m.estimated_cost));
                    }
                    moved(m, change, now)
                })
            })
            .collect();
        // All or nothing: a provider id may belong to one message only.
        let mut claimed: HashMap<&str, i64> = HashMap::new();
        for m in outcomes.iter().flatten() {
            if let Some(p) = m.provider_id.as_deref() {
                let taken = data.provider_ids.get(p).is_some_and(|&other| other != m.id)
                    || claimed.insert(p, m.id).is_some_and(|other| other != m.id);
                if taken {
                    return Err(unique(
                        "sms_batch_messages_provider_idx",
                        format!("the provider id {p:?} belongs to another message"),
                    ));
                }
            }
        }
        for (batch_id, cost) in released {
            data.give_back(batch_id, cost);
        }
        outcomes
            .into_iter()
            .map(|o| match o {
                Ok(m) => data.replace(m).map(Ok),
                Err(e) => Ok(Err(e)),
            })
            .collect()
    }

    async fn mark_send_started_many(
        &self,
        ids: &[i64],
        token: Uuid,
        now: Timestamp,
    ) -> Result<Vec<Result<Message>>> {
        let who = self.who("sms_batch_messages")?;
        let mut data = self.data();
        ids.iter()
            .map(|&id| {
                match Self::fenced(&who, &data, id, |m| {
                    m.status == MessageStatus::Processing && m.claim_token == Some(token)
                }) {
                    Ok(mut m) => {
                        m.send_started_at = Some(now);
                        m.updated_at = now;
                        data.replace(m).map(Ok)
                    }
                    Err(e) => Ok(Err(e)),
                }
            })
            .collect()
    }

    async fn rescue(&self, now: Timestamp, limit: u32) -> Result<Rescued> {
        let who = self.who("sms_batch_messages")?;
        let mut data = self.data();
        let expired: Vec<i64> = data
            .leases
            .iter()
            .take_while(|(lease, _)| *lease < now)
            .map(|&(_, id)| id)
            .filter(|&id| Self::visible_message(&who, &data, id).is_some())
            .take(limit as usize)
            .collect();
        let mut rescued = Rescued::default();
        for id in expired {
            let Some(mut m) = data.messages.get(&id).cloned() else {
                continue;
            };
            if m.send_started_at.is_none() {
                m.status = MessageStatus::Pending;
                rescued.pending += 1;
                data.give_back(m.batch_id, m.estimated_cost);
            } else {
                m.status = MessageStatus::InDoubt;
                rescued.in_doubt += 1;
            }
            m.claim_token = None;
            m.lease_expires_at = None;
            m.updated_at = now;
            data.replace(m)?;
        }
        Ok(rescued)
    }

    async fn cancel_pending(&self, batch_id: Uuid, now: Timestamp) -> Result<u64> {
        let who = self.who("sms_batch_messages")?;
        let mut data = self.data();
        if Self::visible_batch(&who, &data, batch_id).is_none() {
            return Ok(0);
        }
        let ids: Vec<i64> = data
            .pending
            .get(&batch_id)
            .map(|set| set.iter().map(|&(_, id)| id).collect())
            .unwrap_or_default();
        for &id in &ids {
            if let Some(mut m) = data.messages.get(&id).cloned() {
                m.status = MessageStatus::Cancelled;
                m.updated_at = now;
                data.replace(m)?;
            }
        }
        Ok(ids.len() as u64)
    }

    async fn get(&self, id: i64) -> Result<Option<Message>> {
        let who = self.who("sms_batch_messages")?;
        let data = self.data();
        Ok(Self::visible_message(&who, &data, id).cloned())
    }

    async fn find_by_provider_id(&self, provider_id: &str) -> Result<Option<Message>> {
        let who = self.who("sms_batch_messages")?;
        let data = self.data();
        Ok(data
            .provider_ids
            .get(provider_id)
            .and_then(|&id| Self::visible_message(&who, &data, id))
            .cloned())
    }

    async fn list(&self, query: &MessageQuery) -> Result<Vec<Message>> {
        let who = self.who("sms_batch_messages")?;
        let data = self.data();
        if Self::visible_batch(&who, &data, query.batch_id).is_none() {
            return Ok(Vec::new());
        }
        let Some(ids) = data.batch_messages.get(&query.batch_id) else {
            return Ok(Vec::new());
        };
        let start = query.after.map_or(i64::MIN, |a| a.saturating_add(1));
        Ok(ids
            .range(start..)
            .filter_map(|id| data.messages.get(id))
            .filter(|m| query.statuses.is_empty() || query.statuses.contains(&m.status))
            .take(query.limit as usize)
            .cloned()
            .collect())
    }

    async fn count_by_status(&self, batch_id: Uuid) -> Result<StatusCounts> {
        let who = self.who("sms_batch_messages")?;
        let data = self.data();
        let mut counts = StatusCounts::default();
        if Self::visible_batch(&who, &data, batch_id).is_none() {
            return Ok(counts);
        }
        for id in data.batch_messages.get(&batch_id).into_iter().flatten() {
            if let Some(m) = data.messages.get(id) {
                counts.add(m.status, 1);
            }
        }
        Ok(counts)
    }

    async fn defer(
        &self,
        id: i64,
        token: Uuid,
        run_at: Timestamp,
        now: Timestamp,
    ) -> Result<Message> {
        let who = self.who("sms_batch_messages")?;
        let mut data = self.data();
        let mut m = Self::fenced(&who, &data, id, |m| {
            m.status == MessageStatus::Processing
                && m.claim_token == Some(token)
                && m.send_started_at.is_none()
        })?;
        m.status = MessageStatus::Pending;
        m.claim_token = None;
        m.lease_expires_at = None;
        m.run_at = run_at;
        m.attempts = m.attempts.saturating_sub(1);
        m.updated_at = now;
        data.give_back(m.batch_id, m.estimated_cost);
        data.replace(m)
    }

    async fn claim_checks(&self, claim: &CheckClaim) -> Result<Checks> {
        let who = self.who("sms_batch_messages")?;
        let mut data = self.data();
        let mut checks = Checks {
            messages: Vec::new(),
            outstanding: 0,
        };
        if Self::visible_batch(&who, &data, claim.batch_id).is_none() {
            return Ok(checks);
        }
        let needs = |m: &Message| match claim.kind {
            CheckKind::Verify { pass } => m.status == MessageStatus::Sent && m.verified < pass,
            CheckKind::Reconcile => m.status == MessageStatus::InDoubt,
        };
        let due = |m: &Message| match claim.kind {
            CheckKind::Verify { .. } => m.accepted_at.is_some_and(|t| t <= claim.due),
            CheckKind::Reconcile => m.send_started_at.unwrap_or(m.updated_at) <= claim.due,
        };
        let mut take = Vec::new();
        for id in data
            .batch_messages
            .get(&claim.batch_id)
            .into_iter()
            .flatten()
        {
            let Some(m) = data.messages.get(id) else {
                continue;
            };
            if !needs(m) {
                continue;
            }
            checks.outstanding += 1;
            if take.len() < claim.limit as usize
                && due(m)
                && m.check_after.is_none_or(|t| t <= claim.now)
            {
                take.push(*id);
            }
        }
        let lease_end = plus(claim.now, claim.lease);
        for id in take {
            if let Some(m) = data.messages.get_mut(&id) {
                m.check_after = Some(lease_end);
                checks.messages.push(m.clone());
            }
        }
        Ok(checks)
    }

    async fn record_check(
        &self,
        id: i64,
        status: MessageStatus,
        check: &CheckResult,
        now: Timestamp,
    ) -> Result<Message> {
        let who = self.who("sms_batch_messages")?;
        check_check(status, check)?;
        let mut data = self.data();
        let mut m = Self::fenced(&who, &data, id, |m| m.status == status)?;
        if let Some(pass) = check.verified {
            m.verified = m.verified.max(pass);
            m.verified_at = Some(now);
        }
        if let Some(p) = &check.provider_status {
            m.provider_status = Some(p.clone());
        }
        if let Some(n) = check.provider_segments {
            m.provider_segments = Some(n);
        }
        if let Some(price) = &check.price {
            m.price = Some(price.amount);
            m.price_currency = Some(price.currency.clone());
        }
        if let Some(after) = check.check_after {
            m.check_after = after;
        }
        m.updated_at = now;
        data.replace(m)
    }

    async fn requeue_failed(&self, batch_id: Uuid, now: Timestamp) -> Result<Requeued> {
        let who = self.who("sms_batch_messages")?;
        let mut data = self.data();
        let Some(batch) = Self::visible_batch(&who, &data, batch_id) else {
            return Err(batch_not_found(batch_id));
        };
        let state = batch.state;
        if !matches!(
            state,
            BatchState::Sending
                | BatchState::Paused
                | BatchState::Verifying
                | BatchState::Completed
        ) {
            return Err(refused(state, BatchState::Sending));
        }
        let ids: Vec<i64> = data
            .batch_messages
            .get(&batch_id)
            .into_iter()
            .flatten()
            .copied()
            .filter(|id| {
                data.messages.get(id).is_some_and(|m| {
                    m.status == MessageStatus::Failed
                        && m.accepted_at.is_none()
                        && m.error_category.is_some_and(|c| c.is_retryable())
                })
            })
            .collect();
        for &id in &ids {
            if let Some(mut m) = data.messages.get(&id).cloned() {
                m.status = MessageStatus::Pending;
                m.attempts = 0;
                m.run_at = now;
                m.check_after = None;
                m.send_started_at = None;
                m.updated_at = now;
                data.replace(m)?;
            }
        }
        let mut state = state;
        if !ids.is_empty()
            && matches!(state, BatchState::Verifying | BatchState::Completed)
            && let Some(batch) = data.batches.get_mut(&batch_id)
        {
            batch.state = BatchState::Sending;
            batch.completed_at = None;
            batch.updated_at = now;
            state = BatchState::Sending;
        }
        Ok(Requeued {
            requeued: ids.len() as u64,
            state,
        })
    }

    async fn count_by_error_category(&self, batch_id: Uuid) -> Result<Vec<(ErrorCategory, u64)>> {
        let who = self.who("sms_batch_messages")?;
        let data = self.data();
        if Self::visible_batch(&who, &data, batch_id).is_none() {
            return Ok(Vec::new());
        }
        let mut counts: BTreeMap<ErrorCategory, u64> = BTreeMap::new();
        for id in data.batch_messages.get(&batch_id).into_iter().flatten() {
            if let Some(c) = data.messages.get(id).and_then(|m| m.error_category) {
                *counts.entry(c).or_default() += 1;
            }
        }
        Ok(counts.into_iter().collect())
    }

    async fn next_pending_at(&self, batch_id: Uuid) -> Result<Option<Timestamp>> {
        let who = self.who("sms_batch_messages")?;
        let data = self.data();
        if Self::visible_batch(&who, &data, batch_id).is_none() {
            return Ok(None);
        }
        Ok(data
            .batch_messages
            .get(&batch_id)
            .into_iter()
            .flatten()
            .filter_map(|id| data.messages.get(id))
            .filter(|m| m.status == MessageStatus::Pending)
            .map(|m| m.run_at)
            .min())
    }

    async fn totals(&self, batch_id: Uuid) -> Result<Vec<MessageTotals>> {
        let who = self.who("sms_batch_messages")?;
        let data = self.data();
        if Self::visible_batch(&who, &data, batch_id).is_none() {
            return Ok(Vec::new());
        }
        let mut groups: BTreeMap<(MessageStatus, Option<String>), MessageTotals> = BTreeMap::new();
        for id in data.batch_messages.get(&batch_id).into_iter().flatten() {
            let Some(m) = data.messages.get(id) else {
                continue;
            };
            let t = groups
                .entry((m.status, m.variant.clone()))
                .or_insert_with(|| MessageTotals::new(m.status, m.variant.clone()));
            t.messages += 1;
            t.segments += u64::from(m.segments);
            t.provider_segments += u64::from(m.provider_segments.unwrap_or(0));
            t.estimated_cost = t
                .estimated_cost
                .checked_add(m.estimated_cost)
                .unwrap_or(Amount::MAX);
            if let Some(price) = m.price {
                t.price = t.price.checked_add(price).unwrap_or(Amount::MAX);
                t.priced += 1;
            }
        }
        Ok(groups.into_values().collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Exclusions and logs
// ---------------------------------------------------------------------------------------------

#[async_trait]
impl ExclusionStore for MemoryView {
    async fn insert(
        &self,
        batch_id: Uuid,
        exclusions: &[NewExclusion],
        now: Timestamp,
    ) -> Result<u64> {
        let who = self.who("sms_batch_excluded")?;
        check_exclusions(exclusions)?;
        let mut data = self.data();
        Self::writable_batch(&who, &data, batch_id, "sms_batch_excluded")?;
        let mut inserted = 0;
        for e in exclusions {
            if !data.exclusion_keys.insert((batch_id, e.customer_id)) {
                continue;
            }
            data.next_exclusion += 1;
            let id = data.next_exclusion;
            data.exclusions.insert(
                id,
                Exclusion {
                    id,
                    batch_id,
                    customer_id: e.customer_id,
                    phone: e.phone.clone(),
                    reason: e.reason,
                    detail: e.detail.clone(),
                    created_at: now,
                },
            );
            inserted += 1;
        }
        Ok(inserted)
    }

    async fn list(&self, batch_id: Uuid, after: Option<i64>, limit: u32) -> Result<Vec<Exclusion>> {
        let who = self.who("sms_batch_excluded")?;
        let data = self.data();
        if Self::visible_batch(&who, &data, batch_id).is_none() {
            return Ok(Vec::new());
        }
        let start = after.map_or(i64::MIN, |a| a.saturating_add(1));
        Ok(data
            .exclusions
            .range(start..)
            .map(|(_, e)| e)
            .filter(|e| e.batch_id == batch_id)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn count_by_reason(&self, batch_id: Uuid) -> Result<BTreeMap<ExclusionReason, u64>> {
        let who = self.who("sms_batch_excluded")?;
        let data = self.data();
        let mut counts = BTreeMap::new();
        if Self::visible_batch(&who, &data, batch_id).is_none() {
            return Ok(counts);
        }
        for e in data.exclusions.values().filter(|e| e.batch_id == batch_id) {
            *counts.entry(e.reason).or_insert(0) += 1;
        }
        Ok(counts)
    }
}

#[async_trait]
impl BatchLogStore for MemoryView {
    async fn append(&self, batch_id: Uuid, events: &[NewBatchLog], now: Timestamp) -> Result<u64> {
        let who = self.who("sms_batch_logs")?;
        check_logs(events)?;
        let mut data = self.data();
        Self::writable_batch(&who, &data, batch_id, "sms_batch_logs")?;
        for e in events {
            data.next_log += 1;
            let id = data.next_log;
            data.logs.insert(
                id,
                BatchLog {
                    id,
                    batch_id,
                    at: now,
                    level: e.level,
                    event: e.event.clone(),
                    message: e.message.clone(),
                    data: e.data.clone(),
                },
            );
        }
        Ok(events.len() as u64)
    }

    async fn list(&self, batch_id: Uuid, after: Option<i64>, limit: u32) -> Result<Vec<BatchLog>> {
        let who = self.who("sms_batch_logs")?;
        let data = self.data();
        if Self::visible_batch(&who, &data, batch_id).is_none() {
            return Ok(Vec::new());
        }
        let start = after.map_or(i64::MIN, |a| a.saturating_add(1));
        Ok(data
            .logs
            .range(start..)
            .map(|(_, l)| l)
            .filter(|l| l.batch_id == batch_id)
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Flags and suppressions
// ---------------------------------------------------------------------------------------------

#[async_trait]
impl FlagStore for MemoryView {
    async fn load(&self) -> Result<State> {
        self.who("sms_feature_flags")?;
        let data = self.data();
        let flags: Vec<FlagRow> = data.flags.values().cloned().collect();
        let segments: Vec<SegmentRow> = data.segments.values().cloned().collect();
        State::from_rows(&flags, &segments)
    }

    async fn get(&self, name: &str) -> Result<Option<FlagRow>> {
        self.who("sms_feature_flags")?;
        Ok(self.data().flags.get(name).cloned())
    }

    async fn import(&self, state: &State, _now: Timestamp) -> Result<FlagChanges> {
        self.service_only("sms_feature_flags", "write")?;
        let (flags, segments) = state.to_rows()?;
        check_flag_rows(&flags)?;
        let mut data = self.data();
        let mut changes = FlagChanges::default();
        for s in segments {
            let key = s.id.to_string();
            match data.segments.get(&s.id) {
                Some(old) if *old == s => changes.segments.unchanged.push(key),
                Some(_) => changes.segments.updated.push(key),
                None => changes.segments.created.push(key),
            }
            data.segments.insert(s.id, s);
        }
        changes.flags = upsert_flags(&mut data, flags);
        Ok(changes)
    }

    async fn upsert(&self, flags: &[FlagRow], _now: Timestamp) -> Result<Changes> {
        self.service_only("sms_feature_flags", "write")?;
        check_flag_rows(flags)?;
        let mut data = self.data();
        Ok(upsert_flags(&mut data, flags.to_vec()))
    }

    async fn set_enabled(&self, name: &str, enabled: bool, _now: Timestamp) -> Result<()> {
        self.service_only("sms_feature_flags", "write")?;
        let mut data = self.data();
        match data.flags.get_mut(name) {
            Some(flag) => {
                flag.enabled = enabled;
                Ok(())
            }
            None => Err(not_found("flag", name)),
        }
    }

    async fn ensure(&self, names: &[String], _now: Timestamp) -> Result<Vec<String>> {
        self.who("sms_feature_flags")?;
        let mut data = self.data();
        let mut created = Vec::new();
        for name in names {
            if name.is_empty() || name.contains('\0') || data.flags.contains_key(name) {
                continue;
            }
            data.flags.insert(name.clone(), FlagRow::off(name.clone()));
            created.push(name.clone());
        }
        Ok(created)
    }

    async fn delete(&self, name: &str) -> Result<bool> {
        self.service_only("sms_feature_flags", "delete from")?;
        Ok(self.data().flags.remove(name).is_some())
    }
}

fn upsert_flags(data: &mut Data, flags: Vec<FlagRow>) -> Changes {
    let mut changes = Changes::default();
    for f in flags {
        match data.flags.get(&f.name) {
            Some(old) if *old == f => changes.unchanged.push(f.name.clone()),
            Some(_) => changes.updated.push(f.name.clone()),
            None => changes.created.push(f.name.clone()),
        }
        data.flags.insert(f.name.clone(), f);
    }
    changes
}

#[async_trait]
impl SuppressionStore for MemoryView {
    async fn add(&self, phones: &[(String, Option<String>)], now: Timestamp) -> Result<Changes> {
        self.who("sms_suppressions")?;
        check_phones(phones.iter().map(|(p, _)| p.as_str()))?;
        for (_, reason) in phones {
            if let Some(r) = reason {
                super::customer::check_text(r, "/reason")?;
            }
        }
        let mut data = self.data();
        let mut changes = Changes::default();
        for (phone, reason) in phones {
            if data.suppressions.contains_key(phone) {
                changes.unchanged.push(phone.clone());
            } else {
                data.suppressions.insert(
                    phone.clone(),
                    Suppression {
                        phone: phone.clone(),
                        reason: reason.clone(),
                        created_at: now,
                    },
                );
                changes.created.push(phone.clone());
            }
        }
        Ok(changes)
    }

    async fn remove(&self, phones: &[String]) -> Result<Vec<String>> {
        self.service_only("sms_suppressions", "delete from")?;
        let mut data = self.data();
        Ok(phones
            .iter()
            .filter(|p| data.suppressions.remove(p.as_str()).is_some())
            .cloned()
            .collect())
    }

    async fn check(&self, phones: &[String]) -> Result<Vec<String>> {
        self.who("sms_suppressions")?;
        let data = self.data();
        Ok(phones
            .iter()
            .filter(|p| data.suppressions.contains_key(p.as_str()))
            .cloned()
            .collect())
    }

    async fn list(&self, after: Option<&str>, limit: u32) -> Result<Vec<Suppression>> {
        self.who("sms_suppressions")?;
        let data = self.data();
        let iter: Box<dyn Iterator<Item = &Suppression>> = match after {
            Some(a) => Box::new(
                data.suppressions
                    .range::<str, _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))
                    .map(|(_, s)| s),
            ),
            None => Box::new(data.suppressions.values()),
        };
        Ok(iter.take(limit as usize).cloned().collect())
    }
}
