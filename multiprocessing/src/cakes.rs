//! The chapter's two cakes, each baked in a child process of its own: start both processes,
//! then join both, as the chapter does with `Process(...).start()` and `.join()`. The bakes
//! overlap, so two 1 s cakes take about 1 s plus the cost of starting two processes. Each cake
//! line names the pid that baked it; the summary lists them beside the parent's.
//!
//! `cargo run -p multiprocessing -- cakes [--cakes N] [--bake-ms MS]`

use crate::MODEL;
use crate::process::{Task, Worker};
use anyhow::{Result, anyhow};
use scenarios::chapter::{self, Clock};
use scenarios::cli::CakesArgs;
use scenarios::{Run, Summary, say};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a child needs to bake one cake.
#[derive(Serialize, Deserialize)]
struct Cake {
    name: String,
    bake_ms: u64,
    /// The parent's start, so the child's timeline lines share the parent's clock.
    t0_ns: u64,
}

pub fn run(args: &CakesArgs) -> Result<Summary> {
    let mut run = Run::start("cakes", MODEL, "processes", args.cakes, args.cakes);
    let clock = Clock::now();
    // Process.start(): one child per cake, each handed its cake at once.
    let mut bakers = Vec::with_capacity(args.cakes);
    for i in 0..args.cakes {
        let mut child = Worker::spawn(None)?;
        let cake = Cake {
            name: chapter::cake_name(i),
            bake_ms: args.bake_ms,
            t0_ns: clock.unix_ns(),
        };
        child.send(&Task {
            id: i as u64,
            job: "cake".into(),
            arg: serde_json::to_value(cake)?,
        })?;
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

/// The child's side: bake the cake it was given.
pub fn job(arg: Value) -> Result<Vec<u8>> {
    let cake: Cake = serde_json::from_value(arg)?;
    let who = format!("process {}", std::process::id());
    chapter::bake_cake(
        &cake.name,
        cake.bake_ms,
        &Clock::from_unix_ns(cake.t0_ns),
        &who,
    );
    Ok(cake.name.into_bytes())
}
