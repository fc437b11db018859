//! `asyncio spawn` and `asyncio chat-server --help`, run for real: twenty thousand tasks sleep
//! at once on one thread, bad spawn flags are refused, and `--help` lists both.

use scenarios::digest::Digest;
use testkit::run::{assert_refused, help, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_asyncio");

#[test]
fn twenty_thousand_tasks_sleep_at_the_same_time_on_one_thread() {
    let (s, _) = run_json(EXE, &["spawn", "--count", "20000", "--sleep-ms", "300"]);
    assert_eq!(
        (s.scenario.as_str(), s.variant.as_str()),
        ("spawn", "tasks")
    );
    assert_eq!(s.items, 20_000);
    assert_eq!(s.failed, 0);
    assert!(
        s.wall_s < 3.0,
        "20,000 overlapping 300 ms sleeps took {} s",
        s.wall_s
    );
    assert!(s.extra["finish_s"].as_f64().unwrap() >= 0.3);
    assert!(s.extra["per_unit_kib"].as_f64().unwrap() > 0.0);
    let mut d = Digest::new();
    for i in 0..20_000u64 {
        d.update_u64(i);
    }
    assert_eq!(s.digest, d.finish());
}

#[test]
fn bad_spawn_flags_are_refused() {
    assert_refused(EXE, &["spawn", "--count", "0"], "--count");
    assert_refused(EXE, &["spawn", "--count", "99999999"], "--count");
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
