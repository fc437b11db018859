//! Retries: bounded exponential backoff, and what one file's or item's attempts came to.

use crate::fetch::BACKOFF_CAP;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Duration;

/// Why one attempt failed, and whether trying again can help.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// A server error, a broken body, a timeout, a checksum mismatch: worth another attempt.
    Retry(String),
    /// The answer will not change (404, a local disk error): stop now.
    Final(String),
    /// Nothing accepted the connection: worth another attempt (the server may be back), and
    /// counted by the [`Breaker`].
    Connect(String),
}

impl Failure {
    pub fn message(self) -> String {
        match self {
            Failure::Retry(m) | Failure::Final(m) | Failure::Connect(m) => m,
        }
    }
}

/// Bounded exponential backoff.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retry {
    /// Attempts after the first.
    pub retries: u32,
    /// The wait before the first retry; it doubles for each further one, up to [`BACKOFF_CAP`].
    pub base: Duration,
}

impl Retry {
    /// The wait before retry number `retry` (1 for the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(BACKOFF_CAP)
    }

    /// After attempt number `attempt` (1 for the first) failed: how long to wait before the
    /// next one, or `None` to give up.
    pub fn next(&self, attempt: u32, failure: &Failure) -> Option<Duration> {
        match failure {
            Failure::Final(_) => None,
            Failure::Retry(_) | Failure::Connect(_) if attempt > self.retries => None,
            Failure::Retry(_) | Failure::Connect(_) => Some(self.delay(attempt)),
        }
    }
}

/// What one file's or item's attempts came to: how many there were, and the result or why the
/// last one failed. A file that fails is a result too (reported by name, counted), not a reason
/// to stop the run, so the jobs return a `Fetched` whatever happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fetched<T> {
    pub attempts: u32,
    pub result: Result<T, String>,
}

impl<T> Fetched<T> {
    /// A failure that happened outside the fetch (a worker died, the item never ran).
    pub fn failed(why: impl Into<String>) -> Self {
        Fetched {
            attempts: 0,
            result: Err(why.into()),
        }
    }
}
/// Items in a row whose every attempt could not connect before the rest are failed untried.
pub const BREAKER_AT: u32 = 3;

/// What stops a client from spending its whole retry budget on every remaining item once the
/// server has gone: after [`BREAKER_AT`] items in a row whose every attempt failed to connect,
/// the rest fail at once, naming the cause. Any item that gets through closes it again.
#[derive(Debug, Default)]
pub struct Breaker {
    /// Items in a row that could not connect, and the last such error.
    state: Mutex<(u32, String)>,
}

impl Breaker {
    /// Why the items left are not tried, if the breaker has tripped.
    pub fn tripped(&self) -> Option<String> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (state.0 >= BREAKER_AT).then(|| {
            format!(
                "not tried: the last {} items could not connect to the server ({})",
                state.0, state.1
            )
        })
    }

    /// How one item's last attempt ended.
    pub fn record(&self, last: Result<(), &Failure>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match last {
            Err(Failure::Connect(why)) => *state = (state.0 + 1, why.clone()),
            _ => state.0 = 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let r = Retry {
            retries: 3,
            base: Duration::from_millis(50),
        };
        assert_eq!(r.delay(1), Duration::from_millis(50));
        assert_eq!(r.delay(2), Duration::from_millis(100));
        assert_eq!(r.delay(3), Duration::from_millis(200));
        assert_eq!(r.delay(10), BACKOFF_CAP);
        assert_eq!(r.delay(100), BACKOFF_CAP);
        let again = Failure::Retry("HTTP 500".into());
        assert_eq!(r.next(1, &again), Some(Duration::from_millis(50)));
        assert_eq!(r.next(3, &again), Some(Duration::from_millis(200)));
        assert_eq!(r.next(4, &again), None, "3 retries means 4 attempts");
        assert_eq!(r.next(1, &Failure::Final("HTTP 404".into())), None);
        assert_eq!(
            r.next(1, &Failure::Connect("refused".into())),
            Some(Duration::from_millis(50))
        );
        let none = Retry { retries: 0, ..r };
        assert_eq!(none.next(1, &again), None);
    }

    #[test]
    fn the_breaker_trips_after_items_in_a_row_cannot_connect_and_resets() {
        let b = Breaker::default();
        let refused = Failure::Connect("Connection refused".into());
        for _ in 0..BREAKER_AT - 1 {
            b.record(Err(&refused));
        }
        assert_eq!(b.tripped(), None);
        b.record(Ok(()));
        b.record(Err(&refused));
        assert_eq!(b.tripped(), None, "a success in between resets it");
        for _ in 0..BREAKER_AT - 1 {
            b.record(Err(&refused));
        }
        let why = b.tripped().unwrap();
        assert!(
            why.contains("Connection refused") && why.contains("not tried"),
            "{why}"
        );
        b.record(Err(&Failure::Retry("HTTP 500".into())));
        assert_eq!(b.tripped(), None, "the server answered");
    }
}
