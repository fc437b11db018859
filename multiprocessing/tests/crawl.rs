//! The multiprocessing binary's `crawl` against a `decision-table site` started in this test
//! process (`testkit::crawl::SiteBench`; every check is here): the reference digest, politeness
//! by construction (levels sharded by host: never more than C processes on a host), the worker
//! processes reported and gone, and Ctrl-C in the middle leaving no orphans.

use decision_table::site::SiteArgs;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::crawl::{SiteBench, small};
use testkit::procs::{assert_all_gone, children_of, pids};

const EXE: &str = env!("CARGO_BIN_EXE_multiprocessing");

#[test]
fn a_small_site_is_crawled_exactly_as_the_reference_politely_by_construction() {
    let bench = SiteBench::start(SiteArgs {
        latency_ms: 10,
        ..small(150, 3, 2)
    });
    let want = bench.reference(2);
    let ran = bench.crawl(EXE, &["--depth", "2", "--workers", "16", "--per-host", "2"]);
    assert!(ran.output.status.success(), "{}", ran.output.stderr);
    let s = ran.summary();
    assert_eq!(
        (s.digest.as_str(), s.items, s.failed),
        (want.digest.as_str(), want.visited, 0)
    );
    assert_eq!(s.extra["politeness_violations"], 0);
    assert_eq!(bench.politeness_violations(), 0);
    assert_eq!(bench.robots_violations(), 0);
    assert!(bench.max_in_flight() <= 2);
    // Sixteen processes were allowed, but a level gives each host at most 2 shards.
    let workers = pids(&s);
    assert!(!workers.is_empty());
    assert_all_gone(&workers, Duration::from_secs(5));
}

#[test]
fn ctrl_c_in_the_middle_leaves_no_orphans() {
    // Slow enough to be interrupted while a level's processes are at work.
    let bench = SiteBench::start(SiteArgs {
        latency_ms: 100,
        ..small(300, 3, 2)
    });
    let url = bench.url();
    let mut child = Command::new(EXE)
        .args(["crawl", "--url", &url, "--depth", "3", "--workers", "6"])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let deadline = Instant::now() + Duration::from_secs(30);
    let kids = loop {
        let kids = children_of(child.id());
        if kids.len() >= 2 {
            break kids;
        }
        assert!(
            Instant::now() < deadline,
            "the worker processes never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    // Ctrl-C in a terminal sends SIGINT to the whole foreground process group.
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("killpg");
    let status = child.wait().expect("wait");
    assert!(!status.success());
    assert_all_gone(&kids, Duration::from_secs(5));
}
