//! Every statement the scenario sends, for both dialects, in one place: `gen db`'s schema, the
//! reset, the three statements of a transaction, and the read-back the digest is made from.
//! PostgreSQL numbers its parameters `$1`, SQLite `?1`; the statements are otherwise the same.

/// The tables, for PostgreSQL. `dt_meta` holds the seed and the number of accounts, so a run
/// knows the workload the tables were made for.
pub const PG_SCHEMA: &str = "
    DROP TABLE IF EXISTS ledger, accounts, dt_meta;
    CREATE TABLE dt_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
    CREATE TABLE accounts (
        id BIGINT PRIMARY KEY,
        owner TEXT NOT NULL,
        opening BIGINT NOT NULL,
        balance BIGINT NOT NULL,
        txns BIGINT NOT NULL
    );
    CREATE TABLE ledger (
        txn BIGINT PRIMARY KEY,
        account BIGINT NOT NULL REFERENCES accounts (id),
        delta BIGINT NOT NULL
    );";

/// The same tables for SQLite (`STRICT`: a wrong type is an error, as in PostgreSQL).
pub const LITE_SCHEMA: &str = "
    CREATE TABLE dt_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        owner TEXT NOT NULL,
        opening INTEGER NOT NULL,
        balance INTEGER NOT NULL,
        txns INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE ledger (
        txn INTEGER PRIMARY KEY,
        account INTEGER NOT NULL REFERENCES accounts (id),
        delta INTEGER NOT NULL
    ) STRICT;";

/// Back to the state `gen db` wrote: no ledger, every balance at its opening.
pub const RESET: &str = "DELETE FROM ledger; UPDATE accounts SET balance = opening, txns = 0;";

pub const META: &str = "SELECT key, value FROM dt_meta";
pub const ACCOUNTS: &str = "SELECT id, owner, opening, balance, txns FROM accounts ORDER BY id";
pub const LEDGER: &str = "SELECT txn, account, delta FROM ledger ORDER BY txn";

/// A transaction, statement by statement (PostgreSQL): read the account by its key, add the
/// delta on the server (an increment under the row lock: no lost update, whatever the
/// interleaving), record the transaction under its id (the primary key makes it idempotent:
/// a second attempt at a committed transaction is a unique violation, not a second effect).
pub const PG_READ: &str = "SELECT balance FROM accounts WHERE id = $1";
pub const PG_UPDATE: &str =
    "UPDATE accounts SET balance = balance + $2, txns = txns + 1 WHERE id = $1 RETURNING balance";
pub const PG_INSERT: &str = "INSERT INTO ledger (txn, account, delta) VALUES ($1, $2, $3)";
/// What the ledger already holds for a transaction id (after a unique violation).
pub const PG_EXISTING: &str = "SELECT account, delta FROM ledger WHERE txn = $1";

/// The same for SQLite.
pub const LITE_READ: &str = "SELECT balance FROM accounts WHERE id = ?1";
pub const LITE_UPDATE: &str =
    "UPDATE accounts SET balance = balance + ?2, txns = txns + 1 WHERE id = ?1";
pub const LITE_INSERT: &str = "INSERT INTO ledger (txn, account, delta) VALUES (?1, ?2, ?3)";
pub const LITE_EXISTING: &str = "SELECT account, delta FROM ledger WHERE txn = ?1";
