//! The chapter's five workers, each in a child process of its own: start them all, then join
//! them all. The waits overlap, so the run takes about 2 s plus the cost of starting five
//! processes, which the summary's wall time shows beside the threads' and tasks'.
//!
//! `cargo run -p multiprocessing -- workers [--workers N] [--sleep-ms MS]` (the crate's default)

use crate::MODEL;
use crate::child::{self, ChildProcess};
use anyhow::{Result, anyhow};
use scenarios::chapter::{self, Clock};
use scenarios::cli::WorkersArgs;
use scenarios::job::Job;
use scenarios::{Label, Run, Summary, say};
use serde::{Deserialize, Serialize};

/// The child's job: wait like the chapter's worker.
#[derive(Serialize, Deserialize)]
pub struct Wait;

/// What a child needs to play one worker.
#[derive(Serialize, Deserialize)]
pub struct Turn {
    index: usize,
    sleep_ms: u64,
    t0_ns: u64,
}

impl Job for Wait {
    const NAME: &'static str = "worker";
    type Item = Turn;
    type Output = ();

    fn run(&self, turn: Turn) -> Result<()> {
        let who = format!("process {}", std::process::id());
        let clock = Clock::from_unix_ns(turn.t0_ns);
        chapter::run_worker(turn.index, turn.sleep_ms, &clock, &who);
        Ok(())
    }
}

pub fn run(args: &WorkersArgs) -> Result<Summary> {
    let who = Label::new(MODEL, "processes", args.workers);
    let mut run = Run::start("workers", who, args.workers);
    child::check_process_count("--workers", args.workers)?;
    let clock = Clock::now();
    let mut children = Vec::with_capacity(args.workers);
    for index in 0..args.workers {
        let mut child = ChildProcess::for_job(&Wait, None)?;
        let turn = Turn {
            index,
            sleep_ms: args.sleep_ms,
            t0_ns: clock.unix_ns(),
        };
        child.send(index as u64, &turn)?;
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
