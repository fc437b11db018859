//! The threading binary's `crawl` against a `decision-table site` started in this test process
//! (`testkit::crawl::SiteBench`; every check is here): the reference digest with and without the
//! emulated GIL, C requests per host and never more (the site counts), and an impolite crawl
//! measured as such on both sides.

use decision_table::site::SiteArgs;
use testkit::crawl::{SiteBench, small};

const EXE: &str = env!("CARGO_BIN_EXE_threading");

#[test]
fn a_small_site_is_crawled_exactly_as_the_reference_with_or_without_the_gil() {
    let bench = SiteBench::start(small(150, 3, 2));
    let want = bench.reference(2);
    for gil in [&[][..], &["--gil"]] {
        let mut args = vec!["--depth", "2", "--workers", "8", "--per-host", "2"];
        args.extend_from_slice(gil);
        let ran = bench.crawl(EXE, &args);
        assert!(ran.output.status.success(), "{}", ran.output.stderr);
        let s = ran.summary();
        assert_eq!(
            s.variant,
            if gil.is_empty() {
                "threads"
            } else {
                "threads+gil"
            }
        );
        assert_eq!(
            (s.digest.as_str(), s.items, s.failed),
            (want.digest.as_str(), want.visited, 0)
        );
        assert_eq!(s.extra["robots_skipped"], want.robots_skipped);
        assert_eq!(s.extra["politeness_violations"], 0);
    }
    assert_eq!(bench.politeness_violations(), 0);
    assert_eq!(bench.robots_violations(), 0);
}

#[test]
fn each_host_gets_c_requests_at_once_and_never_more() {
    // With 20 ms of latency, 16 threads and 3 hosts, every host is kept busy at its limit.
    let bench = SiteBench::start(SiteArgs {
        latency_ms: 20,
        ..small(120, 3, 3)
    });
    let ran = bench.crawl(EXE, &["--depth", "2", "--workers", "16", "--per-host", "3"]);
    assert!(ran.output.status.success(), "{}", ran.output.stderr);
    assert_eq!(ran.summary().digest, bench.reference(2).digest);
    assert_eq!(bench.politeness_violations(), 0);
    assert_eq!(
        bench.max_in_flight(),
        3,
        "concurrency happened, up to the limit and no further"
    );
}

#[test]
fn an_impolite_crawl_is_counted_on_both_sides_and_still_completes() {
    // The crawler allows itself 6 per host; the site serves 2 and refuses the rest with 429.
    let bench = SiteBench::start(SiteArgs {
        latency_ms: 20,
        ..small(60, 2, 2)
    });
    let ran = bench.crawl(
        EXE,
        &[
            "--depth",
            "1",
            "--workers",
            "12",
            "--per-host",
            "6",
            "--retries",
            "10",
            "--backoff-ms",
            "5",
        ],
    );
    assert!(ran.output.status.success(), "{}", ran.output.stderr);
    let s = ran.summary();
    let counted = s.extra["politeness_violations"].as_u64().unwrap();
    assert!(counted > 0, "six at once against a limit of two");
    assert_eq!(
        counted,
        bench.politeness_violations(),
        "the crawler counts every 429 the site sent"
    );
    assert!(
        ran.output.stderr.contains("IMPOLITE"),
        "{}",
        ran.output.stderr
    );
    assert_eq!(s.digest, bench.reference(1).digest, "429s are retried");
}

#[test]
fn faults_are_retried_without_going_over_any_host_limit() {
    // Stalls the crawler gives up on, bodies cut short, HTTP 500s: every URL keeps its host's
    // slot through its retries, so even 8 threads on 2 slots a host never meet a 429.
    let bench = SiteBench::start(SiteArgs {
        fault_rate: 0.3,
        stall_ms: 1500,
        ..small(90, 3, 2)
    });
    let flags = [
        "--depth",
        "2",
        "--workers",
        "8",
        "--per-host",
        "2",
        "--timeout-ms",
        "300",
    ];
    let ran = bench.crawl(
        EXE,
        &[&flags[..], &["--retries", "8", "--backoff-ms", "20"]].concat(),
    );
    assert!(ran.output.status.success(), "{}", ran.output.stderr);
    let s = ran.summary();
    assert_eq!(s.digest, bench.reference(2).digest);
    assert!(s.extra["retries"].as_u64().unwrap() > 0);
    assert_eq!(s.extra["politeness_violations"], 0);
    assert_eq!(bench.politeness_violations(), 0);
}
