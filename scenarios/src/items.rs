//! Stop at the first bad input, or keep going: the same rule for every model.
//!
//! Without `--keep-going`, the first item whose input is bad stops the run: items not yet
//! started are skipped, items already running finish, and the run ends with an error naming
//! the input. With `--keep-going`, every item runs and the failures are counted in the
//! summary's `failed` (exit status 1). Threads, tasks, rayon and the process pool's parent all
//! share one [`FailFast`], so "stop" means the same thing everywhere.
//!
//! A worker process that dies is not a bad input: the pool replaces it and the run goes on, so
//! it is counted as a failed item but never stops the run.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// What became of one item: `None` when it was skipped because the run had stopped.
pub type Outcome<T> = Option<Result<T, String>>;

/// Shared by every worker of one run.
#[derive(Debug)]
pub struct FailFast {
    keep_going: bool,
    stop: Arc<AtomicBool>,
    /// The failure that stopped the run: the earliest in input order if several raced.
    first: Mutex<Option<(usize, String)>>,
}

impl FailFast {
    pub fn new(keep_going: bool) -> FailFast {
        FailFast {
            keep_going,
            stop: Arc::new(AtomicBool::new(false)),
            first: Mutex::new(None),
        }
    }

    /// Has a bad input stopped the run? Check before starting an item.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The flag itself, for code that checks it where a `FailFast` cannot go (the process
    /// pool's driver threads).
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Note how item `index` ended. A failure stops the run unless we keep going.
    pub fn record<T>(&self, index: usize, result: &Result<T, String>) {
        if let Err(e) = result {
            crate::say!("failed: {e}");
            if !self.keep_going {
                self.stop.store(true, Ordering::Relaxed);
                let mut first = self.first.lock().unwrap_or_else(|p| p.into_inner());
                if first.as_ref().is_none_or(|(i, _)| index < *i) {
                    *first = Some((index, e.clone()));
                }
            }
        }
    }

    /// Run item `index` unless the run has stopped, and record how it ended.
    pub fn run<T>(&self, index: usize, work: impl FnOnce() -> anyhow::Result<T>) -> Outcome<T> {
        if self.stopped() {
            return None;
        }
        let result = work().map_err(|e| format!("{e:#}"));
        self.record(index, &result);
        Some(result)
    }

    /// The error that stopped the run, if one did.
    pub fn into_error(self) -> Option<anyhow::Error> {
        self.first
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .map(|(_, e)| anyhow::anyhow!(e))
    }
}

/// An item's result as an [`Outcome`]: errors become their full message.
pub fn outcome<T>(result: anyhow::Result<T>) -> Outcome<T> {
    Some(result.map_err(|e| format!("{e:#}")))
}

/// The end of a run: the error that stopped it, or the results in input order with the number
/// of failed items (a failed item's result is `None`).
pub fn conclude<T>(
    fail: FailFast,
    outcomes: Vec<Outcome<T>>,
) -> anyhow::Result<(Vec<Option<T>>, usize)> {
    if let Some(e) = fail.into_error() {
        return Err(e);
    }
    let mut failed = 0;
    let results = outcomes
        .into_iter()
        .map(|o| match o {
            Some(Ok(t)) => Some(t),
            // Skipped items only exist when the run stopped, which returned above; count them
            // anyway rather than lose them.
            Some(Err(_)) | None => {
                failed += 1;
                None
            }
        })
        .collect();
    Ok((results, failed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::bail;

    fn item(i: usize) -> anyhow::Result<usize> {
        if i % 3 == 1 {
            bail!("item {i} is bad");
        }
        Ok(i * 10)
    }

    #[test]
    fn stops_at_the_first_failure() {
        let fail = FailFast::new(false);
        let outcomes: Vec<_> = (0..6).map(|i| fail.run(i, || item(i))).collect();
        assert!(outcomes[2].is_none(), "nothing starts after a failure");
        let e = conclude(fail, outcomes).unwrap_err();
        assert_eq!(e.to_string(), "item 1 is bad");
    }

    #[test]
    fn the_earliest_failure_is_reported_when_several_race() {
        let fail = FailFast::new(false);
        fail.record::<()>(4, &Err("four".into()));
        fail.record::<()>(2, &Err("two".into()));
        fail.record::<()>(3, &Err("three".into()));
        assert_eq!(fail.into_error().unwrap().to_string(), "two");
    }

    #[test]
    fn keeps_going_and_counts() {
        let fail = FailFast::new(true);
        let outcomes: Vec<_> = (0..6).map(|i| fail.run(i, || item(i))).collect();
        let (results, failed) = conclude(fail, outcomes).unwrap();
        assert_eq!(failed, 2);
        assert_eq!(results, [Some(0), None, Some(20), Some(30), None, Some(50)]);
    }
}
