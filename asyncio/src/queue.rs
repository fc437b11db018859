//! A producer task and several consumer tasks around a bounded tokio mpsc channel: the
//! chapter's `asyncio.Queue`. The producer awaits `send` when the channel is full
//! (back-pressure, like `Queue(maxsize)`); consumers await items until the channel is closed
//! and empty; at the end every item must have been consumed exactly once.
//!
//! tokio's mpsc has a single receiver, so the consumers share it behind a `tokio::sync::Mutex`:
//! an async mutex, because a consumer holds it across the `.await` of `recv`, which a
//! `std::sync::Mutex` guard must never be.
//!
//! `cargo run -p asyncio -- queue [--items N] [--workers K] [--capacity C]`

use crate::{MODEL, event_loop};
use anyhow::{Result, anyhow};
use scenarios::chapter;
use scenarios::cli::QueueArgs;
use scenarios::{Label, Run, Summary, say};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc};

pub fn run(args: &QueueArgs) -> Result<Summary> {
    let run = Run::start(
        "queue",
        Label::new(MODEL, "tasks", args.workers),
        args.items,
    );
    let items = args.items as u64;
    let per_consumer = event_loop()?.block_on(async {
        let (tx, rx) = mpsc::channel::<u64>(args.capacity);
        let rx = Arc::new(Mutex::new(rx));
        let consumers: Vec<_> = (0..args.workers)
            .map(|_| {
                let rx = Arc::clone(&rx);
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    // The lock is released at the end of each statement, so consumers take turns.
                    while let Some(i) = rx.lock().await.recv().await {
                        got.push((i, chapter::queue_value(i)));
                    }
                    got
                })
            })
            .collect();
        let producer = tokio::spawn(async move {
            for i in 0..items {
                tx.send(i)
                    .await
                    .map_err(|_| anyhow!("every consumer stopped before item {i} was sent"))?;
            }
            // Dropping `tx` here closes the channel, which ends the consumers' loops.
            anyhow::Ok(())
        });
        producer.await??;
        let mut all = Vec::with_capacity(consumers.len());
        for c in consumers {
            all.push(c.await?);
        }
        anyhow::Ok(all)
    })?;
    for (k, got) in per_consumer.iter().enumerate() {
        say!("consumer task {} took {} items", k + 1, got.len());
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
