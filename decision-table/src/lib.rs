//! The scenarios of the chapter's decision table, written once.
//!
//! The four concept crates (`serial`, `threading`, `multiprocessing`, `asyncio`) differ only in
//! how they run work; everything else lives here so it cannot drift between them:
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
//! - the I/O-bound scenarios: the local HTTP server ([`server`]) and the client side ([`fetch`]);
//! - the chat server's protocol ([`chat`]), the client list the threaded servers share
//!   ([`chat_hub`]), the load client that counts every message ([`chat_load`]), and the
//!   measuring behind `spawn` ([`spawn`]);
//! - the chapter's decision table ([`table`]) and the report of a measured run ([`report`]).

pub mod chapter;
pub mod chat;
pub mod chat_hub;
pub mod chat_load;
pub mod cli;
pub mod console;
pub mod contract;
pub mod digest;
pub mod fetch;
pub mod files;
pub mod frame;
pub mod images;
pub mod items;
pub mod matrix;
pub mod report;
pub mod rng;
pub mod server;
pub mod spawn;
pub mod table;
pub mod usage;

pub use contract::{Run, Summary};

#[cfg(feature = "testing")]
pub mod chat_testing;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "testing")]
pub mod testing_io;
