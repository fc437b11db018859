//! An EMULATION of CPython's Global Interpreter Lock, for measurement only. Rust has no GIL:
//! Rust threads run on every core at once, and nothing in this workspace needs this lock. It
//! exists so the reader can see, on the same code and the same machine, what the GIL costs
//! CPU-bound Python threads.
//!
//! `threading matrix --gil` and `threading images --gil` turn it on ([`enable`]); from then on
//! the computing part of each unit of work (one block of matrix rows; decoding, filtering and
//! encoding one image) holds one process-wide lock while it runs ([`hold`]). The library's
//! scenario code calls [`hold`] in every model, and it costs nothing while the emulation is off,
//! so `threading --gil` runs exactly the code every other model runs, behind the lock: threads,
//! but no speedup, which is the GIL's effect on pure-Python CPU-bound code.
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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// One lock that a thread must hold to compute.
#[derive(Debug, Default)]
pub struct Gil {
    lock: Mutex<()>,
}

impl Gil {
    pub const fn new() -> Gil {
        Gil {
            lock: Mutex::new(()),
        }
    }

    /// Run `work` holding the lock.
    pub fn hold<T>(&self, work: impl FnOnce() -> T) -> T {
        // A panic while holding the lock poisons it; the lock guards no data, so carry on.
        let _held = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        work()
    }
}

/// The process's emulated GIL, and whether it is on.
static GIL: Gil = Gil::new();
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turn the emulation on for the rest of this process (`threading --gil`).
pub fn enable() {
    ENABLED.store(true, Ordering::SeqCst);
}

/// Is the emulation on?
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Run CPU-bound `work`: behind the emulated GIL when it is on, freely otherwise.
pub fn hold<T>(work: impl FnOnce() -> T) -> T {
    if enabled() { GIL.hold(work) } else { work() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[test]
    fn with_the_lock_never_two_at_once() {
        let gil = Gil::new();
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
    }

    #[test]
    fn while_it_is_off_threads_overlap() {
        // The process-wide emulation is never turned on in this test binary.
        let (inside, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let barrier = std::sync::Barrier::new(3);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    hold(|| {
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
