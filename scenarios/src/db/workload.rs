//! The workload of the `db` scenario as pure functions of a seed: the accounts `gen db` writes,
//! what transaction `t` does, the state a set of committed transactions must leave, and the
//! digest of a state. Nothing here touches a database, so the tests, the harness and the
//! Python twin can all compute what a correct run must end with.
//!
//! Why the digest cannot depend on the interleaving: transaction `t` always adds the same
//! `delta(t)` to the same `account(t)` (both fixed by the seed and `t` alone), as one
//! server-side increment (`balance = balance + delta`, under the row lock the UPDATE takes, so
//! no update is lost), and writes one ledger row keyed by `t`. Additions commute, so each
//! account ends at `opening + the sum of its transactions' deltas` whatever order they
//! committed in; the ledger is a set keyed by transaction id, read back in key order. The read
//! of the account's row feeds nothing that is written (a client-side read-modify-write would
//! need `SELECT ... FOR UPDATE` to be safe, and could not be pipelined), so a transaction
//! seeing a different balance in another interleaving changes nothing stored. Every model,
//! committing the same transactions in any order, leaves byte-identical tables.

use crate::digest::Digest;
use crate::rng::SplitMix64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The stream of the accounts' opening balances ("accounts" in ASCII), kept apart from the
/// transactions' stream so that more accounts never change a transaction.
const ACCOUNT_STREAM: u64 = 0x6163_636f_756e_7473;
/// The stream of the transactions ("transact").
const TXN_STREAM: u64 = 0x7472_616e_7361_6374;
/// Opening balances are 0 to 9,999.99 (in cents).
const OPENING_BELOW: u64 = 1_000_000;
/// A transaction moves -10.00 to +10.00 (in cents).
const DELTA_SPAN: i64 = 1_000;

/// What `gen db` was asked for: enough to recompute every row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    pub seed: u64,
    pub accounts: u64,
}

/// One transaction: add `delta` cents to `account`, and record it in the ledger as `txn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    pub txn: i64,
    pub account: i64,
    pub delta: i64,
}

/// One row of `accounts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: i64,
    pub owner: String,
    pub opening: i64,
    pub balance: i64,
    /// How many transactions touched it.
    pub txns: i64,
}

/// Both tables, in key order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub accounts: Vec<Account>,
    pub ledger: Vec<Txn>,
}

impl Workload {
    /// The owner's name of account `id`: text, so a row is more than three numbers.
    pub fn owner(id: i64) -> String {
        format!("owner-{id:06}")
    }

    /// Account `id` as `gen db` writes it (and as a reset puts it back).
    pub fn account(&self, id: i64) -> Account {
        let opening =
            SplitMix64::for_item(self.seed ^ ACCOUNT_STREAM, id as u64).below(OPENING_BELOW) as i64;
        Account {
            id,
            owner: Workload::owner(id),
            opening,
            balance: opening,
            txns: 0,
        }
    }

