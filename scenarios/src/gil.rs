//! An EMULATION of CPython's Global Interpreter Lock, for measurement only. Rust has no GIL:
//! Rust threads run on every core at once, and nothing in this workspace needs this lock. It
//! exists so the reader can see, on the same code and the same machine, what the GIL costs
//! CPU-bound Python threads, and what it does to a user interface's frame loop.
//!
//! `threading matrix|images|gui --gil` turn it on ([`enable`]); from then on the computing part
//! of each unit of work (one block of matrix rows; decoding, filtering and encoding one image;
//! drawing one frame of the GUI) holds one process-wide lock while it runs ([`hold`]). The
//! library's scenario code calls [`hold`] in every model, and it costs nothing while the
//! emulation is off, so `threading --gil` runs exactly the code every other model runs, behind
//! the lock: threads, but no speedup, which is the GIL's effect on pure-Python CPU-bound code.
//!
//! ## Switching, as CPython 3.2+ does it
//!
//! A thread that wants the lock while another holds it waits one *switch interval*
//! ([`SWITCH_INTERVAL`], 5 ms: Python's `sys.getswitchinterval()`). If in that time nobody else
//! took the lock, it sets a *drop request*. The holder looks for that request at its next
//! checkpoint ([`checkpoint`]; CPython looks between bytecodes), drops the lock, and then waits
//! until another thread has really taken it ("forced switching": without that wait the holder,
//! already running, would take the lock straight back). So a CPU-bound thread hands the lock
//! over about every 5 ms, and a waiting thread (a UI thread that wants to draw) gets it within
//! about one interval plus the time to the holder's next checkpoint.
//!
//! The checkpoints are where this library's CPU code can stop: between the stages of the image
//! pipeline (decode, blur, resize, gray, encode), after each block's kernel and between the row
//! hashes of the matrix scenario, and between frames of the GUI. A stage is one call into the
//! `image` crate and cannot be cut smaller, so the emulation's turns are at least one stage long
//! (a few milliseconds on a small picture, up to about 100 ms on a 1080p one): CPython's
//! bytecode checkpoints are finer. The GUI scenario uses small pictures for that reason.
//!
//! What the emulation keeps and leaves out:
//! - kept: only one thread computes at a time; waiting for the lock costs nothing but time.
//! - kept: the lock is released around file I/O (reading an input image, writing the result),
//!   as CPython releases the real GIL in blocking I/O calls, so I/O can still overlap.
//! - kept: the 5 ms switch interval, drop requests and forced switching.
//! - left out: C extensions such as NumPy and Pillow release the GIL inside their heavy loops,
//!   so Python threads calling them *do* run in parallel. This emulation stands for pure-Python
//!   CPU work, the case the chapter warns about.
//! - left out: the GIL's own overhead (the bytecode interpreter, the condition variable's
//!   wake-ups); the code under the lock here is compiled Rust.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// CPython's default `sys.getswitchinterval()`: how long a waiting thread waits before it asks
/// the holder to hand the lock over.
pub const SWITCH_INTERVAL: Duration = Duration::from_millis(5);

/// The longest a thread that dropped the lock on request waits for another to take it before
/// it competes again. CPython waits without a bound; here every wait is bounded, and a waiter
/// that asked is always about to take it, so this never expires in practice.
const FORCED_SWITCH_BOUND: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
struct State {
    /// Some thread holds the lock.
    held: bool,
    /// How many times the lock was taken (CPython's `switch_number`): a waiter whose interval
    /// ran out with this unchanged knows the holder has not let go since it started waiting.
    taken: u64,
    /// Threads waiting for the lock.
    waiting: usize,
}

/// One lock that a thread must hold to compute, handed over every switch interval.
#[derive(Debug)]
pub struct Gil {
    state: Mutex<State>,
    /// Signalled whenever the lock is taken or dropped.
    changed: Condvar,
    /// A waiter asks the holder to drop the lock (CPython's `gil_drop_request`); an atomic so
    /// that a checkpoint costs one load when nobody asks.
    drop_request: AtomicBool,
    /// Hand-overs forced by a drop request.
    forced: AtomicU64,
    interval: Duration,
}

