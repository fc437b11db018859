//! A throw-away Redis for the distributed model's tests: `redis-server` on 127.0.0.1 (and, for
//! tests with namespaced hosts, the hosts' bridge address) on a free port, persistence off,
//! killed and reaped when the [`Broker`] is dropped, whatever the test did. [`Broker::restart`]
//! stops it and starts a fresh one on the same port: with persistence off, everything it held
//! is gone, as after a real crash.
//!
//! It needs Debian's `redis-server` (`.ci/run` installs it); without it a test panics saying so.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Redis server owned by one test.
#[derive(Debug)]
pub struct Broker {
    child: Child,
    port: u16,
    binds: Vec<String>,
    dir: tempfile::TempDir,
}

impl Broker {
    /// A broker on 127.0.0.1 only.
    pub fn start() -> Broker {
        Broker::start_on(&[])
    }

    /// A broker on 127.0.0.1 and on these addresses too (a bridge to namespaced hosts).
    pub fn start_on(extra: &[&str]) -> Broker {
        let port = free_port();
        let mut binds = vec!["127.0.0.1".to_string()];
        binds.extend(extra.iter().map(|s| s.to_string()));
        let dir = tempfile::tempdir().expect("a temporary directory");
        let child = spawn(port, &binds, dir.path());
        let broker = Broker {
            child,
            port,
            binds,
            dir,
        };
        broker.wait_ready();
        broker
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The URL on another of its addresses.
    pub fn url_on(&self, addr: &str) -> String {
        format!("redis://{addr}:{}", self.port)
    }

    /// Kill it and start an empty one on the same port, `down` later.
    pub fn restart(&mut self, down: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down);
        self.child = spawn(self.port, &self.binds, self.dir.path());
        self.wait_ready();
    }

    /// A connection for a test's own looks (pending entries, leftover keys).
    pub fn connection(&self) -> redis::Connection {
        let con = redis::Client::open(self.url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
            .expect("a connection to the test broker");
        con.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a read timeout");
        con
    }

    /// Entries of `queue`'s stream that a worker took and has not acknowledged.
    pub fn pending(&self, queue: &str) -> usize {
        let reply: redis::Value = redis::cmd("XPENDING")
            .arg(format!("dt:{queue}:tasks"))
            .arg("workers")
            .query(&mut self.connection())
            .unwrap_or(redis::Value::Nil);
        match reply {
            redis::Value::Array(v) => match v.first() {
                Some(redis::Value::Int(n)) => *n as usize,
                _ => 0,
            },
            _ => 0,
        }
    }

    /// Keys whose name starts with `prefix`: what a run left behind.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query(&mut self.connection())
            .unwrap_or_default()
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            let ping = redis::Client::open(self.url())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if ping.is_ok() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server on port {} did not answer within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(port: u16, binds: &[String], dir: &std::path::Path) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", &binds.join(" ")])
        // Persistence off: a restart loses everything, the case the tests are about.
        .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start redis-server ({e}): install it with `apt-get install redis-server`"
            )
        })
}

/// A port nothing listens on now (the small race with another process is accepted).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A process a test started (a host's `distributed worker`): killed and reaped when dropped.
#[derive(Debug)]
pub struct Spawned(pub Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Broker {
    /// Start `exe worker --broker URL ARGS...` on this machine (stdout discarded).
    pub fn worker(&self, exe: &str, args: &[&str]) -> Spawned {
        Spawned(
            Command::new(exe)
                .args(["worker", "--broker", &self.url()])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {exe} worker: {e}")),
        )
    }

    /// Pending entries of `queue` per consumer (worker process name).
    pub fn pending_by_consumer(&self, queue: &str) -> Vec<(String, usize)> {
        let reply: redis::Value = redis::cmd("XPENDING")
            .arg(format!("dt:{queue}:tasks"))
            .arg("workers")
            .query(&mut self.connection())
            .unwrap_or(redis::Value::Nil);
        let mut out = Vec::new();
        if let redis::Value::Array(v) = reply
            && let Some(redis::Value::Array(consumers)) = v.get(3)
        {
            for c in consumers {
                if let redis::Value::Array(pair) = c
                    && let [name, count] = &pair[..]
                {
                    let name: String = redis::from_redis_value_ref(name).unwrap_or_default();
                    let count: usize = redis::from_redis_value_ref(count).unwrap_or(0);
                    out.push((name, count));
                }
            }
        }
        out
    }
}
