//! `decision-table`: the chapter's decision table, and the tools every model shares.
//!
//! ```text
//! cargo run -p decision-table            # the chapter's table
//! cargo run -p decision-table -- --help  # the tools
//! cargo run --release -p decision-table -- gen matrix --n 1024 --seed 42 --out data/matrix
//! cargo run --release -p decision-table -- gen images --count 32 --seed 42 --out data/images
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
    /// Write a scenario's inputs, deterministic from a seed
    #[command(subcommand)]
    Gen(Gen),
}

#[derive(Subcommand)]
enum Gen {
    /// Two random n x n f64 matrices, a.mat and b.mat, for the matrix scenario
    Matrix(decision_table::matrix::GenMatrixArgs),
    /// Structured PNGs (gradients, shapes, noise) for the images scenario
    Images(decision_table::images::GenImagesArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command.unwrap_or(Command::Table) {
        Command::Table => {
            print!("{}", decision_table::table::render());
            Ok(())
        }
        Command::Gen(Gen::Matrix(args)) => decision_table::matrix::generate(&args).map(|(a, b)| {
            println!(
                "wrote {} and {} ({n} x {n})",
                a.display(),
                b.display(),
                n = args.n
            );
        }),
        Command::Gen(Gen::Images(args)) => decision_table::images::generate(&args).map(|paths| {
            println!(
                "wrote {} images of {}x{} in {}",
                paths.len(),
                args.width,
                args.height,
                args.out.display()
            );
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
