//! Before and after the transactions: [`prepare`] checks the database (a wrong URL or a server
//! that is down ends the run here, naming it), reads the workload its tables were made for,
//! resets them (unless `--resume`) and measures a round trip; [`finish`] reads both tables
//! back, digests them, checks that they add up, and prints the closing lines.
//!
//! The digest is of the tables as read back, not of what the client believes it did: a
//! transaction whose commit reached the disk but whose acknowledgement was lost (a server
//! killed at that instant) is in the digest, and is reported as `unconfirmed_commits`. If the
//! server is gone by the end, the run says so and prints the digest of what the client saw
//! commit instead (`digest_of: "client"`); the tests read the tables once it is back.

use super::blocking::{Conn, read_state};
use super::target::Target;
use super::workload::Workload;
use super::{Applied, DbArgs, Done};
use crate::outcome::Outcome;
use crate::{Run, Summary, say};
use anyhow::{Context, Result, anyhow};
use std::collections::BTreeSet;

/// What a run found before its first transaction.
#[derive(Clone, Debug)]
pub struct Setup {
    pub target: Target,
    pub workload: Workload,
    pub transactions: u64,
    pub resume: bool,
    /// The ledger rows there were at the start (0 unless `--resume`).
    pub ledger_before: usize,
    /// The median of a few trivial round trips, in milliseconds.
    pub rtt_ms: f64,
    pub server: String,
}

impl Setup {
    /// The items of the run: transaction ids, in order.
    pub fn ids(&self) -> Vec<u64> {
        (0..self.transactions).collect()
    }
}

/// Connect, read the workload, reset the tables unless `--resume`, time a round trip.
pub fn prepare(args: &DbArgs) -> Result<Setup> {
    let target = args.target()?;
    let shown = target.shown();
    let mut conn = Conn::open_for(&target)?;
    let workload = conn.workload().map_err(|e| {
        anyhow!(
            "{shown} has no tables of this scenario ({e}); make them with `decision-table gen \
             db --db {shown}`"
        )
    })?;
    let ledger_before = if args.resume {
        conn.read_state()
            .with_context(|| format!("cannot read the tables of {shown}"))?
            .ledger
            .len()
    } else {
        conn.reset()
            .with_context(|| format!("cannot reset the tables of {shown}"))?;
        0
    };
    let (rtt_ms, server) = conn
        .round_trip_ms()
        .with_context(|| format!("cannot time a round trip to {shown}"))?;
    say!(
        "{server} at {shown}: {} accounts (seed {}), a round trip {rtt_ms:.3} ms; {} transactions, \
         {}",
        workload.accounts,
        workload.seed,
        args.transactions,
        if args.resume {
            format!("resuming over {ledger_before} ledger rows")
        } else {
            "tables reset".into()
        }
    );
    Ok(Setup {
        target,
        workload,
        transactions: args.transactions,
        resume: args.resume,
        ledger_before,
        rtt_ms,
        server,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The closing lines and summary of a run: every failed transaction by id, the tables read
/// back and digested, and whether they add up.
pub fn finish(mut run: Run, setup: &Setup, outcomes: Vec<Outcome<Done>>) -> Summary {
    // The transactions' phase: from the start of the run to the last one's end.
    let txn_s = run.elapsed_s();
    let done: Vec<Done> = outcomes
        .into_iter()
        .map(|o| match o {
            Outcome::Done(d) => d,
            other => Done::failed(other.why_not().unwrap_or_default()),
        })
        .collect();
    let mut failed_txns = Vec::new();
    let (mut fresh, mut already, mut retries, mut busy_waits) = (0u64, 0u64, 0u64, 0u64);
    let mut confirmed = BTreeSet::new();
    for (t, d) in done.iter().enumerate() {
        retries += u64::from(d.attempts.saturating_sub(1));
        busy_waits += d.busy_waits;
        match &d.result {
            Ok(Applied::Fresh) => fresh += 1,
            Ok(Applied::Already) => already += 1,
            Err(_) => failed_txns.push(t as u64),
        }
        if d.result.is_ok() {
            confirmed.insert(t as u64);
        }
    }
    for &t in failed_txns.iter().take(10) {
        let d = &done[t as usize];
        let why = d.result.as_ref().err().map_or("", String::as_str);
        say!("FAILED after {} attempt(s): {why}", d.attempts);
    }
    if failed_txns.len() > 10 {
        say!(
            "... and {} more failed transactions (all listed in --json)",
            failed_txns.len() - 10
        );
    }
    let committed = fresh + already;
    let tps = if txn_s > 0.0 {
        committed as f64 / txn_s
    } else {
        0.0
    };
    say!(
        "{committed} of {} transactions committed ({already} already applied), {} failed, \
         {retries} retries, {busy_waits} busy waits: {tps:.0} transactions/s over {} \
         connection(s) in {txn_s:.3} s",
        done.len(),
        failed_txns.len(),
        run.workers(),
    );
    let mut failed = failed_txns.len();
    let (digest, digest_of) = match read_state(&setup.target) {
        Ok(state) => {
            let held: BTreeSet<u64> = state.committed().into_iter().collect();
            let unconfirmed: Vec<u64> = failed_txns
                .iter()
                .copied()
                .filter(|t| held.contains(t))
                .collect();
            let lost: Vec<u64> = confirmed.difference(&held).copied().collect();
            let verdict = setup.workload.check(&state).and_then(|()| {
                if lost.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "{} transaction(s) reported committed are not in the ledger: {:?}",
                        lost.len(),
                        &lost[..lost.len().min(10)]
                    ))
                }
            });
            match &verdict {
                Ok(()) => say!(
                    "the tables add up: {} ledger rows, every balance its opening plus its rows",
                    state.ledger.len()
                ),
                Err(why) => {
                    say!("INCONSISTENT: {why}");
                    // Not a transaction's failure, but the run's: the exit status says so.
                    failed = failed.max(1);
                }
            }
            if !unconfirmed.is_empty() {
                say!(
                    "{} failed transaction(s) did commit (their acknowledgement was lost): {:?}",
                    unconfirmed.len(),
                    &unconfirmed[..unconfirmed.len().min(10)]
                );
            }
            run.extra("consistent", verdict.is_ok())
                .extra("ledger_rows", state.ledger.len())
                .extra("unconfirmed_commits", unconfirmed);
            (state.digest(), "tables")
        }
        Err(e) => {
            say!(
                "cannot read the tables back ({e:#}): the digest is of what the client saw commit"
            );
            run.extra("consistent", serde_json::Value::Null);
            failed = failed.max(1);
            (
                setup.workload.expected(confirmed.iter().copied()).digest(),
                "client",
            )
        }
    };
    run.extra("backend", setup.target.backend())
        .extra("db", setup.target.shown())
        .extra("server", setup.server.clone())
        .extra("accounts", setup.workload.accounts)
        .extra("seed", setup.workload.seed)
        .extra("resume", setup.resume)
        .extra("committed", committed)
        .extra("already_applied", already)
        .extra("retries", retries)
        .extra("busy_waits", busy_waits)
        .extra("txn_s", round3(txn_s))
        .extra("tps", tps.round() as u64)
        .extra("rtt_ms", round3(setup.rtt_ms))
        .extra("digest_of", digest_of)
        .extra("failed_txns", failed_txns);
    run.finish(digest, failed)
}
