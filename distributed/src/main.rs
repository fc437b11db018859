//! `distributed`: the chapter's third kind of concurrency, "distributed programming (more than
//! one machine)", in Rust. Work runs in worker processes on any number of hosts, which take
//! tasks from an existing engine, Redis Streams with a consumer group, the way Celery, RQ and
//! Sidekiq users run work across machines. This binary is both sides:
//!
//! - `distributed worker --broker URL` runs on each host and keeps its worker processes alive
//!   (`worker.rs`);
//! - `distributed images ...` and `distributed matrix ...` are the driver: they enqueue the
//!   tasks with their data, collect the results in input order and print the same summary and
//!   digest as every other model (`pool.rs`, `remote.rs`).
//!
//! ```text
//! redis-server --port 6390 --save '' --appendonly no &      # the engine, persistence off
//! cargo run --release -p distributed -- images data/images --broker redis://127.0.0.1:6390    # workers started here
//! cargo run --release -p distributed -- worker --broker redis://127.0.0.1:6390 --processes 2  # on each host
//! cargo run --release -p distributed -- matrix data/matrix --broker redis://127.0.0.1:6390 --remote --workers 4
//! cargo run -p distributed -- --help
//! ```
//!
//! `scripts/compare.sh` runs the workers on hosts made of network namespaces with added latency
//! and a bandwidth limit; docs/distributed.md says what it measured and what 10 and 100 real
//! machines would need.

use clap::{Parser, Subcommand};
use scenarios::cli::Common;
use scenarios::images::ImagesArgs;
use scenarios::matrix::MatrixArgs;
use std::process::ExitCode;

mod broker;
mod cost;
mod images;
mod matrix;
mod pool;
mod remote;
mod worker;

/// The name this crate reports as `model` in every summary.
pub const MODEL: &str = "distributed";

/// Worker processes on other hosts, fed through Redis Streams.
#[derive(Parser)]
#[command(name = "distributed", version)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// CPU-bound images: each PNG's bytes travel to a worker on any host, the result back
    Images {
        #[command(flatten)]
        args: ImagesArgs,
        #[command(flatten)]
        driver: pool::DriverArgs,
    },
    /// CPU-bound math: C = A x B, B broadcast once per worker, blocks of A out and of C back
    Matrix {
        #[command(flatten)]
        args: MatrixArgs,
        #[command(flatten)]
        driver: pool::DriverArgs,
    },
    /// The process each host runs: keeps worker processes taking tasks from the broker
    Worker(worker::WorkerArgs),
    /// One worker process (started by `worker`, not by people)
    #[command(hide = true)]
    Work(worker::WorkerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    scenarios::console::set_json(cli.common.json);
    let result = match cli.command {
        Command::Images { args, driver } => images::run(&args, &driver),
        Command::Matrix { args, driver } => matrix::run(&args, &driver),
        Command::Worker(args) => return serve(worker::run(&args), "worker"),
        Command::Work(args) => return serve(worker::serve(&args), "worker process"),
    };
    scenarios::contract::exit(result)
}

/// The end of a worker: it only ever stops on an error (or a signal).
fn serve(result: anyhow::Result<()>, what: &str) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{what} {}: error: {e:#}", std::process::id());
            if e.downcast_ref::<worker::BrokerGone>().is_some() {
                ExitCode::from(worker::EXIT_BROKER_GONE as u8)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
