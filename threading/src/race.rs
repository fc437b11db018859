//! The chapter warns that threads sharing data can race. Rust changes half of that warning.
//!
//! A *data race* (two threads writing plain memory at once) does not compile. This is the
//! chapter's kind of shared counter, and the `counter += 1` line is refused with
//! `error[E0499]: cannot borrow `counter` as mutable more than once at a time`, because the
//! first thread's closure already holds the only mutable borrow of `counter` when the loop
//! tries to hand it to the second (a test compiles this block and checks for that error):
//!
//! ```compile_fail
//! let mut counter = 0u64;
//! std::thread::scope(|s| {
//!     for _ in 0..4 {
//!         s.spawn(|| counter += 1);
//!     }
//! });
//! ```
//!
//! A *race condition* in the logic still compiles. Reading an atomic and then writing back the
//! value plus one (check, then act) is two steps; another thread can write in between, and its
//! update is overwritten. This example runs that racy counter beside two correct ones:
//!
//! - `load` then `store`: every step is atomic, the increment is not, so updates are lost;
//! - `fetch_add`: one atomic read-modify-write, nothing lost;
//! - `Mutex<u64>`: the lock makes read-and-write one step, nothing lost (and slower).
//!
//! `cargo run --release -p threading -- race [--workers T] [--increments N]`

use crate::MODEL;
use anyhow::{Result, ensure};
use clap::Args;
use scenarios::cli::{bounded, workers};
use scenarios::digest::Digest;
use scenarios::{Label, Run, Summary, say};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::Instant;

fn increments(s: &str) -> Result<u64, String> {
    bounded(s, 1, 100_000_000)
}

/// `race`: how many threads, and how many increments each.
#[derive(Args, Debug, Clone)]
pub struct RaceArgs {
    /// How many threads increment the counters
    #[arg(long, default_value_t = 4, value_parser = workers, allow_negative_numbers = true)]
    pub workers: usize,
    /// How many times each thread increments each counter
    #[arg(long, default_value_t = 1_000_000, value_parser = increments, allow_negative_numbers = true)]
    pub increments: u64,
}

/// Run `step` `n` times on each of `threads` threads, all released at the same instant so that
/// they really overlap.
fn hammer(threads: usize, n: u64, step: impl Fn() + Sync) {
    let start = Barrier::new(threads);
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                start.wait();
                for _ in 0..n {
                    step();
                }
            });
        }
    });
}

pub fn run(args: &RaceArgs) -> Result<Summary> {
    let expected = args.workers as u64 * args.increments;
    let mut run = Run::start(
        "race",
        Label::new(MODEL, "threads", args.workers),
        expected as usize,
    );

    let racy = AtomicU64::new(0);
    let t = Instant::now();
    hammer(args.workers, args.increments, || {
        // Check, then act: another thread may store between these two lines.
        let seen = racy.load(Relaxed);
        racy.store(seen + 1, Relaxed);
    });
    let racy_time = t.elapsed();

    let atomic = AtomicU64::new(0);
    let t = Instant::now();
    hammer(args.workers, args.increments, || {
        atomic.fetch_add(1, Relaxed);
    });
    let atomic_time = t.elapsed();

    let locked = Mutex::new(0u64);
    let t = Instant::now();
    hammer(args.workers, args.increments, || {
        *locked.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    });
    let mutex_time = t.elapsed();

    let counts = [
        ("load then store", racy.into_inner(), racy_time),
        ("fetch_add", atomic.into_inner(), atomic_time),
        (
            "Mutex",
            locked.into_inner().unwrap_or_else(|e| e.into_inner()),
            mutex_time,
        ),
    ];
    say!(
        "{} threads x {} increments = {expected} expected",
        args.workers,
        args.increments
    );
    for (name, counted, time) in counts {
        say!(
            "  {name:<16} counted {counted:>12}  lost {:>12}  ({:.3} s)",
            expected - counted,
            time.as_secs_f64()
        );
    }
    let (racy, atomic, mutex) = (counts[0].1, counts[1].1, counts[2].1);
    ensure!(
        atomic == expected && mutex == expected,
        "a correct counter lost updates: fetch_add {atomic}, Mutex {mutex}, expected {expected}"
    );
    run.extra("expected", expected)
        .extra("racy_counted", racy)
        .extra("racy_lost", expected - racy)
        .extra("fetch_add_counted", atomic)
        .extra("mutex_counted", mutex);
    // The racy count changes from run to run, so the digest covers only the correct counters.
    let mut digest = Digest::new();
    digest
        .update_u64(expected)
        .update_u64(atomic)
        .update_u64(mutex);
    Ok(run.finish(digest.finish(), 0))
}
