//! The asyncio binary's `crawl` against a `decision-table site` started in this test process
//! (`testkit::crawl::SiteBench`; every check is here): the reference digest whether pages are
//! parsed on tokio's blocking threads or on the event loop, C requests per host and never more,
//! and the ticker's figures in the summary.

use decision_table::site::SiteArgs;
use testkit::crawl::{SiteBench, small};

const EXE: &str = env!("CARGO_BIN_EXE_asyncio");

#[test]
fn a_small_site_is_crawled_exactly_as_the_reference_wherever_pages_are_parsed() {
    let bench = SiteBench::start(small(150, 3, 2));
    let want = bench.reference(2);
    for variant in ["spawn_blocking", "blocking"] {
        let ran = bench.crawl(
            EXE,
            &[
                "--depth",
                "2",
                "--workers",
                "8",
                "--per-host",
                "2",
                "--variant",
                variant,
            ],
        );
        assert!(ran.output.status.success(), "{}", ran.output.stderr);
        let s = ran.summary();
        assert_eq!(s.variant, variant);
        assert_eq!(
            (s.digest.as_str(), s.items, s.failed),
            (want.digest.as_str(), want.visited, 0)
        );
        assert_eq!(s.extra["politeness_violations"], 0);
        assert!(
            s.extra["ticks"].as_u64().is_some() && s.extra["ticker_max_late_ms"].as_f64().is_some()
        );
    }
    assert_eq!(bench.politeness_violations(), 0);
    assert_eq!(bench.robots_violations(), 0);
}

#[test]
fn each_host_gets_c_requests_at_once_and_never_more() {
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
