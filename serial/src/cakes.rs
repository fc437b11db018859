//! The chapter's two cakes, baked one after the other: the second cake waits for the first, so
//! two 1 s cakes take 2 s. This is the chapter's picture of doing things in sequence.
//!
//! `cargo run -p serial -- cakes [--cakes N] [--bake-ms MS]`

use crate::MODEL;
use anyhow::Result;
use scenarios::chapter::{self, Clock};
use scenarios::cli::CakesArgs;
use scenarios::{Label, Run, Summary, say};

pub fn run(args: &CakesArgs) -> Result<Summary> {
    let run = Run::start("cakes", Label::new(MODEL, "serial", 1), args.cakes);
    let clock = Clock::now();
    for i in 0..args.cakes {
        chapter::bake_cake(&chapter::cake_name(i), args.bake_ms, &clock, "main thread");
    }
    say!("Total time: {:.3} s", clock.secs());
    Ok(run.finish(chapter::cakes_digest(args.cakes), 0))
}
