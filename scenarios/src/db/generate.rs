//! `decision-table gen db`: make the scenario's tables and fill `accounts`, deterministic from
//! a seed, in either database.
//!
//! ```text
//! decision-table gen db --db sqlite:data/db.sqlite --accounts 1000 --seed 42
//! decision-table gen db --db postgresql://postgres@127.0.0.1:5433/postgres
//! ```
//!
//! Nothing half-made is ever left under the final name: PostgreSQL builds the tables in one
//! transaction (its DDL is transactional: a failure leaves the old tables, or none); SQLite
//! builds a new file beside the final one and renames it into place once it is complete, in
//! WAL mode (set in the file itself, so every connection opens it in WAL).

use super::sql;
use super::target::Target;
use super::workload::Workload;
use crate::cli::bounded;
use anyhow::{Context, Result};
use clap::Args;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn accounts(s: &str) -> Result<u64, String> {
    bounded(s, 1, 1_000_000)
}

/// `gen db`'s flags.
#[derive(Args, Debug, Clone)]
pub struct GenDbArgs {
    /// The database: postgresql://USER@HOST:PORT/DBNAME or sqlite:PATH (default: $DATABASE_URL,
    /// else sqlite:data/db.sqlite); its tables of this scenario are replaced
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
    /// How many accounts (1 to 1,000,000): fewer means more transactions on each row
    #[arg(long, default_value_t = 1000, value_parser = accounts, allow_negative_numbers = true)]
    pub accounts: u64,
    /// The seed of the opening balances and of every transaction
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Make the tables; returns the database as shown in messages.
pub fn generate(args: &GenDbArgs) -> Result<String> {
    let target = Target::parse(&Target::spec(args.db.as_deref()))?;
    let workload = Workload {
        seed: args.seed,
        accounts: args.accounts,
    };
    match &target {
        Target::Postgres { shown, config } => {
            let mut client = postgres::Config::from((**config).clone())
                .connect(postgres::NoTls)
                .with_context(|| format!("cannot connect to the database at {shown}"))?;
            pg_fill(&mut client, workload).with_context(|| format!("cannot fill {shown}"))?;
        }
        Target::Sqlite { path } => {
            lite_make(path, workload).with_context(|| format!("cannot make {}", path.display()))?
        }
    }
    Ok(target.shown())
}

fn pg_fill(client: &mut postgres::Client, w: Workload) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.batch_execute(sql::PG_SCHEMA)?;
    {
        // COPY: one stream instead of a round trip per row.
        let mut copy =
            tx.copy_in("COPY accounts (id, owner, opening, balance, txns) FROM STDIN")?;
        let mut lines = Vec::new();
        for a in w.accounts() {
            writeln!(
                lines,
                "{}\t{}\t{}\t{}\t0",
                a.id, a.owner, a.opening, a.balance
            )?;
            if lines.len() > 1 << 16 {
                copy.write_all(&lines)?;
                lines.clear();
            }
        }
        copy.write_all(&lines)?;
        copy.finish()?;
    }
    tx.execute(
        "INSERT INTO dt_meta (key, value) VALUES ('seed', $1), ('accounts', $2)",
        &[&(w.seed as i64), &(w.accounts as i64)],
    )?;
    tx.commit()?;
    client.batch_execute("VACUUM ANALYZE accounts, ledger")?;
    Ok(())
}

fn lite_make(path: &Path, w: Workload) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".partial-")
        .suffix(".sqlite")
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    {
        let mut conn = rusqlite::Connection::open(tmp.path())?;
        conn.execute_batch(sql::LITE_SCHEMA)?;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO accounts (id, owner, opening, balance, txns) VALUES (?1, ?2, ?3, ?4, 0)",
            )?;
            for a in w.accounts() {
                insert.execute(rusqlite::params![a.id, a.owner, a.opening, a.balance])?;
            }
            tx.execute(
                "INSERT INTO dt_meta (key, value) VALUES ('seed', ?1), ('accounts', ?2)",
                [w.seed as i64, w.accounts as i64],
            )?;
        }
        tx.commit()?;
        // Set in the file: every later connection opens it in WAL mode. Closing the last
        // connection checkpoints the WAL into the file and removes it.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        anyhow::ensure!(mode == "wal", "SQLite refused WAL mode (got {mode})");
        conn.close().map_err(|(_, e)| e)?;
    }
    // A WAL or shared-memory file left by the database this one replaces would be replayed
    // into it: they go first.
    for suffix in ["-wal", "-shm"] {
        let stale = format!("{}{suffix}", path.display());
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {stale}")),
        }
    }
    tmp.persist(path)
        .with_context(|| format!("cannot move the finished database to {}", path.display()))?;
    Ok(())
}
