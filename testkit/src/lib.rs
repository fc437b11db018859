//! Helpers for the integration tests of every crate: a dev-dependency only, never part of a
//! binary. They do the plumbing and return what happened; the assertions stay in each crate's
//! test files, but for a few single-purpose ones with a clear name ([`run::assert_refused`],
//! [`run::assert_refusal`], [`procs::assert_all_gone`]).
//!
//! - [`run`]: run a binary with a time limit, parse its summary, collect `--help`.
//! - [`io`]: a `downloads`/`requests` server in this process, its reference digests and fault
//!   plan, and runs against it ([`io::Bench`]) or against nothing.
//! - [`cpu`]: small `matrix` and `images` inputs with their reference digests, and every bad
//!   input run against a binary.
//! - [`procs`]: whether a process is alive, its children, waiting for them.
//! - [`chat`]: the chat servers' shared checks.
//! - [`broker`]: a throw-away Redis for the distributed model; [`hosts`]: namespaced hosts.

pub mod broker;
pub mod chat;
pub mod cpu;
pub mod hostile;
pub mod hosts;
pub mod io;
pub mod procs;
pub mod run;
