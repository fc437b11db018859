//! One transaction with an async client: `tokio-postgres` behind a `deadpool-postgres` pool of
//! K connections, for asyncio. `blocking.rs` is the same transaction for the blocking models;
//! `diff` the two attempts to see `.await` after every wait, and little else.
//!
//! Two variants ([`Style`]):
//! - `Wait` (asyncio's `pool`): K tasks, each taking a connection from the pool for one
//!   transaction and waiting for each statement's answer before sending the next: five round
//!   trips per transaction, as the blocking models, but K of them in flight on one thread.
//! - `Pipelined`: each task sends its transaction's five statements (`BEGIN`, read, update,
//!   insert, `COMMIT`) on its connection without waiting, and then reads the five answers:
//!   one round trip per transaction. Only an async client can do this with one task: the five
//!   futures are polled together, and tokio-postgres writes each request to the connection
//!   the first time its future is polled, in the order they are polled. It is safe because
//!   none of the statements needs an earlier one's answer (the update is an increment on the
//!   server), and it stays atomic: if any statement fails the server aborts the transaction,
//!   its `COMMIT` becomes a `ROLLBACK`, and the attempt counts as failed.

use super::blocking::{ONE, Prepared, THREE, TWO, already, missing_account, pg_failure};
use super::target::{STATEMENT_TIMEOUT_MS, Target};
use super::workload::Txn;
use super::{Applied, Done, Plan, describe, sql};
use crate::fetch::Failure;
use crate::fetch::retry::Breaker;
use crate::job::AsyncJob;
use anyhow::Result;
use clap::{Args, ValueEnum};
use deadpool_postgres::{Manager, Pool, PoolError};
use std::time::Duration;
use tokio_postgres::error::SqlState;

/// How a transaction's statements go to the server (asyncio's `--variant`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Style {
    /// K tasks on a pool of K connections, one statement at a time (five round trips)
    #[default]
    #[value(name = "pool")]
    Wait,
    /// The same, each transaction's five statements sent at once (one round trip)
    Pipelined,
}

impl Style {
    /// The variant's name in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Style::Wait => "tasks",
            Style::Pipelined => "pipelined",
        }
    }
}

/// asyncio's flags for `db`.
#[derive(Args, Debug, Clone, Copy)]
pub struct AsyncDbArgs {
    /// One statement at a time on pooled connections, or each transaction pipelined
    #[arg(long = "variant", value_enum, default_value_t = Style::Wait)]
    pub style: Style,
}

impl AsyncDbArgs {
    /// Refuse what cannot go together, before anything is touched: SQLite runs the blocking
    /// transactions on `spawn_blocking`, with no wire to pipeline on.
    pub fn check(&self, target: &Target) -> Result<()> {
        anyhow::ensure!(
            self.style == Style::Wait || matches!(target, Target::Postgres { .. }),
            "--variant pipelined needs PostgreSQL: SQLite has no wire to pipeline on"
        );
        Ok(())
    }
}

/// One attempt may take this long before it is abandoned (and retried): the server's own
/// statement timeout bounds a slow statement, this bounds a server that stopped answering.
fn attempt_timeout() -> Duration {
    Duration::from_millis(STATEMENT_TIMEOUT_MS) + Duration::from_secs(5)
}

/// The job of the `db` scenario for asyncio with PostgreSQL.
pub struct TransactAsync {
    plan: Plan,
    target: Target,
    pool: Pool,
    style: Style,
    breaker: Breaker,
}

impl TransactAsync {
    /// A pool of at most `connections` connections, opened as tasks first need them. (Making
    /// the pool connects nothing, so it needs no event loop yet.)
    pub fn new(plan: Plan, connections: usize, style: Style) -> Result<TransactAsync> {
        let target = Target::parse(&plan.db)?;
        let Target::Postgres { config, .. } = &target else {
            anyhow::bail!("the async client speaks PostgreSQL only; SQLite runs on spawn_blocking");
        };
        let manager = Manager::new((**config).clone(), tokio_postgres::NoTls);
        let pool = Pool::builder(manager).max_size(connections).build()?;
        Ok(TransactAsync {
            plan,
            target,
            pool,
            style,
            breaker: Breaker::default(),
        })
    }

