//! `matrix` and `images` as tasks, with the CPU work on tokio's blocking threads or (the
//! mistake) on the event loop, on small inputs made in-process: every variant's digest must
//! equal the library's single-threaded reference, and the blocking variant must be seen to
//! starve the event loop. Every bad input is refused naming the file, in both variants.

use testkit::cpu::{TEST_SIGMA, bad_cpu_inputs, cpu_inputs, partial_files};
use testkit::run::{assert_refusal, assert_refused, parse_summary, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_asyncio");

#[test]
fn every_variant_matches_the_reference() {
    let inputs = cpu_inputs(37, 5);
    let out = inputs.dir.path().join("out");
    for variant in ["spawn_blocking", "blocking"] {
        for workers in ["1", "3"] {
            let dir = inputs.matrix.to_str().unwrap();
            let mut args = vec!["matrix", dir, "--block-rows", "8", "--workers", workers];
            args.extend(["--variant", variant]);
            let (s, _) = run_json(EXE, &args);
            assert_eq!(s.digest, inputs.matrix_digest, "{args:?}");
            assert_eq!((s.variant.as_str(), s.items), (variant, 5));

            let (imgs, out) = (inputs.images.to_str().unwrap(), out.to_str().unwrap());
            let mut args = vec!["images", imgs, "--out", out, "--sigma", TEST_SIGMA];
            args.extend(["--workers", workers, "--variant", variant]);
            let (s, _) = run_json(EXE, &args);
            assert_eq!(s.digest, inputs.images_digest, "{args:?}");
            assert_eq!((s.variant.as_str(), s.items, s.failed), (variant, 5, 0));
        }
    }
}

#[test]
fn computing_on_the_event_loop_starves_other_tasks() {
    // A few hundred milliseconds of work in a debug build.
    let inputs = cpu_inputs(120, 1);
    let dir = inputs.matrix.to_str().unwrap();
    let late = |variant| {
        let args = ["matrix", dir, "--block-rows", "8", "--variant", variant];
        let (s, _) = run_json(EXE, &args);
        assert_eq!(s.digest, inputs.matrix_digest);
        let ticks = s.extra["ticks"].as_u64().unwrap();
        (
            s.extra["ticker_max_late_ms"].as_f64().unwrap(),
            ticks,
            s.wall_s * 1000.0,
        )
    };
    // On the loop: the 10 ms ticker waits for (nearly) the whole computation.
    let (late_ms, _, wall_ms) = late("blocking");
    assert!(
        late_ms > wall_ms * 0.5,
        "the ticker was only {late_ms} ms late in a {wall_ms} ms blocking run"
    );
    // Off the loop: the ticker keeps running while the blocks compute.
    let (_, ticks, wall_ms) = late("spawn_blocking");
    assert!(
        ticks as f64 >= wall_ms / 40.0,
        "{ticks} ticks in {wall_ms} ms: the loop was not free"
    );
}

/// Every bad input to `matrix` and `images` is refused with an error naming the file;
/// `--keep-going` completes the other items and counts the failures; nothing half-written is
/// left in `--out`.
#[test]
fn bad_inputs_are_named_and_keep_going_counts_them() {
    for variant in [&["--workers", "2"][..], &["--variant", "blocking"]] {
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
