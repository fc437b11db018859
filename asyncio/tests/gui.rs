//! `asyncio gui`: a tokio runtime beside the interface, each image on `spawn_blocking`; the
//! interface keeps drawing. Closing the app mid-job skips the queued images and waits for the
//! ones in hand: only whole files are left. Headless, on small pictures made in-process.
//!
//! `cargo test -p asyncio --test gui`

use testkit::gui::{figure, gui_inputs, outputs, session_args};
use testkit::run::run_json;

const EXE: &str = env!("CARGO_BIN_EXE_asyncio");

#[test]
fn the_interface_keeps_drawing_beside_the_event_loop() {
    let inputs = gui_inputs(8, 320, 180);
    let (s, _) = run_json(EXE, &session_args(&inputs, &["--workers", "1"]));
    assert_eq!(s.digest, inputs.digest());
    assert_eq!((s.variant.as_str(), s.workers), ("spawn_blocking", 1));
    let job_ms = figure(&s, "job_s") * 1000.0;
    assert!(figure(&s, "frames_during_job") >= 5.0, "{:?}", s.extra);
    assert!(figure(&s, "frame_max_ms") < job_ms * 0.5, "{:?}", s.extra);
    assert!(figure(&s, "clicks_seen") >= 3.0, "{:?}", s.extra);
    assert_eq!(outputs(&inputs.out), (8, vec![]));
}

#[test]
fn closing_mid_job_skips_the_rest_and_leaves_only_whole_files() {
    let inputs = gui_inputs(24, 320, 180);
    let (s, out) = run_json(
        EXE,
        &session_args(&inputs, &["--workers", "2", "--close-at-ms", "700"]),
    );
    assert_eq!(s.extra["cancelled"], true, "{}", out.stderr);
    let done = figure(&s, "items_done") as usize;
    assert!(
        done < 24,
        "the job finished before the close: {}",
        out.stderr
    );
    let (whole, other) = outputs(&inputs.out);
    assert!(other.is_empty(), "left behind: {other:?}");
    assert!(whole >= done && whole < 24, "{whole} files for {done} done");
}
