//! `serial`: the baseline. Every job runs one thing after another, so every other crate has
//! something to be measured against. (Our code runs on one thread; the blocking HTTP client of
//! `downloads` and `requests` drives its sockets from one runtime thread of its own, as
//! `reqwest::blocking` always does, and waits for it: still one request at a time.)
//!
//! ```text
//! cargo run -p serial                    # the chapter's two cakes, one after the other (~2 s)
//! cargo run -p serial -- workers         # five 2 s workers in a row (~10 s)
//! cargo run -p serial -- queue --json    # fill a queue, then empty it; one JSON summary
//! cargo run --release -p serial -- matrix data/matrix        # C = A x B on one core
//! cargo run --release -p serial -- images data/images        # blur, halve, gray, one PNG at a time
//! cargo run --release -p serial -- bigfile data/bigfile.txt   # min/mean/max per station, one reader
//! cargo run --release -p serial -- downloads --url http://127.0.0.1:8000   # start `decision-table serve` first
//! cargo run --release -p serial -- requests --url http://127.0.0.1:8000
//! cargo run --release -p serial -- db --db sqlite:data/db.sqlite   # `decision-table gen db` first
//! cargo run -p serial -- chat-server     # a chat server that serves one client at a time
//! cargo run --release -p serial -- pipeline --url http://127.0.0.1:8000   # serve --images DIR first
//! cargo run --release -p serial -- crawl --url http://127.0.0.2:8100/   # start `decision-table site` first
//! cargo run --release -p serial -- gui data/gui-images --headless   # a GUI frozen by its job
//! cargo run --release -p serial -- train  # SGD on Fashion-MNIST (apt-get install dataset-fashion-mnist)
//! cargo run -p serial -- --help
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
mod requests;
mod train;
mod workers;

/// The name this crate reports as `model` in every summary.
pub const MODEL: &str = "serial";

/// The baseline: one thing after another.
#[derive(Parser)]
#[command(name = "serial", version)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The chapter's two cakes, baked one after the other (the default: about 2 s)
    Cakes(CakesArgs),
    /// The chapter's five waiting workers, run one after another (about 10 s)
    Workers(WorkersArgs),
    /// A bounded queue on one thread: the producer fills it, the consumer empties it, in turns
    Queue(QueueArgs),
    /// CPU-bound math: C = A x B by blocks of rows, one block after another (run with --release)
    Matrix(MatrixArgs),
    /// CPU-bound images: blur, halve and gray PNGs, one after another (run with --release)
    Images(ImagesArgs),
    /// Large files: min/mean/max per station of a station;temperature file, one buffered reader
    Bigfile(BigfileArgs),
    /// Download every file of the server's manifest, one after another
    Downloads(DownloadsArgs),
    /// GET /api/items/0..N one after another and add up a field
    Requests(RequestsArgs),
    /// N small database transactions, one after another on one connection (PostgreSQL or SQLite)
    Db(DbArgs),
    /// A line-based chat server that serves one client at a time; the others wait their turn
    ChatServer(ChatServerArgs),
    /// Mixed I/O + CPU: download each image of the server, then process it, then the next
    Pipeline(PipelineArgs),
    /// Crawl the local site breadth-first, one page at a time: fetch, parse, extract, follow
    Crawl(scenarios::crawl::CrawlArgs),
    /// A GUI whose button runs the images job inside the frame: the interface freezes (headless without a display)
    Gui(GuiArgs),
    /// Machine-learning training: SGD on Fashion-MNIST, every shard of every batch in turn (run with --release)
    Train(TrainArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    scenarios::console::set_json(cli.common.json);
    let result = match cli.command.unwrap_or(Command::Cakes(CakesArgs::default())) {
        Command::Cakes(args) => cakes::run(&args),
        Command::Workers(args) => workers::run(&args),
        Command::Queue(args) => queue::run(&args),
        Command::Matrix(args) => matrix::run(&args),
        Command::Images(args) => images::run(&args),
        Command::Bigfile(args) => bigfile::run(&args),
        Command::Downloads(args) => downloads::run(&args),
        Command::Requests(args) => requests::run(&args),
        Command::Db(args) => db::run(&args),
        Command::ChatServer(args) => chat_server::run(&args),
        Command::Pipeline(args) => pipeline::run(&args),
        Command::Crawl(args) => crawl::run(&args),
        Command::Gui(args) => gui::run(&args),
        Command::Train(args) => train::run(&args),
    };
    scenarios::contract::exit(result)
}
