//! The scenarios of the chapter's decision table, written once.
//!
//! The concept crates (`serial`, `threading`, `multiprocessing`, `asyncio`) differ only in how
//! they run work; everything else lives here so it cannot drift between them:
//!
//! - the plumbing every run shares: command-line flags ([`cli`]), where human lines go
//!   ([`console`]), the output contract ([`contract`]) with CPU time and peak memory that count
//!   child processes ([`usage`]), the digest that proves every model computed the same thing
//!   ([`digest`]), the frames processes talk in ([`frame`]), the seeded generator behind every
//!   input ([`rng`]), atomic file writes ([`files`]) and stop-or-keep-going on bad items
//!   ([`items`]);
//! - the chapter's own examples' data ([`chapter`]);
//! - the CPU-bound scenarios: matrices and their kernel ([`matrix`]), the image pipeline
//!   ([`images`]);
//! - the large-file scenario: a One-Billion-Row-style file, its generator, readers and
//!   aggregate ([`bigfile`]);
//! - the I/O-bound scenarios: what the local HTTP server sends ([`wire`]) and the client side
//!   ([`fetch`]);
//! - the mixed one, I/O and CPU: images downloaded and processed as they arrive ([`pipeline`]);
//! - the database scenario: N small transactions against PostgreSQL or SQLite, the same
//!   tables at the end whatever the model ([`db`]);
//! - the web crawl: pages parsed, robots.txt obeyed, hosts kept to their limit ([`crawl`]);
//! - the chat servers' protocol and what they share beside it: how they listen and stop, the
//!   list of clients with a bounded queue each, what they count ([`chat`]);
//! - the responsive-GUI scenario: an egui app, its headless 60 Hz frame clock and its
//!   figures, and the window behind the `window` feature ([`gui`]);
//! - the measuring behind `spawn` ([`spawn`]) and the count of threads a process may still
//!   start ([`thread_budget`]);
//! - machine-learning training: Fashion-MNIST, its IDX files, a small classifier and
//!   data-parallel SGD ([`train`]).
//!
//! The tools that only the harness and the tests need (the HTTP server, the chat load client,
//! the report and its charts) live in the `decision-table` crate, so none of their weight is in
//! the concept crates' binaries.

pub mod bigfile;
pub mod chapter;
pub mod chat;
pub mod cli;
pub mod console;
pub mod contract;
pub mod crawl;
pub mod db;
pub mod digest;
pub mod fetch;
pub mod files;
pub mod frame;
pub mod gil;
pub mod gui;
pub mod images;
pub mod job;
pub mod matrix;
pub mod outcome;
pub mod pipeline;
pub mod progress;
pub mod rng;
pub mod spawn;
pub mod thread_budget;
// The machine-learning training row: Fashion-MNIST, synchronous data-parallel SGD, Hogwild.
pub mod train;
pub mod usage;
pub mod wire;

pub use contract::{Label, Run, Summary};
