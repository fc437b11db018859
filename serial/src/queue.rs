//! A producer and a consumer sharing a bounded queue on one thread. With nobody to hand work
//! to, they take turns: the producer fills the queue to capacity, the consumer empties it, and
//! again, until every item has been consumed once. The other crates run the same two roles at
//! the same time.
//!
//! `cargo run -p serial -- queue [--items N] [--capacity C]` (`--workers` is accepted and
//! ignored: there is only one consumer here)

use crate::MODEL;
use anyhow::Result;
use scenarios::chapter;
use scenarios::cli::QueueArgs;
use scenarios::{Label, Run, Summary, say};
use std::collections::VecDeque;

pub fn run(args: &QueueArgs) -> Result<Summary> {
    let run = Run::start("queue", Label::new(MODEL, "serial", 1), args.items);
    let mut queue = VecDeque::with_capacity(args.capacity);
    let mut consumed = Vec::with_capacity(args.items);
    let mut next = 0u64;
    while consumed.len() < args.items {
        // Producer's turn: fill the queue up to its capacity.
        while queue.len() < args.capacity && next < args.items as u64 {
            queue.push_back(next);
            next += 1;
        }
        // Consumer's turn: empty it.
        while let Some(i) = queue.pop_front() {
            consumed.push((i, chapter::queue_value(i)));
        }
    }
    let digest = chapter::verify_queue(args.items, &consumed)?;
    say!(
        "Consumed {} of {} items, each exactly once",
        consumed.len(),
        args.items
    );
    Ok(run.finish(digest, 0))
}
