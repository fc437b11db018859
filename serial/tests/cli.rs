//! The serial binary, run for real: the chapter's waits and cakes take their turns, the queue
//! delivers every item once, bad flags are refused by name, and `--help` lists every example.

use scenarios::chapter;
use testkit::run::{assert_refused, help, queue_digest, run, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_serial");

#[test]
fn four_workers_take_four_waits() {
    let (s, out) = run_json(EXE, &["workers", "--workers", "4", "--sleep-ms", "300"]);
    assert!(
        s.wall_s >= 1.2,
        "four 300 ms waits in a row took {} s",
        s.wall_s
    );
    assert!(out.elapsed.as_secs_f64() >= 1.2);
    assert_eq!(
        (s.scenario.as_str(), s.model.as_str()),
        ("workers", "serial")
    );
    assert_eq!(s.items, 4);
    assert_eq!(s.digest, chapter::workers_digest(4, 300));
}

#[test]
fn cakes_are_baked_one_after_the_other() {
    let (s, out) = run_json(EXE, &["cakes", "--bake-ms", "300"]);
    assert!(s.wall_s >= 0.6, "two 300 ms cakes took {} s", s.wall_s);
    assert_eq!(s.digest, chapter::cakes_digest(2));
    // In JSON mode the human lines move to stderr; the order shows the sequence.
    let done = out
        .stderr
        .find("chocolate cake is done")
        .expect("chocolate done");
    let carrot = out
        .stderr
        .find("Baking the carrot")
        .expect("carrot started");
    assert!(
        done < carrot,
        "the carrot cake started before the chocolate one was done"
    );
}

#[test]
fn default_is_the_two_cakes() {
    let out = run(EXE, &[]);
    assert!(out.status.success());
    assert!(out.stdout.contains("Baking the chocolate cake"));
    assert!(out.stdout.contains("Total time"));
    assert!(out.stdout.contains("cakes / serial"));
}

#[test]
fn queue_delivers_every_item_once() {
    let (s, _) = run_json(EXE, &["queue", "--items", "5000", "--capacity", "7"]);
    assert_eq!(s.items, 5000);
    assert_eq!(s.digest, queue_digest(5000));
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
