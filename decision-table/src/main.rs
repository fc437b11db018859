//! `decision-table`: the chapter's decision table, and the tools every model shares.
//!
//! ```text
//! cargo run -p decision-table            # the chapter's table
//! cargo run -p decision-table -- --help  # the tools
//! cargo run --release -p decision-table -- chat-load --clients 1000   # load a chat server
//! ```

use clap::{Parser, Subcommand};
use decision_table::chat_load::ChatLoadArgs;
use decision_table::cli::Common;
use std::process::ExitCode;

/// The chapter's decision table and the tools the four models share.
#[derive(Parser)]
#[command(name = "decision-table", version)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the chapter's decision table (the default)
    Table,
    /// Connect N clients to a chat server, have S of them send, check every message arrived once
    ChatLoad(ChatLoadArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    decision_table::console::set_json(cli.common.json);
    let result: anyhow::Result<()> = match cli.command.unwrap_or(Command::Table) {
        Command::Table => {
            print!("{}", decision_table::table::render());
            Ok(())
        }
        Command::ChatLoad(args) => {
            return decision_table::contract::exit(decision_table::chat_load::run(&args));
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
