//! The chapter's two cakes, each baked by its own thread. Both waits overlap, so two 1 s cakes
//! take about 1 s. The chapter needs processes to show this; threads are enough here, and in
//! Python too, because waiting does not hold the GIL.
//!
//! `cargo run -p threading -- cakes [--cakes N] [--bake-ms MS]`

use crate::MODEL;
use anyhow::Result;
use scenarios::chapter::{self, Clock};
use scenarios::cli::CakesArgs;
use scenarios::{Label, Run, Summary, say};
use std::thread;

pub fn run(args: &CakesArgs) -> Result<Summary> {
    let run = Run::start(
        "cakes",
        Label::new(MODEL, "threads", args.cakes),
        args.cakes,
    );
    let clock = Clock::now();
    // A scope joins every thread it started before it returns, and lets the threads borrow
    // `clock` without an Arc.
    thread::scope(|s| {
        for i in 0..args.cakes {
            let clock = &clock;
            s.spawn(move || {
                let who = format!("thread {}", i + 1);
                chapter::bake_cake(&chapter::cake_name(i), args.bake_ms, clock, &who);
            });
        }
    });
    say!("Total time: {:.3} s", clock.secs());
    Ok(run.finish(chapter::cakes_digest(args.cakes), 0))
}
