//! The scenarios of the chapter's decision table, written once.
//!
//! The four concept crates (`serial`, `threading`, `multiprocessing`, `asyncio`) differ only in
//! how they run work; everything else lives here so it cannot drift between them: the shared
//! command-line flags ([`cli`]), where human lines go ([`console`]), the output contract
//! ([`contract`]) with CPU time and peak memory that count child processes ([`usage`]), the
//! digest that proves every model computed the same thing ([`digest`]), the frames processes
//! talk in ([`frame`]), the seeded generator behind every input ([`rng`]), and the chapter's
//! own examples' data ([`chapter`]).
//!
//! The chat server's protocol ([`chat`]), the client list the threaded servers share
//! ([`chat_hub`]) and the load client that counts every message ([`chat_load`]) live here too,
//! as does the measuring behind `spawn` ([`spawn`]).

pub mod chapter;
pub mod chat;
pub mod chat_hub;
pub mod chat_load;
pub mod cli;
pub mod console;
pub mod contract;
pub mod digest;
pub mod frame;
pub mod rng;
pub mod spawn;
pub mod table;
pub mod usage;

pub use contract::{Run, Summary};

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "testing")]
pub mod chat_testing;