impl Default for Gil {
    fn default() -> Gil {
        Gil::new()
    }
}

impl Gil {
    pub const fn new() -> Gil {
        Gil::with_interval(SWITCH_INTERVAL)
    }

    /// A lock with another switch interval (tests).
    pub const fn with_interval(interval: Duration) -> Gil {
        Gil {
            state: Mutex::new(State {
                held: false,
                taken: 0,
                waiting: 0,
            }),
            changed: Condvar::new(),
            drop_request: AtomicBool::new(false),
            forced: AtomicU64::new(0),
            interval,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the state poisons it; the state stays consistent (every
        // change is one assignment), so carry on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Take the lock, waiting for it: after each interval in which nobody took it, ask the
    /// holder to drop it.
    pub fn acquire(&self) {
        let mut s = self.lock();
        if s.held {
            s.waiting += 1;
            while s.held {
                let seen = s.taken;
                let (next, waited) = self
                    .changed
                    .wait_timeout(s, self.interval)
                    .unwrap_or_else(PoisonError::into_inner);
                s = next;
                if waited.timed_out() && s.held && s.taken == seen {
                    self.drop_request.store(true, Ordering::SeqCst);
                }
            }
            s.waiting -= 1;
        }
        s.held = true;
        s.taken += 1;
        // The request was for the previous holder; it is served.
        self.drop_request.store(false, Ordering::SeqCst);
        drop(s);
        // Wake a thread that dropped the lock and waits to see it taken.
        self.changed.notify_all();
    }

    /// Let go of the lock.
    pub fn release(&self) {
        let mut s = self.lock();
        s.held = false;
        drop(s);
        self.changed.notify_all();
    }

    /// Called by the holder where it can stop: if a waiter asked, drop the lock, wait until
    /// another thread has taken it, then take it back (waiting like anyone else). Returns
    /// whether it handed the lock over.
    pub fn checkpoint(&self) -> bool {
        if !self.drop_request.load(Ordering::Relaxed) {
            return false;
        }
        let mut s = self.lock();
        if !self.drop_request.load(Ordering::SeqCst) || s.waiting == 0 {
            // Nobody waits (any more): a stale request.
            self.drop_request.store(false, Ordering::SeqCst);
            return false;
        }
        self.drop_request.store(false, Ordering::SeqCst);
        s.held = false;
        let seen = s.taken;
        self.changed.notify_all();
        // Forced switching: do not race the waiter for the lock it asked for.
        let (next, _) = self
            .changed
            .wait_timeout_while(s, FORCED_SWITCH_BOUND, |s| s.taken == seen && s.waiting > 0)
            .unwrap_or_else(PoisonError::into_inner);
        drop(next);
        self.forced.fetch_add(1, Ordering::Relaxed);
        self.acquire();
        true
    }

    /// Run `work` holding the lock. `work` gets the lock to call [`Gil::checkpoint`] on.
    pub fn hold<T>(&self, work: impl FnOnce(&Gil) -> T) -> T {
        self.acquire();
        // Released even if `work` panics.
        struct Release<'a>(&'a Gil);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.release();
            }
        }
        let _release = Release(self);
        work(self)
    }

    /// How many times a drop request made the holder hand the lock over.
    pub fn forced_switches(&self) -> u64 {
        self.forced.load(Ordering::Relaxed)
    }
}

/// The process's emulated GIL, and whether it is on.
static GIL: Gil = Gil::new();
static ENABLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// How deep this thread is inside [`hold`] of the process's GIL: a nested `hold` (a frame
    /// that calls library code which holds it too) must not wait for itself.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

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
    if !enabled() {
        return work();
    }
    let outer = DEPTH.with(|d| {
        let depth = d.get();
        d.set(depth + 1);
        depth == 0
    });
    struct Leave(bool);
    impl Drop for Leave {
        fn drop(&mut self) {
            DEPTH.with(|d| d.set(d.get() - 1));
            if self.0 {
                GIL.release();
            }
        }
    }
    if outer {
        GIL.acquire();
    }
    let _leave = Leave(outer);
    work()
}

