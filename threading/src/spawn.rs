//! How many threads this machine takes: start `--count` threads that each sleep `--sleep-ms`,
//! then join them all, and report the time to start them, the time until the last finished,
//! and the memory per thread. The asyncio crate's `spawn` does the same with tasks.
//!
//! ```text
//! cargo run --release -p threading -- spawn --count 10000 --sleep-ms 1000
//! ```
//!
//! Each thread reserves `--stack-kib` of stack (64 KiB here, instead of Rust's 2 MiB default)
//! and really touches a few KiB of it; the kernel also keeps a task structure per thread. The
//! wall is not memory but counts. Every thread takes four memory maps (its stack, the stack's
//! guard page, the signal stack std gives it, that one's guard page), and `vm.max_map_count`
//! (65530 here) bounds the maps of one process: about 15,800 threads. Every thread is also a
//! kernel task, and `kernel.pid_max` (32768 here) bounds the tasks of the whole machine. The
//! run stops at the first of these (see `ThreadBudget` for why it does not wait for the kernel
//! to refuse), says which limit it met, joins the threads already running and fails; it never
//! panics or hangs.

use crate::MODEL;
use anyhow::{Result, anyhow, bail};
use scenarios::spawn::{self, Meter, SpawnArgs};
use scenarios::thread_budget::ThreadBudget;
use scenarios::{Label, Run, Summary};
use std::thread;

fn stack_kib(s: &str) -> Result<usize, String> {
    scenarios::cli::bounded(s, 16, 65_536).map(|v| v as usize)
}

/// `spawn`: the shared flags, plus the stack each thread reserves.
#[derive(clap::Args, Debug, Clone)]
pub struct ThreadSpawnArgs {
    #[command(flatten)]
    pub spawn: SpawnArgs,
    /// Stack reserved per thread, in KiB (16 to 65536; Rust's default is 2048)
    #[arg(long, default_value_t = 64, value_parser = stack_kib, allow_negative_numbers = true)]
    pub stack_kib: usize,
}

pub fn run(args: &ThreadSpawnArgs) -> Result<Summary> {
    let n = args.spawn.count;
    let mut run = Run::start("spawn", Label::new(MODEL, "threads", n), n);
    run.extra("stack_kib", args.stack_kib);
    let sleep = args.spawn.sleep();
    let budget = ThreadBudget::of_this_process();
    let mut meter = Meter::start("thread");
    let mut handles = Vec::with_capacity(n);
    let mut failure = None;
    for i in 0..n {
        if !budget.try_take(1) {
            failure = Some(format!(
                "could not start thread {} of {n}: {}. {}",
                i + 1,
                budget.exhausted(),
                spawn::limits_report()
            ));
            break;
        }
        let started = thread::Builder::new()
            .stack_size(args.stack_kib * 1024)
            .spawn(move || {
                thread::sleep(sleep);
                i as u64
            });
        match started {
            Ok(h) => handles.push(h),
            Err(e) => {
                // Read the limits now, while every thread started so far is still alive.
                failure = Some(format!(
                    "could not start thread {} of {n}: {e}. {}",
                    i + 1,
                    spawn::limits_report()
                ));
                break;
            }
        }
    }
    meter.all_started();
    let started = handles.len();
    let results = handles
        .into_iter()
        .map(|h| h.join().map_err(|_| anyhow!("a sleeping thread panicked")))
        .collect::<Result<Vec<u64>>>()?;
    if let Some(failure) = failure {
        bail!("{failure}; the {started} threads already running were joined");
    }
    Ok(meter.finish(run, &args.spawn, &results))
}
