//! The store flags every store subcommand takes (SPEC §0), the runtime, and `smsbatch migrate`.

use std::process::ExitCode;

use smsbatch::store::postgres::PgStore;
use smsbatch::store::supabase::SupabaseConfig;
use smsbatch::store::{Actor, Backend, Store};
use smsbatch::{Error, ErrorKind};

use crate::io;

/// `--database-url URL`, or `--supabase-url URL --supabase-key KEY`, with `--jwt TOKEN`; without
/// any, `DATABASE_URL`, then `SUPABASE_URL` and `SUPABASE_KEY`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct StoreArgs {
    /// PostgreSQL connection string (postgres://... or key=value); default: $DATABASE_URL.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Supabase project URL; default: $SUPABASE_URL (with $SUPABASE_KEY).
    #[arg(long, value_name = "URL")]
    supabase_url: Option<String>,
    /// Supabase anon or service key.
    #[arg(long, value_name = "KEY")]
    supabase_key: Option<String>,
    /// Act as the user of this JWT (row-level security applies); default: the service.
    #[arg(long, value_name = "TOKEN")]
    jwt: Option<String>,
}

/// Which store the flags and the environment name.
enum Target {
    Postgres(String),
    /// The project URL and key.
    Supabase(String, String),
}

fn no_store() -> Error {
    smsbatch::Error::invalid_input(
        "no store: pass --database-url URL (or --supabase-url URL --supabase-key KEY), \
         or set DATABASE_URL (or SUPABASE_URL and SUPABASE_KEY)",
    )
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl StoreArgs {
    fn target(&self) -> Result<Target, Error> {
        let supabase_flags = self.supabase_url.is_some() || self.supabase_key.is_some();
        match (&self.database_url, supabase_flags) {
            (Some(_), true) => Err(smsbatch::Error::invalid_input(
                "give either --database-url or the Supabase flags, not both",
            )),
            (Some(url), false) => Ok(Target::Postgres(url.clone())),
            (None, true) => match (&self.supabase_url, &self.supabase_key) {
                (Some(url), Some(key)) => Ok(Target::Supabase(url.clone(), key.clone())),
                _ => Err(smsbatch::Error::invalid_input(
                    "--supabase-url and --supabase-key go together",
                )),
            },
            (None, false) => {
                if let Some(url) = env("DATABASE_URL") {
                    Ok(Target::Postgres(url))
                } else if let (Some(url), Some(key)) = (env("SUPABASE_URL"), env("SUPABASE_KEY")) {
                    Ok(Target::Supabase(url, key))
                } else {
                    Err(no_store())
                }
            }
        }
    }

    /// True when a store flag was given (the environment aside): the main job and `serve` then
    /// run on that store instead of the embedded in-memory one, whatever the environment says.
    pub(crate) fn given(&self) -> bool {
        self.database_url.is_some() || self.supabase_url.is_some() || self.supabase_key.is_some()
    }

    /// True when the flags name the Supabase store (its REST API acts for a user only with that
    /// user's JWT, so a fixed `--user` cannot work there).
    pub(crate) fn is_supabase(&self) -> Result<bool, Error> {
        Ok(matches!(self.target()?, Target::Supabase(..)))
    }

    /// The store the flags name, for a caller that hands out per-user stores itself (`serve`);
    /// `--jwt` does not apply there.
    pub(crate) async fn backend(
        &self,
    ) -> Result<(std::sync::Arc<dyn Backend>, &'static str), Error> {
        if self.jwt.is_some() {
            return Err(smsbatch::Error::invalid_input(
                "--jwt does not apply here: the server acts for each request's user",
            ));
        }
        Ok(match self.target()? {
            Target::Postgres(url) => (
                std::sync::Arc::new(PgStore::connect(url).await?),
                "postgres",
            ),
            Target::Supabase(url, key) => (
                std::sync::Arc::new(SupabaseConfig::new(url, key).build()?),
                "supabase",
            ),
        })
    }

    /// The store, acting for the `--jwt` user or as the service: PostgreSQL directly, or the
    /// Supabase project's REST API (the key as `apikey`, and as the bearer unless `--jwt` gives
    /// the user's token).
    pub(crate) async fn store(&self) -> Result<Store, Error> {
        let actor = match &self.jwt {
            Some(token) => Actor::from_jwt(token)?,
            None => Actor::Service,
        };
        match self.target()? {
            Target::Postgres(url) => PgStore::connect(url).await?.store(actor),
            Target::Supabase(url, key) => SupabaseConfig::new(url, key).build()?.store(actor),
        }
    }
}

/// Runs an async subcommand on a tokio runtime; its error is the fatal line (exit 2).
pub(crate) fn block_on(
    work: impl std::future::Future<Output = Result<ExitCode, Error>>,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return io::fatal(&smsbatch::Error::invalid_input(format!(
                "cannot start the async runtime: {e}"
            )));
        }
    };
    match runtime.block_on(work) {
        Ok(code) => code,
        Err(e) => io::fatal(&e),
    }
}

/// `smsbatch migrate`: applies the migrations the database lacks and prints
/// `{"applied": [...], "current": "NNNN_name"}`.
#[derive(Debug, clap::Args)]
pub(crate) struct MigrateArgs {
    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn migrate(args: MigrateArgs) -> ExitCode {
    block_on(async {
        if args.store.jwt.is_some() {
            return Err(smsbatch::Error::invalid_input(
                "migrate runs as the database owner; --jwt does not apply",
            ));
        }
        let store = match args.store.target()? {
            Target::Postgres(url) => PgStore::connect(url).await?,
            Target::Supabase(..) => {
                return Err(ErrorKind::Unsupported {
                    message: "migrate needs the database connection string: pass --database-url \
                              (Supabase: Project Settings, Database, Connection string, direct or \
                              session pooler) or set DATABASE_URL"
                        .into(),
                }
                .into());
            }
        };
        io::print(&store.migrate().await?)?;
        Ok(ExitCode::SUCCESS)
    })
}
