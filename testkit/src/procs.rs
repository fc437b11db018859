//! Processes seen through `/proc`: whether one is still alive, which children it has, which
//! worker processes a run reported, and waiting for them to appear or to be gone.

use scenarios::Summary;
use std::process::Child;
use std::time::{Duration, Instant};

/// Alive means present and not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// The children of every thread of `pid` (a pool's driver threads each start their own
/// worker, and `/proc/<pid>/task/<tid>/children` lists only the children of that thread).
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return vec![];
    };
    threads
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// The worker pids a run reported in its summary (`pids`).
pub fn pids(s: &Summary) -> Vec<u32> {
    s.extra["pids"]
        .as_array()
        .expect("pids")
        .iter()
        .map(|p| p.as_u64().expect("pid") as u32)
        .collect()
}

/// Wait until `child` has `n` children and return them; kill it and fail the test if that
/// does not happen `within` (or the child ends first).
pub fn wait_for_children(child: &mut Child, n: usize, within: Duration) -> Vec<u32> {
    let deadline = Instant::now() + within;
    loop {
        let kids = children_of(child.id());
        if kids.len() == n {
            return kids;
        }
        if Instant::now() > deadline || child.try_wait().expect("try_wait").is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the {n} workers never started (or the run ended first)");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Assert that none of `pids` is alive `within` from now (polling until then).
pub fn assert_all_gone(pids: &[u32], within: Duration) {
    let deadline = Instant::now() + within;
    while pids.iter().any(|&p| alive(p)) {
        assert!(Instant::now() < deadline, "orphaned workers: {pids:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
