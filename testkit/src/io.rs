//! A server for `downloads` and `requests`, started in this process on 127.0.0.1:0, with what
//! a correct client must report against it: the digests come from the server's own content
//! functions, and the faults a run meets (and so its retries and failures) from [`fault_for`],
//! which is pure. [`Bench`] starts the server and runs the binary against it; the checks are in
//! each crate's `tests/io.rs`.

use crate::run::{Output, run, run_with_limit};
use decision_table::server::{self, FaultKind, HttpServer, ServeArgs, Served, fault_for};
use scenarios::Summary;
use scenarios::fetch::{Fetched, finish};
use std::time::Duration;
use tempfile::TempDir;

/// A small server for tests: `files` files of `size` bytes, no latency, no faults.
pub fn small(files: usize, size: u64) -> ServeArgs {
    ServeArgs {
        port: 0,
        files,
        size,
        stall_ms: 10_000,
        ..ServeArgs::default()
    }
}

/// The digest a downloads run against a server with these knobs must print.
pub fn downloads_reference(args: &ServeArgs) -> String {
    let outcomes: Vec<_> = server::manifest(args)
        .files
        .into_iter()
        .map(|f| Fetched {
            attempts: 1,
            result: Ok(f.sha256),
        })
        .collect();
    finish::downloads_digest(&outcomes)
}

/// The digest a requests run of `count` items against a server with this seed must print.
pub fn requests_reference(seed: u64, count: usize) -> String {
    let outcomes: Vec<_> = (0..count as u64)
        .map(|i| Fetched {
            attempts: 1,
            result: Ok(server::item(seed, i).value),
        })
        .collect();
    finish::requests_digest(&outcomes)
}

/// What a run with `retries` retries per request must meet against a fresh server with these
/// knobs, worked out from the pure fault function.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Indices of the paths that fail every attempt.
    pub failed: Vec<usize>,
    /// Attempts after the first, over all paths.
    pub retries: u64,
    /// Faults served, per kind.
    pub faults: Vec<(FaultKind, u64)>,
}

/// The [`Plan`] for a client with `retries` retries over `paths`.
pub fn plan(args: &ServeArgs, paths: &[String], retries: u32) -> Plan {
    let mut failed = Vec::new();
    let mut used = 0u64;
    let mut faults: Vec<(FaultKind, u64)> = FaultKind::ALL.iter().map(|&k| (k, 0)).collect();
    for (i, path) in paths.iter().enumerate() {
        let mut ok = false;
        for attempt in 0..=u64::from(retries) {
            match fault_for(args.seed, path, attempt, args.fault_rate, args.fault_kind) {
                None => {
                    used += attempt;
                    ok = true;
                    break;
                }
                Some(kind) => {
                    faults
                        .iter_mut()
                        .find(|(k, _)| *k == kind)
                        .expect("every kind")
                        .1 += 1
                }
            }
        }
        if !ok {
            used += u64::from(retries);
            failed.push(i);
        }
    }
    Plan {
        failed,
        retries: used,
        faults,
    }
}

/// The first seed from 1 up whose plan satisfies `want`: tests pick their scenario ("some
/// retries, no failure") instead of hard-coding a seed that happens to give it.
pub fn seed_where(
    mut args: ServeArgs,
    paths: &[String],
    retries: u32,
    want: impl Fn(&Plan) -> bool,
) -> (ServeArgs, Plan) {
    for seed in 1..10_000 {
        args.seed = seed;
        let p = plan(&args, paths, retries);
        if want(&p) {
            return (args, p);
        }
    }
    panic!("no seed below 10000 gives the plan wanted");
}

/// The paths of the first `n` files, as the fault plan sees them.
pub fn file_paths(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/files/{i}")).collect()
}

/// The paths of the first `n` items, as the fault plan sees them.
pub fn item_paths(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/api/items/{i}")).collect()
}

/// The retries a run reports (`retries`).
pub fn retries(s: &Summary) -> u64 {
    s.extra["retries"].as_u64().expect("a retries field")
}

/// The files a downloads run reports as failed (`failed_files`).
pub fn failed_files(s: &Summary) -> Vec<String> {
    s.extra["failed_files"]
        .as_array()
        .expect("a failed_files list")
        .iter()
        .map(|f| f.as_str().expect("a file name").to_string())
        .collect()
}

/// What a run spent on its requests in flight: (`os_threads`, `processes`).
pub fn threads_and_processes(s: &Summary) -> (u64, u64) {
    (
        s.extra["os_threads"].as_u64().expect("os_threads"),
        s.extra["processes"].as_u64().expect("processes"),
    )
}

