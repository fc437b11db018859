//! Database reads and writes, one transaction after another on one connection: the baseline
//! for the chapter's "database reads and writes -> asyncio". Each transaction is five round
//! trips (BEGIN, read, update, insert, COMMIT), each waiting for its answer, so at 2 ms a round
//! trip one connection does at most 100 transactions a second however fast the server is.
//!
//! Make the tables, then run (`--workers` is accepted and ignored: one connection here):
//!
//! ```text
//! cargo run --release -p decision-table -- gen db --db sqlite:data/db.sqlite
//! cargo run --release -p serial -- db --db sqlite:data/db.sqlite --transactions 2000
//! scripts/pg.sh start /tmp/pg     # prints postgresql://postgres@127.0.0.1:PORT/postgres
//! cargo run --release -p serial -- db --db postgresql://postgres@127.0.0.1:PORT/postgres
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
