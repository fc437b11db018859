//! One transaction with a blocking client: the `postgres` crate for PostgreSQL, rusqlite for
//! SQLite. Serial, threading and multiprocessing run this job ([`Transact`]); so does asyncio
//! for SQLite, on `spawn_blocking`. `nonblocking.rs` is the same transaction for tokio.
//!
//! Connections: one per worker, kept between transactions ([`Connections`]: a worker takes an
//! idle one or opens one, and gives it back unless it broke), so K threads hold K connections
//! and a worker process holds one. That is what a pool such as r2d2 does for threads; r2d2
//! also waits up to its `connection_timeout` for a connection to a server that is gone, where
//! here a refused connection fails the attempt at once, to be retried and counted.
//!
//! Round trips: `BEGIN`, the read, the update, the insert and `COMMIT` are five, each waiting
//! for its answer. The three statements are prepared once per connection ([`Prepared`]: one
//! round trip each, the first time), as asyncpg and psycopg do on their own: an unprepared
//! statement is parsed and planned by the server every time, which on this machine halves what
//! a connection can do on loopback (pgbench shows the same, `-M simple` against `-M prepared`).
//!
//! SQLite has one writer at a time: `BEGIN IMMEDIATE` takes the write lock at the start, so a
//! transaction never fails half-way for want of it, and a worker that finds it taken waits in
//! our busy handler ([`on_busy`]: short sleeps, counted per thread), then, after about five
//! seconds, fails the attempt with `SQLITE_BUSY`, which is retried like a dropped connection.

