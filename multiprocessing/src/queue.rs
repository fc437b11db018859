//! A producer (this process) feeding consumer processes: the chapter's `multiprocessing.Queue`.
//!
//! Items travel as frames down each consumer's stdin pipe and every consumer answers each item
//! up its stdout pipe. The queue is bounded like `Queue(maxsize)`: at most `--capacity` items
//! are in flight (sent, not yet answered) across all consumers, so a slow consumer makes the
//! producer wait instead of letting items pile up in pipe buffers. Each item goes to the
//! consumer with the fewest items in flight, so a faster process takes more work. A reader
//! thread per consumer collects the answers; at the end every item must have come back exactly
//! once.
//!
//! `cargo run -p multiprocessing -- queue [--items N] [--workers K] [--capacity C]`

use crate::MODEL;
use crate::child::{self, ChildProcess};
use anyhow::{Context, Result, anyhow, bail};
use scenarios::chapter;
use scenarios::cli::QueueArgs;
use scenarios::job::Job;
use scenarios::{Label, Run, Summary, say};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

/// The consumer's job: do an item's work.
#[derive(Serialize, Deserialize)]
pub struct Consume;

impl Job for Consume {
    const NAME: &'static str = "queue-item";
    type Item = u64;
    type Output = u64;

    fn run(&self, i: u64) -> Result<u64> {
        Ok(chapter::queue_value(i))
    }
}

/// What one consumer answered, as (item, value) pairs, and the most threads it reported.
type Answers = (Vec<(u64, u64)>, u64);

pub fn run(args: &QueueArgs) -> Result<Summary> {
    let mut run = Run::start(
        "queue",
        Label::new(MODEL, "processes", args.workers),
        args.items,
    );
    child::check_process_count("--workers", args.workers)?;
    let mut consumers = (0..args.workers)
        .map(|_| ChildProcess::for_job(&Consume, None))
        .collect::<Result<Vec<_>>>()?;
    let pids: Vec<u32> = consumers.iter().map(ChildProcess::pid).collect();
    let in_flight: Vec<AtomicUsize> = (0..args.workers).map(|_| AtomicUsize::new(0)).collect();
    // A token per item in flight: sending takes one (and waits when none is left), an answer
    // gives one back. This is what makes the queue bounded.
    let (tokens_tx, tokens_rx) = crossbeam_channel::bounded::<()>(args.capacity);
    // Set when any consumer's answers stop: the producer must not wait for tokens that
    // consumer will never give back.
    let broken = AtomicBool::new(false);

    let per_consumer = thread::scope(|s| -> Result<Vec<Vec<(u64, u64)>>> {
        let readers: Vec<_> = consumers
            .iter_mut()
            .enumerate()
            .map(|(k, consumer)| {
                let mut replies = consumer.take_replies().expect("replies not taken yet");
                let (tokens, in_flight, broken) = (tokens_rx.clone(), &in_flight[k], &broken);
                s.spawn(move || -> Result<Answers> {
                    let mut got = Vec::new();
                    let answers = (|| -> Result<()> {
                        while let Some(reply) = replies.next_reply()? {
                            let bytes = reply.result.map_err(|e| anyhow!("consumer {k}: {e}"))?;
                            let value: u64 = crate::child::decode(&bytes)
                                .with_context(|| format!("consumer {k}'s answer"))?;
                            got.push((reply.id, value));
                            in_flight.fetch_sub(1, Ordering::Relaxed);
                            // Give back the token this item took. Never wait for it: once
                            // another reader has emptied the channel (below), it is gone, and
                            // waiting would hang this reader.
                            let _ = tokens.try_recv();
                        }
                        Ok(())
                    })();
                    // However the answers ended, free the producer if it is waiting on us.
                    broken.store(true, Ordering::Relaxed);
                    while tokens.try_recv().is_ok() {}
                    answers?;
                    Ok((got, replies.threads()))
                })
            })
            .collect();
        let produced = (|| -> Result<()> {
            for i in 0..args.items as u64 {
                tokens_tx.send(()).context("every consumer stopped")?;
                if broken.load(Ordering::Relaxed) {
                    bail!("a consumer process stopped answering before item {i} was queued");
                }
                let k = (0..args.workers)
                    .min_by_key(|&k| in_flight[k].load(Ordering::Relaxed))
                    .expect("at least one consumer");
                in_flight[k].fetch_add(1, Ordering::Relaxed);
                consumers[k].send(i, &i)?;
            }
            Ok(())
        })();
        drop(tokens_tx);
        // Closing every consumer's stdin tells it the queue is done; it answers what it holds
        // and exits, which ends its reader's loop.
        let results: Result<Vec<_>> = consumers
            .iter_mut()
            .zip(readers)
            .map(|(consumer, reader)| {
                consumer.close_input();
                let (got, threads) = reader
                    .join()
                    .map_err(|_| anyhow!("a reader thread panicked"))??;
                consumer.note(threads);
                Ok(got)
            })
            .collect::<Result<_>>();
        produced.and(results)
    });
    // However the run went, every consumer is waited for; one that died is named, with how.
    let ended: Vec<Result<()>> = consumers.into_iter().map(ChildProcess::finish).collect();
    let per_consumer = match per_consumer {
        Ok(got) => got,
        Err(e) => {
            let deaths: Vec<String> = ended
                .into_iter()
                .filter_map(|r| r.err().map(|e| format!("{e:#}")))
                .collect();
            if deaths.is_empty() {
                return Err(e);
            }
            bail!("{e:#}: {}", deaths.join("; "));
        }
    };
    for ended in ended {
        ended?;
    }
    for (k, got) in per_consumer.iter().enumerate() {
        say!("consumer process {} took {} items", pids[k], got.len());
    }
    let consumed: Vec<_> = per_consumer.into_iter().flatten().collect();
    let digest = chapter::verify_queue(args.items, &consumed)?;
    say!(
        "Consumed {} of {} items, each exactly once",
        consumed.len(),
        args.items
    );
    run.extra("parent_pid", std::process::id())
        .extra("pids", pids);
    Ok(run.finish(digest, 0))
}
