//! What became of each item of a run, and the one rule for bad inputs in every model: stop at
//! the first, or keep going.
//!
//! Without `--keep-going` ([`OnError::Stop`]), the first item whose job fails stops the run:
//! items not yet started are [`Outcome::Skipped`], items already running finish, and the run
//! ends with an error naming the earliest failed input ([`conclude`]). With `--keep-going`,
//! every item runs and the failures are counted in the summary's `failed` (exit status 1).
//! Every executor (a loop, threads, tasks, rayon, the process pool's parent) checks the same
//! [`Stopper`], so "stop" means the same thing everywhere.
//!
//! A worker process that dies is not a bad input: its item is [`Outcome::Lost`], counted as
//! failed, but it never stops the run (the pool replaces the worker and goes on).

use std::sync::atomic::{AtomicBool, Ordering};

/// `--keep-going` or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// The first failed item stops the run (the default).
    Stop,
    /// Every item runs; failures are counted.
    KeepGoing,
}

impl OnError {
    pub fn keep_going(keep_going: bool) -> OnError {
        if keep_going {
            OnError::KeepGoing
        } else {
            OnError::Stop
        }
    }
}

/// What became of one item.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome<T> {
    /// The job ran and produced this.
    Done(T),
    /// The job ran and failed (a bad input, say): its whole error message.
    Failed(String),
    /// The worker running it died (a process killed, say): not the input's fault.
    Lost(String),
    /// It never started: an earlier failure stopped the run.
    Skipped,
}

impl<T> Outcome<T> {
    /// The job's result as an outcome: an error becomes its whole message.
    pub fn of(result: anyhow::Result<T>) -> Outcome<T> {
        match result {
            Ok(t) => Outcome::Done(t),
            Err(e) => Outcome::Failed(format!("{e:#}")),
        }
    }

    /// Why the item has no result, if it has none.
    pub fn why_not(&self) -> Option<&str> {
        match self {
            Outcome::Done(_) => None,
            Outcome::Failed(e) | Outcome::Lost(e) => Some(e),
            Outcome::Skipped => Some("never run: an earlier failure stopped the run"),
        }
    }
}

/// Shared by the workers of one run: has a failure stopped it?
#[derive(Debug)]
pub struct Stopper {
    on_error: OnError,
    stopped: AtomicBool,
}

impl Stopper {
    pub fn new(on_error: OnError) -> Stopper {
        Stopper {
            on_error,
            stopped: AtomicBool::new(false),
        }
    }

    /// Has a failed item stopped the run? Executors check before starting an item.
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Note how an item ended (where the job ran elsewhere, in a child process say). A failure
    /// is said at once, and stops the run unless we keep going.
    pub fn record<T>(&self, outcome: &Outcome<T>) {
        match outcome {
            Outcome::Failed(e) => {
                crate::say!("failed: {e}");
                if self.on_error == OnError::Stop {
                    self.stopped.store(true, Ordering::Relaxed);
                }
            }
            Outcome::Lost(e) => crate::say!("failed: {e}"),
            Outcome::Done(_) | Outcome::Skipped => {}
        }
    }

    /// Run one item's job unless the run has stopped, and record how it ended.
    pub fn run<T>(&self, job: impl FnOnce() -> anyhow::Result<T>) -> Outcome<T> {
        if self.stopped() {
            return Outcome::Skipped;
        }
        let outcome = Outcome::of(job());
        self.record(&outcome);
        outcome
    }
}

/// The end of a run: with [`OnError::Stop`], the error of the earliest failed item (in input
/// order, whichever failed first in time); otherwise the results in input order (`None` for an
/// item without one) and how many items failed.
pub fn conclude<T>(
    on_error: OnError,
    outcomes: Vec<Outcome<T>>,
) -> anyhow::Result<(Vec<Option<T>>, usize)> {
    if on_error == OnError::Stop
        && let Some(e) = outcomes.iter().find_map(|o| match o {
            Outcome::Failed(e) => Some(e),
            _ => None,
        })
    {
        anyhow::bail!("{e}");
    }
    let mut failed = 0;
    let results = outcomes
        .into_iter()
        .map(|o| match o {
            Outcome::Done(t) => Some(t),
            // Skipped items only exist when the run stopped, which returned above; count them
            // anyway rather than lose them.
            Outcome::Failed(_) | Outcome::Lost(_) | Outcome::Skipped => {
                failed += 1;
                None
            }
        })
        .collect();
    Ok((results, failed))
}

/// Put `(index, outcome)` pairs that arrived in completion order back in input order. An index
/// that never arrived stays [`Outcome::Skipped`].
pub fn in_input_order<T>(
    n: usize,
    pairs: impl IntoIterator<Item = (usize, Outcome<T>)>,
) -> Vec<Outcome<T>> {
    let mut slots: Vec<Outcome<T>> = (0..n).map(|_| Outcome::Skipped).collect();
    for (i, outcome) in pairs {
        slots[i] = outcome;
    }
    slots
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
        let stop = Stopper::new(OnError::Stop);
        let outcomes: Vec<_> = (0..6).map(|i| stop.run(|| item(i))).collect();
        assert_eq!(
            outcomes[2],
            Outcome::Skipped,
            "nothing starts after a failure"
        );
        let e = conclude(OnError::Stop, outcomes).unwrap_err();
        assert_eq!(e.to_string(), "item 1 is bad");
    }

    #[test]
    fn the_earliest_failure_in_input_order_is_reported_when_several_race() {
        let outcomes = vec![
            Outcome::Done(1),
            Outcome::Failed("two".into()),
            Outcome::Skipped,
            Outcome::Failed("four".into()),
        ];
        assert_eq!(
            conclude(OnError::Stop, outcomes).unwrap_err().to_string(),
            "two"
        );
    }

    #[test]
    fn keeps_going_and_counts() {
        let stop = Stopper::new(OnError::KeepGoing);
        let outcomes: Vec<_> = (0..6).map(|i| stop.run(|| item(i))).collect();
        let (results, failed) = conclude(OnError::KeepGoing, outcomes).unwrap();
        assert_eq!(failed, 2);
        assert_eq!(results, [Some(0), None, Some(20), Some(30), None, Some(50)]);
    }

    #[test]
    fn a_lost_item_is_counted_but_never_stops_the_run() {
        let stop = Stopper::new(OnError::Stop);
        stop.record(&Outcome::<()>::Lost("worker 7 was killed".into()));
        assert!(!stop.stopped());
        let outcomes = vec![Outcome::Done(1), Outcome::Lost("killed".into())];
        assert_eq!(
            conclude(OnError::Stop, outcomes).unwrap(),
            (vec![Some(1), None], 1)
        );
    }

    #[test]
    fn pairs_go_back_in_input_order() {
        let got = in_input_order(3, [(2, Outcome::Done(20)), (0, Outcome::Done(0))]);
        assert_eq!(got, [Outcome::Done(0), Outcome::Skipped, Outcome::Done(20)]);
    }
}
