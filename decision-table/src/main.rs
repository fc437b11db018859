//! `decision-table`: the chapter's decision table, and the tools every model shares.
//!
//! ```text
//! cargo run -p decision-table                       # the chapter's table (with verdicts, once measured)
//! cargo run -p decision-table -- report results     # REPORT.md from a scripts/compare.sh run
//! cargo run -p decision-table -- --help             # every tool
//! ```

use clap::{Parser, Subcommand};
use std::path::PathBuf;
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
    /// Print the chapter's decision table, with the verdicts of the latest report (the default)
    Table {
        /// The folder scripts/compare.sh wrote its results to
        #[arg(long, default_value = "results")]
        results: PathBuf,
    },
    /// Write DIR/REPORT.md, its charts and verdicts from a scripts/compare.sh results folder
    Report {
        /// The results folder (holds hyperfine/, summaries/ and meta.json)
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Table {
        results: PathBuf::from("results"),
    });
    let result: anyhow::Result<()> = match command {
        Command::Table { results } => {
            match decision_table::report::table_with_verdicts(&results) {
                Some(table) => print!("{table}"),
                None => {
                    print!("{}", decision_table::table::render());
                    println!(
                        "\nNo measured verdicts yet in {}/: run scripts/compare.sh (or \
                         scripts/compare.sh --quick) to measure every row this workspace covers.",
                        results.display()
                    );
                }
            }
            Ok(())
        }
        Command::Report { dir } => decision_table::report::write(&dir).map(|path| {
            println!("wrote {}", path.display());
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