/// A place where CPU-bound library code may hand the emulated GIL over (see the module doc).
/// One atomic load when the emulation is off, or nobody waits.
pub fn checkpoint() {
    if enabled() && DEPTH.with(Cell::get) > 0 {
        GIL.checkpoint();
    }
}

/// How many times the process's GIL was handed over on request so far.
pub fn forced_switches() -> u64 {
    GIL.forced_switches()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    /// CPU-bound work that reaches a checkpoint every `step`, for `total`.
    fn spin_with_checkpoints(gil: &Gil, total: Duration, step: Duration) {
        let started = Instant::now();
        while started.elapsed() < total {
            let slice = Instant::now();
            while slice.elapsed() < step {
                std::hint::spin_loop();
            }
            gil.checkpoint();
        }
    }

    #[test]
    fn with_the_lock_never_two_at_once() {
        let gil = Gil::new();
        let (inside, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..5 {
                        gil.hold(|gil| {
                            for _ in 0..3 {
                                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                                most.fetch_max(now, Ordering::SeqCst);
                                std::thread::sleep(Duration::from_millis(2));
                                inside.fetch_sub(1, Ordering::SeqCst);
                                // Handing over mid-work must not let two threads in at once.
                                gil.checkpoint();
                            }
                        });
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_waiting_thread_gets_the_lock_within_about_one_interval() {
        // The holder computes for 400 ms with a checkpoint every 0.2 ms; without switching the
        // waiter would wait all of it. With switching it waits one interval (5 ms) and the
        // time to the next checkpoint; the bound (16 intervals) leaves room for the scheduler
        // of a machine shared with builds, where a 5 ms timed wait can wake tens of ms late.
        let gil = Gil::new();
        let holding = std::sync::Barrier::new(2);
        let mut waits = Vec::new();
        std::thread::scope(|s| {
            s.spawn(|| {
                gil.hold(|gil| {
                    holding.wait();
                    spin_with_checkpoints(
                        gil,
                        Duration::from_millis(400),
                        Duration::from_micros(200),
                    );
                })
            });
            holding.wait();
            for _ in 0..5 {
                let asked = Instant::now();
                gil.hold(|_| waits.push(asked.elapsed()));
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        waits.sort();
        let median = waits[waits.len() / 2];
        assert!(
            median >= SWITCH_INTERVAL.mul_f64(0.8),
            "the waiter got the lock after {median:?}, before asking for it: {waits:?}"
        );
        assert!(
            median < SWITCH_INTERVAL * 16,
            "the waiter waited {median:?} for the lock (interval {SWITCH_INTERVAL:?}): {waits:?}"
        );
        assert!(gil.forced_switches() >= 4, "{}", gil.forced_switches());
    }

    #[test]
    fn two_busy_threads_take_turns_of_about_one_interval() {
        // Two CPU-bound threads for 300 ms each: every hand-over is forced by the other's
        // request, about one per interval (60 in all on an idle machine), where a lock held
        // per work item gives none. The lower bound allows for a loaded machine, whose
        // scheduler stretches every turn; the upper for one that switches far too often.
        let gil = Gil::new();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    gil.hold(|gil| {
                        spin_with_checkpoints(
                            gil,
                            Duration::from_millis(300),
                            Duration::from_micros(100),
                        )
                    })
                });
            }
        });
        let turns = gil.forced_switches();
        assert!(
            (3..=120).contains(&turns),
            "{turns} hand-overs in 300 ms at a 5 ms interval"
        );
    }

    #[test]
    fn a_holder_nobody_waits_for_keeps_the_lock() {
        let gil = Gil::new();
        gil.hold(|gil| {
            spin_with_checkpoints(gil, Duration::from_millis(30), Duration::from_micros(100))
        });
        assert_eq!(gil.forced_switches(), 0);
    }

    #[test]
    fn while_it_is_off_threads_overlap_and_checkpoints_do_nothing() {
        // The process-wide emulation is never turned on in this test binary.
        let (inside, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let barrier = std::sync::Barrier::new(3);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    hold(|| {
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        checkpoint();
                        // All three are inside at once, or this would wait forever.
                        barrier.wait();
                    });
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 3);
        assert_eq!(forced_switches(), 0);
    }
}
