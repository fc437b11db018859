//! The bits of the chapter's own examples that every crate shares: the names of the cakes, the
//! work a queue item stands for, and the check that a queue delivered every item exactly once.

use crate::digest::Digest;
use crate::rng::mix;
use crate::say;
use anyhow::{Result, bail};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A shared starting time that survives a trip to another process: child processes get the
/// parent's start as nanoseconds since the Unix epoch, so every line of one run shares a clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    t0: SystemTime,
}

impl Clock {
    pub fn now() -> Self {
        Self {
            t0: SystemTime::now(),
        }
    }

    pub fn from_unix_ns(ns: u64) -> Self {
        Self {
            t0: UNIX_EPOCH + Duration::from_nanos(ns),
        }
    }

    pub fn unix_ns(&self) -> u64 {
        self.t0
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    }

    /// Seconds since the start.
    pub fn secs(&self) -> f64 {
        self.t0.elapsed().map_or(0.0, |d| d.as_secs_f64())
    }

    /// `[+1.002 s]`, the prefix of every timeline line.
    pub fn stamp(&self) -> String {
        format!("[+{:.3} s]", self.secs())
    }
}

/// "Baking the chocolate cake..." with the time and who does it (a thread, a process, a task).
pub fn cake_started(name: &str, clock: &Clock, who: &str) {
    say!("{} Baking the {name} cake... ({who})", clock.stamp());
}

/// "The chocolate cake is done!"
pub fn cake_done(name: &str, clock: &Clock, who: &str) {
    say!("{} The {name} cake is done! ({who})", clock.stamp());
}

/// Bake one cake by blocking the calling thread: the chapter's `sleep(1)` stand-in for work.
pub fn bake_cake(name: &str, bake_ms: u64, clock: &Clock, who: &str) {
    cake_started(name, clock, who);
    std::thread::sleep(Duration::from_millis(bake_ms));
    cake_done(name, clock, who);
}

/// "Worker 3 started".
pub fn worker_started(i: usize, clock: &Clock, who: &str) {
    say!("{} Worker {} started ({who})", clock.stamp(), i + 1);
}

/// "Worker 3 finished".
pub fn worker_finished(i: usize, clock: &Clock, who: &str) {
    say!("{} Worker {} finished ({who})", clock.stamp(), i + 1);
}

/// One worker of the chapter's example, blocking the calling thread while it waits.
pub fn run_worker(i: usize, sleep_ms: u64, clock: &Clock, who: &str) {
    worker_started(i, clock, who);
    std::thread::sleep(Duration::from_millis(sleep_ms));
    worker_finished(i, clock, who);
}

const CAKES: [&str; 8] = [
    "chocolate",
    "carrot",
    "lemon",
    "orange",
    "coconut",
    "strawberry",
    "banana",
    "vanilla",
];

/// The name of cake `i` (0-based): the chapter's two first, then more flavours, then numbers.
pub fn cake_name(i: usize) -> String {
    CAKES
        .get(i)
        .map_or_else(|| format!("number {}", i + 1), |s| s.to_string())
}

/// The digest of a batch of cakes: their names in the order they were asked for.
pub fn cakes_digest(count: usize) -> String {
    crate::digest::of_all((0..count).map(cake_name))
}

/// The digest of the workers example: one entry per worker, in worker order.
pub fn workers_digest(count: usize, sleep_ms: u64) -> String {
    crate::digest::of_all((0..count).map(|i| format!("worker {} slept {sleep_ms} ms", i + 1)))
}

/// What consuming queue item `i` produces: a stand-in for real work, cheap and checkable.
pub fn queue_value(i: u64) -> u64 {
    mix(i ^ 0xC0FF_EE00)
}

/// Check that every item `0..items` was consumed exactly once with the right value, and return
/// the digest of the values in item order. `consumed` is (item, value) in any order.
pub fn verify_queue(items: usize, consumed: &[(u64, u64)]) -> Result<String> {
    let mut seen = vec![0u32; items];
    let mut wrong = 0usize;
    let mut out_of_range = 0usize;
    for &(i, v) in consumed {
        match seen.get_mut(i as usize) {
            Some(n) => *n += 1,
            None => {
                out_of_range += 1;
                continue;
            }
        }
        if v != queue_value(i) {
            wrong += 1;
        }
    }
    let missing = seen.iter().filter(|&&n| n == 0).count();
    let duplicated = seen.iter().filter(|&&n| n > 1).count();
    if missing + duplicated + wrong + out_of_range > 0 {
        bail!(
            "queue check failed: {missing} item(s) never consumed, {duplicated} consumed more than once, \
             {wrong} with a wrong value, {out_of_range} unknown (of {items} produced, {} consumed)",
            consumed.len()
        );
    }
    let mut d = Digest::new();
    for i in 0..items as u64 {
        d.update_u64(queue_value(i));
    }
    Ok(d.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(cake_name(0), "chocolate");
        assert_eq!(cake_name(1), "carrot");
        assert_eq!(cake_name(8), "number 9");
    }

    #[test]
    fn queue_check_accepts_any_order() {
        let a: Vec<_> = (0..5).map(|i| (i, queue_value(i))).collect();
        let mut b = a.clone();
        b.reverse();
        assert_eq!(verify_queue(5, &a).unwrap(), verify_queue(5, &b).unwrap());
    }

    #[test]
    fn queue_check_catches_loss_duplicates_and_corruption() {
        let good: Vec<_> = (0..5).map(|i| (i, queue_value(i))).collect();
        let lost = &good[..4];
        assert!(
            verify_queue(5, lost)
                .unwrap_err()
                .to_string()
                .contains("1 item(s) never")
        );
        let mut dup = good.clone();
        dup.push(good[2]);
        assert!(
            verify_queue(5, &dup)
                .unwrap_err()
                .to_string()
                .contains("1 consumed more")
        );
        let mut bad = good.clone();
        bad[3].1 ^= 1;
        assert!(
            verify_queue(5, &bad)
                .unwrap_err()
                .to_string()
                .contains("1 with a wrong")
        );
    }
}
