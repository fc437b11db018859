//! `serial gui`: the job runs inside the frame that handled the click, so the interface stops
//! drawing for the whole job, and clicks made meanwhile wait for it. Headless, on small
//! pictures made in-process; the digest must be the images scenario's reference.
//!
//! `cargo test -p serial --test gui`

use testkit::gui::{figure, gui_inputs, outputs, session_args};
use testkit::run::run_json;

const EXE: &str = env!("CARGO_BIN_EXE_serial");

#[test]
fn the_interface_freezes_for_the_whole_job() {
    let inputs = gui_inputs(6, 320, 180);
    let (s, out) = run_json(EXE, &session_args(&inputs, &[]));
    assert_eq!(s.digest, inputs.digest());
    assert_eq!(
        (s.scenario.as_str(), s.variant.as_str(), s.items),
        ("gui", "in-frame", 6)
    );
    assert!(out.stderr.contains("done: 6 of 6 images"), "{}", out.stderr);
    let job_ms = figure(&s, "job_s") * 1000.0;
    // One frame ran the whole job: the longest interval spans it, and it is the only one.
    assert!(
        figure(&s, "frame_max_ms") >= job_ms * 0.95,
        "longest frame interval {} ms, job {job_ms} ms",
        figure(&s, "frame_max_ms")
    );
    assert_eq!(figure(&s, "frames_during_job"), 1.0);
    // A click made while the job ran waited for it.
    assert!(figure(&s, "click_max_ms") >= job_ms * 0.5, "{:?}", s.extra);
    assert_eq!(outputs(&inputs.out), (6, vec![]));
}

#[test]
fn no_display_is_said_and_the_session_runs_headless() {
    let inputs = gui_inputs(1, 64, 48);
    let mut args = session_args(&inputs, &[]);
    args.retain(|a| *a != "--headless");
    let mut cmd = std::process::Command::new(EXE);
    cmd.args(&args).arg("--json").env_remove("DISPLAY");
    let out = cmd.output().expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no display (DISPLAY is not set): running headless"),
        "{stderr}"
    );
    let s = testkit::run::parse_summary(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(s.extra["display"], "headless");
    assert_eq!(s.digest, inputs.digest());
}
