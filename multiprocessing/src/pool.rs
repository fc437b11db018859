//! A pool of worker processes: the chapter's `Pool.map` / `ProcessPoolExecutor`.
//!
//! Each of the pool's `size` slots is a driver thread in the parent that owns one child
//! process. Drivers take tasks from a shared crossbeam channel, so a fast worker simply takes
//! more of them (dynamic load balancing, like `Pool.map` with chunksize 1). Results come back
//! with their input index and are returned in input order.
//!
//! A worker that dies mid-task (killed, panicked, exited) is not allowed to take the run down:
//! its task becomes an error naming the process and how it died, the driver reaps it and starts
//! a fresh worker for the next task, and the remaining tasks complete. Nothing waits on a dead
//! process, so nothing hangs. Dropping the pool mid-run kills and reaps every child.
//!
//! A run can also be stopped on purpose ([`Pool::with_stop`]): once the flag is set, drivers
//! hand out no more tasks; tasks already running finish, the rest are reported as never run.

use crate::process::{Fault, Task, Worker};
use scenarios::say;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

/// What a pool run produced.
pub struct PoolRun {
    /// One result per task, in input order: the job's output, or why the task failed.
    pub results: Vec<Result<Vec<u8>, String>>,
    /// The pid of every worker process that ran, in the order they started.
    pub pids: Vec<u32>,
    /// How many workers died and were replaced.
    pub replaced: usize,
}

impl PoolRun {
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| r.is_err()).count()
    }
}

/// A pool of `size` worker processes.
pub struct Pool {
    size: usize,
    fault: Option<Fault>,
    stop: Option<Arc<AtomicBool>>,
}

struct Done {
    index: usize,
    result: Result<Vec<u8>, String>,
}

enum Event {
    Done(Done),
    Started(u32),
    Replaced,
}

impl Pool {
    pub fn new(size: usize) -> Pool {
        Pool {
            size: size.max(1),
            fault: None,
            stop: None,
        }
    }

    /// Make the worker that receives task `fault.task` die (tests of fault handling only).
    pub fn with_fault(mut self, fault: Option<Fault>) -> Pool {
        self.fault = fault;
        self
    }

    /// Stop handing out tasks once `stop` is set (by `on_done`, say, after a bad input).
    pub fn with_stop(mut self, stop: Arc<AtomicBool>) -> Pool {
        self.stop = Some(stop);
        self
    }

    /// Run `job` once per argument on the pool's processes. `on_done` is called in the parent
    /// as each task completes, in completion order, with the task's input index.
    pub fn map(
        &self,
        job: &str,
        args: Vec<Value>,
        mut on_done: impl FnMut(usize, &Result<Vec<u8>, String>),
    ) -> PoolRun {
        let n = args.len();
        let (task_tx, task_rx) = crossbeam_channel::unbounded::<(usize, Value)>();
        for pair in args.into_iter().enumerate() {
            task_tx.send(pair).expect("the receiver is alive");
        }
        drop(task_tx);
        let (event_tx, event_rx) = crossbeam_channel::unbounded::<Event>();
        let mut results: Vec<Option<Result<Vec<u8>, String>>> = (0..n).map(|_| None).collect();
        let mut pids = Vec::new();
        let mut replaced = 0;
        thread::scope(|s| {
            for _ in 0..self.size.min(n) {
                let (tasks, events, fault) = (task_rx.clone(), event_tx.clone(), self.fault);
                let stop = self.stop.clone();
                s.spawn(move || drive(job, tasks, events, fault, stop));
            }
            drop(event_tx);
            for event in event_rx {
                match event {
                    Event::Done(d) => {
                        on_done(d.index, &d.result);
                        results[d.index] = Some(d.result);
                    }
                    Event::Started(pid) => pids.push(pid),
                    Event::Replaced => replaced += 1,
                }
            }
        });
        PoolRun {
            results: results
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Err("the task was never run".into())))
                .collect(),
            pids,
            replaced,
        }
    }
}

/// One slot of the pool: a driver thread and the worker process it owns.
fn drive(
    job: &str,
    tasks: crossbeam_channel::Receiver<(usize, Value)>,
    events: crossbeam_channel::Sender<Event>,
    fault: Option<Fault>,
    stop: Option<Arc<AtomicBool>>,
) {
    let mut worker: Option<Worker> = None;
    for (index, arg) in tasks {
        if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            break;
        }
        let send = |result| {
            let _ = events.send(Event::Done(Done { index, result }));
        };
        // Start a worker if this slot has none (the first task, or after a death).
        let mut w = match worker.take() {
            Some(w) => w,
            None => match Worker::spawn(fault) {
                Ok(w) => {
                    let _ = events.send(Event::Started(w.pid()));
                    w
                }
                Err(e) => {
                    send(Err(format!("{e:#}")));
                    continue;
                }
            },
        };
        let task = Task {
            id: index as u64,
            job: job.to_string(),
            arg,
        };
        match w.call(&task) {
            Ok(reply) => {
                send(reply.result);
                worker = Some(w);
            }
            Err(_) => {
                // The reply never came: the process is dead (or spoke garbage and is killed
                // now). How it ended is the useful part of the message.
                let pid = w.pid();
                let how = w.reap();
                say!("worker process {pid} {how} during task {index}; starting a new one");
                send(Err(format!(
                    "worker process {pid} {how} while running task {index}"
                )));
                let _ = events.send(Event::Replaced);
            }
        }
    }
    if let Some(w) = worker {
        let pid = w.pid();
        if let Err(e) = w.finish() {
            say!("worker process {pid} did not shut down cleanly: {e:#}");
        }
    }
}
