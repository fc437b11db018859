//! One producer and several consumers around a bounded crossbeam channel: the chapter's
//! `queue.Queue` between threads. The producer (the main thread) puts items 0..N on the channel;
//! each consumer thread takes items until the channel is closed and empty. At the end every item
//! must have been consumed exactly once, and the check says so.
//!
//! Why bounded: with an unbounded queue a fast producer piles up every item in memory before
//! the consumers catch up. A bounded one makes the producer wait (back-pressure), like
//! `queue.Queue(maxsize)`.
//!
//! `cargo run -p threading -- queue [--items N] [--workers K] [--capacity C]`

use crate::MODEL;
use anyhow::{Result, anyhow};
use scenarios::chapter;
use scenarios::cli::QueueArgs;
use scenarios::{Label, Run, Summary, say};
use std::thread;

pub fn run(args: &QueueArgs) -> Result<Summary> {
    let run = Run::start(
        "queue",
        Label::new(MODEL, "crossbeam", args.workers),
        args.items,
    );
    let (tx, rx) = crossbeam_channel::bounded::<u64>(args.capacity);
    let per_consumer = thread::scope(|s| -> Result<Vec<Vec<(u64, u64)>>> {
        let consumers: Vec<_> = (0..args.workers)
            .map(|_| {
                let rx = rx.clone();
                s.spawn(move || {
                    // The loop ends when every sender is gone and the channel is empty.
                    rx.iter()
                        .map(|i| (i, chapter::queue_value(i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        drop(rx);
        for i in 0..args.items as u64 {
            tx.send(i)
                .map_err(|_| anyhow!("every consumer stopped before item {i} was sent"))?;
        }
        // Dropping the last sender closes the channel: that is how consumers learn to stop.
        drop(tx);
        consumers
            .into_iter()
            .map(|c| c.join().map_err(|_| anyhow!("a consumer thread panicked")))
            .collect()
    })?;
    for (k, got) in per_consumer.iter().enumerate() {
        say!("consumer {} took {} items", k + 1, got.len());
    }
    let consumed: Vec<_> = per_consumer.into_iter().flatten().collect();
    let digest = chapter::verify_queue(args.items, &consumed)?;
    say!(
        "Consumed {} of {} items, each exactly once",
        consumed.len(),
        args.items
    );
    Ok(run.finish(digest, 0))
}
