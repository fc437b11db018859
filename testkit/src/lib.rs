//! Helpers for the integration tests of every crate: a dev-dependency only, never part of a
//! binary. They do the plumbing (run a binary with a time limit and parse its summary, start a
//! server in this process, make small inputs, find a process's children); the assertions stay
//! in each crate's test files.

pub mod chat;
pub mod cpu;
pub mod io;
pub mod procs;
pub mod run;
