//! Who does the CPU-bound work of `matrix` and `images`: worker processes (the default, the
//! chapter's `Pool`) or rayon's threads in this one process (`--engine rayon`, Rust's usual
//! answer to `Pool.map`: Rust threads have no GIL to escape, so one process is enough).

use crate::child::{DieHow, Fault};
use clap::{Args, ValueEnum};

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
    pub fault: FaultArgs,
}

impl EngineArgs {
    /// Refuse flags that cannot go together, before anything runs.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.engine == Engine::Rayon && self.fault.die_on_task.is_some() {
            anyhow::bail!("--die-on-task needs --engine processes: rayon has no worker to kill");
        }
        Ok(())
    }

    /// The planned worker death, if any.
    pub fn fault(&self) -> Option<Fault> {
        self.fault.fault()
    }
}

/// Hidden flags of the fault tests: make one worker die.
#[derive(Args, Debug, Clone)]
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
