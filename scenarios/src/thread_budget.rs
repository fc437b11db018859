//! How many threads one process may still start, counted before starting them.
//!
//! The threading chat server, the multiprocessing chat server's parent and `threading spawn`
//! start threads by the thousand. What stops them is not memory but memory maps: every Rust
//! thread takes [`MAPS_PER_THREAD`] of them and `vm.max_map_count` bounds one process. A
//! [`ThreadBudget`] counts threads against that limit so a program can turn work away cleanly
//! before the kernel refuses (see [`ThreadBudget`] for why waiting for the refusal is too late).
//!
//! Nothing to run on its own: `cargo run --release -p threading -- spawn --count 16000` shows
//! the budget stopping a run at the limit.

/// Memory maps each thread of Rust's std costs: its stack and the guard page below it, plus
/// the small signal stack std gives every thread (to report a stack overflow) and that stack's
/// guard page. Measured: 1,000 threads add 4,030 lines to `/proc/self/maps`.
pub const MAPS_PER_THREAD: usize = 4;
/// Maps kept free for everything else: the stacks glibc caches after threads exit (40 MiB of
/// them, about 600 at 64 KiB, two maps each), malloc's arenas, the program itself.
const RESERVE_MAPS: usize = 2048;

/// Lines in `/proc/self/maps`: the memory maps this process has now.
pub fn own_maps() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count())
}

/// `vm.max_map_count`: the most memory maps one process may have (65530 unless raised).
pub fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(65_530)
}

/// How many more threads this process may start before it runs out of memory maps.
///
/// Why count at all: past `vm.max_map_count`, starting a thread fails (that alone would be a
/// clean error), but a thread that has just started and is still setting up its signal stack
/// can fail too, and std cannot report that: it aborts the whole process. So everything here
/// that starts threads by the thousand takes them from this budget first and stops cleanly
/// before the kernel's limit. At the default limit that is about 15,800 threads per process.
#[derive(Debug)]
pub struct ThreadBudget {
    left: std::sync::atomic::AtomicUsize,
    total: usize,
}

impl ThreadBudget {
    /// The budget of this process as it is now.
    pub fn of_this_process() -> Self {
        let total = max_map_count().saturating_sub(own_maps() + RESERVE_MAPS) / MAPS_PER_THREAD;
        Self {
            left: total.into(),
            total,
        }
    }

    /// Take `n` threads from the budget; false (taking nothing) if fewer are left.
    pub fn try_take(&self, n: usize) -> bool {
        use std::sync::atomic::Ordering;
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(n)
            })
            .is_ok()
    }

    /// Give back `n` threads that have ended.
    pub fn give_back(&self, n: usize) {
        self.left.fetch_add(n, std::sync::atomic::Ordering::AcqRel);
    }

    /// How many threads the budget held to begin with.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Why a thread was refused, for error messages.
    pub fn exhausted(&self) -> String {
        format!(
            "this process may start about {} threads: each takes {MAPS_PER_THREAD} memory maps \
             and vm.max_map_count is {}",
            self.total,
            max_map_count()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_gives_and_takes() {
        let b = ThreadBudget::of_this_process();
        assert!(b.total() > 1000, "{b:?}");
        assert!(b.try_take(b.total() - 1));
        assert!(!b.try_take(2));
        assert!(b.try_take(1));
        b.give_back(3);
        assert!(b.try_take(3));
        assert!(b.exhausted().contains("max_map_count"));
    }
}
