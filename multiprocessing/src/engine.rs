//! The pool's flags: who does the CPU-bound work of `matrix` and `images` (worker processes,
//! the default, the chapter's `Pool`; or rayon's threads in this one process, `--engine rayon`,
//! Rust's usual answer to `Pool.map`: Rust threads have no GIL to escape, so one process is
//! enough), how long an item may take before its worker is killed and replaced
//! (`--task-timeout`), and the hidden flags of the fault tests.

use crate::child::{DieHow, Fault};
use clap::{Args, ValueEnum};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// A pool of worker processes fed over pipes (Python's multiprocessing.Pool)
    Processes,
    /// rayon's par_iter on a thread pool inside this process
    Rayon,
}

impl Engine {
    /// The variant name in the summary.
    pub fn variant(self) -> &'static str {
        match self {
            Engine::Processes => "processes",
            Engine::Rayon => "rayon",
        }
    }
}

/// The flags `matrix` and `images` share in this crate.
#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Who computes: worker processes, or rayon's threads in this process
    #[arg(long, value_enum, default_value_t = Engine::Processes)]
    pub engine: Engine,
    #[command(flatten)]
    pub pool: PoolArgs,
}

impl EngineArgs {
    /// Refuse flags that cannot go together, before anything runs.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.engine == Engine::Rayon && self.pool.fault.die_on_task.is_some() {
            anyhow::bail!("--die-on-task needs --engine processes: rayon has no worker to kill");
        }
        Ok(())
    }
}

fn task_timeout(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(0.001..=86_400.0).contains(&secs) {
        return Err(format!(
            "{secs} s is out of range: use 0.001 to 86400 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// What every subcommand that runs on the process pool accepts.
#[derive(Args, Debug, Clone, Default)]
pub struct PoolArgs {
    /// Seconds an item may take before its worker is killed and replaced and the item fails
    /// (default: derived from the job: generous, but finite)
    #[arg(long, value_parser = task_timeout, value_name = "SECONDS", allow_negative_numbers = true)]
    pub task_timeout: Option<Duration>,
    #[command(flatten)]
    pub fault: FaultArgs,
}

/// Hidden flags of the fault tests: make one worker die.
#[derive(Args, Debug, Clone, Default)]
pub struct FaultArgs {
    /// Make the worker that receives this item die (tests of fault handling)
    #[arg(long, hide = true)]
    pub die_on_task: Option<u64>,
    /// How the worker dies with --die-on-task
    #[arg(long, hide = true, value_enum, default_value_t = DieHow::Kill)]
    pub die_how: DieHow,
}

impl FaultArgs {
    pub fn fault(&self) -> Option<Fault> {
        self.die_on_task.map(|item| Fault {
            item,
            how: self.die_how,
        })
    }
}
