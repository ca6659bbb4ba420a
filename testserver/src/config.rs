//! What a server serves and how: database, schemas, port, JWT secret, anonymous role, pool size;
//! from code or from command-line arguments.

use crate::auth::{DEFAULT_JWT_SECRET, MIN_SECRET_LEN};
use crate::error::Error;

/// A server's configuration. [`Config::new`] takes the database URL; everything else has a
/// default for tests: schema `public`, an ephemeral port, [`DEFAULT_JWT_SECRET`], anonymous role
/// `anon`, 16 connections.
///
/// ```
/// use smsbatch_postgrest_testserver::Config;
///
/// let config = Config::new("postgres://postgres@127.0.0.1:5432/app")
///     .schema("api")
///     .port(3000)
///     .jwt_secret("a-secret-of-at-least-thirty-two-characters");
/// assert_eq!(config.served_schemas(), ["api"]);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) database_url: String,
    pub(crate) schemas: Vec<String>,
    pub(crate) port: u16,
    pub(crate) jwt_secret: String,
    pub(crate) anon_role: Option<String>,
    pub(crate) pool_size: usize,
}

/// The `--help` text of [`Config::from_args`].
pub const USAGE: &str = "\
usage: postgrest_server --database-url URL [--schema NAME[,NAME...]] [--port P]
                        [--jwt-secret S] [--anon-role ROLE | --no-anon] [--pool-size N]

Serves the tables, views and functions of the schemas (default: public) over PostgREST's HTTP
API on 127.0.0.1:P (default 0: any free port), at /TABLE and /rest/v1/TABLE, /rpc/FN and
/rest/v1/rpc/FN, and prints `listening on http://127.0.0.1:P` once it accepts connections.
Requests without a token run as the anonymous role (default: anon); HS256 tokens signed with
the secret (default: Supabase's local development secret) run as their `role` claim.
--database-url defaults to $DATABASE_URL.";

impl Config {
    /// A configuration for the database at `database_url` (a `postgres://` URL or a
    /// `key=value` connection string) with the test defaults.
    pub fn new(database_url: impl Into<String>) -> Self {
        Config {
            database_url: database_url.into(),
            schemas: vec!["public".to_owned()],
            port: 0,
            jwt_secret: DEFAULT_JWT_SECRET.to_owned(),
            anon_role: Some("anon".to_owned()),
            pool_size: 16,
        }
    }

    /// Serves one schema (replaces the list).
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schemas = vec![name.into()];
        self
    }

    /// Serves several schemas; the first is the default, the others are chosen with the
    /// `Accept-Profile` / `Content-Profile` headers.
    pub fn schemas<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.schemas = names.into_iter().map(Into::into).collect();
        self
    }

    /// The port on 127.0.0.1 (0: any free port; [`crate::Server::url`] tells which).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The HS256 secret tokens are verified with (at least 32 characters, as in PostgREST).
    pub fn jwt_secret(mut self, secret: impl Into<String>) -> Self {
        self.jwt_secret = secret.into();
        self
    }

    /// The role for requests without a token; `None` refuses them (PGRST302, 401).
    pub fn anon_role(mut self, role: Option<String>) -> Self {
        self.anon_role = role;
        self
    }

    /// The most database connections open at once.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// The served schemas, default first.
    pub fn served_schemas(&self) -> &[String] {
        &self.schemas
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.schemas.is_empty() || self.schemas.iter().any(String::is_empty) {
            return Err(Error::Config(
                "at least one non-empty schema name is needed".into(),
            ));
        }
        if self.jwt_secret.chars().count() < MIN_SECRET_LEN {
            return Err(Error::Config(format!(
                "the JWT secret must be at least {MIN_SECRET_LEN} characters long"
            )));
        }
        if self.pool_size == 0 {
            return Err(Error::Config("the pool size must be at least 1".into()));
        }
        Ok(())
    }

    /// Reads command-line arguments (without the program name): `--database-url URL`,
    /// `--schema NAME[,NAME...]`, `--port P`, `--jwt-secret S`, `--anon-role ROLE`,
    /// `--no-anon`, `--pool-size N`, each also as `--flag=value`. `--database-url` falls back to
    /// the `DATABASE_URL` environment variable. `--help` gives [`USAGE`] as the error.
    pub fn from_args<I, S>(args: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut database_url = None;
        let mut config = Config::new(String::new());
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<String, Error> {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| Error::Config(format!("{name} needs a value\n\n{USAGE}")))
            };
            match flag.as_str() {
                "--database-url" => database_url = Some(value("--database-url")?),
                "--schema" | "--schemas" => {
                    config.schemas = value("--schema")?
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .collect();
                }
                "--port" => {
                    let v = value("--port")?;
                    config.port = v.parse().map_err(|_| {
                        Error::Config(format!("--port: {v:?} is not a port number (0 to 65535)"))
                    })?;
                }
                "--jwt-secret" => config.jwt_secret = value("--jwt-secret")?,
                "--anon-role" => config.anon_role = Some(value("--anon-role")?),
                "--no-anon" => config.anon_role = None,
                "--pool-size" => {
                    let v = value("--pool-size")?;
                    config.pool_size = v.parse().map_err(|_| {
                        Error::Config(format!("--pool-size: {v:?} is not a positive number"))
                    })?;
                }
                "--help" | "-h" => return Err(Error::Config(USAGE.to_owned())),
                other => {
                    return Err(Error::Config(format!(
                        "unknown argument {other:?}\n\n{USAGE}"
                    )));
                }
            }
        }
        config.database_url = match database_url.or_else(|| std::env::var("DATABASE_URL").ok()) {
            Some(url) => url,
            None => {
                return Err(Error::Config(format!(
                    "--database-url (or DATABASE_URL) is required\n\n{USAGE}"
                )));
            }
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        let c = Config::from_args([
            "--database-url",
            "postgres://x/db",
            "--schema=api,extra",
            "--port",
            "0",
            "--jwt-secret",
            "0123456789abcdef0123456789abcdef",
        ])
        .expect("valid");
        assert_eq!(c.database_url, "postgres://x/db");
        assert_eq!(c.schemas, ["api", "extra"]);
        assert_eq!(c.port, 0);
        let err = |args: &[&str]| {
            Config::from_args(args.iter().copied())
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert!(
            err(&["--database-url", "x", "--port", "http"]).is_err_and(|e| e.contains("--port"))
        );
        assert!(
            err(&["--database-url", "x", "--jwt-secret", "short"]).is_err_and(|e| e.contains("32"))
        );
        assert!(err(&["--database-url", "x", "--bogus"]).is_err_and(|e| e.contains("--bogus")));
        assert!(err(&["--database-url"]).is_err_and(|e| e.contains("needs a value")));
    }
}
