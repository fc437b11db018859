//! The threading binary's `db` against SQLite in a temporary folder and a throw-away PostgreSQL
//! started by the test (`testkit::pg`; skipped, saying why, only where PostgreSQL is not
//! installed): the digest is the library's reference and the tables' own, whatever the
//! interleaving; a resumed run applies nothing twice; a wrong URL, a server that is down, a
//! unique violation, a connection dropped in the pool, a server killed mid-run and Ctrl-C.
//!
//! ```text
//! cargo test -p threading --test db
//! ```

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::db::{Db, ctrl_c, failed_txns, number, reference, workload};
use testkit::run::{assert_refusal, assert_refused, parse_summary};

const EXE: &str = env!("CARGO_BIN_EXE_threading");

/// Rows in the ledger right now.
fn ledger_rows(db: &Db) -> u64 {
    db.cluster()
        .sql("SELECT count(*) FROM ledger")
        .parse()
        .expect("a count")
}

/// Start a long run in a process group of its own (as a terminal would), and return once it
/// has committed at least `rows` transactions.
fn start_long_run(db: &Db, n: &str, rows: u64) -> std::process::Child {
    let mut child = Command::new(EXE)
        .args([
            "db",
            "--db",
            &db.url,
            "--transactions",
            n,
            "--workers",
            "4",
            "--json",
        ])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let deadline = Instant::now() + Duration::from_secs(60);
    while ledger_rows(db) < rows {
        assert!(Instant::now() < deadline, "the run never got going");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended too soon"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Every transaction commits once, and the digest is the reference's: the tables are the same
/// as every other model leaves them, though K threads interleaved them.
#[test]
fn sqlite_digest_matches_the_reference() {
    let db = Db::sqlite();
    let out = db.run(EXE, &["--transactions", "300", "--workers", "4"]);
    assert!(out.status.success(), "{}", out.stderr);
    let s = parse_summary(&out.stdout);
    assert_eq!((s.scenario.as_str(), s.model.as_str()), ("db", "threading"));
    assert_eq!((s.items, s.failed, s.workers), (300, 0, 4));
    assert_eq!(s.digest, reference(300));
    assert_eq!(s.digest, db.state().digest(), "the digest is of the tables");
    assert_eq!(s.extra["backend"], "sqlite");
    assert_eq!(s.extra["consistent"], true);
    assert_eq!(number(&s, "committed"), 300);
    // Four threads wanted SQLite's one write lock at once: some had to wait for it.
    assert!(number(&s, "busy_waits") > 0, "{:?}", s.extra);
}

#[test]
fn postgres_digest_matches_the_reference() {
    let Some(db) = Db::postgres() else { return };
    let out = db.run(EXE, &["--transactions", "400", "--workers", "8"]);
    assert!(out.status.success(), "{}", out.stderr);
    let s = parse_summary(&out.stdout);
    assert_eq!((s.items, s.failed, s.workers), (400, 0, 8));
    assert_eq!(s.digest, reference(400));
    assert_eq!(s.digest, db.state().digest());
    assert_eq!(s.extra["backend"], "postgres");
    assert_eq!(s.extra["consistent"], true);
    assert!(number(&s, "tps") > 0);
    // A second run resets the tables first: the same digest again.
    let again = db.run(EXE, &["--transactions", "400", "--workers", "3"]);
    assert!(again.status.success(), "{}", again.stderr);
    assert_eq!(parse_summary(&again.stdout).digest, reference(400));
}

/// `--resume` runs every transaction again: each meets its own ledger row (a unique
/// violation), is counted as already applied, and changes nothing.
#[test]
fn a_resumed_run_applies_nothing_twice() {
    let Some(db) = Db::postgres() else { return };
    let first = db.run(EXE, &["--transactions", "200", "--workers", "4"]);
    assert!(first.status.success(), "{}", first.stderr);
    let out = db.run(
        EXE,
        &["--transactions", "200", "--workers", "4", "--resume"],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let s = parse_summary(&out.stdout);
    assert_eq!(number(&s, "already_applied"), 200);
    assert_eq!(number(&s, "committed"), 200);
    assert_eq!(number(&s, "ledger_rows"), 200);
    assert_eq!(s.digest, reference(200));
}

#[test]
fn a_wrong_url_is_refused_by_name() {
    assert_refused(
        EXE,
        &["db", "--db", "mysql://root:hunter2@127.0.0.1/bank"],
        "mysql://root:***@127.0.0.1/bank",
    );
    let out = testkit::run::run(EXE, &["db", "--db", "mysql://root:hunter2@127.0.0.1/bank"]);
    assert!(!out.stderr.contains("hunter2"), "the password is shown");
    assert_refused(
        EXE,
        &["db", "--db", "postgresql://127.0.0.1:notaport/x"],
        "not a valid",
    );
    assert_refused(
        EXE,
        &["db", "--db", "sqlite:/nonexistent/db.sqlite"],
        "gen db",
    );
    assert_refused(EXE, &["db", "--db", "sqlite::memory:"], "names no file");
    assert_refused(EXE, &["db", "--transactions", "0"], "--transactions");
    let Some(db) = Db::postgres() else { return };
    let port = db.cluster().port();
    let wrong_db = format!("postgresql://postgres@127.0.0.1:{port}/nosuchdb");
    assert_refused(EXE, &["db", "--db", &wrong_db], "nosuchdb");
    // A database without the scenario's tables: say how to make them.
    let empty = db.cluster().database("empty");
    assert_refused(EXE, &["db", "--db", &empty], "gen db");
}

/// Nothing listens at the URL: the run fails at once, naming it.
#[test]
fn a_server_that_is_down_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgresql://postgres@127.0.0.1:{port}/postgres");
    let out = testkit::run::run_with_limit(EXE, &["db", "--db", &url], Duration::from_secs(20));
    assert_refusal(&out, &[&url, "cannot connect", "pg.sh"]);
}

/// A ledger row someone else wrote under transaction 5's id: transaction 5 fails, named, and
/// applies nothing; every other transaction commits.
#[test]
fn a_unique_violation_is_named_and_applies_nothing() {
    let Some(db) = Db::postgres() else { return };
    let w = workload();
    let other = (w.txn(5).account + 1) % w.accounts as i64;
    db.cluster().sql(&format!(
        "BEGIN; INSERT INTO ledger VALUES (5, {other}, 777); \
         UPDATE accounts SET balance = balance + 777, txns = txns + 1 WHERE id = {other}; COMMIT"
    ));
    let out = db.run(EXE, &["--transactions", "60", "--workers", "4", "--resume"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let s = parse_summary(&out.stdout);
    assert_eq!(failed_txns(&s), [5]);
    assert_eq!(s.failed, 1);
    assert!(out.stderr.contains("transaction 5"), "{}", out.stderr);
    assert!(out.stderr.contains("unique violation"), "{}", out.stderr);
    assert_eq!(number(&s, "committed"), 59);
    assert_eq!(
        s.extra["consistent"], false,
        "the foreign row is not this workload's"
    );
    let mut state = db.state();
    let row5 = state.ledger.iter().find(|r| r.txn == 5).expect("row 5");
    assert_eq!(
        (row5.account, row5.delta),
        (other, 777),
        "the other row stays"
    );
    assert_eq!(state.ledger.len(), 60);
    // Take the foreign row and its effect away: what is left is exactly this workload's
    // transactions but 5, each applied once.
    state.ledger.retain(|r| r.txn != 5);
    state.accounts[other as usize].balance -= 777;
    state.accounts[other as usize].txns -= 1;
    assert_eq!(w.check(&state), Ok(()));
}

/// The server ends the connection a worker is about to use: the attempt fails, the broken
/// connection is not given back, and the retry on a fresh one commits.
#[test]
fn a_dropped_connection_is_replaced_and_retried() {
    let Some(db) = Db::postgres() else { return };
    let out = db.run(
        EXE,
        &[
            "--transactions",
            "100",
            "--workers",
            "4",
            "--drop-connection-at",
            "30",
        ],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let s = parse_summary(&out.stdout);
    assert_eq!(s.failed, 0);
    assert!(number(&s, "retries") >= 1, "{:?}", s.extra);
    assert_eq!(s.digest, reference(100));
}

/// The server is killed mid-run: the transactions that could not commit are counted and named,
/// none that was reported committed is missing, the tables add up once the server is back,
/// and a resumed run completes every transaction exactly once.
#[test]
fn a_server_killed_mid_run() {
    let Some(mut db) = Db::postgres() else { return };
    let n = 3000;
    let child = start_long_run(&db, &n.to_string(), 100);
    db.cluster_mut().kill();
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let s = parse_summary(&String::from_utf8_lossy(&out.stdout));
    let failed = failed_txns(&s);
    assert!(!failed.is_empty());
    assert_eq!(s.failed, failed.len().max(1));
    assert_eq!(number(&s, "committed") + failed.len() as u64, n);
    assert!(stderr.contains("FAILED"), "{stderr}");
    assert_eq!(
        s.extra["digest_of"], "client",
        "the server was gone at the end"
    );
    db.cluster_mut().restart();
    let state = db.state();
    let w = workload();
    assert_eq!(w.check(&state), Ok(()), "the tables add up after the crash");
    let held: Vec<u64> = state.committed();
    let lost = (0..n)
        .filter(|t| !failed.contains(t) && !held.contains(t))
        .count();
    assert_eq!(lost, 0, "a transaction reported committed is missing");
    // At most the transactions in flight at the kill committed without being told so.
    let unconfirmed = failed.iter().filter(|t| held.contains(t)).count();
    assert!(unconfirmed <= 4, "{unconfirmed}");
    let out = db.run(
        EXE,
        &[
            "--transactions",
            &n.to_string(),
            "--workers",
            "4",
            "--resume",
        ],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let s = parse_summary(&out.stdout);
    assert_eq!(number(&s, "already_applied"), held.len() as u64);
    assert_eq!(s.digest, reference(n), "every transaction exactly once");
}

/// Ctrl-C (SIGINT to the process group): the run stops, our sessions on the server end, and
/// the tables add up: every transaction committed whole or not at all.
#[test]
fn ctrl_c_leaves_the_tables_consistent_and_no_session_behind() {
    let Some(db) = Db::postgres() else { return };
    let child = start_long_run(&db, "100000", 50);
    ctrl_c(&child);
    let out = child.wait_with_output().expect("wait");
    assert!(!out.status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.our_sessions() > 0 {
        assert!(Instant::now() < deadline, "sessions left on the server");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(workload().check(&db.state()), Ok(()));
}
