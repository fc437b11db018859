//! The engine both sides talk to: Redis, and the keys a run lives in. The driver (`pool.rs`)
//! and the workers (`worker.rs`) share this file, so the layout of a run is written down once.
//!
//! One queue (`--queue`, `rust` by default; the Python twin uses `python`) is one stream and one
//! consumer group, shared by every run and every host, the way a Celery or RQ queue is:
//!
//! | key | type | what |
//! | --- | --- | --- |
//! | `dt:Q:tasks` | stream, group `workers` | one entry per task: `run`, `task` (its index), `item` |
//! | `dt:Q:alive:NAME` | string, 3 s TTL | a worker process's heartbeat |
//! | `dt:Q:run:R` | hash | the run's job: `job` (its `NAME`), `settings`, `max_attempts` |
//! | `dt:Q:run:R:shared` | string | what every task of the run shares (B), fetched once per worker |
//! | `dt:Q:run:R:in:I` | string | task I's input bytes, deleted when its result is stored |
//! | `dt:Q:run:R:results` | hash | task I's result, stored once (`HSETNX`) |
//! | `dt:Q:run:R:done` | stream | one entry per stored result: the driver's notice |
//! | `dt:Q:run:R:stats` | hash | what the workers measured that a result cannot carry |
//!
//! A worker takes an entry (`XREADGROUP`), fetches the input, computes, and then [`STORE`]s the
//! result: one Lua script, so "stored, announced, acknowledged" happens all at once or not at
//! all. An entry whose worker died stays pending in the group and another worker claims it
//! (`XAUTOCLAIM`); a worker that did the same task twice finds the result already stored, and
//! only the first one counts. Every run key expires after [`RUN_TTL_S`] in case a driver dies
//! before it cleans up.

use anyhow::{Context, Result, bail};
use clap::Args;
use redis::{Client, Connection, RedisError};
use std::time::{Duration, Instant};

/// The consumer group every worker of a queue belongs to.
pub const GROUP: &str = "workers";
/// How long a run's keys outlive a driver that died without deleting them.
pub const RUN_TTL_S: u64 = 3600;
/// How long a worker's heartbeat lasts: it is renewed every half second.
pub const ALIVE_MS: u64 = 3000;
/// The largest value the engine accepts (Redis's `proto-max-bulk-len`, set by whoever starts
/// it, 512 MiB by default): a peer cannot make us read more than that in one reply.
pub const MAX_VALUE_BYTES: usize = 512 << 20;

/// Where the engine is: the flags the driver and the worker share.
#[derive(Args, Debug, Clone)]
pub struct BrokerArgs {
    /// The Redis server every host talks to (redis://HOST:PORT)
    #[arg(long, default_value = "redis://127.0.0.1:6379", value_name = "URL")]
    pub broker: String,
    /// The queue: one stream and consumer group; drivers and workers of one queue work together
    #[arg(long, default_value = "rust", value_parser = queue_name)]
    pub queue: String,
}

fn queue_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{s}' is not a queue name: use 1 to 64 letters, digits, '-' or '_'"
        ))
    }
}

/// The names of a queue's keys.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(queue: &str) -> Keys {
        Keys {
            prefix: format!("dt:{queue}"),
        }
    }

    pub fn tasks(&self) -> String {
        format!("{}:tasks", self.prefix)
    }

    pub fn alive(&self, worker: &str) -> String {
        format!("{}:alive:{worker}", self.prefix)
    }

    pub fn alive_pattern(&self) -> String {
        format!("{}:alive:*", self.prefix)
    }

    pub fn run(&self, run: &str) -> RunKeys {
        RunKeys {
            base: format!("{}:run:{run}", self.prefix),
        }
    }
}

/// The keys of one run.
#[derive(Clone, Debug)]
pub struct RunKeys {
    base: String,
}

