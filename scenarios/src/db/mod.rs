//! The `db` scenario, written once: N small transactions against a real database, PostgreSQL
//! or SQLite, run by every model with the same digest. The chapter's "database reads and
//! writes -> asyncio" row.
//!
//! ```text
//! scripts/pg.sh start /tmp/pg                  # a throw-away PostgreSQL on 127.0.0.1 (prints its URL)
//! decision-table gen db --db postgresql://postgres@127.0.0.1:PORT/postgres --accounts 1000
//! threading db --db postgresql://postgres@127.0.0.1:PORT/postgres --transactions 2000 --workers 8
//! decision-table gen db --db sqlite:data/db.sqlite && serial db --db sqlite:data/db.sqlite
//! ```
//!
//! One transaction (`workload::Txn`): read the account's row by its key, add a fixed delta to
//! its balance, insert a ledger row keyed by the transaction's id; commit. The models differ
//! only in how many are in flight and on what: one connection (serial), K threads with a
//! connection each (threading), K processes with a connection each (multiprocessing), K tasks
//! sharing K connections on one thread, or each transaction's five statements pipelined on its
//! connection (asyncio). Why every model ends with the same tables whatever the interleaving:
//! see [`workload`].
//!
//! - [`target`]: `--db URL`, `DATABASE_URL`, `sqlite:PATH`; [`sql`]: every statement;
//! - [`blocking`]: the `postgres` crate and rusqlite, one connection per worker, for serial,
//!   threading, multiprocessing (and asyncio's SQLite, on `spawn_blocking`: there is no
//!   asynchronous SQLite, only a thread per connection, which is what Python's aiosqlite is);
//! - [`nonblocking`]: `tokio-postgres` with a `deadpool-postgres` pool, and the pipelined
//!   variant;
//! - [`generate`]: `decision-table gen db`; [`finish`]: preparing a run (reset), reading the tables
//!   back, the digest, the closing lines.
//!
//! Failures: a wrong URL or a server that is down stops the run before it starts, naming the
//! database. During a run, an attempt that fails for a reason that may pass (a dropped
//! connection, a server restarting, SQLite's write lock still held after its busy timeout) is
//! retried on a fresh connection with bounded backoff; retrying is safe because a transaction
//! that did commit (its acknowledgement lost) meets its own ledger row on the second attempt:
//! a unique violation, reported as "already applied", never a second effect. A transaction out
//! of retries is counted and named (`failed_txns`), and once three in a row could not connect
//! the rest fail at once. A ledger row with the same id but other contents is a unique
//! violation that is *not* ours: that transaction fails, named, and nothing is applied.

pub mod blocking;
pub mod finish;
pub mod generate;
pub mod nonblocking;
pub mod sql;
pub mod target;
pub mod workload;

pub use finish::{Setup, finish, prepare};
pub use target::Target;
pub use workload::{State, Txn, Workload};

use crate::cli::{bounded, millis, workers};
use crate::fetch::Retry;
use clap::Args;
use serde::{Deserialize, Serialize};
use std::time::Duration;

fn transactions(s: &str) -> Result<u64, String> {
    bounded(s, 1, 1_000_000)
}

fn retries(s: &str) -> Result<u32, String> {
    bounded(s, 0, 10).map(|v| v as u32)
}

/// `db`: the flags every crate takes.
#[derive(Args, Clone, Debug)]
pub struct DbArgs {
    /// The database: postgresql://USER@HOST:PORT/DBNAME or sqlite:PATH (default: $DATABASE_URL,
    /// else sqlite:data/db.sqlite); make its tables first with `decision-table gen db`
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
    /// How many transactions to run (ids 0 to N-1)
    #[arg(long, default_value_t = 2000, value_parser = transactions, allow_negative_numbers = true)]
    pub transactions: u64,
    /// How many transactions are in flight at once: threads, processes or tasks, each with its
    /// own connection (serial runs one)
    #[arg(long, default_value_t = 8, value_parser = workers, allow_negative_numbers = true)]
    pub workers: usize,
    /// How many times a transaction that failed for a passing reason is tried again (0 to 10)
    #[arg(long, default_value_t = 3, value_parser = retries, allow_negative_numbers = true)]
    pub retries: u32,
    /// Wait before the first retry, in milliseconds; each further retry waits twice as long
    #[arg(long, default_value_t = 20, value_parser = millis, allow_negative_numbers = true)]
    pub backoff_ms: u64,
    /// Do not reset the tables first: run every transaction, and count those the ledger
    /// already holds as already applied (none is applied twice)
    #[arg(long)]
    pub resume: bool,
    /// Terminate the server connection that is about to run this transaction (a fault test:
    /// a connection dropped in the pool; PostgreSQL only)
    #[arg(long, hide = true, value_name = "TXN")]
    pub drop_connection_at: Option<u64>,
}

impl DbArgs {
    /// The database this run talks to, checked.
    pub fn target(&self) -> anyhow::Result<Target> {
        let target = Target::parse(&Target::spec(self.db.as_deref()))?;
        if self.drop_connection_at.is_some() && !matches!(target, Target::Postgres { .. }) {
            anyhow::bail!("--drop-connection-at needs a PostgreSQL --db: SQLite has no server");
        }
        Ok(target)
    }

    pub fn retry(&self) -> Retry {
        Retry {
            retries: self.retries,
            base: Duration::from_millis(self.backoff_ms),
        }
    }
}

/// What the job needs to run a transaction anywhere, a worker process included: plain data.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// The `--db` text, parsed again where the job runs.
    pub db: String,
    pub workload: Workload,
    pub retries: u32,
    pub backoff_ms: u64,
    pub drop_connection_at: Option<u64>,
}

impl Plan {
    pub fn new(args: &DbArgs, setup: &Setup) -> Plan {
        Plan {
            db: Target::spec(args.db.as_deref()),
            workload: setup.workload,
            retries: args.retries,
            backoff_ms: args.backoff_ms,
            drop_connection_at: args.drop_connection_at,
        }
    }

    pub fn retry(&self) -> Retry {
        Retry {
            retries: self.retries,
            base: Duration::from_millis(self.backoff_ms),
        }
    }

    /// How long one transaction may take, every retry included, before a process pool gives
    /// up on its worker: every attempt at the statement timeout, the waits, and a margin.
    pub fn deadline(&self) -> Duration {
        let retry = self.retry();
        let waits: Duration = (1..=retry.retries).map(|r| retry.delay(r)).sum();
        Duration::from_millis(target::STATEMENT_TIMEOUT_MS) * (retry.retries + 1)
            + waits
            + Duration::from_secs(30)
    }
}

/// How a transaction that succeeded got there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// This run committed it.
    Fresh,
    /// The ledger already held it (an earlier run, or an attempt whose acknowledgement was lost):
    /// nothing was applied again.
    Already,
}

/// What became of one transaction, whatever happened: the jobs return one for every item, so
/// a failed transaction is a result to count and name, not a reason to stop the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Done {
    pub attempts: u32,
    /// Times this transaction waited for SQLite's write lock (0 for PostgreSQL).
    pub busy_waits: u64,
    pub result: Result<Applied, String>,
}

impl Done {
    /// A transaction that never got to the database.
    pub fn failed(why: impl Into<String>) -> Done {
        Done {
            attempts: 0,
            busy_waits: 0,
            result: Err(why.into()),
        }
    }
}

/// The name of a transaction in messages.
pub fn describe(txn: &Txn) -> String {
    format!(
        "transaction {} (account {}, {:+} cents)",
        txn.txn, txn.account, txn.delta
    )
}
