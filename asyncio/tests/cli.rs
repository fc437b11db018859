//! The asyncio binary, run for real: the chapter's waits and cakes overlap as tasks, the queue
//! delivers every item once, bad flags are refused by name, and `--help` lists every example.

use scenarios::chapter;
use testkit::run::{assert_refused, help, queue_digest, run, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_asyncio");

#[test]
fn four_tasks_wait_at_the_same_time() {
    let (s, out) = run_json(EXE, &["workers", "--workers", "4", "--sleep-ms", "300"]);
    assert!(
        s.wall_s < 0.9,
        "four overlapping 300 ms waits took {} s",
        s.wall_s
    );
    assert!(s.wall_s >= 0.3);
    assert!(out.elapsed.as_secs_f64() < 1.2);
    assert_eq!(s.digest, chapter::workers_digest(4, 300));
}

#[test]
fn a_thousand_tasks_still_take_one_wait() {
    let (s, _) = run_json(EXE, &["workers", "--workers", "1000", "--sleep-ms", "300"]);
    assert!(s.wall_s < 0.9, "1000 overlapping waits took {} s", s.wall_s);
}

#[test]
fn cakes_bake_together() {
    let (s, _) = run_json(EXE, &["cakes", "--bake-ms", "300"]);
    assert!(
        s.wall_s < 0.55,
        "two overlapping 300 ms cakes took {} s",
        s.wall_s
    );
    assert_eq!(s.digest, chapter::cakes_digest(2));
}

#[test]
fn default_is_the_five_workers() {
    let out = run(EXE, &["--help"]);
    assert!(out.stdout.contains("the default"));
}

#[test]
fn queue_delivers_every_item_once() {
    let (s, out) = run_json(
        EXE,
        &[
            "queue",
            "--items",
            "20000",
            "--workers",
            "3",
            "--capacity",
            "5",
        ],
    );
    assert_eq!(s.digest, queue_digest(20000));
    assert_eq!(out.stderr.matches("consumer task").count(), 3);
}

#[test]
fn bad_input_is_refused() {
    assert_refused(EXE, &["workers", "--workers", "0"], "--workers");
    assert_refused(EXE, &["workers", "--workers", "-3"], "--workers");
    assert_refused(EXE, &["workers", "--sleep-ms", "-5"], "negative");
    assert_refused(EXE, &["workers", "--sleep-ms", "99999999"], "10 minutes");
    assert_refused(EXE, &["cakes", "--bake-ms", "-1"], "--bake-ms");
    assert_refused(EXE, &["cakes", "--cakes", "lots"], "--cakes");
    assert_refused(EXE, &["queue", "--capacity", "0"], "--capacity");
    assert_refused(EXE, &["no-such-thing"], "no-such-thing");
}

#[test]
fn help_lists_the_examples() {
    let help = help(EXE, &["cakes", "workers", "queue", "matrix", "images"]);
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
