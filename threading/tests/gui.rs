//! `threading gui`: the job on worker threads, the interface drawing beside it; with `--gil`,
//! the same threads behind the emulated GIL, which the interface must take to draw each frame
//! and which a worker hands over every 5 ms. Missing inputs are shown as the app's error, the
//! frames go on, and the run ends naming them. Headless, on small pictures made in-process.
//!
//! `cargo test -p threading --test gui`

use testkit::gui::{figure, gui_inputs, outputs, session_args};
use testkit::run::{run, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_threading");

#[test]
fn the_interface_keeps_drawing_while_threads_work() {
    let inputs = gui_inputs(8, 320, 180);
    let (s, _) = run_json(EXE, &session_args(&inputs, &["--workers", "1"]));
    assert_eq!(s.digest, inputs.digest());
    assert_eq!((s.variant.as_str(), s.workers), ("threads", 1));
    let job_ms = figure(&s, "job_s") * 1000.0;
    // Frames kept coming while the job ran: many of them, none as long as the job (generous
    // margins: a debug build on a shared machine).
    let during = figure(&s, "frames_during_job");
    assert!(during >= 5.0, "{during} frames in a {job_ms} ms job");
    assert!(
        figure(&s, "frame_max_ms") < job_ms * 0.5,
        "a {} ms gap in a {job_ms} ms job",
        figure(&s, "frame_max_ms")
    );
    // Clicks were answered during the job, not after it.
    assert!(figure(&s, "clicks_seen") >= 3.0, "{:?}", s.extra);
    assert!(figure(&s, "click_p50_ms") < job_ms * 0.5, "{:?}", s.extra);
    assert_eq!(outputs(&inputs.out), (8, vec![]));
}

#[test]
fn behind_the_emulated_gil_the_interface_waits_for_its_turn_but_draws() {
    let inputs = gui_inputs(8, 320, 180);
    let (s, _) = run_json(EXE, &session_args(&inputs, &["--workers", "1", "--gil"]));
    assert_eq!(s.digest, inputs.digest());
    assert_eq!(s.variant, "threads+gil");
    // The worker handed the lock over on the interface's requests, again and again.
    assert!(figure(&s, "gil_forced_switches") >= 2.0, "{:?}", s.extra);
    assert!(figure(&s, "ui_gil_wait_max_ms") > 0.0);
    let job_ms = figure(&s, "job_s") * 1000.0;
    assert!(figure(&s, "frames_during_job") >= 3.0, "{:?}", s.extra);
    assert!(figure(&s, "frame_max_ms") < job_ms * 0.6, "{:?}", s.extra);
}

#[test]
fn missing_inputs_are_shown_and_named_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    let out_dir = dir.path().join("out");
    let args = [
        "gui",
        missing.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--headless",
        "--start-ms",
        "100",
        "--tail-ms",
        "300",
        // The app's own lines go to stderr, beside the error.
        "--json",
    ];
    let out = run(EXE, &args);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    // The app showed the error on screen (its status line), kept drawing, then the run ended
    // with it.
    assert!(
        out.stderr.contains("| error: ") && out.stderr.contains("no-such-folder"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.lines().last().unwrap().starts_with("error: ")
            && out.stderr.contains("gen images"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}
