//! The threading binary's `downloads` and `requests` against a real server started in this test
//! process on 127.0.0.1:0 (`testkit::io::Bench` starts it and runs the binary; every check is
//! here): digests equal to the library's reference (so every model agrees), every fault kind
//! survived by retrying or reported by name, a dead server, bad flags, and requests that overlap,
//! one OS thread each.

use decision_table::server::{self, FaultKind, ServeArgs};
use std::sync::atomic::Ordering;
use std::time::Duration;
use testkit::io::{self, Bench, file_paths, item_paths, small};
use testkit::run::{assert_refused, help};

const EXE: &str = env!("CARGO_BIN_EXE_threading");

/// Every file arrives, byte for byte, under its name, nothing else is left in the directory,
/// and the digest is the library's.
#[test]
fn downloads_match_the_reference() {
    let bench = Bench::start(small(6, 40_000 + 3));
    let ran = bench.downloads(EXE, &["--workers", "3"]);
    assert!(ran.output.status.success(), "{}", ran.output.stderr);
    let s = ran.summary();
    assert_eq!(s.scenario, "downloads");
    assert_eq!(s.items, 6);
    assert_eq!(s.failed, 0);
    assert_eq!(s.digest, bench.downloads_reference());
    assert_eq!(s.extra["bytes"], 6 * 40_003);
    let names: Vec<String> = (0..6).map(server::file_name).collect();
    assert_eq!(ran.files, names, "exactly the files, no temporary ones");
    for i in 0..6 {
        let got = std::fs::read(bench.out.path().join(server::file_name(i))).expect("the file");
        let (seed, size) = (bench.args.seed, bench.args.size);
        assert_eq!(got, server::file_bytes(seed, i as u64, size), "file {i}");
    }
}

/// Every item arrives and the digest (values in order, then their sum) is the library's.
#[test]
fn requests_match_the_reference() {
    let bench = Bench::start(small(1, 0));
    let ran = bench.requests(EXE, &["--count", "40", "--workers", "8"]);
    assert!(ran.output.status.success(), "{}", ran.output.stderr);
    let s = ran.summary();
    assert_eq!(s.scenario, "requests");
    assert_eq!((s.items, s.failed), (40, 0));
    assert_eq!(s.digest, bench.requests_reference(40));
    let sum: u64 = (0..40)
        .map(|i| server::item(bench.args.seed, i).value)
        .sum();
    assert_eq!(s.extra["sum"], sum);
    let requests = bench.served().requests.load(Ordering::Relaxed);
    assert_eq!(requests, 41, "/ and 40 items");
}

/// Each kind of fault, met on some files, is survived by retrying: every file arrives, with
/// exactly the retries the fault plan says.
#[test]
fn every_fault_kind_is_survived() {
    const RETRIES: u32 = 4;
    for kind in FaultKind::ALL {
        let base = ServeArgs {
            fault_rate: 0.5,
            fault_kind: Some(kind),
            ..small(5, 20_000)
        };
        let bench = Bench::with_faults(base, &file_paths(5), RETRIES, |p| {
            p.failed.is_empty() && p.retries >= 2
        });
        let ran = bench.downloads(EXE, &["--workers", "3"]);
        assert!(
            ran.output.status.success(),
            "{kind:?}: {}",
            ran.output.stderr
        );
        let s = ran.summary();
        assert_eq!(s.failed, 0, "{kind:?}");
        assert_eq!(io::retries(&s), bench.plan.retries, "{kind:?}: retries");
        assert_eq!(s.digest, bench.downloads_reference(), "{kind:?}");
        let served = bench.served().faults(kind);
        assert_eq!(served, bench.plan.retries, "{kind:?}: faults served");
        assert_eq!(ran.files.len(), 5, "{kind:?}: {:?}", ran.files);
    }
}

/// Each kind of fault, met on every attempt of some files, makes those files fail: reported by
/// name, counted, exit status 1, nothing under their names (not even an old copy), and every
/// other file still arrives.
#[test]
fn files_out_of_retries_are_reported_by_name() {
    const RETRIES: u32 = 1;
    for kind in FaultKind::ALL {
        let base = ServeArgs {
            fault_rate: 0.6,
            fault_kind: Some(kind),
            ..small(6, 20_000)
        };
        let bench = Bench::with_faults(base, &file_paths(6), RETRIES, |p| {
            (1..=3).contains(&p.failed.len())
        });
        let plan = &bench.plan;
        let failed: Vec<String> = plan.failed.iter().map(|&i| server::file_name(i)).collect();
        // An old copy of a file that is going to fail: it must not survive the run.
        std::fs::write(bench.out.path().join(&failed[0]), b"stale").expect("write");
        let ran = bench.downloads(EXE, &["--workers", "2"]);
        let stderr = &ran.output.stderr;
        assert_eq!(ran.output.status.code(), Some(1), "{kind:?}: {stderr}");
        let s = ran.summary();
        assert_eq!(s.failed, plan.failed.len(), "{kind:?}");
        assert_eq!(io::retries(&s), plan.retries, "{kind:?}: retries");
        assert_eq!(io::failed_files(&s), failed, "{kind:?}");
        for name in &failed {
            assert!(
                stderr.contains(&format!("FAILED {name}")),
                "{kind:?}: {name} not reported:\n{stderr}"
            );
        }
        let kept: Vec<String> = (0..6)
            .filter(|i| !plan.failed.contains(i))
            .map(server::file_name)
            .collect();
        assert_eq!(ran.files, kept, "{kind:?}: exactly the verified files");
        assert!(stderr.contains("error: "), "{kind:?}");
    }
}