    /// Run transaction `t` until it commits, fails for good, or runs out of retries.
    pub async fn transact(&self, t: u64) -> Done {
        let txn = self.plan.workload.txn(t);
        if let Some(why) = self.breaker.tripped() {
            return Done::failed(why.replace("items", "transactions"));
        }
        let retry = self.plan.retry();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let drop_first = attempts == 1 && self.plan.drop_connection_at == Some(t);
            let outcome = tokio::time::timeout(attempt_timeout(), self.attempt(&txn, drop_first))
                .await
                .unwrap_or_else(|_| {
                    Err(Failure::Retry(format!(
                        "no answer within {:.0} s",
                        attempt_timeout().as_secs_f64()
                    )))
                });
            let failure = match outcome {
                Ok(applied) => {
                    self.breaker.record(Ok(()));
                    return Done {
                        attempts,
                        busy_waits: 0,
                        result: Ok(applied),
                    };
                }
                Err(failure) => failure,
            };
            match retry.next(attempts, &failure) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => {
                    self.breaker.record(Err(&failure));
                    return Done {
                        attempts,
                        busy_waits: 0,
                        result: Err(format!("{}: {}", describe(&txn), failure.message())),
                    };
                }
            }
        }
    }

    async fn attempt(&self, txn: &Txn, drop_first: bool) -> Result<Applied, Failure> {
        let mut client = self.pool.get().await.map_err(|e| self.pool_failure(e))?;
        if drop_first {
            let _ = client
                .batch_execute("SELECT pg_terminate_backend(pg_backend_pid())")
                .await;
        }
        let stmts = prepared(&client).await.map_err(|e| pg_failure(&e))?;
        let inserted = match self.style {
            Style::Wait => wait_attempt(&mut client, &stmts, txn).await?,
            Style::Pipelined => pipelined_attempt(&client, &stmts, txn).await?,
        };
        if inserted {
            return Ok(Applied::Fresh);
        }
        let row = client
            .query(&stmts.existing, &[&txn.txn])
            .await
            .map_err(|e| pg_failure(&e))?;
        let held = row
            .first()
            .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)));
        already(txn, held)
    }

    fn pool_failure(&self, e: PoolError) -> Failure {
        let why = format!(
            "cannot connect to the database at {}: {e}",
            self.target.shown()
        );
        match e {
            PoolError::Backend(e) if e.as_db_error().is_some() => Failure::Final(why),
            _ => Failure::Connect(why),
        }
    }
}

/// The transaction's statements on this connection: prepared the first time (a round trip
/// each), then from deadpool's cache of the connection.
async fn prepared(client: &deadpool_postgres::Client) -> Result<Prepared, tokio_postgres::Error> {
    Ok(Prepared {
        read: client.prepare_typed_cached(sql::PG_READ, ONE).await?,
        update: client.prepare_typed_cached(sql::PG_UPDATE, TWO).await?,
        insert: client.prepare_typed_cached(sql::PG_INSERT, THREE).await?,
        existing: client.prepare_typed_cached(sql::PG_EXISTING, ONE).await?,
    })
}

/// One statement at a time. True if the ledger row went in; false on a unique violation
/// (the transaction rolled back).
async fn wait_attempt(
    client: &mut deadpool_postgres::Client,
    stmts: &Prepared,
    txn: &Txn,
) -> Result<bool, Failure> {
    let fail = |e: tokio_postgres::Error| pg_failure(&e);
    let tx = client.transaction().await.map_err(fail)?;
    let read = tx.query(&stmts.read, &[&txn.account]).await.map_err(fail)?;
    if read.is_empty() {
        return Err(missing_account(txn));
    }
    tx.query(&stmts.update, &[&txn.account, &txn.delta])
        .await
        .map_err(fail)?;
    let insert = tx
        .query(&stmts.insert, &[&txn.txn, &txn.account, &txn.delta])
        .await;
    match insert {
        Ok(_) => {
            tx.commit().await.map_err(fail)?;
            Ok(true)
        }
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            tx.rollback().await.map_err(fail)?;
            Ok(false)
        }
        Err(e) => Err(fail(e)),
    }
}

/// All five statements at once: `join5` polls them in order, so they leave in order.
async fn pipelined_attempt(
    client: &tokio_postgres::Client,
    stmts: &Prepared,
    txn: &Txn,
) -> Result<bool, Failure> {
    let (begin, read, update, insert, commit) = futures_util::future::join5(
        client.batch_execute("BEGIN"),
        client.query(&stmts.read, &[&txn.account]),
        client.query(&stmts.update, &[&txn.account, &txn.delta]),
        client.query(&stmts.insert, &[&txn.txn, &txn.account, &txn.delta]),
        client.batch_execute("COMMIT"),
    )
    .await;
    let fail = |e: tokio_postgres::Error| pg_failure(&e);
    begin.map_err(fail)?;
    // An error in any statement aborted the transaction (its COMMIT answered ROLLBACK).
    let read = read.map_err(fail)?;
    let updated = update.map_err(fail)?;
    match insert {
        Ok(_) => {}
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => return Ok(false),
        Err(e) => return Err(fail(e)),
    }
    commit.map_err(fail)?;
    if read.is_empty() || updated.is_empty() {
        // Cannot happen with the foreign key on ledger.account (the insert would have failed
        // and the transaction with it); said rather than assumed.
        return Err(missing_account(txn));
    }
    Ok(true)
}

impl AsyncJob for TransactAsync {
    type Item = u64;
    type Output = Done;

    async fn run(&self, t: u64) -> Result<Done> {
        Ok(self.transact(t).await)
    }
}
