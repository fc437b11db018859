//! Namespaced hosts for the distributed model's fault tests, through `scripts/hosts.sh` (the
//! harness's own script, so tests and harness make hosts the same way): a bridge, a namespace
//! per host, addresses in a private /24 inside this machine. [`Hosts::make`] says why not when
//! they cannot be made (not root), so a test can say it was skipped; dropping [`Hosts`] tears
//! every host down, the processes started in them included.

use crate::broker::Spawned;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/hosts.sh")
}

/// Hosts made for one test.
#[derive(Debug)]
pub struct Hosts {
    prefix: String,
    /// The machine's address on the hosts' bridge: where they reach the broker.
    pub bridge: String,
}

impl Hosts {
    /// `count` hosts, or why they cannot be made here.
    pub fn make(count: usize) -> Result<Hosts, String> {
        let check = Command::new(script())
            .arg("check")
            .output()
            .map_err(|e| format!("cannot run scripts/hosts.sh: {e}"))?;
        if !check.status.success() {
            return Err(String::from_utf8_lossy(&check.stdout).trim().to_string());
        }
        // Unique per test process and call: tests of one binary run in parallel.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let prefix = format!("t{}{n}", std::process::id() % 10_000);
        let out = Command::new(script())
            .args(["up", &prefix, &count.to_string(), "1ms", "1gbit"])
            .output()
            .map_err(|e| format!("cannot run scripts/hosts.sh: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let bridge = text
            .lines()
            .find_map(|l| l.strip_prefix("BRIDGE_ADDR="))
            .ok_or("hosts.sh up printed no BRIDGE_ADDR")?
            .to_string();
        Ok(Hosts { prefix, bridge })
    }

    /// Start `exe args...` on host `i` (1-based); stderr goes to the test's.
    pub fn spawn(&self, i: usize, exe: &str, args: &[&str]) -> Spawned {
        Spawned(
            Command::new(script())
                .args(["exec", &self.prefix, &i.to_string(), exe])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .expect("hosts.sh exec"),
        )
    }

    /// Tear host `i` down mid-run: its link, then its processes, then the namespace.
    pub fn cut(&self, i: usize) {
        let ok = Command::new(script())
            .args(["cut", &self.prefix, &i.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "hosts.sh cut {} {i} failed", self.prefix);
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let _ = Command::new(script()).args(["down", &self.prefix]).status();
    }
}
