//! `decision-table`: the chapter's decision table and the tools every model shares.
//!
//! ```text
//! cargo run -p decision-table            # the chapter's table
//! ```

use clap::Parser;
use std::process::ExitCode;

/// The chapter's decision table and the tools the four models share.
#[derive(Parser)]
#[command(name = "decision-table", version)]
struct Cli {}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    print!("{}", decision_table::table::render());
    ExitCode::SUCCESS
}