    /// Every account, fresh.
    pub fn accounts(&self) -> impl Iterator<Item = Account> + '_ {
        (0..self.accounts as i64).map(|id| self.account(id))
    }

    /// What transaction `t` does: fixed by the seed and `t`, never by who runs it or when.
    pub fn txn(&self, t: u64) -> Txn {
        let mut r = SplitMix64::for_item(self.seed ^ TXN_STREAM, t);
        let account = r.below(self.accounts.max(1)) as i64;
        let delta = r.below(2 * DELTA_SPAN as u64 + 1) as i64 - DELTA_SPAN;
        Txn {
            txn: t as i64,
            account,
            delta,
        }
    }

    /// The state the database must hold once exactly the transactions `committed` have
    /// committed, in whatever order.
    pub fn expected(&self, committed: impl IntoIterator<Item = u64>) -> State {
        let mut accounts: Vec<Account> = self.accounts().collect();
        let mut ledger: Vec<Txn> = committed.into_iter().map(|t| self.txn(t)).collect();
        ledger.sort_by_key(|r| r.txn);
        ledger.dedup_by_key(|r| r.txn);
        for r in &ledger {
            let a = &mut accounts[r.account as usize];
            a.balance += r.delta;
            a.txns += 1;
        }
        State { accounts, ledger }
    }

    /// Why `state` is not what this workload can produce, if it is not: an account changed
    /// other than by its ledger rows, or a ledger row that is not the seed's transaction.
    pub fn check(&self, state: &State) -> Result<(), String> {
        if state.accounts.len() as u64 != self.accounts {
            return Err(format!(
                "{} accounts where the database was made with {}",
                state.accounts.len(),
                self.accounts
            ));
        }
        for r in &state.ledger {
            let want = self.txn(r.txn as u64);
            if *r != want {
                return Err(format!(
                    "ledger row {} is (account {}, delta {}), not this workload's (account {}, \
                     delta {})",
                    r.txn, r.account, r.delta, want.account, want.delta
                ));
            }
        }
        let mut sums: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        for r in &state.ledger {
            let s = sums.entry(r.account).or_default();
            s.0 += r.delta;
            s.1 += 1;
        }
        for (i, a) in state.accounts.iter().enumerate() {
            let fresh = self.account(i as i64);
            let (sum, count) = sums.get(&a.id).copied().unwrap_or_default();
            if a.id != i as i64 || a.owner != fresh.owner || a.opening != fresh.opening {
                return Err(format!("account {} is not the one gen db wrote", a.id));
            }
            if a.balance != a.opening + sum || a.txns != count {
                return Err(format!(
                    "account {} holds {} after {} transactions, but its opening {} and its {} \
                     ledger rows add up to {}",
                    a.id,
                    a.balance,
                    a.txns,
                    a.opening,
                    count,
                    a.opening + sum
                ));
            }
        }
        Ok(())
    }
}

impl State {
    /// The digest of both tables, in key order: every column of every account, then every
    /// ledger row. Byte for byte what the Python twin computes.
    pub fn digest(&self) -> String {
        let mut d = Digest::new();
        d.update(b"accounts").update_u64(self.accounts.len() as u64);
        for a in &self.accounts {
            d.update_u64(a.id as u64)
                .update(a.owner.as_bytes())
                .update_u64(a.opening as u64)
                .update_u64(a.balance as u64)
                .update_u64(a.txns as u64);
        }
        d.update(b"ledger").update_u64(self.ledger.len() as u64);
        for r in &self.ledger {
            d.update_u64(r.txn as u64)
                .update_u64(r.account as u64)
                .update_u64(r.delta as u64);
        }
        d.finish()
    }

    /// The transaction ids the ledger holds.
    pub fn committed(&self) -> Vec<u64> {
        self.ledger.iter().map(|r| r.txn as u64).collect()
    }
}

/// The digest a run of transactions `0..n` that all committed must print.
pub fn reference_digest(workload: Workload, n: u64) -> String {
    workload.expected(0..n).digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Workload = Workload {
        seed: 42,
        accounts: 50,
    };

    #[test]
    fn transactions_are_fixed_by_the_seed_and_in_range() {
        assert_eq!(W.txn(7), W.txn(7));
        assert_ne!(W.txn(7), W.txn(8));
        for t in 0..1000 {
            let x = W.txn(t);
            assert!((0..50).contains(&x.account));
            assert!((-DELTA_SPAN..=DELTA_SPAN).contains(&x.delta));
        }
        let more = Workload { accounts: 60, ..W };
        assert_eq!(
            W.account(3),
            more.account(3),
            "more accounts change no account"
        );
    }

    #[test]
    fn any_order_of_the_same_transactions_leaves_the_same_state() {
        let forward = W.expected(0..200);
        let backward = W.expected((0..200).rev());
        let shuffled = W.expected((0..200).map(|t| (t * 37) % 200));
        assert_eq!(forward, backward);
        assert_eq!(forward, shuffled);
        assert_eq!(forward.digest(), reference_digest(W, 200));
        assert_ne!(forward.digest(), W.expected(0..199).digest());
        assert_eq!(W.check(&forward), Ok(()));
    }

    #[test]
    fn a_lost_update_or_a_foreign_row_is_caught() {
        let mut lost = W.expected(0..100);
        let victim = lost.ledger[10].account as usize;
        lost.accounts[victim].balance -= lost.ledger[10].delta;
        assert!(W.check(&lost).unwrap_err().contains("add up to"));
        let mut foreign = W.expected(0..100);
        foreign.ledger[5].delta += 1;
        assert!(W.check(&foreign).unwrap_err().contains("ledger row 5"));
    }
}
