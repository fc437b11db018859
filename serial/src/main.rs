//! `serial`: the baseline. Every job runs one thing after another on one thread, so every
//! other crate has something to be measured against.
//!
//! ```text
//! cargo run -p serial                    # the chapter's two cakes, one after the other (~2 s)
//! cargo run -p serial -- workers         # five 2 s workers in a row (~10 s)
//! cargo run -p serial -- queue --json    # fill a queue, then empty it; one JSON summary
//! cargo run -p serial -- chat-server     # a chat server that serves one client at a time
//! cargo run -p serial -- --help
//! ```

use clap::{Parser, Subcommand};
use decision_table::chat::ChatServerArgs;
use decision_table::cli::{CakesArgs, Common, QueueArgs, WorkersArgs};
use std::process::ExitCode;

mod cakes;
mod chat_server;
mod queue;
mod workers;

/// The name this crate reports as `model` in every summary.
pub const MODEL: &str = "serial";

/// The baseline: one thing after another, on one thread.
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
    /// A line-based chat server that serves one client at a time; the others wait their turn
    ChatServer(ChatServerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    decision_table::console::set_json(cli.common.json);
    let result = match cli.command.unwrap_or(Command::Cakes(CakesArgs::default())) {
        Command::Cakes(args) => cakes::run(&args),
        Command::Workers(args) => workers::run(&args),
        Command::Queue(args) => queue::run(&args),
        Command::ChatServer(args) => chat_server::run(&args),
    };
    decision_table::contract::exit(result)
}
