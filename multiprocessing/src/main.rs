//! `multiprocessing`: the chapter's `multiprocessing` module, in Rust. Work runs in separate OS
//! processes, each with its own memory: this binary starts copies of itself (a hidden `worker`
//! subcommand) and talks to them in length-prefixed frames over pipes.
//!
//! ```text
//! cargo run -p multiprocessing                    # the chapter's five workers, five processes (~2 s)
//! cargo run -p multiprocessing -- cakes           # two cakes in two child processes (~1 s)
//! cargo run -p multiprocessing -- queue           # a producer feeding consumer processes
//! cargo run --release -p multiprocessing -- map   # Pool.map over CPU-bound tasks
//! cargo run --release -p multiprocessing -- matrix data/matrix [--engine rayon]   # C = A x B
//! cargo run --release -p multiprocessing -- images data/images [--engine rayon]   # PNGs
//! cargo run --release -p multiprocessing -- bigfile data/bigfile.txt   # each child reads its ranges
//! cargo run --release -p multiprocessing -- downloads --url http://127.0.0.1:8000 --workers 8   # start `decision-table serve` first
//! cargo run --release -p multiprocessing -- requests --url http://127.0.0.1:8000 --workers 100
//! cargo run --release -p multiprocessing -- db --db sqlite:data/db.sqlite --workers 8   # `decision-table gen db` first
//! cargo run -p multiprocessing -- chat-server     # a chat server with a process per client
//! cargo run --release -p multiprocessing -- pipeline --url http://127.0.0.1:8000   # serve --images DIR first
//! cargo run --release -p multiprocessing -- crawl --url http://127.0.0.2:8100/ --workers 16   # start `decision-table site` first
//! cargo run --release -p multiprocessing -- gui data/gui-images --headless   # a GUI with its job in processes
//! cargo run --release -p multiprocessing -- train # SGD on Fashion-MNIST, gradients over pipes
//! cargo run -p multiprocessing -- --help
//! ```

use clap::{Parser, Subcommand};
use scenarios::bigfile::BigfileArgs;
use scenarios::chat::ChatServerArgs;
use scenarios::cli::{CakesArgs, Common, QueueArgs, WorkersArgs};
use scenarios::db::DbArgs;
use scenarios::fetch::{DownloadsArgs, RequestsArgs};
use scenarios::gui::GuiArgs;
use scenarios::images::ImagesArgs;
use scenarios::matrix::MatrixArgs;
use scenarios::pipeline::PipelineArgs;
use scenarios::train::TrainArgs;
use std::process::ExitCode;

mod bigfile;
mod cakes;
mod chat_child;
mod chat_server;
mod child;
mod child_main;
mod crawl;
mod db;
mod downloads;
mod engine;
mod gui;
mod images;
mod map;
mod matrix;
mod pipeline;
mod pool;
mod queue;
mod requests;
mod train;
mod workers;

/// The name this crate reports as `model` in every summary.
pub const MODEL: &str = "multiprocessing";

/// Separate OS processes: children of this binary, fed over pipes.
#[derive(Parser)]
#[command(name = "multiprocessing", version)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The chapter's two cakes, each baked by a child process (about 1 s)
    Cakes(CakesArgs),
    /// The chapter's five workers, one child process each (the default: about 2 s)
    Workers(WorkersArgs),
    /// A producer feeding consumer processes through pipes; every item consumed exactly once
    Queue(QueueArgs),
    /// Pool.map: CPU-bound tasks spread over a pool of worker processes that survives deaths
    Map(map::MapArgs),
    /// CPU-bound math: C = A x B, blocks of rows on worker processes (or --engine rayon)
    Matrix {
        #[command(flatten)]
        args: MatrixArgs,
        #[command(flatten)]
        engine: engine::EngineArgs,
    },
    /// CPU-bound images: blur, halve and gray PNGs on worker processes (or --engine rayon)
    Images {
        #[command(flatten)]
        args: ImagesArgs,
        #[command(flatten)]
        engine: engine::EngineArgs,
    },
    /// Large files: min/mean/max per station, each worker process reading its own ranges
    Bigfile {
        #[command(flatten)]
        args: BigfileArgs,
        #[command(flatten)]
        pool: engine::PoolArgs,
    },
    /// Download every file of the server's manifest on a pool of K processes
    Downloads {
        #[command(flatten)]
        args: DownloadsArgs,
        #[command(flatten)]
        pool: engine::PoolArgs,
    },
    /// GET /api/items/0..N on a pool of K processes and add up a field
    Requests {
        #[command(flatten)]
        args: RequestsArgs,
        #[command(flatten)]
        pool: engine::PoolArgs,
    },
    /// N small database transactions on K worker processes, a connection each
    Db {
        #[command(flatten)]
        args: DbArgs,
        #[command(flatten)]
        pool: engine::PoolArgs,
    },
    /// A line-based chat server: a child process per client, the parent relaying between them
    ChatServer(ChatServerArgs),
    /// Mixed I/O + CPU: download threads feed the server's images to a pool of worker processes
    Pipeline {
        #[command(flatten)]
        args: PipelineArgs,
        #[command(flatten)]
        pool: engine::PoolArgs,
    },
    /// Crawl the local site on K processes, each level sharded by host (polite by construction)
    Crawl {
        #[command(flatten)]
        args: scenarios::crawl::CrawlArgs,
        #[command(flatten)]
        pool: engine::PoolArgs,
    },
    /// A GUI whose images job runs in worker processes, progress in frames over their pipes
    Gui(GuiArgs),
    /// Machine-learning training: SGD on Fashion-MNIST; worker processes hold the data, gradients come back over pipes
    Train {
        #[command(flatten)]
        args: TrainArgs,
        #[command(flatten)]
        pool: train::TrainPoolArgs,
    },
    /// Serve tasks from the parent process (started by this program, not by people)
    #[command(hide = true)]
    Worker,
    /// Serve one chat client for the parent process (started by this program, not by people)
    #[command(hide = true)]
    ChatChild,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    scenarios::console::set_json(cli.common.json);
    let result = match cli
        .command
        .unwrap_or(Command::Workers(WorkersArgs::default()))
    {
        Command::Cakes(args) => cakes::run(&args),
        Command::Workers(args) => workers::run(&args),
        Command::Queue(args) => queue::run(&args),
        Command::Bigfile { args, pool } => bigfile::run(&args, &pool),
        Command::Downloads { args, pool } => downloads::run(&args, &pool),
        Command::Requests { args, pool } => requests::run(&args, &pool),
        Command::Map(args) => map::run(&args),
        Command::Matrix { args, engine } => {
            engine.check().and_then(|()| matrix::run(&args, &engine))
        }
        Command::Images { args, engine } => {
            engine.check().and_then(|()| images::run(&args, &engine))
        }
        Command::Db { args, pool } => db::run(&args, &pool),
        Command::ChatServer(args) => chat_server::run(&args),
        Command::Pipeline { args, pool } => pipeline::run(&args, &pool),
        Command::Crawl { args, pool } => crawl::run(&args, &pool),
        Command::Gui(args) => gui::run(&args),
        Command::Train { args, pool } => train::run(&args, &pool),
        Command::ChatChild => {
            return match chat_child::run() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("chat child {}: {e:#}", std::process::id());
                    ExitCode::FAILURE
                }
            };
        }
        Command::Worker => {
            return match child_main::serve() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("worker {}: {e:#}", std::process::id());
                    ExitCode::FAILURE
                }
            };
        }
    };
    scenarios::contract::exit(result)
}
