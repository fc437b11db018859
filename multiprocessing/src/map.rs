//! `Pool.map` with processes: N CPU-bound tasks spread over a pool of worker processes, the
//! chapter's advice for CPU-bound work. Each task runs a fixed number of rounds of a 64-bit mix
//! function; the result depends only on the task's index, so the digest is the same however
//! the tasks are spread.
//!
//! The pool survives its workers: `--die-on-task I` (hidden, for tests) makes the worker that
//! receives task I die (`--die-how kill|panic|exit`); that task fails with a message naming the
//! process, a new worker takes its place, every other task completes, and the exit status is 1.
//!
//! `cargo run --release -p multiprocessing -- map [--tasks N] [--workers K] [--rounds R]`

use crate::MODEL;
use crate::pool::Pool;
use crate::process::{DieHow, Fault};
use anyhow::{Context, Result};
use clap::Args;
use scenarios::cli::{bounded, cores, workers};
use scenarios::digest::Digest;
use scenarios::rng::mix;
use scenarios::{Run, Summary, say};
use serde::{Deserialize, Serialize};
use serde_json::Value;

fn tasks(s: &str) -> Result<usize, String> {
    bounded(s, 1, 100_000).map(|v| v as usize)
}

fn rounds(s: &str) -> Result<u64, String> {
    bounded(s, 1, 10_000_000_000)
}

/// `map`: how many tasks, how heavy, on how many processes.
#[derive(Args, Debug, Clone)]
pub struct MapArgs {
    /// How many tasks to run
    #[arg(long, default_value_t = 16, value_parser = tasks, allow_negative_numbers = true)]
    pub tasks: usize,
    /// How many worker processes (default: one per core)
    #[arg(long, default_value_t = cores(), value_parser = workers, allow_negative_numbers = true)]
    pub workers: usize,
    /// How many rounds of the mix function each task runs
    #[arg(long, default_value_t = 50_000_000, value_parser = rounds, allow_negative_numbers = true)]
    pub rounds: u64,
    /// Make the worker that receives this task die (tests of fault handling)
    #[arg(long, hide = true)]
    pub die_on_task: Option<u64>,
    /// How the worker dies with --die-on-task
    #[arg(long, hide = true, value_enum, default_value_t = DieHow::Kill)]
    pub die_how: DieHow,
}

#[derive(Serialize, Deserialize)]
struct Chunk {
    index: u64,
    rounds: u64,
}

/// The work of one task: `rounds` dependent steps, so it cannot be skipped or vectorised away.
fn crunch(index: u64, rounds: u64) -> u64 {
    let mut x = index;
    for _ in 0..rounds {
        x = mix(x);
    }
    x
}

pub fn run(args: &MapArgs) -> Result<Summary> {
    let mut run = Run::start("map", MODEL, "pool", args.workers, args.tasks);
    let fault = args.die_on_task.map(|task| Fault {
        task,
        how: args.die_how,
    });
    let pool = Pool::new(args.workers).with_fault(fault);
    let chunks = (0..args.tasks as u64)
        .map(|index| {
            serde_json::to_value(Chunk {
                index,
                rounds: args.rounds,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let out = pool.map("map", chunks, |i, result| {
        if let Err(e) = result {
            say!("task {i} failed: {e}");
        }
    });
    let mut digest = Digest::new();
    for result in &out.results {
        match result {
            Ok(bytes) => digest.update(bytes),
            Err(_) => digest.update(b"failed"),
        };
    }
    let failed = out.failed();
    say!(
        "{} tasks on {} worker processes ({} replaced after dying): {} done, {failed} failed",
        args.tasks,
        args.workers,
        out.replaced,
        args.tasks - failed
    );
    run.extra("parent_pid", std::process::id())
        .extra("pids", out.pids)
        .extra("replaced", out.replaced);
    Ok(run.finish(digest.finish(), failed))
}

/// The worker's side: one task.
pub fn job(arg: Value) -> Result<Vec<u8>> {
    let chunk: Chunk = serde_json::from_value(arg).context("a map task")?;
    Ok(crunch(chunk.index, chunk.rounds).to_le_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crunch_depends_on_index_and_rounds() {
        assert_eq!(crunch(3, 0), 3);
        assert_eq!(crunch(3, 1), mix(3));
        assert_ne!(crunch(3, 10), crunch(4, 10));
    }
}
