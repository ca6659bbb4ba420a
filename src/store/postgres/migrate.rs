//! Versioned SQL migrations, applied in order, once each, under an advisory lock.

use serde::{Deserialize, Serialize};

use super::error::db_error;
use crate::error::{Error, ErrorKind, Result};

/// One versioned migration: its version (`0001_init`) and its SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migration {
    /// The version, which orders migrations (`NNNN_name`).
    pub version: &'static str,
    /// The SQL, run in one transaction.
    pub sql: &'static str,
}

/// The migrations this library knows, in order. They are the Supabase schema: they run unchanged
/// on Supabase, and on plain PostgreSQL they first create what Supabase provides.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: "0001_init",
        sql: include_str!("migrations/0001_init.sql"),
    },
    Migration {
        version: "0002_send",
        sql: include_str!("migrations/0002_send.sql"),
    },
    Migration {
        version: "0003_supabase",
        sql: include_str!("migrations/0003_supabase.sql"),
    },
    Migration {
        version: "0004_error_counts",
        sql: include_str!("migrations/0004_error_counts.sql"),
    },
    Migration {
        version: "0005_queue_plans",
        sql: include_str!("migrations/0005_queue_plans.sql"),
    },
];

/// What [`PgStore::migrate`](super::PgStore::migrate) did (JSON: `{"applied": [...],
/// "current": "0001_init"}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationReport {
    /// The versions applied by this run, in order (empty when the schema was up to date).
    pub applied: Vec<String>,
    /// The latest version the database has.
    pub current: Option<String>,
}

/// The advisory lock every migration run takes ("smsbatch" in ASCII), so parallel runs apply each
/// migration once.
const LOCK_KEY: i64 = 0x736D_7362_6174_6368;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS sms_schema_migrations (
    version    text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

/// FNV-1a (64 bits) of the SQL, to notice a migration edited after it was applied.
pub(crate) fn checksum(sql: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in sql.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Applies `migrations` that the database does not have yet, each in its own transaction that
/// first takes the advisory lock and checks again (so a run racing another applies nothing
/// twice). An applied migration whose SQL changed since is an [`ErrorKind::Migration`] error.
pub(crate) async fn run(
    client: &mut tokio_postgres::Client,
    migrations: &[Migration],
) -> Result<MigrationReport> {
    let mut report = MigrationReport::default();
    for m in migrations {
        let tx = client.transaction().await.map_err(db_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .await
            .map_err(db_error)?;
        tx.batch_execute(CREATE_TABLE).await.map_err(db_error)?;
        let existing = tx
            .query_opt(
                "SELECT checksum FROM sms_schema_migrations WHERE version = $1",
                &[&m.version],
            )
            .await
            .map_err(db_error)?;
        let sum = checksum(m.sql);
        match existing {
            Some(row) => {
                let theirs: String = row.get(0);
                if theirs != sum {
                    return Err(Error::new(ErrorKind::Migration {
                        version: m.version.into(),
                        message: format!(
                            "it was applied with checksum {theirs}, but this library's SQL has {sum}: a migration must never change once applied"
                        ),
                    }));
                }
                tx.commit().await.map_err(db_error)?;
            }
            None => {
                tx.batch_execute(m.sql).await.map_err(|e| {
                    let inner = db_error(e);
                    Error::new(ErrorKind::Migration {
                        version: m.version.into(),
                        message: inner.to_string(),
                    })
                })?;
                tx.execute(
                    "INSERT INTO sms_schema_migrations (version, checksum) VALUES ($1, $2)",
                    &[&m.version, &sum],
                )
                .await
                .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                report.applied.push(m.version.to_owned());
            }
        }
    }
    report.current = current(client).await?;
    Ok(report)
}

/// The latest version applied, if any (`None` before the first migration).
pub(crate) async fn current(client: &tokio_postgres::Client) -> Result<Option<String>> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('sms_schema_migrations') IS NOT NULL",
            &[],
        )
        .await
        .map_err(db_error)?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_one("SELECT max(version) FROM sms_schema_migrations", &[])
        .await
        .map_err(db_error)?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_ordered_and_named() {
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version);
        }
        for m in MIGRATIONS {
            let (n, name) = m.version.split_once('_').unwrap();
            assert_eq!(n.len(), 4);
            assert!(n.bytes().all(|b| b.is_ascii_digit()));
            assert!(!name.is_empty());
        }
        assert_eq!(checksum(""), "cbf29ce484222325");
        assert_ne!(checksum("a"), checksum("b"));
    }
}
