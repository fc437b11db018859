//! The process-wide emulated GIL, turned on (`gil::enable`, as `threading --gil` does): in its
//! own test binary, since it stays on for the rest of the process. A nested `hold` does not
//! wait for itself, and a thread that waits gets the lock within a few switch intervals rather
//! than after the holder's whole work.
//!
//! `cargo test -p scenarios --test gil`

use scenarios::gil;
use std::time::{Duration, Instant};

#[test]
fn the_process_wide_lock_switches_at_checkpoints() {
    gil::enable();
    assert!(gil::enabled());
    // Nested: a frame that calls library code holding the lock too.
    assert_eq!(gil::hold(|| gil::hold(|| 7)), 7);
    let holding = std::sync::Barrier::new(2);
    let waited = std::thread::scope(|s| {
        s.spawn(|| {
            gil::hold(|| {
                holding.wait();
                let started = Instant::now();
                while started.elapsed() < Duration::from_millis(300) {
                    std::hint::spin_loop();
                    gil::checkpoint();
                }
            })
        });
        holding.wait();
        let asked = Instant::now();
        gil::hold(|| asked.elapsed())
    });
    assert!(gil::forced_switches() >= 1);
    assert!(
        waited < Duration::from_millis(150),
        "waited {waited:?} for a lock its holder keeps 300 ms, with a 5 ms switch interval"
    );
}