impl RunKeys {
    pub fn spec(&self) -> String {
        self.base.clone()
    }
    pub fn shared(&self) -> String {
        format!("{}:shared", self.base)
    }
    pub fn input(&self, task: u64) -> String {
        format!("{}:in:{task}", self.base)
    }
    pub fn results(&self) -> String {
        format!("{}:results", self.base)
    }
    pub fn done(&self) -> String {
        format!("{}:done", self.base)
    }
    pub fn stats(&self) -> String {
        format!("{}:stats", self.base)
    }
    /// Every key but the inputs (which are deleted one by one as their results are stored).
    pub fn all(&self) -> [String; 5] {
        [
            self.spec(),
            self.shared(),
            self.results(),
            self.done(),
            self.stats(),
        ]
    }
}

/// Store a result once, announce it, acknowledge and drop the task entry: atomically, so a
/// worker that dies half-way leaves either nothing (the task is claimed again) or everything.
/// A result for a run whose driver has finished (its spec is gone) is dropped. Returns 1 when
/// this call stored the result, 0 when another worker had already, -1 when the run is gone.
pub const STORE: &str = r"
-- KEYS: spec, results, done, input, tasks. ARGV: task, result, group, entry id.
local stored = -1
if redis.call('EXISTS', KEYS[1]) == 1 then
  stored = redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
  if stored == 1 then
    redis.call('XADD', KEYS[3], '*', 'task', ARGV[1])
  end
end
redis.call('DEL', KEYS[4])
redis.call('XACK', KEYS[5], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[5], ARGV[4])
return stored
";

/// Open a connection, with every wait bounded: 5 s to connect, `io` for any one reply.
pub fn connect(url: &str, io: Duration) -> Result<Connection> {
    let client = Client::open(url).with_context(|| format!("--broker {url} is not a Redis URL"))?;
    let con = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .with_context(|| {
            format!(
                "cannot reach the broker at {url} (start one with `redis-server --port PORT --save '' --appendonly no`)"
            )
        })?;
    con.set_read_timeout(Some(io))?;
    con.set_write_timeout(Some(io))?;
    Ok(con)
}

/// Connect, retrying for up to `within`: a worker outlives a broker that restarts.
pub fn connect_patiently(url: &str, io: Duration, within: Duration) -> Result<Connection> {
    let started = Instant::now();
    loop {
        match connect(url, io) {
            Ok(con) => return Ok(con),
            Err(e) if started.elapsed() >= within => {
                return Err(e.context(format!("gave up after {} s", within.as_secs())));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// Make the queue's stream and group if they are not there (a fresh broker, or one that was
/// restarted with persistence off and lost them).
pub fn ensure_group(con: &mut Connection, keys: &Keys) -> Result<()> {
    let made: Result<(), RedisError> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(keys.tasks())
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query(con);
    match made {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        Err(e) => Err(e).context("cannot create the consumer group"),
    }
}

/// How many worker processes of the queue have a live heartbeat.
pub fn alive_workers(con: &mut Connection, keys: &Keys) -> Result<usize> {
    let mut cursor: u64 = 0;
    let mut count = 0;
    // SCAN visits a key at most a bounded number of extra times per pass; heartbeats are few.
    loop {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(keys.alive_pattern())
            .arg("COUNT")
            .arg(1000)
            .query(con)?;
        count += found.len();
        if next == 0 {
            return Ok(count);
        }
        cursor = next;
    }
}

/// Refuse a value larger than [`MAX_VALUE_BYTES`] before it is sent.
pub fn check_size(what: &str, len: usize) -> Result<()> {
    if len > MAX_VALUE_BYTES {
        bail!(
            "{what} is {len} bytes, over the {} MiB one Redis value may hold",
            MAX_VALUE_BYTES >> 20
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_a_run_share_its_prefix() {
        let k = Keys::new("rust");
        assert_eq!(k.tasks(), "dt:rust:tasks");
        let r = k.run("42");
        assert_eq!(r.input(7), "dt:rust:run:42:in:7");
        assert!(r.all().iter().all(|key| key.starts_with("dt:rust:run:42")));
    }

    #[test]
    fn queue_names_are_checked() {
        assert!(queue_name("python").is_ok());
        assert!(queue_name("a b").is_err());
        assert!(queue_name("").is_err());
    }
}
