//! `matrix` and `images` on threads, with and without the emulated GIL, on small inputs made
//! in-process: every variant's digest must equal the library's single-threaded reference, and
//! the GIL must let one thread compute at a time. Every bad input is refused naming the file,
//! with and without the GIL.

use testkit::cpu::{TEST_SIGMA, bad_cpu_inputs, cpu_inputs, partial_files};
use testkit::run::{assert_refusal, assert_refused, parse_summary, run_json};

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

/// Every bad input to `matrix` and `images` is refused with an error naming the file;
/// `--keep-going` completes the other items and counts the failures; nothing half-written is
/// left in `--out`.
#[test]
fn bad_inputs_are_named_and_keep_going_counts_them() {
    for variant in [&["--workers", "2"][..], &["--workers", "3", "--gil"]] {
        let bad = bad_cpu_inputs(EXE, variant);
        // matrix: missing, wrong magic, truncated, shapes that do not multiply.
        assert_refusal(&bad.matrix_missing, &["a.mat", "gen matrix"]);
        assert_refusal(&bad.matrix_wrong_magic, &["b.mat", "wrong magic"]);
        assert_refusal(&bad.matrix_truncated, &["a.mat", "truncated"]);
        assert_refusal(
            &bad.matrix_shapes_mismatch,
            &["A's columns must equal B's rows"],
        );
        // images: a corrupt and a truncated PNG among good ones stop the run, half-written
        // outputs removed.
        assert_refusal(&bad.images_bad_pngs, &["bad-", "not a valid PNG"]);
        let out = &bad.images_bad_pngs_out;
        assert!(partial_files(out).is_empty(), "{:?}", partial_files(out));
        for name in ["bad-corrupt.png", "bad-truncated.png"] {
            assert!(!out.join(name).exists(), "{name} has an output");
        }
        // With --keep-going the good ones complete and the bad ones are counted, by name.
        let kept = &bad.images_keep_going;
        assert_eq!(kept.status.code(), Some(1), "{}", kept.stderr);
        let s = parse_summary(&kept.stdout);
        let good = bad.good_images;
        assert_eq!((s.items, s.failed), (good + 2, 2), "{}", kept.stderr);
        assert!(
            kept.stderr.contains("bad-corrupt.png") && kept.stderr.contains("bad-truncated.png")
        );
        let written = &bad.images_keep_going_written;
        assert_eq!(written.len(), good, "{written:?}");
        for w in written {
            let input = bad.inputs.images.join(w.file_name().unwrap());
            scenarios::images::check_output(&input, w).unwrap();
        }
        // A named file that does not exist; outputs that would overwrite the inputs.
        assert_refusal(&bad.images_missing, &["gone.png", "cannot read"]);
        assert_refusal(&bad.images_over_inputs, &["overwrite the inputs"]);
        // Flags out of range.
        for (args, mentions) in [
            (&["matrix", "--block-rows", "0"][..], "--block-rows"),
            (&["matrix", "--workers", "0"], "--workers"),
            (&["images", "--sigma", "-1"], "--sigma"),
            (&["images", "--sigma", "lots"], "--sigma"),
        ] {
            assert_refused(EXE, &[args, variant].concat(), mentions);
        }
    }
}
