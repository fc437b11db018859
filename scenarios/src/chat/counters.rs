//! What a chat server counts while it runs, and the summary it makes of that when it stops.
//! Every model fills the same fields the same way, so their summaries compare; the counting is
//! relaxed atomics because several threads or tasks count at once and only the totals matter.
//!
//! Nothing to run on its own: every `chat-server --json` prints these counts when it stops.

use crate::{Run, Summary, say};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a server that keeps turning clients away says how many so far.
pub const REFUSALS_EVERY: Duration = Duration::from_secs(10);

/// What a server counted.
#[derive(Debug, Default)]
pub struct Counters {
    /// Clients welcomed.
    pub served: AtomicU64,
    /// Clients connected right now, and the most at once.
    pub current: AtomicU64,
    pub peak: AtomicU64,
    /// Valid lines received from clients.
    pub lines_in: AtomicU64,
    /// Relayed messages written to clients.
    pub deliveries: AtomicU64,
    /// Clients cut off for falling behind or stalling.
    pub kicked: AtomicU64,
    /// Clients disconnected for an overlong or non-UTF-8 line.
    pub bad_lines: AtomicU64,
    /// Clients turned away because no thread, process or file descriptor was left for them.
    pub rejected: AtomicU64,
    /// When the server last said it is turning clients away (never, if None).
    refusals_said: Mutex<Option<Instant>>,
}

impl Counters {
    /// A client was welcomed.
    pub fn joined(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
        let now = self.current.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    /// A welcomed client is completely gone (its threads, process or tasks have ended).
    pub fn left(&self) {
        self.current.fetch_sub(1, Ordering::Relaxed);
    }

    /// A client was turned away: count it, say why the first time, and then only how many so
    /// far, at most every [`REFUSALS_EVERY`]. A full server turns away every newcomer, perhaps
    /// hundreds a second; a line for each would bury everything else it says, and one line
    /// with no count would hide how long it went on. The summary has the total.
    pub fn turned_away(&self, why: &str) {
        let n = self.rejected.fetch_add(1, Ordering::Relaxed) + 1;
        let mut said = self.refusals_said.lock().expect("refusals lock");
        match *said {
            None => say!(
                "turning clients away: {why} (each is told the server is full; a count follows \
                 every {} s while it lasts)",
                REFUSALS_EVERY.as_secs()
            ),
            Some(at) if at.elapsed() >= REFUSALS_EVERY => {
                say!("still turning clients away: {n} so far");
            }
            Some(_) => return,
        }
        *said = Some(Instant::now());
    }

    pub fn count(field: &AtomicU64, n: u64) {
        field.fetch_add(n, Ordering::Relaxed);
    }

    fn get(field: &AtomicU64) -> u64 {
        field.load(Ordering::Relaxed)
    }

    /// Wait until every client is gone or `limit` has passed; true if all are gone.
    pub fn wait_until_empty(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Self::get(&self.current) > 0 {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// The server's summary: `workers` is the most clients held at once, `items` the messages
    /// received; the digest covers both, so the same workload gives the same digest.
    pub fn finish(&self, mut run: Run) -> Summary {
        let g = Self::get;
        let served = g(&self.served);
        let lines_in = g(&self.lines_in);
        say!(
            "served {served} clients (at most {} at once), relayed {lines_in} messages as {} deliveries; \
             {} cut off for falling behind, {} disconnected for bad lines, {} turned away",
            g(&self.peak),
            g(&self.deliveries),
            g(&self.kicked),
            g(&self.bad_lines),
            g(&self.rejected),
        );
        run.extra("clients_served", served)
            .extra("peak_clients", g(&self.peak))
            .extra("lines_in", lines_in)
            .extra("deliveries", g(&self.deliveries))
            .extra("kicked", g(&self.kicked))
            .extra("bad_lines", g(&self.bad_lines))
            .extra("rejected", g(&self.rejected));
        let mut d = crate::digest::Digest::new();
        d.update_u64(served).update_u64(lines_in);
        let mut s = run.finish(d.finish(), 0);
        s.workers = g(&self.peak) as usize;
        s.items = lines_in as usize;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_track_the_peak() {
        let c = Counters::default();
        c.joined();
        c.joined();
        c.left();
        c.joined();
        assert_eq!(Counters::get(&c.peak), 2);
        assert_eq!(Counters::get(&c.current), 2);
        assert_eq!(Counters::get(&c.served), 3);
    }

    #[test]
    fn every_refusal_counts_and_goes_in_the_summary() {
        let c = Counters::default();
        for _ in 0..3 {
            c.turned_away("testing");
        }
        let s = c.finish(Run::start("chat", crate::Label::new("m", "v", 0), 0));
        assert_eq!(s.extra["rejected"], 3);
        assert!(
            !s.extra.contains_key("missed"),
            "no model skips messages any more"
        );
    }
}
