//! Database reads and writes with K worker processes, each opening its own connection on its
//! first transaction and keeping it (a connection cannot cross a process boundary: a child
//! must never use its parent's socket). The pool hands each process one transaction id at a
//! time; processes buy nothing for waiting on a database that threads or tasks do not, and
//! cost a process and a server connection each, which the peak memory shows.
//!
//! Make the tables, then run:
//!
//! ```text
//! cargo run --release -p decision-table -- gen db --db sqlite:data/db.sqlite
//! cargo run --release -p multiprocessing -- db --db sqlite:data/db.sqlite --workers 8
//! scripts/pg.sh start /tmp/pg     # prints postgresql://postgres@127.0.0.1:PORT/postgres
//! cargo run --release -p multiprocessing -- db --db postgresql://postgres@127.0.0.1:PORT/postgres --workers 32
//! ```

use crate::engine::PoolArgs;
use crate::pool::Pool;
use anyhow::Result;
use scenarios::db::{self, DbArgs, Plan, blocking::Transact};
use scenarios::{Run, Summary};

pub fn run(args: &DbArgs, options: &PoolArgs) -> Result<Summary> {
    let pool = Pool::new(args.workers).options(options);
    let setup = db::prepare(args)?;
    let job = Transact::new(Plan::new(args, &setup));
    let mut run = Run::start("db", pool.label(), args.transactions as usize);
    let outcomes = pool.map_in_order(&mut run, setup.ids(), job)?;
    Ok(db::finish(run, &setup, outcomes))
}
