//! Database reads and writes with K threads, each with a connection of its own: the chapter's
//! `ThreadPoolExecutor` over a blocking driver (psycopg, sqlite3). A thread parked on a
//! round trip costs nothing but its stack, so K threads keep K transactions in flight; past
//! the server's cores (or SQLite's single writer) more of them only queue.
//!
//! Make the tables, then run:
//!
//! ```text
//! cargo run --release -p decision-table -- gen db --db sqlite:data/db.sqlite
//! cargo run --release -p threading -- db --db sqlite:data/db.sqlite --workers 8
//! scripts/pg.sh start /tmp/pg     # prints postgresql://postgres@127.0.0.1:PORT/postgres
//! cargo run --release -p threading -- db --db postgresql://postgres@127.0.0.1:PORT/postgres --workers 32
//! ```

use crate::pool::Pool;
use anyhow::Result;
use scenarios::db::{self, DbArgs, Plan, blocking::Transact};
use scenarios::{Run, Summary};

pub fn run(args: &DbArgs) -> Result<Summary> {
    let pool = Pool::new(args.workers);
    let setup = db::prepare(args)?;
    let job = Transact::new(Plan::new(args, &setup));
    let mut run = Run::start("db", pool.label(), args.transactions as usize);
    let outcomes = pool.map_in_order(&mut run, setup.ids(), job)?;
    Ok(db::finish(run, &setup, outcomes))
}
