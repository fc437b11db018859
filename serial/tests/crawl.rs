//! The serial binary's `crawl` against a `decision-table site` started in this test process on
//! 127.0.0.2, 127.0.0.3, ... (`testkit::crawl::SiteBench`; every check is here): the digest and
//! the counts of the reference crawl worked out from the site's page models (so every model
//! agrees), broken links and redirects, robots.txt obeyed and fetched once per host, no
//! politeness violation, faults retried or reported by URL, bad flags and a missing site refused.

use decision_table::server::FaultKind;
use decision_table::site::SiteArgs;
use std::time::Duration;
use testkit::crawl::{SiteBench, small};
use testkit::run::{assert_refused, run_with_limit};

const EXE: &str = env!("CARGO_BIN_EXE_serial");

#[test]
fn a_small_site_is_crawled_exactly_as_the_reference() {
    let bench = SiteBench::start(small(150, 3, 2));
    let want = bench.reference(2);
    let ran = bench.crawl(EXE, &["--depth", "2"]);
    assert!(ran.output.status.success(), "{}", ran.output.stderr);
    let s = ran.summary();
    assert_eq!((s.scenario.as_str(), s.model.as_str()), ("crawl", "serial"));
    assert_eq!(s.digest, want.digest);
    assert_eq!(s.items, want.visited);
    assert_eq!(s.extra["pages"], want.pages as u64);
    // The site has broken links and redirects, and the crawl meets them.
    assert!(want.redirects > 0 && want.missing > 0, "{want:?}");
    assert_eq!(s.extra["redirects"], want.redirects as u64);
    assert_eq!(s.extra["missing"], want.missing as u64);
    assert_eq!(s.failed, 0);
    // robots.txt: read once per host, obeyed.
    assert!(want.robots_skipped > 0);
    assert_eq!(s.extra["robots_skipped"], want.robots_skipped);
    assert_eq!(bench.robots_violations(), 0);
    assert!(
        bench.robots_fetches().values().all(|&n| n == 1),
        "{:?}",
        bench.robots_fetches()
    );
    // One request at a time.
    assert_eq!(s.extra["politeness_violations"], 0);
    assert_eq!(bench.politeness_violations(), 0);
    assert_eq!(bench.max_in_flight(), 1);
    for key in ["pages_per_s", "fetch_p95_ms", "parse_share"] {
        assert!(s.extra[key].as_f64().unwrap() > 0.0, "{key}");
    }
}

#[test]
fn depth_zero_is_the_start_page_alone() {
    let bench = SiteBench::start(small(40, 2, 2));
    let s = bench.crawl(EXE, &["--depth", "0"]).summary();
    assert_eq!((s.items, s.digest.clone()), (1, bench.reference(0).digest));
}

#[test]
fn faults_are_retried_and_change_nothing() {
    let args = SiteArgs {
        fault_rate: 0.3,
        stall_ms: 1500,
        ..small(60, 2, 2)
    };
    let bench = SiteBench::start(args);
    let ran = bench.crawl(
        EXE,
        &[
            "--depth",
            "2",
            "--timeout-ms",
            "300",
            "--retries",
            "8",
            "--backoff-ms",
            "20",
        ],
    );
    assert!(ran.output.status.success(), "{}", ran.output.stderr);
    let s = ran.summary();
    assert_eq!(s.digest, bench.reference(2).digest);
    assert!(
        s.extra["retries"].as_u64().unwrap() > 0,
        "faults were met and retried"
    );
    let faults: u64 = bench.hosts().iter().map(|h| h.faults()).sum();
    assert!(faults > 0);
    // A stalled request the crawler gave up on stops counting once it hangs up, so retrying it
    // is not impolite.
    assert_eq!(bench.politeness_violations(), 0);
}

#[test]
fn a_page_out_of_retries_is_reported_by_url() {
    let args = SiteArgs {
        fault_rate: 1.0,
        fault_kind: Some(FaultKind::Status500),
        ..small(20, 2, 2)
    };
    let bench = SiteBench::start(args);
    let ran = bench.crawl(EXE, &["--retries", "1", "--backoff-ms", "1"]);
    assert_eq!(ran.output.status.code(), Some(1), "{}", ran.output.stderr);
    let s = ran.summary();
    let start = bench.url();
    assert_eq!((s.items, s.failed), (1, 1));
    let named: Vec<&str> = s.extra["failed_urls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u.as_str())
        .collect();
    assert_eq!(named, [start.as_str()]);
    assert!(
        ran.output
            .stderr
            .contains(&format!("FAILED {start} after 2 attempt(s): HTTP 500")),
        "{}",
        ran.output.stderr
    );
}

#[test]
fn bad_flags_and_a_missing_site_are_refused() {
    assert_refused(
        EXE,
        &["crawl", "--url", "https://127.0.0.2:1/"],
        "only plain http://",
    );
    assert_refused(
        EXE,
        &["crawl", "--url", "http://10.1.2.3/"],
        "not on loopback",
    );
    assert_refused(EXE, &["crawl", "--url", "nonsense"], "is not a URL");
    assert_refused(EXE, &["crawl", "--depth", "99"], "--depth");
    assert_refused(EXE, &["crawl", "--per-host", "0"], "--per-host");
    // Nothing listens on port 1: the first request (robots.txt) cannot connect.
    let out = run_with_limit(
        EXE,
        &["crawl", "--url", "http://127.0.0.2:1/", "--retries", "0"],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr
            .contains("http://127.0.0.2:1/robots.txt could not be had")
            && out
                .stderr
                .contains("is `decision-table site` running there?"),
        "{}",
        out.stderr
    );
}
