//! `threading`: the chapter's `threading` module, in Rust. Threads share one process and its
//! memory; unlike CPython's, Rust threads have no global lock, so they run Rust code on every
//! core at once.
//!
//! ```text
//! cargo run -p threading                 # the chapter's five workers on five threads (~2 s)
//! cargo run -p threading -- cakes        # two cakes on two threads (~1 s)
//! cargo run -p threading -- race         # a lost-update race beside two correct counters
//! cargo run -p threading -- queue        # one producer, several consumers, a crossbeam channel
//! cargo run --release -p threading -- matrix data/matrix [--gil]   # C = A x B on a thread pool
//! cargo run --release -p threading -- images data/images [--gil]   # PNGs on a thread pool
//! cargo run --release -p threading -- bigfile data/bigfile.txt [--gil]   # a memory map, ranges on threads
//! cargo run --release -p threading -- downloads --url http://127.0.0.1:8000 --workers 8   # start `decision-table serve` first
//! cargo run --release -p threading -- requests --url http://127.0.0.1:8000 --workers 1000
//! cargo run --release -p threading -- db --db sqlite:data/db.sqlite --workers 8   # `decision-table gen db` first
//! cargo run -p threading -- chat-server  # a chat server with two threads per client
//! cargo run --release -p threading -- crawl --url http://127.0.0.2:8100/ --workers 16 [--gil]   # start `decision-table site` first
//! cargo run -p threading -- spawn        # 10,000 sleeping threads: time and memory per thread
//! cargo run --release -p threading -- pipeline --url http://127.0.0.1:8000 [--apart]   # serve --images DIR first
//! cargo run --release -p threading -- gui data/gui-images --headless [--gil]   # a GUI with its job on threads
//! cargo run --release -p threading -- train [--hogwild]   # SGD on Fashion-MNIST on threads
//! cargo run -p threading -- --help
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
mod race;
mod requests;
mod spawn;
mod train;
mod workers;

/// The name this crate reports as `model` in every summary.
pub const MODEL: &str = "threading";

/// `--gil`: run the same threads behind an emulation of CPython's GIL (`scenarios::gil`).
#[derive(clap::Args, Debug, Clone, Copy)]
struct GilArgs {
    /// Emulate CPython's GIL: the computing part of each item holds one global lock (threads, no speedup)
    #[arg(long)]
    gil: bool,
}

/// `--apart`: a pipeline's two parts one after the other, each timed alone (the lower bound).
#[derive(clap::Args, Debug, Clone, Copy)]
struct ApartArgs {
    /// Download every image, then process them all, each part timed alone (the lower bound)
    #[arg(long)]
    apart: bool,
}

impl GilArgs {
    fn apply(self) {
        if self.gil {
            scenarios::gil::enable();
        }
    }
}

/// Threads in one process: std::thread, scoped threads and crossbeam channels.
#[derive(Parser)]
#[command(name = "threading", version)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The chapter's two cakes, one thread each, baking at the same time (about 1 s)
    Cakes(CakesArgs),
    /// The chapter's five workers, one thread each (the default: about 2 s)
    Workers(WorkersArgs),
    /// A check-then-act race that loses updates, beside fetch_add and a Mutex that do not
    Race(race::RaceArgs),
    /// A producer and several consumer threads around a bounded crossbeam channel
    Queue(QueueArgs),
    /// CPU-bound math: C = A x B by blocks of rows on a thread pool; --gil emulates CPython's GIL
    Matrix {
        #[command(flatten)]
        args: MatrixArgs,
        #[command(flatten)]
        gil: GilArgs,
    },
    /// CPU-bound images: blur, halve and gray PNGs on a thread pool; --gil emulates CPython's GIL
    Images {
        #[command(flatten)]
        args: ImagesArgs,
        #[command(flatten)]
        gil: GilArgs,
    },
    /// Large files: min/mean/max per station, ranges of a memory-mapped file on a thread pool; --gil emulates CPython's GIL
    Bigfile {
        #[command(flatten)]
        args: BigfileArgs,
        #[command(flatten)]
        gil: GilArgs,
    },
    /// Download every file of the server's manifest on K threads sharing one client
    Downloads(DownloadsArgs),
    /// GET /api/items/0..N on K threads (try K = 1000) and add up a field
    Requests(RequestsArgs),
    /// N small database transactions on K threads, a connection each (PostgreSQL or SQLite)
    Db(DbArgs),
    /// A line-based chat server: a reading and a writing thread per client, bounded queues
    ChatServer(ChatServerArgs),
    /// Start N sleeping threads and join them: time to start, time to finish, memory per thread
    Spawn(spawn::ThreadSpawnArgs),
    /// Mixed I/O + CPU: one pool of threads downloads the server's images and processes each
    Pipeline {
        #[command(flatten)]
        args: PipelineArgs,
        #[command(flatten)]
        apart: ApartArgs,
    },
    /// Crawl the local site on K threads, C per host; --gil makes the parsing take turns
    Crawl {
        #[command(flatten)]
        args: scenarios::crawl::CrawlArgs,
        #[command(flatten)]
        gil: GilArgs,
    },
    /// A GUI whose images job runs on worker threads; --gil emulates CPython's GIL, switching every 5 ms
    Gui {
        #[command(flatten)]
        args: GuiArgs,
        #[command(flatten)]
        gil: GilArgs,
    },
    /// Machine-learning training: SGD on Fashion-MNIST, shards on threads; --hogwild, --gil
    Train {
        #[command(flatten)]
        args: TrainArgs,
        #[command(flatten)]
        hogwild: train::HogwildArgs,
        #[command(flatten)]
        gil: GilArgs,
    },
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
        Command::Race(args) => race::run(&args),
        Command::Queue(args) => queue::run(&args),
        Command::Matrix { args, gil } => {
            gil.apply();
            matrix::run(&args)
        }
        Command::Images { args, gil } => {
            gil.apply();
            images::run(&args)
        }
        Command::Bigfile { args, gil } => {
            gil.apply();
            bigfile::run(&args)
        }
        Command::Downloads(args) => downloads::run(&args),
        Command::Requests(args) => requests::run(&args),
        Command::Db(args) => db::run(&args),
        Command::ChatServer(args) => chat_server::run(&args),
        Command::Spawn(args) => spawn::run(&args),
        Command::Pipeline { args, apart } => pipeline::run(&args, apart.apart),
        Command::Crawl { args, gil } => {
            gil.apply();
            crawl::run(&args)
        }
        Command::Gui { args, gil } => {
            gil.apply();
            gui::run(&args)
        }
        Command::Train { args, hogwild, gil } => {
            gil.apply();
            train::run(&args, hogwild)
        }
    };
    scenarios::contract::exit(result)
}
