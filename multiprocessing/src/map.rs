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

use crate::engine::PoolArgs;
use crate::pool::Pool;
use anyhow::Result;
use clap::Args;
use scenarios::cli::{bounded, cores, workers};
use scenarios::digest::Digest;
use scenarios::job::Job;
use scenarios::outcome::{OnError, Outcome};
use scenarios::rng::mix;
use scenarios::{Run, Summary, say};
use serde::{Deserialize, Serialize};

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
    #[command(flatten)]
    pub pool: PoolArgs,
}

/// The job: `rounds` rounds of the mix function from each task's index.
#[derive(Serialize, Deserialize)]
pub struct Crunch {
    rounds: u64,
}

impl Job for Crunch {
    const NAME: &'static str = "map";
    type Item = u64;
    type Output = u64;

    fn run(&self, index: u64) -> Result<u64> {
        Ok(crunch(index, self.rounds))
    }

    /// Half a minute, plus 20 ns a round (a round takes about 1 ns here).
    fn deadline(&self, _index: &u64) -> std::time::Duration {
        std::time::Duration::from_secs(30) + std::time::Duration::from_nanos(self.rounds * 20)
    }
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
    // A task whose worker died is counted; the others still run.
    let pool = Pool::new(args.workers)
        .on_error(OnError::KeepGoing)
        .options(&args.pool);
    let mut run = Run::start("map", pool.label(), args.tasks);
    let job = Crunch {
        rounds: args.rounds,
    };
    let outcomes = pool.map_in_order(&mut run, (0..args.tasks as u64).collect(), job)?;
    let mut digest = Digest::new();
    let mut failed = 0;
    for outcome in &outcomes {
        match outcome {
            Outcome::Done(x) => digest.update_u64(*x),
            _ => {
                failed += 1;
                digest.update(b"failed")
            }
        };
    }
    say!(
        "{} tasks on {} worker processes: {} done, {failed} failed",
        args.tasks,
        args.workers,
        args.tasks - failed
    );
    Ok(run.finish(digest.finish(), failed))
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
