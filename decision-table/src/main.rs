//! `decision-table`: the chapter's decision table, and the tools every model shares.
//!
//! ```text
//! cargo run -p decision-table            # the chapter's table
//! cargo run -p decision-table -- --help  # the tools
//! cargo run --release -p decision-table -- serve --port 8000   # the local HTTP server
//! ```

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// The chapter's decision table and the tools the four models share.
#[derive(Parser)]
#[command(name = "decision-table", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the chapter's decision table (the default)
    Table,
    /// The local HTTP server of the downloads and requests scenarios (latency, bandwidth, faults)
    Serve(decision_table::server::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command.unwrap_or(Command::Table) {
        Command::Table => {
            print!("{}", decision_table::table::render());
            Ok(())
        }
        Command::Serve(args) => decision_table::server::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
