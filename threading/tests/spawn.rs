//! `threading spawn` and `threading chat-server --help`, run for real: two hundred threads
//! sleep at once, a thread that cannot start is a clear error, bad spawn flags are refused,
//! and `--help` lists both.

use scenarios::digest::Digest;
use testkit::run::{assert_refused, help, run, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_threading");

fn digest_of_indexes(n: u64) -> String {
    let mut d = Digest::new();
    for i in 0..n {
        d.update_u64(i);
    }
    d.finish()
}

#[test]
fn two_hundred_threads_sleep_at_the_same_time() {
    let (s, _) = run_json(EXE, &["spawn", "--count", "200", "--sleep-ms", "300"]);
    assert_eq!(
        (s.scenario.as_str(), s.variant.as_str()),
        ("spawn", "threads")
    );
    assert_eq!(s.items, 200);
    assert_eq!(s.failed, 0);
    // 200 sleeps of 300 ms one after another would take a minute.
    assert!(
        s.wall_s < 3.0,
        "200 overlapping 300 ms sleeps took {} s",
        s.wall_s
    );
    let finish = s.extra["finish_s"].as_f64().unwrap();
    assert!(finish >= 0.3 && s.extra["start_s"].as_f64().unwrap() < finish);
    assert!(s.extra["per_unit_kib"].as_f64().unwrap() > 0.0);
    assert_eq!(s.extra["stack_kib"], 64);
    assert_eq!(s.digest, digest_of_indexes(200));
}

/// With its address space capped at about 1 GB, the process cannot reserve 200 stacks of
/// 64 MiB: the run must fail with a clear message, after joining the threads it did start, and
/// not panic. One malloc arena (instead of one per thread, each reserving 64 MiB) and big
/// stacks leave room for the error message itself once the stacks have used up the rest.
#[test]
fn a_thread_that_cannot_start_is_a_clear_error() {
    let script = "export MALLOC_ARENA_MAX=1 && ulimit -v 1000000 && \
                  exec \"$0\" spawn --count 200 --stack-kib 65536 --sleep-ms 50";
    let out = run("/bin/sh", &["-c", script, EXE]);
    assert!(!out.status.success(), "{}", out.stdout);
    assert!(
        out.stderr.contains("could not start thread"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("max_map_count"), "{}", out.stderr);
    assert!(
        out.stderr.contains("already running were joined"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn bad_spawn_flags_are_refused() {
    assert_refused(EXE, &["spawn", "--count", "0"], "--count");
    assert_refused(EXE, &["spawn", "--count", "-5"], "--count");
    assert_refused(EXE, &["spawn", "--stack-kib", "4"], "--stack-kib");
    assert_refused(EXE, &["spawn", "--sleep-ms", "-1"], "negative");
}

#[test]
fn help_lists_the_chat_server_and_spawn() {
    let help = help(EXE, &["chat-server", "spawn"]);
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
