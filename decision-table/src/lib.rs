//! The tools of the workspace, and the chapter's decision table.
//!
//! - `decision-table gen matrix|images`: the inputs, from a seed (the generators live with the
//!   scenarios, in `scenarios::matrix` and `scenarios::images`);
//! - `decision-table serve`: the local HTTP server the I/O-bound scenarios fetch from
//!   ([`server`]);
//! - `decision-table site`: the local multi-host web site the `crawl` scenario crawls
//!   ([`site`]);
//! - `decision-table chat-load`: the load client that connects N chat clients and checks that
//!   every message arrived exactly once ([`chat_load`]);
//! - `decision-table delay-proxy`: a loopback TCP proxy that adds a fixed delay each way, for
//!   the db scenario's latency where the kernel has no netem ([`delay_proxy`]);
//! - `decision-table report DIR`: the report of a harness run, with the measured decision table
//!   ([`report`]);
//! - `decision-table` alone: the chapter's table ([`table`]), with the verdicts of the latest run.
//!
//! The concept crates do not depend on this crate: hyper's server and plotters stay out of
//! their binaries. Their tests start the servers in-process through it (see `testkit`).

pub mod chat_load;
pub mod delay_proxy;
pub mod report;
pub mod server;
pub mod site;
pub mod table;
