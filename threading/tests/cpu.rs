//! `matrix` and `images` on threads, with and without the emulated GIL, on small inputs made
//! in-process: every variant's digest must equal the library's single-threaded reference.

use testkit::run::{TEST_SIGMA, assert_cpu_bad_inputs, cpu_inputs, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_threading");

#[test]
fn every_variant_matches_the_reference() {
    let inputs = cpu_inputs(37, 5);
    let out = inputs.dir.path().join("out");
    for (flags, variant) in [(&[][..], "threads"), (&["--gil"][..], "threads+gil")] {
        for workers in ["1", "3"] {
            let mut args = vec![
                "matrix",
                inputs.matrix.to_str().unwrap(),
                "--block-rows",
                "8",
            ];
            args.extend(["--workers", workers]);
            args.extend(flags);
            let (s, _) = run_json(EXE, &args);
            assert_eq!(s.digest, inputs.matrix_digest, "{args:?}");
            assert_eq!((s.variant.as_str(), s.items), (variant, 5));

            let mut args = vec![
                "images",
                inputs.images.to_str().unwrap(),
                "--sigma",
                TEST_SIGMA,
            ];
            args.extend(["--out", out.to_str().unwrap(), "--workers", workers]);
            args.extend(flags);
            let (s, _) = run_json(EXE, &args);
            assert_eq!(s.digest, inputs.images_digest, "{args:?}");
            assert_eq!((s.variant.as_str(), s.items, s.failed), (variant, 5, 0));
        }
    }
}

#[test]
fn the_emulated_gil_lets_one_thread_compute_at_a_time() {
    // Big enough to take a while in a debug build, in many blocks for two threads to share.
    let inputs = cpu_inputs(160, 1);
    let dir = inputs.matrix.to_str().unwrap();
    let args = [
        "matrix",
        dir,
        "--block-rows",
        "4",
        "--workers",
        "2",
        "--gil",
    ];
    let (s, _) = run_json(EXE, &args);
    assert_eq!(s.digest, inputs.matrix_digest);
    // The kernels of the two threads never overlap: their summed time fits in the wall time.
    let kernel_s = s.extra["kernel_s"].as_f64().unwrap();
    assert!(
        kernel_s <= s.wall_s * 1.02,
        "kernel time {kernel_s} s in {} s of wall time: two threads computed at once",
        s.wall_s
    );
    // And the process never used much more than one core.
    assert!(
        s.user_s + s.sys_s <= s.wall_s * 1.15 + 0.02,
        "{} s of CPU in {} s of wall time behind the GIL",
        s.user_s + s.sys_s,
        s.wall_s
    );
}

#[test]
fn bad_inputs_are_named_and_keep_going_counts_them() {
    assert_cpu_bad_inputs(EXE, &["--workers", "2"]);
    assert_cpu_bad_inputs(EXE, &["--workers", "3", "--gil"]);
}
