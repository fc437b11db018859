//! CPU time and peak memory of a run, child processes included.
//!
//! A model that hands its work to child processes must not look free: the CPU seconds its
//! workers burn and the memory they hold are part of its cost. So:
//!
//! - CPU: `getrusage(RUSAGE_SELF)` plus `getrusage(RUSAGE_CHILDREN)`, which the kernel fills
//!   with the CPU time of every child that has been waited for. Every model reaps its children
//!   before it reports, so the sum is complete.
//!   [`Run`](crate::Run) takes a reading when it starts and reports the difference, so what a
//!   launcher did before `exec` (Linux charges it to the new program) does not count.
//! - Memory: this process's own peak (`VmHWM` in `/proc/self/status`) plus the sum of each
//!   child's own peak, which child-spawning code records with [`add_child_peak`] while the child
//!   is alive. Summing the children's peaks is exact for a pool whose workers live side by side
//!   (the common case here) and an upper bound otherwise. `ru_maxrss` is not used: Linux carries
//!   it across `exec`, so a program started by `cargo run` would report cargo's 200 MiB, and
//!   `RUSAGE_CHILDREN` only gives the largest single child, hiding most of a pool.

use nix::sys::resource::{Usage, UsageWho, getrusage};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static CHILDREN_PEAK_KIB: AtomicU64 = AtomicU64::new(0);
static CHILDREN_PEAK_THREADS: AtomicU64 = AtomicU64::new(0);
static CHILDREN: AtomicU64 = AtomicU64::new(0);
static PEAK_THREADS: AtomicU64 = AtomicU64::new(0);

/// What a process (and its reaped children) used so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ResourceUse {
    pub user_s: f64,
    pub sys_s: f64,
    pub max_rss_kib: u64,
}

/// Record the peak resident memory of one child process, in KiB.
pub fn add_child_peak(kib: u64) {
    CHILDREN_PEAK_KIB.fetch_add(kib, Ordering::Relaxed);
}

/// The sum of the child peaks recorded so far.
pub fn children_peak_kib() -> u64 {
    CHILDREN_PEAK_KIB.load(Ordering::Relaxed)
}

/// Record a child process that has ended, and the most threads it had.
pub fn add_child_threads(threads: u64) {
    CHILDREN.fetch_add(1, Ordering::Relaxed);
    CHILDREN_PEAK_THREADS.fetch_add(threads, Ordering::Relaxed);
}

/// The memory of children that come and go (a process per client): each child's own peak
/// over its lifetime, so the model is charged the most its children held *at the same time*.
/// Adding every child's peak with [`add_child_peak`] would charge a server that served 7,000
/// short clients, 1,000 at a time, for all 7,000.
#[derive(Debug, Default)]
pub struct ChildSpans {
    spans: std::sync::Mutex<Vec<(Instant, Instant, u64)>>,
}

impl ChildSpans {
    /// A child that started at `started` has just ended with a peak of `peak_kib`.
    pub fn record(&self, started: Instant, peak_kib: u64) {
        let now = Instant::now();
        self.spans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((started, now, peak_kib));
    }

    /// The largest sum of the peaks of children whose lifetimes overlapped. An upper bound of
    /// what they held together (each is charged its peak for its whole life), and exact for
    /// children whose memory is flat, like a chat child.
    pub fn concurrent_peak_kib(&self) -> u64 {
        let spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        // Ends sort before starts at the same instant: a child that ended as another started
        // did not overlap it.
        let mut events: Vec<(Instant, bool, u64)> = spans
            .iter()
            .flat_map(|&(start, end, kib)| [(start, true, kib), (end, false, kib)])
            .collect();
        events.sort_by_key(|&(at, is_start, _)| (at, is_start));
        let (mut live, mut peak) = (0u64, 0u64);
        for (_, is_start, kib) in events {
            if is_start {
                live += kib;
                peak = peak.max(live);
            } else {
                live -= kib;
            }
        }
        peak
    }
}

/// Resource use of this process and its children up to now.
pub fn current() -> ResourceUse {
    let me = getrusage(UsageWho::RUSAGE_SELF).ok();
    let kids = getrusage(UsageWho::RUSAGE_CHILDREN).ok();
    let secs = |u: &Option<Usage>| {
        u.map(|u| {
            let t = |tv: nix::sys::time::TimeVal| {
                Duration::new(tv.tv_sec() as u64, tv.tv_usec() as u32 * 1000).as_secs_f64()
            };
            (t(u.user_time()), t(u.system_time()))
        })
        .unwrap_or((0.0, 0.0))
    };
    let (mu, ms) = secs(&me);
    let (ku, ks) = secs(&kids);
    ResourceUse {
        user_s: mu + ku,
        sys_s: ms + ks,
        max_rss_kib: own_peak_rss_kib() + children_peak_kib(),
    }
}

