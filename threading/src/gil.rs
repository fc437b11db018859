//! An EMULATION of CPython's Global Interpreter Lock, for measurement only. Rust has no GIL:
//! Rust threads run on every core at once, and nothing in this workspace needs this lock. It
//! exists so the reader can see, on the same code and the same machine, what the GIL costs
//! CPU-bound Python threads.
//!
//! `--gil` makes each unit of work (one block of matrix rows, the computing part of one image)
//! hold one process-wide `std::sync::Mutex<()>` while it runs. Two threads then never compute
//! at the same time, which is the GIL's effect on pure-Python CPU-bound code: threads, but no
//! speedup.
//!
//! What the emulation keeps and leaves out:
//! - kept: only one thread computes at a time; waiting for the lock costs nothing but time.
//! - kept: the lock is released around file I/O (reading an input image, writing the result),
//!   as CPython releases the real GIL in blocking I/O calls, so I/O can still overlap.
//! - left out: CPython makes the running thread drop the GIL every 5 ms
//!   (`sys.getswitchinterval()`) so other threads take turns; here a thread keeps the lock for
//!   its whole unit of work (tens of milliseconds). Total throughput is the same (one core's
//!   worth) but the turns are coarser.
//! - left out: C extensions such as NumPy and Pillow release the GIL inside their heavy loops,
//!   so Python threads calling them *do* run in parallel. This emulation stands for pure-Python
//!   CPU work, the case the chapter warns about.
//! - left out: the GIL's own overhead (the bytecode interpreter, the switching requests); the
//!   code under the lock here is compiled Rust.

use clap::Args;
use std::sync::{Mutex, PoisonError};

/// The one lock every emulated-GIL thread shares.
static GIL: Mutex<()> = Mutex::new(());

/// `--gil`: run the same threads behind the emulated GIL.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct GilArgs {
    /// Emulate CPython's GIL: each unit of work holds one global lock (threads, no speedup)
    #[arg(long)]
    pub gil: bool,
}

impl GilArgs {
    /// The variant name in the summary.
    pub fn variant(&self) -> &'static str {
        if self.gil { "threads+gil" } else { "threads" }
    }

    /// Run one unit of CPU-bound work: holding the emulated GIL with `--gil`, freely without.
    pub fn hold<T>(&self, work: impl FnOnce() -> T) -> T {
        if !self.gil {
            return work();
        }
        // A panic while holding the lock poisons it; the lock guards no data, so carry on.
        let _gil = GIL.lock().unwrap_or_else(PoisonError::into_inner);
        work()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn with_the_gil_never_two_at_once() {
        let gil = GilArgs { gil: true };
        let (inside, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..5 {
                        gil.hold(|| {
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(2));
                            inside.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 1);
        assert_eq!(gil.variant(), "threads+gil");
    }

    #[test]
    fn without_it_threads_overlap() {
        let gil = GilArgs { gil: false };
        let (inside, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let barrier = std::sync::Barrier::new(3);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    gil.hold(|| {
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        // All three are inside at once, or this would wait forever.
                        barrier.wait();
                    });
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
