//! `asyncio`: the chapter's `asyncio`, in Rust with tokio. Tasks are futures driven by an event
//! loop; a task that waits gives the thread back to the others, so thousands of waits can
//! overlap on one thread.
//!
//! ```text
//! cargo run -p asyncio                   # the chapter's five tasks with gather (~2 s)
//! cargo run -p asyncio -- cakes          # two cakes as two tasks on one thread (~1 s)
//! cargo run -p asyncio -- queue          # a producer task and consumer tasks around an mpsc
//! cargo run --release -p asyncio -- matrix data/matrix [--variant blocking]   # CPU work and the loop
//! cargo run --release -p asyncio -- images data/images [--variant blocking]
//! cargo run --release -p asyncio -- bigfile data/bigfile.txt [--variant tokio-fs]   # spawn_blocking, or tokio::fs
//! cargo run --release -p asyncio -- downloads --url http://127.0.0.1:8000 --workers 8   # start `decision-table serve` first
//! cargo run --release -p asyncio -- requests --url http://127.0.0.1:8000 --workers 1000
//! cargo run --release -p asyncio -- db --db postgresql://postgres@127.0.0.1:PORT/postgres --workers 32 [--variant pipelined]
//! cargo run -p asyncio -- chat-server    # a chat server with two tasks per client
//! cargo run --release -p asyncio -- crawl --url http://127.0.0.2:8100/ [--variant blocking]   # start `decision-table site` first
//! cargo run -p asyncio -- spawn          # 10,000 sleeping tasks: time and memory per task
//! cargo run --release -p asyncio -- pipeline --url http://127.0.0.1:8000 [--variant blocking]   # serve --images DIR first
//! cargo run --release -p asyncio -- gui data/gui-images --headless   # a GUI beside tokio, spawn_blocking
//! cargo run --release -p asyncio -- train  # SGD on Fashion-MNIST, shards on spawn_blocking
//! cargo run -p asyncio -- --help
//! ```

use clap::{Parser, Subcommand};
use scenarios::bigfile::{AsyncReadArgs, BigfileArgs};
use scenarios::chat::ChatServerArgs;
use scenarios::cli::{CakesArgs, Common, QueueArgs, WorkersArgs};
use scenarios::db::DbArgs;
use scenarios::fetch::{DownloadsArgs, RequestsArgs};
use scenarios::gui::GuiArgs;
use scenarios::images::ImagesArgs;
use scenarios::matrix::MatrixArgs;
use scenarios::pipeline::PipelineArgs;
use scenarios::spawn::SpawnArgs;
use scenarios::train::TrainArgs;
use std::process::ExitCode;

mod bigfile;
mod cakes;
mod chat_server;
mod crawl;
mod db;
mod downloads;
mod gui;
mod images;
mod matrix;
mod pipeline;
mod pool;
mod queue;
mod requests;
mod spawn;
mod ticker;
mod train;
mod workers;

/// The name this crate reports as `model` in every summary.
pub const MODEL: &str = "asyncio";

/// The event loop of the chapter's examples: tokio on one thread, like asyncio's.
///
/// asyncio runs every task on the thread that called `asyncio.run`; a current-thread tokio
/// runtime does the same, so the chapter's examples keep their shape. Scenarios that want every
/// core build a multi-thread runtime instead and say why.
pub fn event_loop() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Tasks on an event loop: tokio's answer to asyncio.
#[derive(Parser)]
#[command(name = "asyncio", version)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The chapter's two cakes as two tasks on one thread (about 1 s)
    Cakes(CakesArgs),
    /// The chapter's five workers as tasks gathered on one thread (the default: about 2 s)
    Workers(WorkersArgs),
    /// A producer task and consumer tasks around a bounded tokio mpsc channel
    Queue(QueueArgs),
    /// CPU-bound math as tasks: spawn_blocking (parallel) or --variant blocking (stalls the loop)
    Matrix {
        #[command(flatten)]
        args: MatrixArgs,
        #[command(flatten)]
        cpu: pool::CpuArgs,
    },
    /// CPU-bound images as tasks: spawn_blocking (parallel) or --variant blocking (stalls the loop)
    Images {
        #[command(flatten)]
        args: ImagesArgs,
        #[command(flatten)]
        cpu: pool::CpuArgs,
    },
    /// Large files: min/mean/max per station, ranges on blocking threads (or --variant tokio-fs, the naive way)
    Bigfile {
        #[command(flatten)]
        args: BigfileArgs,
        #[command(flatten)]
        how: AsyncReadArgs,
    },
    /// Download every file of the server's manifest as tasks, K in flight
    Downloads(DownloadsArgs),
    /// GET /api/items/0..N as tasks, K in flight (try K = 1000), and add up a field
    Requests(RequestsArgs),
    /// N small database transactions as tasks, K in flight (pooled or pipelined; SQLite on spawn_blocking)
    Db {
        #[command(flatten)]
        args: DbArgs,
        #[command(flatten)]
        variant: scenarios::db::nonblocking::AsyncDbArgs,
    },
    /// A line-based chat server: two tasks per client around one bounded broadcast channel
    ChatServer(ChatServerArgs),
    /// Start N sleeping tasks on one thread and join them: time to start and finish, memory per task
    Spawn(SpawnArgs),
    /// Mixed I/O + CPU: tasks download the server's images; spawn_blocking or --variant blocking computes
    Pipeline {
        #[command(flatten)]
        args: PipelineArgs,
        #[command(flatten)]
        cpu: pool::CpuArgs,
    },
    /// Crawl the local site as tasks, C per host; parse with spawn_blocking or (--variant blocking) on the loop
    Crawl {
        #[command(flatten)]
        args: scenarios::crawl::CrawlArgs,
        #[command(flatten)]
        cpu: pool::CpuArgs,
    },
    /// A GUI beside a tokio runtime whose tasks hand the images job to spawn_blocking
    Gui(GuiArgs),
    /// Machine-learning training: SGD on Fashion-MNIST, each step's shards on spawn_blocking
    Train(TrainArgs),
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
        Command::Matrix { args, cpu } => matrix::run(&args, &cpu),
        Command::Images { args, cpu } => images::run(&args, &cpu),
        Command::Bigfile { args, how } => bigfile::run(&args, &how),
        Command::Downloads(args) => downloads::run(&args),
        Command::Requests(args) => requests::run(&args),
        Command::Db { args, variant } => db::run(&args, &variant),
        Command::ChatServer(args) => chat_server::run(&args),
        Command::Spawn(args) => spawn::run(&args),
        Command::Pipeline { args, cpu } => pipeline::run(&args, &cpu),
        Command::Crawl { args, cpu } => crawl::run(&args, &cpu),
        Command::Gui(args) => gui::run(&args),
        Command::Train(args) => train::run(&args),
    };
    scenarios::contract::exit(result)
}
