//! What more hosts would buy, computed from what one run measured: the per-task costs the
//! driver and the workers timed, put into the simplest model that keeps the two limits a
//! distributed run meets.
//!
//! With H hosts of k worker processes, N tasks of `compute` seconds each plus `wire` seconds of
//! moving their input and result (on the worker's link), and `driver` seconds of the driver's
//! own work per task (reading inputs, talking to the broker, writing outputs: one process, so
//! it does not shrink with H), a run takes about
//!
//! ```text
//! T(H) = broadcast + max( N (compute + wire) / (H k),  N driver )
//! ```
//!
//! where `broadcast` is one worker's fetch of what every task shares (B; all workers fetch it
//! at once, on their own links). The first term falls as hosts are added; the second does not,
//! so past `(compute + wire) / (k driver)` hosts the driver is the bottleneck and more hosts buy
//! nothing. The model leaves out what one run on one machine cannot measure: the broker's own
//! network card and CPU saturating (see docs/distributed.md for redis-benchmark's figure) and
//! stragglers.

use serde_json::{Map, Value};

/// The hosts the projection is given for.
pub const HOSTS: [usize; 5] = [1, 2, 4, 10, 100];

/// Per-task costs of one measured run.
#[derive(Clone, Debug, PartialEq)]
pub struct Costs {
    pub tasks: usize,
    pub compute_s: f64,
    pub wire_s: f64,
    pub driver_s: f64,
    pub broadcast_s: f64,
    /// Worker processes per host.
    pub per_host: f64,
}

impl Costs {
    /// The projected wall time on `hosts` hosts.
    pub fn wall_s(&self, hosts: usize) -> f64 {
        let n = self.tasks as f64;
        let parallel = n * (self.compute_s + self.wire_s) / (hosts as f64 * self.per_host);
        self.broadcast_s + parallel.max(n * self.driver_s)
    }

    /// Past this many hosts, the driver's own work per task is the limit (none measured: no
    /// limit known).
    pub fn driver_bound_hosts(&self) -> Option<f64> {
        (self.driver_s > 0.0).then(|| {
            let h = (self.compute_s + self.wire_s) / (self.per_host * self.driver_s);
            (h * 10.0).round() / 10.0
        })
    }

    /// `{"1": s, "2": s, ...}`: the projected wall time per host count, in seconds.
    pub fn projection(&self) -> Value {
        let mut m = Map::new();
        for h in HOSTS {
            let s = (self.wall_s(h) * 1e4).round() / 1e4;
            m.insert(h.to_string(), s.into());
        }
        Value::Object(m)
    }

    /// One line for people: the speedup each host count would give over one host.
    pub fn explain(&self) -> String {
        let one = self.wall_s(1);
        let each: Vec<String> = HOSTS[1..]
            .iter()
            .map(|&h| format!("{h} hosts {:.2}x", one / self.wall_s(h)))
            .collect();
        format!(
            "projected from these costs ({:.0} worker processes per host): {}; the driver is the limit past {} hosts",
            self.per_host,
            each.join(", "),
            self.driver_bound_hosts()
                .map_or("no measured number of".into(), |h| h.to_string())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn costs(driver_s: f64) -> Costs {
        Costs {
            tasks: 100,
            compute_s: 0.1,
            wire_s: 0.02,
            driver_s,
            broadcast_s: 0.0,
            per_host: 2.0,
        }
    }

    #[test]
    fn hosts_help_until_the_driver_is_the_limit() {
        let c = costs(0.006);
        // 100 tasks x 0.12 s over 2 processes: 6 s on one host, 3 s on two.
        assert!((c.wall_s(1) - 6.0).abs() < 1e-9);
        assert!((c.wall_s(2) - 3.0).abs() < 1e-9);
        // 0.12 / (2 x 0.006) = 10 hosts; past that, 100 x 0.006 = 0.6 s whatever is added.
        assert_eq!(c.driver_bound_hosts(), Some(10.0));
        assert!((c.wall_s(100) - 0.6).abs() < 1e-9);
        assert!(c.explain().contains("10 hosts 10.00x"), "{}", c.explain());
    }
}
