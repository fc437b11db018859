//! The chapter's two cakes, each baked in a child process of its own: start both processes,
//! then join both, as the chapter does with `Process(...).start()` and `.join()`. The bakes
//! overlap, so two 1 s cakes take about 1 s plus the cost of starting two processes. Each cake
//! line names the pid that baked it; the summary lists them beside the parent's.
//!
//! `cargo run -p multiprocessing -- cakes [--cakes N] [--bake-ms MS]`

use crate::MODEL;
use crate::child::{self, ChildProcess};
use anyhow::{Result, anyhow};
use scenarios::chapter::{self, Clock};
use scenarios::cli::CakesArgs;
use scenarios::job::Job;
use scenarios::{Label, Run, Summary, say};
use serde::{Deserialize, Serialize};

/// The child's job: bake the cake it is sent.
#[derive(Serialize, Deserialize)]
pub struct Bake;

/// What a child needs to bake one cake.
#[derive(Serialize, Deserialize)]
pub struct Cake {
    name: String,
    bake_ms: u64,
    /// The parent's start, so the child's timeline lines share the parent's clock.
    t0_ns: u64,
}

impl Job for Bake {
    const NAME: &'static str = "cake";
    type Item = Cake;
    type Output = String;

    fn run(&self, cake: Cake) -> Result<String> {
        let who = format!("process {}", std::process::id());
        let clock = Clock::from_unix_ns(cake.t0_ns);
        chapter::bake_cake(&cake.name, cake.bake_ms, &clock, &who);
        Ok(cake.name)
    }
}

pub fn run(args: &CakesArgs) -> Result<Summary> {
    let mut run = Run::start(
        "cakes",
        Label::new(MODEL, "processes", args.cakes),
        args.cakes,
    );
    child::check_process_count("--cakes", args.cakes)?;
    let clock = Clock::now();
    // Process.start(): one child per cake, each handed its cake at once.
    let mut bakers = Vec::with_capacity(args.cakes);
    for i in 0..args.cakes {
        let mut child = ChildProcess::for_job(&Bake, None)?;
        let cake = Cake {
            name: chapter::cake_name(i),
            bake_ms: args.bake_ms,
            t0_ns: clock.unix_ns(),
        };
        child.send(i as u64, &cake)?;
        bakers.push(child);
    }
    // Process.join(): wait for each child's answer, then for the child itself to exit.
    let mut pids = Vec::with_capacity(args.cakes);
    for mut child in bakers {
        let reply = child.recv()?;
        reply
            .result
            .map_err(|e| anyhow!("process {}: {e}", reply.pid))?;
        pids.push(reply.pid);
        child.finish()?;
    }
    say!("Total time: {:.3} s", clock.secs());
    run.extra("parent_pid", std::process::id())
        .extra("pids", pids);
    Ok(run.finish(chapter::cakes_digest(args.cakes), 0))
}