/// Every name in `dir`, sorted.
pub fn names_in(dir: &TempDir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("readable")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// A server started for one check, what a client must meet there, and a fresh directory for
/// `--out`. Dropping it stops the server and removes the directory.
pub struct Bench {
    pub server: HttpServer,
    pub args: ServeArgs,
    /// What a client with the bench's retries meets (nothing on a server without faults).
    pub plan: Plan,
    /// `Some(retries)` on a server with faults: every run gets [`quick`] flags.
    retries: Option<u32>,
    pub out: TempDir,
}

/// A finished `downloads` or `requests` run: what it printed, and the names left in `--out`.
#[derive(Debug)]
pub struct Ran {
    pub output: Output,
    /// Every name in the bench's `--out` after the run, sorted.
    pub files: Vec<String>,
}

impl Ran {
    /// The run's JSON summary (every run is made with `--json`, successful or not).
    pub fn summary(&self) -> Summary {
        crate::run::parse_summary(&self.output.stdout)
    }
}

impl Bench {
    /// A server with these knobs; runs get `--url` (and `--out`) and the caller's flags.
    pub fn start(args: ServeArgs) -> Bench {
        Self::serve(args, Plan::default(), None)
    }

    /// A server with the first seed from 1 up whose fault plan, for a client with `retries`
    /// retries over `paths`, satisfies `want`: a check picks its scenario ("some retries, no
    /// failure") instead of hard-coding a seed that happens to give it. Runs also get
    /// [`quick`] flags with those retries.
    pub fn with_faults(
        base: ServeArgs,
        paths: &[String],
        retries: u32,
        want: impl Fn(&Plan) -> bool,
    ) -> Bench {
        let (args, plan) = seed_where(base, paths, retries, want);
        Self::serve(args, plan, Some(retries))
    }

    fn serve(args: ServeArgs, plan: Plan, retries: Option<u32>) -> Bench {
        Bench {
            server: server::start(&args).expect("a server"),
            args,
            plan,
            retries,
            out: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// The server's counters.
    pub fn served(&self) -> &Served {
        self.server.served()
    }

    /// The digest a downloads run against this server must print.
    pub fn downloads_reference(&self) -> String {
        downloads_reference(&self.args)
    }

    /// The digest a requests run of `count` items against this server must print.
    pub fn requests_reference(&self, count: usize) -> String {
        requests_reference(self.args.seed, count)
    }

    /// `exe downloads --url <server> --out <dir> [quick flags] <flags> --json`.
    pub fn downloads(&self, exe: &str, flags: &[&str]) -> Ran {
        let out = self.out.path().to_str().expect("a UTF-8 temporary path");
        self.run(exe, &["downloads", "--out", out], flags)
    }

    /// `exe requests --url <server> [quick flags] <flags> --json`.
    pub fn requests(&self, exe: &str, flags: &[&str]) -> Ran {
        self.run(exe, &["requests"], flags)
    }

    fn run(&self, exe: &str, scenario: &[&str], flags: &[&str]) -> Ran {
        let mut all: Vec<String> = scenario.iter().map(|s| s.to_string()).collect();
        all.extend(["--url".to_string(), self.server.url()]);
        if let Some(retries) = self.retries {
            all.extend(quick(retries));
        }
        all.extend(flags.iter().map(|s| s.to_string()));
        all.push("--json".into());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let output = run(exe, &all);
        Ran {
            output,
            files: names_in(&self.out),
        }
    }
}

/// Flags for a client that gives up on a stalled attempt quickly and waits little between
/// attempts, so fault checks stay fast.
pub fn quick(retries: u32) -> Vec<String> {
    let retries = retries.to_string();
    [
        "--retries",
        &retries,
        "--timeout-ms",
        "400",
        "--backoff-ms",
        "10",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A URL where nothing listens: a port that was just free.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("an address");
    drop(listener);
    format!("http://{addr}")
}

/// Both scenarios run against a URL where nothing listens.
#[derive(Debug)]
pub struct DeadServer {
    pub url: String,
    /// `downloads --url <url> --out <dir>`, with a 20 s limit.
    pub downloads: Output,
    /// `requests --url <url>`, with a 20 s limit.
    pub requests: Output,
    /// Every name left in the downloads run's `--out`.
    pub files: Vec<String>,
}

/// Run `downloads` and `requests` against [`dead_url`].
pub fn against_a_dead_server(exe: &str) -> DeadServer {
    let url = dead_url();
    let out = tempfile::tempdir().expect("a temporary directory");
    let out_s = out.path().to_str().expect("a UTF-8 temporary path");
    let limit = Duration::from_secs(20);
    let downloads = run_with_limit(exe, &["downloads", "--url", &url, "--out", out_s], limit);
    let requests = run_with_limit(exe, &["requests", "--url", &url], limit);
    DeadServer {
        files: names_in(&out),
        url,
        downloads,
        requests,
    }
}
