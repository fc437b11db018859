//! A ticker that shows what happens to the event loop when CPU-bound work runs in the wrong
//! place: a task that wants to run every 10 ms and records how late it got to run. While the
//! loop is free (`--variant spawn_blocking`) it stays within a millisecond or so; while a
//! computation runs on the loop itself (`--variant blocking`) it waits for the computation.
//! The executor (`pool.rs`) runs it beside every CPU-bound map and reports its lateness.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// How often the ticker wants to run.
pub const TICK: Duration = Duration::from_millis(10);

/// A task that wants to run every [`TICK`] and records how late it got to run: a healthy event
/// loop keeps it within a millisecond or so, a blocked one makes it wait for the computation.
/// A ticker starved for the whole run never runs at all; [`Ticker::stop`] counts the tick
/// still waiting, so that shows as lateness too, not as a quiet zero.
pub struct Ticker {
    task: JoinHandle<()>,
    started: Instant,
    ticks: Arc<AtomicU64>,
    worst_us: Arc<AtomicU64>,
    /// When the last tick ran, in microseconds since `started`.
    last_us: Arc<AtomicU64>,
}

impl Ticker {
    /// Start ticking on the current runtime.
    pub fn start() -> Ticker {
        let started = Instant::now();
        let [ticks, worst_us, last_us] = [0; 3].map(|_| Arc::new(AtomicU64::new(0)));
        let (t, w, l) = (ticks.clone(), worst_us.clone(), last_us.clone());
        let task = tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            // After a stall, carry on from now rather than firing the missed ticks in a burst.
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                let due = interval.tick().await;
                let now = Instant::now();
                t.fetch_add(1, Ordering::Relaxed);
                w.fetch_max(
                    micros(now.saturating_duration_since(due)),
                    Ordering::Relaxed,
                );
                l.store(micros(now - started), Ordering::Relaxed);
            }
        });
        Ticker {
            task,
            started,
            ticks,
            worst_us,
            last_us,
        }
    }

    /// Stop ticking; returns (ticks that ran, the worst lateness in milliseconds).
    pub fn stop(self) -> (u64, f64) {
        self.task.abort();
        let ticks = self.ticks.load(Ordering::Relaxed);
        // The tick waiting now was due one TICK after the last one ran (the first, at start).
        let due_us = match ticks {
            0 => 0,
            _ => self.last_us.load(Ordering::Relaxed) + micros(TICK),
        };
        let waiting_us = micros(self.started.elapsed()).saturating_sub(due_us);
        let worst_us = self.worst_us.load(Ordering::Relaxed).max(waiting_us);
        (ticks, worst_us as f64 / 1000.0)
    }
}

impl Ticker {
    /// [`Ticker::stop`], said (`ticker: N ticks, at worst X ms late`) and noted in `run`'s
    /// summary as `ticks` and `ticker_max_late_ms`: for runs that drive the loop themselves
    /// (the crawl, whose levels are each a map of async tasks).
    pub fn stop_into(self, run: &mut scenarios::Run) {
        let (ticks, late_ms) = self.stop();
        scenarios::say!("ticker: {ticks} ticks, at worst {late_ms:.1} ms late");
        run.extra("ticks", ticks)
            .extra("ticker_max_late_ms", late_ms);
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_loop_keeps_the_ticker_on_time_a_blocked_one_does_not() {
        let rt = crate::event_loop().unwrap();
        let (ticks, late) = rt.block_on(async {
            let ticker = Ticker::start();
            tokio::time::sleep(Duration::from_millis(100)).await;
            ticker.stop()
        });
        assert!(ticks >= 3, "{ticks} ticks in 100 ms");
        assert!(late < 60.0, "{late} ms late on a free loop");
        let (_, late) = rt.block_on(async {
            let ticker = Ticker::start();
            tokio::task::yield_now().await;
            std::thread::sleep(Duration::from_millis(150));
            ticker.stop()
        });
        assert!(late >= 100.0, "only {late} ms late behind a 150 ms block");
    }
}
