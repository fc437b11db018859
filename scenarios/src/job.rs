//! A job: the work an executor maps over items, written once in this library and run by every
//! model's `pool.rs`.
//!
//! The chapter's `concurrent.futures` passes a function: `ThreadPoolExecutor().map(f, items)`.
//! A Rust closure would do for threads and tasks, but not for a process: `ProcessPoolExecutor`
//! pickles `f` *by name* and the child imports it. A [`Job`] is the same idea made explicit: a
//! value that says what to do (the matrices' paths, the output folder), known to a worker
//! process by its [`Job::NAME`], serialisable so that a child can be handed it once, and
//! whose items and outputs are serialisable so that they can cross a pipe. The models that
//! need none of that (a loop, threads, tasks) simply call [`Job::run`].
//!
//! [`AsyncJob`] is the same for the event loop: its `run` is a future, for I/O-bound work that
//! waits on sockets without holding a thread.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::time::Duration;

/// The deadline of an item whose job says nothing better: generous, but finite.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);

/// Work that an executor maps over items: on a loop, on threads, or in worker processes.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The name a worker process knows this job by.
    const NAME: &'static str;
    /// One unit of work.
    type Item: Serialize + DeserializeOwned + Send + 'static;
    /// What one unit of work produces.
    type Output: Serialize + DeserializeOwned + Send + 'static;

    /// Do one item. An error is that item's failure (a bad input), never a panic.
    fn run(&self, item: Self::Item) -> anyhow::Result<Self::Output>;

    /// How long one item may take before its worker is given up on: generous (a loaded machine,
    /// a debug build), but finite, so that a worker that is alive but stuck (stopped, deadlocked)
    /// cannot hang a run. A process pool kills and replaces a worker that overruns it.
    fn deadline(&self, _item: &Self::Item) -> Duration {
        DEFAULT_DEADLINE
    }
}

/// Work for the event loop: each item is a future that waits on the network.
pub trait AsyncJob: Send + Sync + 'static {
    type Item: Send + 'static;
    type Output: Send + 'static;

    fn run(&self, item: Self::Item) -> impl Future<Output = anyhow::Result<Self::Output>> + Send;
}
