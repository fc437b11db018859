//! The `db` scenario's plumbing for the tests: a database to run against (SQLite in a
//! temporary folder, or a database of its own in a throw-away PostgreSQL, [`crate::pg`]), its
//! tables made from a seed, the digest a correct run must print, the tables read back, the
//! server sessions our clients still hold. Every check is in the crates' `tests/db.rs`.

use crate::pg::Cluster;
use crate::run::{Output, run, run_with_limit};
use scenarios::Summary;
use scenarios::db::generate::{GenDbArgs, generate};
use scenarios::db::workload::{State, Workload, reference_digest};
use scenarios::db::{Target, blocking};
use std::time::Duration;
use tempfile::TempDir;

/// The workload of the tests: few accounts, so that transactions meet on the same rows.
pub const ACCOUNTS: u64 = 40;
pub const SEED: u64 = 7;

pub fn workload() -> Workload {
    Workload {
        seed: SEED,
        accounts: ACCOUNTS,
    }
}

/// A database with the scenario's tables, made fresh.
#[derive(Debug)]
pub struct Db {
    /// The `--db` value.
    pub url: String,
    /// The server, for PostgreSQL.
    pub cluster: Option<Cluster>,
    _dir: Option<TempDir>,
}

impl Db {
    /// SQLite in a temporary folder.
    pub fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite:{}", dir.path().join("db.sqlite").display());
        make_tables(&url);
        Db {
            url,
            cluster: None,
            _dir: Some(dir),
        }
    }

    /// A throw-away PostgreSQL of its own, or `None` (said why) where there is none.
    pub fn postgres() -> Option<Db> {
        let cluster = Cluster::start()?;
        let url = cluster.url();
        make_tables(&url);
        Some(Db {
            url,
            cluster: Some(cluster),
            _dir: None,
        })
    }

    pub fn cluster(&self) -> &Cluster {
        self.cluster.as_ref().expect("a PostgreSQL database")
    }

    pub fn cluster_mut(&mut self) -> &mut Cluster {
        self.cluster.as_mut().expect("a PostgreSQL database")
    }

    /// Both tables as they are now.
    pub fn state(&self) -> State {
        let target = Target::parse(&self.url).expect("a valid URL");
        blocking::read_state(&target).expect("the tables read back")
    }

    /// Sessions of our clients (`application_name = dt-db`) the server still has.
    pub fn our_sessions(&self) -> u64 {
        self.cluster()
            .sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dt-db'")
            .parse()
            .expect("a count")
    }

    /// Run `exe db --db URL ARGS... --json`, with a time limit.
    pub fn run(&self, exe: &str, args: &[&str]) -> Output {
        let mut all = vec!["db", "--db", &self.url];
        all.extend_from_slice(args);
        all.push("--json");
        run(exe, &all)
    }

    /// The same with a shorter limit, for runs that must end quickly.
    pub fn run_within(&self, exe: &str, args: &[&str], limit: Duration) -> Output {
        let mut all = vec!["db", "--db", &self.url];
        all.extend_from_slice(args);
        all.push("--json");
        run_with_limit(exe, &all, limit)
    }
}

/// `gen db` for the tests' workload.
pub fn make_tables(url: &str) {
    generate(&GenDbArgs {
        db: Some(url.to_string()),
        accounts: ACCOUNTS,
        seed: SEED,
    })
    .expect("gen db");
}

/// The digest a run of transactions 0..n that all committed must print.
pub fn reference(n: u64) -> String {
    reference_digest(workload(), n)
}

/// The transactions a run reports as failed (`failed_txns`).
pub fn failed_txns(s: &Summary) -> Vec<u64> {
    s.extra["failed_txns"]
        .as_array()
        .expect("a failed_txns list")
        .iter()
        .map(|t| t.as_u64().expect("a transaction id"))
        .collect()
}

/// A numeric field of the summary.
pub fn number(s: &Summary, key: &str) -> u64 {
    s.extra[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no number {key} in {:?}", s.extra))
}

/// Ctrl-C in a terminal: SIGINT to the child's whole process group (it must have been started
/// in a group of its own).
pub fn ctrl_c(child: &std::process::Child) {
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT to the process group");
}