/// Peak resident memory (`VmHWM`) of a live process, in KiB, from `/proc/<pid>/status`.
/// `None` once the process has exited (a zombie has no memory left to report).
pub fn peak_rss_kib_of(pid: u32) -> Option<u64> {
    status_field(&format!("/proc/{pid}/status"), "VmHWM:")
}

/// This process's own peak resident memory so far, in KiB.
pub fn own_peak_rss_kib() -> u64 {
    status_field("/proc/self/status", "VmHWM:").unwrap_or(0)
}

/// This process's current resident memory, in KiB.
pub fn own_rss_kib() -> u64 {
    status_field("/proc/self/status", "VmRSS:").unwrap_or(0)
}

/// The number of threads this process has now (`Threads:` in /proc/self/status).
pub fn threads_now() -> Option<u64> {
    status_field("/proc/self/status", "Threads:")
}

/// Threads and processes a run used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threads {
    /// Peak OS threads: this process's, plus each child's own peak.
    pub os_threads: u64,
    /// This process and every child it recorded.
    pub processes: u64,
}

/// How often the sampler reads the thread count: often enough to catch a peak that lasts a few
/// milliseconds, rarely enough (a read costs tens of microseconds) not to weigh on the run.
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// A thread that reads this process's thread count every [`SAMPLE_EVERY`] while a run goes on,
/// and does not count itself. Sampling from the work itself would miss peaks: a pool is busy
/// starting threads and processes exactly while it has the most of them. The I/O-bound
/// scenarios report the peak (`os_threads`): what keeping K requests in flight costs.
pub struct ThreadSampler {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ThreadSampler {
    pub fn start() -> ThreadSampler {
        use std::sync::mpsc;
        if let Some(n) = threads_now() {
            PEAK_THREADS.fetch_max(n, Ordering::Relaxed);
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("thread-count".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                loop {
                    if let Some(n) = threads_now() {
                        PEAK_THREADS.fetch_max(n.saturating_sub(1), Ordering::Relaxed);
                    }
                    if stopped.recv_timeout(SAMPLE_EVERY) != Err(mpsc::RecvTimeoutError::Timeout) {
                        break;
                    }
                }
            })
            // Without a sampler the peak is only read at the start and the end: a lower figure,
            // never a failed run.
            .ok();
        ThreadSampler {
            stop: Some(stop),
            thread,
        }
    }

    /// Stop sampling: the peak of this process, plus what its children reported.
    pub fn stop(mut self) -> Threads {
        self.halt();
        if let Some(n) = threads_now() {
            PEAK_THREADS.fetch_max(n, Ordering::Relaxed);
        }
        Threads {
            os_threads: PEAK_THREADS.load(Ordering::Relaxed)
                + CHILDREN_PEAK_THREADS.load(Ordering::Relaxed),
            processes: 1 + CHILDREN.load(Ordering::Relaxed),
        }
    }

    fn halt(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ThreadSampler {
    fn drop(&mut self) {
        self.halt();
    }
}

fn status_field(path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_peak_is_plausible() {
        let peak = own_peak_rss_kib();
        assert!(peak > 100, "peak {peak} KiB");
        assert_eq!(
            peak_rss_kib_of(std::process::id()).map(|p| p >= peak),
            Some(true)
        );
        assert!(current().max_rss_kib >= peak / 2);
    }

    #[test]
    fn cpu_time_grows_with_work() {
        // Spin until getrusage shows 50 ms more CPU time. On a busy machine that may take longer
        // than 50 ms of wall time, so only a generous wall limit can fail the test.
        let before = current();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        loop {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            let now = current();
            if now.user_s + now.sys_s - before.user_s - before.sys_s >= 0.05 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "20 s of spinning never showed 50 ms of CPU time"
            );
        }
    }

    #[test]
    fn overlapping_children_add_up_and_successive_ones_do_not() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let spans = ChildSpans::default();
        spans.spans.lock().unwrap().extend([
            (at(0), at(10), 100),
            (at(5), at(20), 50),  // overlaps the first: 150
            (at(20), at(30), 70), // starts as the second ends: 70, not 120
            (at(40), at(50), 10),
        ]);
        assert_eq!(spans.concurrent_peak_kib(), 150);
        assert_eq!(ChildSpans::default().concurrent_peak_kib(), 0);
    }

    #[test]
    fn threads_are_counted() {
        assert!(threads_now().unwrap() >= 1);
        let threads = ThreadSampler::start().stop();
        assert!(threads.os_threads >= 1 && threads.processes >= 1);
    }

    #[test]
    fn gone_process_has_no_peak() {
        assert_eq!(peak_rss_kib_of(u32::MAX), None);
    }
}