use super::sql;
use super::target::Target;
use super::workload::{Account, State, Txn, Workload};
use super::{Applied, Done, Plan, describe};
use crate::fetch::Failure;
use crate::fetch::retry::Breaker;
use crate::job::Job;
use anyhow::{Context, Result, anyhow};
use postgres::types::Type;
use rusqlite::{OpenFlags, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio_postgres::error::SqlState;

/// An open connection to either database. (The PostgreSQL one is boxed: it is three times
/// the size of the other, and connections move in and out of the idle list.)
pub enum Conn {
    Pg(Box<postgres::Client>, Option<Prepared>),
    Lite(rusqlite::Connection),
}

/// A transaction's statements, prepared on one connection (they belong to it).
#[derive(Clone)]
pub struct Prepared {
    pub read: tokio_postgres::Statement,
    pub update: tokio_postgres::Statement,
    pub insert: tokio_postgres::Statement,
    pub existing: tokio_postgres::Statement,
}

/// The parameters' types of each statement: all `bigint`.
pub(crate) const ONE: &[Type] = &[Type::INT8];
pub(crate) const TWO: &[Type] = &[Type::INT8, Type::INT8];
pub(crate) const THREE: &[Type] = &[Type::INT8, Type::INT8, Type::INT8];

impl Prepared {
    fn on(client: &mut postgres::Client) -> Result<Prepared, postgres::Error> {
        Ok(Prepared {
            read: client.prepare_typed(sql::PG_READ, ONE)?,
            update: client.prepare_typed(sql::PG_UPDATE, TWO)?,
            insert: client.prepare_typed(sql::PG_INSERT, THREE)?,
            existing: client.prepare_typed(sql::PG_EXISTING, ONE)?,
        })
    }
}

thread_local! {
    /// Times this thread waited for SQLite's write lock: read before and after a transaction.
    static BUSY_WAITS: Cell<u64> = const { Cell::new(0) };
}

/// How many times this thread has waited for SQLite's lock so far.
pub fn busy_waits() -> u64 {
    BUSY_WAITS.with(Cell::get)
}

/// Waits this long at most in one busy spell before the attempt fails with `SQLITE_BUSY`.
const BUSY_GIVE_UP: Duration = Duration::from_secs(5);

/// SQLite's busy handler: called with how many times it was already called for this lock.
/// SQLite's own `busy_timeout` sleeps 1, 2, 5, 10 ... 100 ms, which leaves the lock idle most
/// of the time once several writers queue; short sleeps (50 µs doubling to 1 ms) keep it busy,
/// so the figures show what one writer at a time costs, not what a coarse timer adds. (A plain
/// function: rusqlite takes a function pointer, hence the counter in a thread-local.)
fn on_busy(calls: i32) -> bool {
    BUSY_WAITS.with(|w| w.set(w.get() + 1));
    let wait = Duration::from_micros(50u64 << calls.clamp(0, 5) as u32);
    std::thread::sleep(wait);
    // Past the first few calls every wait is 1.6 ms.
    Duration::from_micros(1_600) * (calls.max(0) as u32) < BUSY_GIVE_UP
}

impl Conn {
    /// Open a connection. A failure to reach the server is a [`Failure::Connect`] (the breaker
    /// counts those); a server that answers no (no such database, a bad password) is final.
    pub fn open(target: &Target) -> Result<Conn, Failure> {
        match target {
            Target::Postgres { shown, config } => postgres::Config::from((**config).clone())
                .connect(postgres::NoTls)
                .map(|c| Conn::Pg(Box::new(c), None))
                .map_err(|e| {
                    let why = format!("cannot connect to the database at {shown}: {e}");
                    if e.as_db_error().is_some() {
                        Failure::Final(why)
                    } else {
                        Failure::Connect(why)
                    }
                }),
            Target::Sqlite { path } => {
                // Never create: a missing file is a wrong path, not an empty database.
                let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let open = || -> rusqlite::Result<rusqlite::Connection> {
                    let c = rusqlite::Connection::open_with_flags(path, flags)?;
                    c.busy_handler(Some(on_busy))?;
                    c.pragma_update(None, "foreign_keys", "ON")?;
                    // WAL's usual setting: a commit is durable once the WAL is synced at a
                    // checkpoint, not at every commit (as the PostgreSQL cluster here).
                    c.pragma_update(None, "synchronous", "NORMAL")?;
                    Ok(c)
                };
                open().map(Conn::Lite).map_err(|e| {
                    Failure::Final(format!(
                        "cannot open the SQLite database {} ({e}); make it with `decision-table \
                         gen db --db sqlite:{}`",
                        path.display(),
                        path.display()
                    ))
                })
            }
        }
    }

    /// Open a connection for setting up or reading back, as a plain error.
    pub fn open_for(target: &Target) -> Result<Conn> {
        Conn::open(target).map_err(|f| {
            let hint = match target {
                Target::Postgres { .. } => {
                    " (is the server running? scripts/pg.sh start starts one)"
                }
                Target::Sqlite { .. } => "",
            };
            anyhow!("{}{hint}", f.message())
        })
    }

    /// Has the connection broken (the server closed it)? Then it is not given back.
    fn broken(&self) -> bool {
        match self {
            Conn::Pg(c, _) => c.is_closed(),
            Conn::Lite(_) => false,
        }
    }

    /// Run one transaction once.
    pub fn attempt(&mut self, txn: &Txn) -> Result<Applied, Failure> {
        match self {
            Conn::Pg(client, prepared) => {
                let stmts = match prepared {
                    Some(p) => p.clone(),
                    None => prepared
                        .insert(Prepared::on(client).map_err(|e| pg_failure(&e))?)
                        .clone(),
                };
                pg_attempt(client, &stmts, txn)
            }
            Conn::Lite(conn) => lite_attempt(conn, txn),
        }
    }

    /// The test fault: the server ends this connection (as an administrator or a proxy
    /// restarting would), which the next statement finds out.
    fn terminate(&mut self) {
        if let Conn::Pg(client, _) = self {
            let _ = client.batch_execute("SELECT pg_terminate_backend(pg_backend_pid())");
        }
    }

    /// Both tables, in key order.
    pub fn read_state(&mut self) -> Result<State> {
        match self {
            Conn::Pg(client, _) => {
                let accounts = client
                    .query(sql::ACCOUNTS, &[])?
                    .iter()
                    .map(|r| Account {
                        id: r.get(0),
                        owner: r.get(1),
                        opening: r.get(2),
                        balance: r.get(3),
                        txns: r.get(4),
                    })
                    .collect();
                let ledger = client
                    .query(sql::LEDGER, &[])?
                    .iter()
                    .map(|r| Txn {
                        txn: r.get(0),
                        account: r.get(1),
                        delta: r.get(2),
                    })
                    .collect();
                Ok(State { accounts, ledger })
            }
            Conn::Lite(conn) => {
                let accounts = conn
                    .prepare(sql::ACCOUNTS)?
                    .query_map([], |r| {
                        Ok(Account {
                            id: r.get(0)?,
                            owner: r.get(1)?,
                            opening: r.get(2)?,
                            balance: r.get(3)?,
                            txns: r.get(4)?,
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                let ledger = conn
                    .prepare(sql::LEDGER)?
                    .query_map([], |r| {
                        Ok(Txn {
                            txn: r.get(0)?,
                            account: r.get(1)?,
                            delta: r.get(2)?,
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(State { accounts, ledger })
            }
        }
    }

    /// The workload the tables were made for (`dt_meta`).
    pub fn workload(&mut self) -> Result<Workload> {
        let rows: Vec<(String, i64)> = match self {
            Conn::Pg(client, _) => client
                .query(sql::META, &[])?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect(),
            Conn::Lite(conn) => conn
                .prepare(sql::META)?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?,
        };
        let get = |key: &str| {
            rows.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| *v)
                .ok_or_else(|| anyhow!("dt_meta has no '{key}'"))
        };
        Ok(Workload {
            seed: get("seed")? as u64,
            accounts: get("accounts")? as u64,
        })
    }

    /// Put the tables back as `gen db` wrote them, and tidy what earlier runs left (dead row
    /// versions, a grown WAL), so that every run starts from the same place.
    pub fn reset(&mut self) -> Result<()> {
        match self {
            Conn::Pg(client, _) => {
                let mut tx = client.transaction()?;
                tx.batch_execute(sql::RESET)?;
                tx.commit()?;
                client.batch_execute("VACUUM ANALYZE accounts, ledger")?;
            }
            Conn::Lite(conn) => {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute_batch(sql::RESET)?;
                tx.commit()?;
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            }
        }
        Ok(())
    }

    /// The median of a few trivial round trips, in milliseconds (0 for SQLite, which is in
    /// this process), and what the server is.
    pub fn round_trip_ms(&mut self) -> Result<(f64, String)> {
        match self {
            Conn::Pg(client, _) => {
                let version: String = client.query_one("SHOW server_version", &[])?.get(0);
                let mut times = Vec::new();
                for _ in 0..21 {
                    let t = std::time::Instant::now();
                    client.simple_query("SELECT 1")?;
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                times.sort_by(f64::total_cmp);
                Ok((times[times.len() / 2], format!("PostgreSQL {version}")))
            }
            Conn::Lite(conn) => {
                let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
                Ok((0.0, format!("SQLite {} ({mode})", rusqlite::version())))
            }
        }
    }
}

/// Is this error a violation of the ledger's primary key?
fn pg_unique(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// Whether a PostgreSQL error may pass if tried again: a dropped connection, a server shutting
/// down or starting, a conflict between transactions. Anything else (a missing table, a
/// constraint) would fail the same way again.
pub(crate) fn pg_failure(e: &tokio_postgres::Error) -> Failure {
    let passing = [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::QUERY_CANCELED,
    ];
    match e.code() {
        Some(code) if passing.contains(code) => Failure::Retry(e.to_string()),
        Some(_) => Failure::Final(e.to_string()),
        None if e.is_closed() => Failure::Retry(format!("{e} (the connection was lost)")),
        None => Failure::Retry(e.to_string()),
    }
}

fn pg_attempt(
    client: &mut postgres::Client,
    stmts: &Prepared,
    txn: &Txn,
) -> Result<Applied, Failure> {
    let fail = |e: postgres::Error| pg_failure(&e);
    let inserted = {
        let mut tx = client.transaction().map_err(fail)?;
        let read = tx.query(&stmts.read, &[&txn.account]).map_err(fail)?;
        if read.is_empty() {
            return Err(missing_account(txn));
        }
        tx.query(&stmts.update, &[&txn.account, &txn.delta])
            .map_err(fail)?;
        let insert = tx.query(&stmts.insert, &[&txn.txn, &txn.account, &txn.delta]);
        match insert {
            Ok(_) => {
                tx.commit().map_err(fail)?;
                true
            }
            Err(e) if pg_unique(&e) => {
                tx.rollback().map_err(fail)?;
                false
            }
            Err(e) => return Err(fail(e)),
        }
    };
    if inserted {
        return Ok(Applied::Fresh);
    }
    let row = client.query(&stmts.existing, &[&txn.txn]).map_err(fail)?;
    let held = row
        .first()
        .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)));
    already(txn, held)
}

/// After a unique violation on the ledger: ours (already applied), or someone else's row.
pub(crate) fn already(txn: &Txn, held: Option<(i64, i64)>) -> Result<Applied, Failure> {
    match held {
        Some((account, delta)) if account == txn.account && delta == txn.delta => {
            Ok(Applied::Already)
        }
        Some((account, delta)) => Err(Failure::Final(format!(
            "unique violation: the ledger already holds a row {} for account {account}, \
             {delta:+} cents, which is not this transaction; nothing applied",
            txn.txn
        ))),
        // It was there a moment ago and is gone: someone is changing the ledger under us.
        None => Err(Failure::Retry(format!(
            "unique violation on ledger row {}, which then vanished",
            txn.txn
        ))),
    }
}

pub(crate) fn missing_account(txn: &Txn) -> Failure {
    Failure::Final(format!(
        "account {} does not exist (were the tables made by `decision-table gen db` with \
         more accounts?)",
        txn.account
    ))
}

fn lite_failure(e: rusqlite::Error) -> Failure {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            Failure::Retry(format!("{e} (SQLite's write lock stayed taken)"))
        }
        _ => Failure::Final(e.to_string()),
    }
}

fn lite_attempt(conn: &mut rusqlite::Connection, txn: &Txn) -> Result<Applied, Failure> {
    let inserted = {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(lite_failure)?;
        let read: Option<i64> = tx
            .query_row(sql::LITE_READ, [txn.account], |r| r.get(0))
            .optional()
            .map_err(lite_failure)?;
        if read.is_none() {
            return Err(missing_account(txn));
        }
        tx.execute(sql::LITE_UPDATE, [txn.account, txn.delta])
            .map_err(lite_failure)?;
        match tx.execute(sql::LITE_INSERT, [txn.txn, txn.account, txn.delta]) {
            Ok(_) => {
                tx.commit().map_err(lite_failure)?;
                true
            }
            Err(e)
                if e.sqlite_error().is_some_and(|s| {
                    s.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                }) =>
            {
                tx.rollback().map_err(lite_failure)?;
                false
            }
            Err(e) => return Err(lite_failure(e)),
        }
    };
    if inserted {
        return Ok(Applied::Fresh);
    }
    let held = conn
        .query_row(sql::LITE_EXISTING, [txn.txn], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .map_err(lite_failure)?;
    already(txn, held)
}

/// One connection per worker: idle ones wait here between transactions.
#[derive(Default)]
pub struct Connections {
    idle: Mutex<Vec<Conn>>,
}

impl Connections {
    fn take(&self, target: &Target) -> Result<Conn, Failure> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(c) => Ok(c),
            None => Conn::open(target),
        }
    }

    fn give(&self, conn: Conn) {
        if !conn.broken() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
    }
}

/// The job of the `db` scenario for the blocking models: run transaction `t`, retrying as the
/// flags say; what became of it is its output ([`Done`]).
#[derive(Serialize, Deserialize)]
pub struct Transact {
    plan: Plan,
    /// Made where the job runs (a worker process parses `--db` itself).
    #[serde(skip)]
    target: OnceLock<Result<Target, String>>,
    #[serde(skip)]
    connections: Connections,
    /// Per process: once the server has gone, the remaining transactions fail fast.
    #[serde(skip)]
    breaker: Breaker,
}

impl Transact {
    pub fn new(plan: Plan) -> Transact {
        Transact {
            plan,
            target: OnceLock::new(),
            connections: Connections::default(),
            breaker: Breaker::default(),
        }
    }

    fn target(&self) -> Result<&Target, String> {
        self.target
            .get_or_init(|| Target::parse(&self.plan.db).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Run transaction `t` until it commits, fails for good, or runs out of retries.
    pub fn transact(&self, t: u64) -> Done {
        let txn = self.plan.workload.txn(t);
        let target = match self.target() {
            Ok(target) => target,
            Err(e) => return Done::failed(e),
        };
        if let Some(why) = self.breaker.tripped() {
            return Done::failed(why.replace("items", "transactions"));
        }
        let retry = self.plan.retry();
        let busy_before = busy_waits();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = self.connections.take(target).and_then(|mut conn| {
                if attempts == 1 && self.plan.drop_connection_at == Some(t) {
                    conn.terminate();
                }
                let outcome = conn.attempt(&txn);
                self.connections.give(conn);
                outcome
            });
            let failure = match outcome {
                Ok(applied) => {
                    self.breaker.record(Ok(()));
                    return Done {
                        attempts,
                        busy_waits: busy_waits() - busy_before,
                        result: Ok(applied),
                    };
                }
                Err(failure) => failure,
            };
            match retry.next(attempts, &failure) {
                Some(wait) => std::thread::sleep(wait),
                None => {
                    self.breaker.record(Err(&failure));
                    return Done {
                        attempts,
                        busy_waits: busy_waits() - busy_before,
                        result: Err(format!("{}: {}", describe(&txn), failure.message())),
                    };
                }
            }
        }
    }
}

impl Job for Transact {
    const NAME: &'static str = "db-transact";
    type Item = u64;
    type Output = Done;

    fn run(&self, t: u64) -> Result<Done> {
        Ok(self.transact(t))
    }

    fn deadline(&self, _t: &u64) -> Duration {
        self.plan.deadline()
    }
}

/// Read both tables back with a connection of its own.
pub fn read_state(target: &Target) -> Result<State> {
    let mut conn = Conn::open_for(target)?;
    conn.read_state()
        .with_context(|| format!("cannot read the tables of {}", target.shown()))
}
