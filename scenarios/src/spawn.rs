//! `spawn --count N`: start N threads (threading) or N tasks (asyncio) that each sleep, then
//! join them all, and measure what that cost: the time to start them, the time until the last
//! one finished, and the memory each one took. The chapter's threading-vs-asyncio table says
//! threads get heavy after a few hundred while asyncio handles thousands of tasks; this is
//! where that is measured rather than asserted.
//!
//! The flags and the measuring live here, written once; the two crates only start and join.

use crate::thread_budget::own_maps;
use crate::{Run, Summary, say, usage};
use clap::Args;
use std::time::{Duration, Instant};

fn count(s: &str) -> Result<usize, String> {
    crate::cli::bounded(s, 1, 10_000_000).map(|v| v as usize)
}

/// `spawn`: how many, and how long each sleeps.
#[derive(Args, Debug, Clone)]
pub struct SpawnArgs {
    /// How many threads or tasks to start
    #[arg(long, default_value_t = 10_000, value_parser = count, allow_negative_numbers = true)]
    pub count: usize,
    /// How long each one sleeps, in milliseconds
    #[arg(long, default_value_t = 1000, value_parser = crate::cli::millis, allow_negative_numbers = true)]
    pub sleep_ms: u64,
}

impl SpawnArgs {
    pub fn sleep(&self) -> Duration {
        Duration::from_millis(self.sleep_ms)
    }
}

/// Takes the readings of one spawn run.
pub struct Meter {
    unit: &'static str,
    rss_before_kib: u64,
    maps_before: usize,
    maps_alive: usize,
    kernel_stack_before_kib: u64,
    kernel_stack_alive_kib: u64,
    t0: Instant,
    start_s: f64,
    rss_alive_kib: u64,
}

impl Meter {
    /// Call just before starting the first one. `unit` is "thread" or "task".
    pub fn start(unit: &'static str) -> Self {
        Self {
            unit,
            rss_before_kib: usage::own_rss_kib(),
            maps_before: own_maps(),
            maps_alive: 0,
            kernel_stack_before_kib: kernel_stack_kib(),
            kernel_stack_alive_kib: 0,
            t0: Instant::now(),
            start_s: 0.0,
            rss_alive_kib: 0,
        }
    }

    /// Call when every one has been started (they are all asleep now).
    pub fn all_started(&mut self) {
        self.start_s = self.t0.elapsed().as_secs_f64();
        self.rss_alive_kib = usage::own_rss_kib();
        self.maps_alive = own_maps();
        self.kernel_stack_alive_kib = kernel_stack_kib();
    }

    /// Call when every one has been joined. `results` holds what each returned (its own
    /// index), in start order; one that returned something else counts as failed.
    pub fn finish(self, mut run: Run, args: &SpawnArgs, results: &[u64]) -> Summary {
        let finish_s = self.t0.elapsed().as_secs_f64();
        let n = results.len().max(1) as f64;
        let peak = usage::own_peak_rss_kib();
        let per_unit_kib = peak.saturating_sub(self.rss_before_kib) as f64 / n;
        // The kernel's side, which RSS does not show: a kernel stack per thread. Machine-wide,
        // so other programs starting threads meanwhile blur it a little.
        let kernel_per_unit_kib = self
            .kernel_stack_alive_kib
            .saturating_sub(self.kernel_stack_before_kib) as f64
            / n;
        let unit = self.unit;
        say!(
            "started {} {unit}s in {:.3} s; the last finished {:.3} s after the first started \
             ({:.3} s of sleep, {:.3} s more); peak {:.1} MiB, about {:.2} KiB per {unit} \
             (plus {:.1} KiB of kernel stack)",
            results.len(),
            self.start_s,
            finish_s,
            args.sleep_ms as f64 / 1000.0,
            finish_s - args.sleep_ms as f64 / 1000.0,
            peak as f64 / 1024.0,
            per_unit_kib,
            kernel_per_unit_kib
        );
        let failed = results
            .iter()
            .enumerate()
            .filter(|&(i, &r)| r != i as u64)
            .count();
        let mut d = crate::digest::Digest::new();
        for &r in results {
            d.update_u64(r);
        }
        let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
        run.extra("start_s", r3(self.start_s))
            .extra("finish_s", r3(finish_s))
            .extra("sleep_ms", args.sleep_ms)
            .extra("rss_before_kib", self.rss_before_kib)
            .extra("rss_all_alive_kib", self.rss_alive_kib)
            .extra("per_unit_kib", r3(per_unit_kib))
            .extra("kernel_stack_per_unit_kib", r3(kernel_per_unit_kib))
            .extra(
                "maps_per_unit",
                r3(self.maps_alive.saturating_sub(self.maps_before) as f64 / n),
            );
        run.finish(d.finish(), failed)
    }
}

/// `KernelStack` in `/proc/meminfo`: the kernel stacks of every thread on the machine.
fn kernel_stack_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("KernelStack:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

fn proc_value(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn status_field(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_string()))
        })
        .unwrap_or_else(|| "?".into())
}

/// The limits a thread count runs into, and where this process and the machine stand against
/// them right now: for the error message when a thread cannot be started.
pub fn limits_report() -> String {
    use nix::sys::resource::{Resource, getrlimit};
    // /proc/loadavg's fourth field is "running/total" scheduling entities: every thread of
    // every process, the number kernel.pid_max bounds.
    let on_machine = proc_value("/proc/loadavg")
        .split_whitespace()
        .nth(3)
        .and_then(|f| f.split('/').nth(1).map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let maps = std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count().to_string())
        .unwrap_or_else(|_| "?".into());
    let nproc = getrlimit(Resource::RLIMIT_NPROC)
        .map(|(soft, _)| {
            if soft == nix::sys::resource::RLIM_INFINITY {
                "unlimited".to_string()
            } else {
                soft.to_string()
            }
        })
        .unwrap_or_else(|_| "?".into());
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemAvailable:")
                    .map(|v| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| "?".into());
    format!(
        "threads on the machine: {on_machine} (kernel.pid_max {}, kernel.threads-max {}, \
         RLIMIT_NPROC {nproc}); this process: {} threads, {maps} memory maps \
         (vm.max_map_count {}); memory available: {available}",
        proc_value("/proc/sys/kernel/pid_max"),
        proc_value("/proc/sys/kernel/threads-max"),
        status_field("Threads:"),
        proc_value("/proc/sys/vm/max_map_count"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_report_names_every_limit() {
        let r = limits_report();
        for limit in ["pid_max", "threads-max", "max_map_count", "RLIMIT_NPROC"] {
            assert!(r.contains(limit), "{r}");
        }
        assert!(!r.contains("this process: ? threads"), "{r}");
    }

    #[test]
    fn a_wrong_result_counts_as_failed() {
        let args = SpawnArgs {
            count: 3,
            sleep_ms: 0,
        };
        let meter = Meter::start("thread");
        let s = meter.finish(
            Run::start("spawn", crate::Label::new("m", "v", 3), 3),
            &args,
            &[0, 1, 5],
        );
        assert_eq!(s.failed, 1);
        assert!(s.extra.contains_key("per_unit_kib"));
    }
}