/// Items meet every kind of fault at once; retries get them all, and the digest is unchanged.
#[test]
fn requests_survive_faults() {
    const RETRIES: u32 = 4;
    let base = ServeArgs {
        fault_rate: 0.3,
        ..small(1, 0)
    };
    let bench = Bench::with_faults(base, &item_paths(24), RETRIES, |p| {
        p.failed.is_empty() && p.faults.iter().all(|&(_, n)| n >= 1)
    });
    let ran = bench.requests(EXE, &["--count", "24", "--workers", "6"]);
    assert!(ran.output.status.success(), "{}", ran.output.stderr);
    let s = ran.summary();
    assert_eq!(s.failed, 0);
    assert_eq!(io::retries(&s), bench.plan.retries);
    assert_eq!(s.digest, bench.requests_reference(24));
    for &(kind, n) in &bench.plan.faults {
        assert_eq!(bench.served().faults(kind), n, "{kind:?}");
    }
}

/// No server: both scenarios stop at once with an error that names the URL.
#[test]
fn a_dead_server_fails_fast() {
    let dead = io::against_a_dead_server(EXE);
    for o in [&dead.downloads, &dead.requests] {
        let command = &o.command;
        assert!(!o.status.success(), "{command} succeeded without a server");
        assert!(
            o.stderr
                .contains(&format!("cannot connect to {}", dead.url))
                && o.stderr.contains("decision-table serve"),
            "{command}: unclear error:\n{}",
            o.stderr
        );
        assert!(
            o.elapsed < Duration::from_secs(5),
            "{command} took {:?}",
            o.elapsed
        );
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    }
    assert!(dead.files.is_empty(), "{:?}", dead.files);
}

/// Eight requests of 300 ms latency, eight at a time, take about one latency, far from eight:
/// each in flight on an OS thread of its own, in one process.
#[test]
fn requests_overlap_on_eight_threads() {
    let bench = Bench::start(ServeArgs {
        latency_ms: 300,
        ..small(1, 0)
    });
    let ran = bench.requests(EXE, &["--count", "8", "--workers", "8"]);
    assert!(ran.output.status.success(), "{}", ran.output.stderr);
    let s = ran.summary();
    let latency = 0.3;
    assert!(
        s.wall_s >= latency,
        "{} s is less than one latency",
        s.wall_s
    );
    assert!(
        s.wall_s < 4.0 * latency,
        "8 requests of 300 ms, 8 at a time, took {} s: they did not overlap",
        s.wall_s
    );
    assert!((s.extra["ideal_s"].as_f64().expect("ideal_s") - latency).abs() < 1e-9);
    assert_eq!(s.model, "threading");
    let (threads, processes) = io::threads_and_processes(&s);
    assert!(threads >= 8 && processes == 1, "{threads} threads");
}

/// Nonsense flags are refused by name, before anything runs.
#[test]
fn io_flags_are_checked() {
    assert_refused(EXE, &["downloads", "--workers", "0"], "--workers");
    assert_refused(EXE, &["requests", "--workers", "-4"], "--workers");
    assert_refused(EXE, &["requests", "--count", "0"], "--count");
    assert_refused(
        EXE,
        &["requests", "--url", "https://127.0.0.1:1"],
        "http://",
    );
    assert_refused(EXE, &["downloads", "--url", "nowhere"], "not a URL");
    assert_refused(EXE, &["requests", "--timeout-ms", "0"], "--timeout-ms");
    assert_refused(EXE, &["requests", "--retries", "11"], "--retries");
    assert_refused(EXE, &["downloads", "--retries", "-1"], "--retries");
    assert_refused(EXE, &["downloads", "--backoff-ms", "-5"], "negative");
}

#[test]
fn help_lists_the_io_scenarios() {
    let help = help(EXE, &["downloads", "requests"]);
    assert!(help.listing.status.success());
    for (sub, out) in &help.subcommands {
        let listing = &help.listing.stdout;
        assert!(
            listing.contains(sub),
            "--help does not list {sub}:\n{listing}"
        );
        assert!(out.status.success(), "{sub} --help failed");
    }
}

/// A server whose documents never end is refused at the client's limit, naming the URL and the
/// limit, instead of being read until memory runs out.
#[test]
fn an_endless_document_is_refused_at_the_limit() {
    let endless = testkit::hostile::against_endless_documents(EXE);
    for (path, run) in [("/manifest", &endless.downloads), ("/", &endless.requests)] {
        let out = &run.output;
        assert_eq!(out.status.code(), Some(1), "{path}: {}", out.stderr);
        let url = format!("{}{path}", endless.url);
        assert!(
            out.stderr.contains(&url) && out.stderr.contains("64 MiB"),
            "{path}: the error names neither the URL nor the limit:\n{}",
            out.stderr
        );
        assert!(
            out.elapsed < Duration::from_secs(30),
            "{path}: {:?}",
            out.elapsed
        );
        assert!(
            run.peak_rss_kib < 400 * 1024,
            "{path}: {} KiB of memory for a refused document",
            run.peak_rss_kib
        );
    }
}
