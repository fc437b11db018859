//! Database reads and writes as tasks on one thread: the chapter's "database reads and writes
//! -> asyncio". With PostgreSQL, K tasks share a `deadpool-postgres` pool of K connections
//! (`--variant pool`), or each sends its transaction's five statements at once on its
//! connection (`--variant pipelined`: one round trip instead of five, which no number of
//! threads buys). With SQLite there is no asynchronous driver to await (Python's aiosqlite is
//! a thread per connection), so the same blocking transactions run on `spawn_blocking`.
//!
//! Make the tables, then run:
//!
//! ```text
//! cargo run --release -p decision-table -- gen db --db sqlite:data/db.sqlite
//! cargo run --release -p asyncio -- db --db sqlite:data/db.sqlite --workers 8
//! scripts/pg.sh start /tmp/pg     # prints postgresql://postgres@127.0.0.1:PORT/postgres
//! cargo run --release -p asyncio -- db --db postgresql://postgres@127.0.0.1:PORT/postgres --workers 32 [--variant pipelined]
//! ```

use crate::pool::{CpuArgs, Pool, Variant};
use anyhow::Result;
use scenarios::db::nonblocking::{AsyncDbArgs, TransactAsync};
use scenarios::db::{self, DbArgs, Plan, Target, blocking::Transact};
use scenarios::{Label, Run, Summary};

pub fn run(args: &DbArgs, variant: &AsyncDbArgs) -> Result<Summary> {
    variant.check(&args.target()?)?;
    let setup = db::prepare(args)?;
    let plan = Plan::new(args, &setup);
    let n = args.transactions as usize;
    if let Target::Sqlite { .. } = setup.target {
        let pool = Pool::new(args.workers).cpu(&CpuArgs {
            variant: Variant::SpawnBlocking,
        });
        let mut run = Run::start("db", pool.label(), n);
        let outcomes = pool.map_in_order(&mut run, setup.ids(), Transact::new(plan))?;
        return Ok(db::finish(run, &setup, outcomes));
    }
    let pool = Pool::new(args.workers);
    let job = TransactAsync::new(plan, args.workers, variant.style)?;
    let label = Label::new(crate::MODEL, variant.style.name(), args.workers);
    let mut run = Run::start("db", label, n);
    let outcomes = pool.map_in_order_async(&mut run, setup.ids(), job)?;
    Ok(db::finish(run, &setup, outcomes))
}
