//! Who does the CPU-bound work of `matrix` and `images`: worker processes (the default, the
//! chapter's `Pool`) or rayon's threads in this one process (`--engine rayon`, Rust's usual
//! answer to `Pool.map`: Rust threads have no GIL to escape, so one process is enough).

use crate::process::{DieHow, Fault};
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// A pool of worker processes fed over pipes (Python's multiprocessing.Pool)
    Processes,
    /// rayon's par_iter on a thread pool inside this process
    Rayon,
}

/// The flags `matrix` and `images` share in this crate.
#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Who computes: worker processes, or rayon's threads in this process
    #[arg(long, value_enum, default_value_t = Engine::Processes)]
    pub engine: Engine,
    /// Make the worker that receives this task die (tests of fault handling)
    #[arg(long, hide = true)]
    pub die_on_task: Option<u64>,
    /// How the worker dies with --die-on-task
    #[arg(long, hide = true, value_enum, default_value_t = DieHow::Kill)]
    pub die_how: DieHow,
}

impl EngineArgs {
    /// The variant name in the summary.
    pub fn variant(&self) -> &'static str {
        match self.engine {
            Engine::Processes => "processes",
            Engine::Rayon => "rayon",
        }
    }

    /// The planned worker death, if any (processes only: rayon has no worker process to kill).
    pub fn fault(&self) -> Result<Option<Fault>> {
        match (self.die_on_task, self.engine) {
            (Some(_), Engine::Rayon) => bail!("--die-on-task needs --engine processes"),
            (task, _) => Ok(task.map(|task| Fault {
                task,
                how: self.die_how,
            })),
        }
    }

    /// A rayon pool of exactly `workers` threads, so `--workers` means the same as elsewhere
    /// (rayon's global pool would take one thread per core whatever we asked).
    pub fn rayon_pool(workers: usize) -> Result<rayon::ThreadPool> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .build()
            .context("cannot start rayon's thread pool")
    }
}
