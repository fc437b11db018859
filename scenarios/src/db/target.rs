//! Which database a run talks to: `--db postgresql://USER@HOST:PORT/DB` (or `postgres://`), or
//! `--db sqlite:PATH`, or `DATABASE_URL` when `--db` is not given; SQLite at
//! `data/db.sqlite` when neither is, so the scenario runs with no server at all.
//!
//! A URL is checked before anything connects, and every message names it with its password
//! hidden. The client sets what a run needs unless the URL says otherwise: an
//! `application_name` (so the tests can find our sessions in `pg_stat_activity`), a connect
//! timeout (a wrong host fails in seconds, not minutes), and a statement timeout (a row lock
//! held by a stuck client cannot stall a transaction for ever).

use anyhow::{Result, anyhow};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Where the database is when neither `--db` nor `DATABASE_URL` says.
pub const DEFAULT_DB: &str = "sqlite:data/db.sqlite";
/// How our sessions name themselves to the server.
pub const APPLICATION_NAME: &str = "dt-db";
/// How long connecting may take before it fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The server gives up on one statement after this long (a lock wait included).
pub const STATEMENT_TIMEOUT_MS: u64 = 30_000;

/// A parsed `--db`.
#[derive(Clone, Debug)]
pub enum Target {
    Postgres {
        /// The URL as given, its password hidden: for messages.
        shown: String,
        config: Box<tokio_postgres::Config>,
    },
    Sqlite {
        path: PathBuf,
    },
}

impl Target {
    /// `--db`, else `DATABASE_URL`, else [`DEFAULT_DB`].
    pub fn spec(db: Option<&str>) -> String {
        match db {
            Some(s) => s.to_string(),
            None => std::env::var("DATABASE_URL")
                .ok()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_DB.to_string()),
        }
    }

    /// Parse a `--db` value.
    pub fn parse(spec: &str) -> Result<Target> {
        let spec = spec.trim();
        let hint = "use postgresql://USER@HOST:PORT/DBNAME or sqlite:PATH";
        if let Some(path) = spec.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() || path == ":memory:" {
                return Err(anyhow!(
                    "'{spec}' names no file: SQLite needs a file that every worker opens \
                     (an in-memory database is private to one connection); {hint}"
                ));
            }
            return Ok(Target::Sqlite {
                path: PathBuf::from(path),
            });
        }
        let shown = redact(spec);
        if !(spec.starts_with("postgresql://") || spec.starts_with("postgres://")) {
            return Err(anyhow!("'{shown}' is not a database URL; {hint}"));
        }
        let mut config = tokio_postgres::Config::from_str(spec)
            .map_err(|e| anyhow!("'{shown}' is not a valid PostgreSQL URL ({e}); {hint}"))?;
        if config.get_hosts().is_empty() {
            return Err(anyhow!("'{shown}' names no host; {hint}"));
        }
        if config.get_user().is_none() {
            config.user("postgres");
        }
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_options().is_none() {
            config.options(format!("-c statement_timeout={STATEMENT_TIMEOUT_MS}"));
        }
        Ok(Target::Postgres {
            shown,
            config: Box::new(config),
        })
    }

    /// The database for messages: the URL without its password, or `sqlite:PATH`.
    pub fn shown(&self) -> String {
        match self {
            Target::Postgres { shown, .. } => shown.clone(),
            Target::Sqlite { path } => format!("sqlite:{}", path.display()),
        }
    }

    /// `postgres` or `sqlite`, as the summary's `backend`.
    pub fn backend(&self) -> &'static str {
        match self {
            Target::Postgres { .. } => "postgres",
            Target::Sqlite { .. } => "sqlite",
        }
    }
}

/// A URL with its password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_passwords_hidden() {
        let t = Target::parse("postgresql://alice:s3cret@127.0.0.1:5433/bank").unwrap();
        assert_eq!(t.shown(), "postgresql://alice:***@127.0.0.1:5433/bank");
        assert_eq!(t.backend(), "postgres");
        let Target::Postgres { config, .. } = t else {
            panic!("postgres")
        };
        assert_eq!(config.get_application_name(), Some(APPLICATION_NAME));
        assert_eq!(config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        let e = Target::parse("mysql://root:pw@localhost/x").unwrap_err();
        assert!(
            e.to_string().contains("mysql://root:***@localhost/x"),
            "{e}"
        );
        assert!(e.to_string().contains("not a database URL"));
        assert!(Target::parse("sqlite:").is_err());
        assert!(Target::parse("sqlite::memory:").is_err());
        let s = Target::parse("sqlite:data/x.sqlite").unwrap();
        assert_eq!(s.shown(), "sqlite:data/x.sqlite");
        assert!(Target::parse("postgresql://127.0.0.1:notaport/x").is_err());
    }
}
