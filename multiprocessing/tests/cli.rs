//! The multiprocessing binary, run for real: child processes, the pool's fault handling, no
//! orphans however the parent ends, bad flags refused by name, and `--help` listing every
//! example but not the hidden worker subcommand.

use scenarios::chapter;
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::procs::{alive, assert_all_gone, pids, wait_for_children};
use testkit::run::{assert_refused, help, parse_summary, queue_digest, run, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_multiprocessing");

#[test]
fn four_processes_wait_at_the_same_time() {
    let (s, out) = run_json(EXE, &["workers", "--workers", "4", "--sleep-ms", "300"]);
    assert!(
        s.wall_s < 0.9,
        "four overlapping 300 ms waits took {} s",
        s.wall_s
    );
    assert!(out.elapsed.as_secs_f64() < 1.2);
    assert_eq!(s.digest, chapter::workers_digest(4, 300));
}

#[test]
fn workers_are_real_child_processes() {
    let (s, out) = run_json(EXE, &["workers", "--workers", "3", "--sleep-ms", "50"]);
    let parent = s.extra["parent_pid"].as_u64().expect("parent_pid") as u32;
    let mut kids = pids(&s);
    assert_eq!(kids.len(), 3);
    assert!(kids.iter().all(|&p| p != parent && p != std::process::id()));
    kids.sort();
    kids.dedup();
    assert_eq!(
        kids.len(),
        3,
        "three workers need three different processes"
    );
    for pid in &kids {
        assert!(out.stderr.contains(&format!("(process {pid})")));
        assert!(!alive(*pid), "worker {pid} outlived the run");
    }
}

#[test]
fn cakes_bake_in_two_processes_at_once() {
    let (s, _) = run_json(EXE, &["cakes", "--bake-ms", "300"]);
    assert!(
        s.wall_s < 0.6,
        "two overlapping 300 ms cakes took {} s",
        s.wall_s
    );
    assert_eq!(pids(&s).len(), 2);
    assert_eq!(s.digest, chapter::cakes_digest(2));
}

#[test]
fn queue_delivers_every_item_once() {
    let (s, out) = run_json(
        EXE,
        &[
            "queue",
            "--items",
            "3000",
            "--workers",
            "3",
            "--capacity",
            "5",
        ],
    );
    assert_eq!(s.digest, queue_digest(3000));
    assert_eq!(out.stderr.matches("consumer process").count(), 3);
}

#[test]
fn pool_results_do_not_depend_on_the_number_of_workers() {
    let args = |w: &'static str| ["map", "--tasks", "7", "--rounds", "100000", "--workers", w];
    let (one, _) = run_json(EXE, &args("1"));
    let (three, _) = run_json(EXE, &args("3"));
    assert_eq!(one.digest, three.digest);
    assert_eq!(pids(&three).len(), 3);
}

#[test]
fn pool_survives_a_worker_dying_every_way() {
    for (how, says) in [
        ("kill", "killed by signal 9"),
        ("panic", "exited with status 101"),
        ("exit", "exited with status 3"),
    ] {
        let out = run(
            EXE,
            &[
                "map",
                "--tasks",
                "6",
                "--rounds",
                "1000",
                "--workers",
                "2",
                "--die-on-task",
                "2",
                "--die-how",
                how,
                "--json",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{how}: {}", out.stderr);
        let s = parse_summary(&out.stdout);
        assert_eq!(s.failed, 1, "{how}");
        assert_eq!(s.extra["replaced"], 1, "{how}");
        assert!(
            out.stderr.contains("while running task 2") && out.stderr.contains(says),
            "{how}: {}",
            out.stderr
        );
        // Two original workers and, if its slot got another task, a replacement; all gone now.
        assert!((2..=3).contains(&pids(&s).len()), "{how}");
        assert!(
            pids(&s).iter().all(|&p| !alive(p)),
            "{how}: a worker outlived the run"
        );
    }
}

/// Start a long `workers` run in its own process group and wait until its children exist.
// The child is handed to the caller, which waits for it; clippy cannot see that far.
#[allow(clippy::zombie_processes)]
fn start_long_run() -> (std::process::Child, Vec<u32>) {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(EXE)
        .args(["workers", "--workers", "3", "--sleep-ms", "20000"])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let kids = wait_for_children(&mut child, 3, Duration::from_secs(10));
    (child, kids)
}

#[test]
fn ctrl_c_leaves_no_orphans() {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let (mut child, kids) = start_long_run();
    // Ctrl-C in a terminal sends SIGINT to the whole foreground process group.
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("killpg");
    child.wait().expect("wait");
    assert_all_gone(&kids, Duration::from_secs(5));
}

#[test]
fn a_killed_parent_leaves_no_orphans() {
    let (mut child, kids) = start_long_run();
    // Only the parent dies; its children must notice and go too.
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert_all_gone(&kids, Duration::from_secs(5));
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
    assert_refused(EXE, &["map", "--tasks", "0"], "--tasks");
}

#[test]
fn help_lists_the_examples_but_not_the_worker() {
    let help = help(
        EXE,
        &["cakes", "workers", "queue", "map", "matrix", "images"],
    );
    assert!(help.listing.status.success());
    for (sub, out) in &help.subcommands {
        let listing = &help.listing.stdout;
        assert!(
            listing.contains(sub),
            "--help does not list {sub}:\n{listing}"
        );
        assert!(out.status.success(), "{sub} --help failed");
    }
    assert!(!help.listing.stdout.contains("Serve tasks"));
}
