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
//! - Memory: this process's own peak (`VmHWM` in `/proc/self/status`), plus, for a run with
//!   child processes, the most memory its children held at the same time, measured as their
//!   PSS (proportional set size) summed, sampled from `/proc/PID/smaps_rollup` while they live
//!   ([`watch_children`]). PSS, not RSS: every child maps the same binary and libraries, and RSS
//!   counts each of those shared pages once per child, so summed RSS overstates a pool of
//!   small children many times over (a process-per-client chat server at 1,000 clients: about
//!   4 GiB of summed RSS, 400 MiB of PSS); PSS charges each shared page to the processes that
//!   share it, split between them. The summed RSS is reported beside it (`children_rss_kib`).
//!   `ru_maxrss` is not used: Linux carries it across `exec`, so a program started by `cargo
//!   run` would report cargo's 200 MiB, and `RUSAGE_CHILDREN` only gives the largest single
//!   child, hiding most of a pool.

use nix::sys::resource::{Usage, UsageWho, getrusage};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static CHILDREN_PEAK_THREADS: AtomicU64 = AtomicU64::new(0);
static CHILDREN: AtomicU64 = AtomicU64::new(0);
static PEAK_THREADS: AtomicU64 = AtomicU64::new(0);

/// What a process (and its reaped children) used so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ResourceUse {
    pub user_s: f64,
    pub sys_s: f64,
    /// This process's peak RSS plus its children's peak summed PSS.
    pub max_rss_kib: u64,
    /// The children's memory, if this process has had any.
    pub children: Option<ChildMemory>,
}

/// The most memory this process's children held at the same time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ChildMemory {
    /// The peak over the samples of their PSS summed.
    pub pss_kib: u64,
    /// The peak over the samples of their RSS summed (counts shared pages once per child).
    pub rss_kib: u64,
}

/// The children's summed memory, sampled while they live.
struct Sampled {
    peak: std::sync::Mutex<ChildMemory>,
}

static SAMPLED: std::sync::OnceLock<Sampled> = std::sync::OnceLock::new();

/// Start sampling the memory of this process's children (a no-op after the first call). Code
/// that starts child processes calls it first. A thread reads every live child's
/// `smaps_rollup` and keeps the largest sums; it spends at most about 5% of a core on it,
/// waiting 20 times as long as a sample took (at least 10 ms) between samples, so a thousand
/// children are sampled about twice a second and a handful every 10 ms.
pub fn watch_children() {
    SAMPLED.get_or_init(|| {
        let started = std::thread::Builder::new()
            .name("child-memory".into())
            .stack_size(64 * 1024)
            .spawn(|| {
                loop {
                    let began = Instant::now();
                    sample_children();
                    std::thread::sleep((began.elapsed() * 20).max(Duration::from_millis(10)));
                }
            });
        // Without the thread the children are still sampled when a run finishes.
        drop(started);
        Sampled {
            peak: std::sync::Mutex::new(ChildMemory::default()),
        }
    });
}

/// One sample: the PSS and RSS of every live child of every thread of this process, summed.
fn sample_children() -> ChildMemory {
    let mut now = ChildMemory::default();
    for pid in own_children() {
        if let Some((pss, rss)) = rollup_kib(pid) {
            now.pss_kib += pss;
            now.rss_kib += rss;
        }
    }
    if let Some(sampled) = SAMPLED.get() {
        let mut peak = sampled.peak.lock().unwrap_or_else(|e| e.into_inner());
        peak.pss_kib = peak.pss_kib.max(now.pss_kib);
        peak.rss_kib = peak.rss_kib.max(now.rss_kib);
    }
    now
}

/// The pids of this process's children: `/proc/self/task/<tid>/children` lists the children of
/// one thread, and a pool's driver threads each start their own.
pub fn own_children() -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// `Pss` and `Rss` of a live process, in KiB, from `/proc/PID/smaps_rollup`.
pub fn rollup_kib(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("Pss:")?, field("Rss:")?))
}

/// The children's memory so far (with one last sample), if any child was ever watched.
pub fn children_memory() -> Option<ChildMemory> {
    let sampled = SAMPLED.get()?;
    sample_children();
    Some(*sampled.peak.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Record a child process that has ended, and the most threads it had.
pub fn add_child_threads(threads: u64) {
    CHILDREN.fetch_add(1, Ordering::Relaxed);
    CHILDREN_PEAK_THREADS.fetch_add(threads, Ordering::Relaxed);
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
    let children = children_memory();
    let (mu, ms) = secs(&me);
    let (ku, ks) = secs(&kids);
    ResourceUse {
        user_s: mu + ku,
        sys_s: ms + ks,
        max_rss_kib: own_peak_rss_kib() + children.map_or(0, |c| c.pss_kib),
        children,
    }
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
    fn childrens_memory_is_their_pss_summed_and_less_than_their_rss_summed() {
        let mut kids: Vec<_> = (0..3)
            .map(|_| {
                std::process::Command::new("sleep")
                    .arg("5")
                    .spawn()
                    .unwrap()
            })
            .collect();
        watch_children();
        // Wait until the three have exec'd `sleep` (their memory is then its, not ours).
        let pids: Vec<u32> = kids.iter().map(|k| k.id()).collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pids.iter().all(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep")
        }) {
            assert!(Instant::now() < deadline, "the children never ran sleep");
            std::thread::sleep(Duration::from_millis(5));
        }
        // And until they have loaded their libraries and gone to sleep: memory then holds still.
        while !pids.iter().all(|p| {
            std::fs::read_to_string(format!("/proc/{p}/wchan")).is_ok_and(|w| w.contains("sleep"))
        }) {
            assert!(
                Instant::now() < deadline,
                "the children never went to sleep"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let sampled = sample_children();
        // The same sum done by hand, child by child.
        let by_hand: (u64, u64) = pids
            .iter()
            .filter_map(|&p| rollup_kib(p))
            .fold((0, 0), |(p, r), (pss, rss)| (p + pss, r + rss));
        for kid in &mut kids {
            let _ = kid.kill();
            let _ = kid.wait();
        }
        let close = |a: u64, b: u64| a.abs_diff(b) <= b / 10 + 16;
        assert!(
            close(sampled.pss_kib, by_hand.0),
            "{sampled:?} vs {by_hand:?}"
        );
        assert!(
            close(sampled.rss_kib, by_hand.1),
            "{sampled:?} vs {by_hand:?}"
        );
        assert!(
            sampled.pss_kib > 0 && sampled.pss_kib < sampled.rss_kib,
            "{sampled:?}"
        );
        let memory = children_memory().unwrap();
        assert!(
            memory.pss_kib >= sampled.pss_kib,
            "the peak is kept: {memory:?}"
        );
    }

    #[test]
    fn a_gone_process_has_no_memory() {
        assert_eq!(rollup_kib(u32::MAX), None);
    }
}
