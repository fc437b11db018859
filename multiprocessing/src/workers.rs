//! The chapter's five workers, each in a child process of its own: start them all, then join
//! them all. The waits overlap, so the run takes about 2 s plus the cost of starting five
//! processes, which the summary's wall time shows beside the threads' and tasks'.
//!
//! `cargo run -p multiprocessing -- workers [--workers N] [--sleep-ms MS]` (the crate's default)

use crate::MODEL;
use crate::process::{Task, Worker};
use anyhow::{Result, anyhow};
use scenarios::chapter::{self, Clock};
use scenarios::cli::WorkersArgs;
use scenarios::{Run, Summary, say};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a child needs to play one worker.
#[derive(Serialize, Deserialize)]
struct Wait {
    index: usize,
    sleep_ms: u64,
    t0_ns: u64,
}

pub fn run(args: &WorkersArgs) -> Result<Summary> {
    let mut run = Run::start("workers", MODEL, "processes", args.workers, args.workers);
    let clock = Clock::now();
    let mut children = Vec::with_capacity(args.workers);
    for index in 0..args.workers {
        let mut child = Worker::spawn(None)?;
        let wait = Wait {
            index,
            sleep_ms: args.sleep_ms,
            t0_ns: clock.unix_ns(),
        };
        child.send(&Task {
            id: index as u64,
            job: "worker".into(),
            arg: serde_json::to_value(wait)?,
        })?;
        children.push(child);
    }
    let mut pids = Vec::with_capacity(args.workers);
    for mut child in children {
        let reply = child.recv()?;
        reply
            .result
            .map_err(|e| anyhow!("process {}: {e}", reply.pid))?;
        pids.push(reply.pid);
        child.finish()?;
    }
    say!(
        "All {} processes finished in {:.3} s",
        args.workers,
        clock.secs()
    );
    run.extra("parent_pid", std::process::id())
        .extra("pids", pids);
    Ok(run.finish(chapter::workers_digest(args.workers, args.sleep_ms), 0))
}

/// The child's side: wait like the chapter's worker.
pub fn job(arg: Value) -> Result<Vec<u8>> {
    let wait: Wait = serde_json::from_value(arg)?;
    let who = format!("process {}", std::process::id());
    chapter::run_worker(
        wait.index,
        wait.sleep_ms,
        &Clock::from_unix_ns(wait.t0_ns),
        &who,
    );
    Ok(Vec::new())
}
