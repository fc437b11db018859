//! `multiprocessing gui`: the job in worker processes, progress in frames over their pipes;
//! the interface keeps drawing. Closing the app mid-job stops the workers: none is left, and
//! every file in the output folder is whole. Headless, on small pictures made in-process.
//!
//! `cargo test -p multiprocessing --test gui`

use testkit::gui::{figure, gui_inputs, outputs, session_args};
use testkit::procs::{alive, pids};
use testkit::run::run_json;

const EXE: &str = env!("CARGO_BIN_EXE_multiprocessing");

#[test]
fn the_interface_keeps_drawing_while_processes_work() {
    let inputs = gui_inputs(8, 320, 180);
    let (s, _) = run_json(EXE, &session_args(&inputs, &["--workers", "1"]));
    assert_eq!(s.digest, inputs.digest());
    assert_eq!((s.variant.as_str(), s.workers), ("processes", 1));
    let workers = pids(&s);
    assert_eq!(workers.len(), 1);
    assert_ne!(workers[0], s.extra["parent_pid"].as_u64().unwrap() as u32);
    let job_ms = figure(&s, "job_s") * 1000.0;
    assert!(figure(&s, "frames_during_job") >= 5.0, "{:?}", s.extra);
    assert!(figure(&s, "frame_max_ms") < job_ms * 0.5, "{:?}", s.extra);
    assert!(
        workers.iter().all(|p| !alive(*p)),
        "a worker outlived the run"
    );
    assert_eq!(outputs(&inputs.out), (8, vec![]));
}

#[test]
fn closing_mid_job_stops_the_workers_and_leaves_only_whole_files() {
    let inputs = gui_inputs(24, 320, 180);
    // Closed a second or so after the start click (a debug build's first frame is slow):
    // some images done, most not.
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
    assert!(out.stderr.contains("closed mid-job"), "{}", out.stderr);
    let workers = pids(&s);
    assert!(!workers.is_empty());
    assert!(
        workers.iter().all(|p| !alive(*p)),
        "a worker outlived the run"
    );
    // Whatever was written is whole, and nothing else is there.
    let (whole, other) = outputs(&inputs.out);
    assert!(other.is_empty(), "left behind: {other:?}");
    assert!(whole >= done && whole < 24, "{whole} files for {done} done");
}
