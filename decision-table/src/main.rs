//! `decision-table`: the chapter's decision table, and the tools every model shares.
//!
//! ```text
//! cargo run -p decision-table                       # the chapter's table (with verdicts, once measured)
//! cargo run -p decision-table -- report results     # REPORT.md from a scripts/compare.sh run
//! cargo run --release -p decision-table -- gen matrix --n 1024 --seed 42 --out data/matrix
//! cargo run --release -p decision-table -- gen images --count 32 --seed 42 --out data/images
//! cargo run --release -p decision-table -- gen bigfile --rows 100000000 --seed 42 --out data/bigfile.txt
//! cargo run --release -p decision-table -- drop-cache data/bigfile.txt   # a cold cache for one file
//! cargo run --release -p decision-table -- serve --port 8000   # the local HTTP server
//! cargo run --release -p decision-table -- gen db --db sqlite:data/db.sqlite --accounts 1000
//! cargo run --release -p decision-table -- delay-proxy --to 127.0.0.1:5433 --delay-us 1000
//! cargo run --release -p decision-table -- site --pages 3000 --hosts 4   # the site to crawl
//! cargo run --release -p decision-table -- chat-load --clients 1000   # load a chat server
//! cargo run -p decision-table -- --help             # every tool
//! ```

use clap::{Parser, Subcommand};
use decision_table::chat_load::ChatLoadArgs;
use scenarios::cli::Common;
use std::path::PathBuf;
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
    /// Print the chapter's decision table, with the verdicts of the latest report (the default)
    Table {
        /// The folder scripts/compare.sh wrote its results to
        #[arg(long, default_value = "results")]
        results: PathBuf,
    },
    /// Write a scenario's inputs, deterministic from a seed
    #[command(subcommand)]
    Gen(Gen),
    /// The local HTTP server of the downloads and requests scenarios (latency, bandwidth, faults)
    Serve(decision_table::server::ServeArgs),
    /// A TCP proxy on loopback adding a fixed delay each way (the db scenario's latency, where netem is missing)
    DelayProxy(decision_table::delay_proxy::DelayProxyArgs),
    /// A local web site on several loopback hosts for the crawl scenario (pages, links, robots.txt, 429s)
    Site(decision_table::site::SiteArgs),
    /// Connect N clients to a chat server, have S of them send, check every message arrived once
    ChatLoad(ChatLoadArgs),
    /// Drop one file's pages from the page cache (posix_fadvise DONTNEED; no root needed)
    DropCache {
        /// The file whose cached pages to drop
        file: PathBuf,
    },
    /// Write DIR/REPORT.md, its charts and verdicts from a scripts/compare.sh results folder
    Report {
        /// The results folder (holds hyperfine/, summaries/ and meta.json)
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum Gen {
    /// Two random n x n f64 matrices, a.mat and b.mat, for the matrix scenario
    Matrix(scenarios::matrix::GenMatrixArgs),
    /// Structured PNGs (gradients, shapes, noise) for the images scenario
    Images(scenarios::images::GenImagesArgs),
    /// A One-Billion-Row-style station;temperature file for the bigfile scenario
    Bigfile(scenarios::bigfile::GenBigfileArgs),
    /// The db scenario's tables (accounts, ledger) in PostgreSQL or SQLite, from a seed
    Db(scenarios::db::generate::GenDbArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    scenarios::console::set_json(cli.common.json);
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
        Command::Gen(Gen::Matrix(args)) => scenarios::matrix::generate(&args).map(|(a, b)| {
            println!(
                "wrote {} and {} ({n} x {n})",
                a.display(),
                b.display(),
                n = args.n
            );
        }),
        Command::Gen(Gen::Images(args)) => scenarios::images::generate(&args).map(|paths| {
            println!(
                "wrote {} images of {}x{} in {}",
                paths.len(),
                args.width,
                args.height,
                args.out.display()
            );
        }),
        Command::Gen(Gen::Bigfile(args)) => scenarios::bigfile::generate::run(&args).map(|g| {
            println!(
                "wrote {}: {} rows, {} stations, {:.1} MB in {:.2} s ({:.0} MB/s)",
                g.path.display(),
                g.rows,
                args.stations,
                g.bytes as f64 / 1e6,
                g.seconds,
                g.bytes as f64 / 1e6 / g.seconds.max(1e-9)
            );
        }),
        Command::DropCache { file } => scenarios::bigfile::cache::drop_cache(&file),
        Command::Report { dir } => decision_table::report::write(&dir).map(|path| {
            println!("wrote {}", path.display());
        }),
        Command::Serve(args) => decision_table::server::run(&args),
        Command::Gen(Gen::Db(args)) => scenarios::db::generate::generate(&args).map(|db| {
            println!(
                "wrote {} accounts (seed {}) to {db}",
                args.accounts, args.seed
            );
        }),
        Command::DelayProxy(args) => decision_table::delay_proxy::run(&args),
        Command::Site(args) => decision_table::site::run(&args),
        Command::ChatLoad(args) => {
            return scenarios::contract::exit(decision_table::chat_load::run(&args));
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
