//! Helpers for the integration tests of every crate: a dev-dependency only, never part of a
//! binary. They do the plumbing and return what happened; the assertions stay in each crate's
//! test files, but for a few single-purpose ones with a clear name ([`run::assert_refused`],
//! [`run::assert_refusal`], [`procs::assert_all_gone`]).
//!
//! - [`run`]: run a binary with a time limit, parse its summary, collect `--help`.
//! - [`io`]: a `downloads`/`requests` server in this process, its reference digests and fault
//!   plan, and runs against it ([`io::Bench`]) or against nothing.
//! - [`crawl`]: a `decision-table site` in this process, the crawl it must give (worked out
//!   from the site's page models) and its hosts' counters.
//! - [`cpu`]: small `matrix` and `images` inputs with their reference digests, and every bad
//!   input run against a binary.
//! - [`pipeline`]: a `serve --images` server of small PNGs in this process, what a correct
//!   `pipeline` run reports against it, and runs against it (or against no images at all).
//! - [`procs`]: whether a process is alive, its children, waiting for them.
//! - [`chat`]: the chat servers' shared checks.
//! - [`bigfile`]: a small `bigfile` input with its reference digest, and every bad file run
//!   against a binary.
//! - [`pg`]: a throw-away PostgreSQL per test; [`db`]: the `db` scenario's databases, tables
//!   and reference digests.
//! - [`gui`]: the gui scenario's inputs, session arguments and what a session left behind.
//! - [`train`]: small data sets for `train` with their reference digest, and the real one
//!   where it is installed.
//! - [`broker`]: a throw-away Redis for the distributed model; [`hosts`]: namespaced hosts.

pub mod bigfile;
pub mod broker;
pub mod chat;
pub mod cpu;
pub mod crawl;
pub mod db;
pub mod gui;
pub mod hostile;
pub mod hosts;
pub mod io;
pub mod pg;
pub mod pipeline;
pub mod procs;
pub mod run;
pub mod train;
