//! `matrix` and `images` run for real on small inputs made in-process: the binary's digest
//! must equal the library's single-threaded reference, which is what every model is held to.
//! Every bad input is refused naming the file, and `--keep-going` counts it.

use testkit::cpu::{TEST_SIGMA, bad_cpu_inputs, cpu_inputs, partial_files};
use testkit::run::{assert_refusal, assert_refused, parse_summary, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_serial");

#[test]
fn matrix_matches_the_reference_whatever_the_block_size() {
    let inputs = cpu_inputs(37, 1);
    let dir = inputs.matrix.to_str().unwrap();
    for block in ["8", "37", "1"] {
        let (s, _) = run_json(EXE, &["matrix", dir, "--block-rows", block]);
        assert_eq!(s.digest, inputs.matrix_digest, "--block-rows {block}");
        assert_eq!((s.variant.as_str(), s.workers, s.failed), ("serial", 1, 0));
        assert_eq!(s.items, 37usize.div_ceil(block.parse().unwrap()));
        assert!(s.extra["kernel_gflops"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn images_match_the_reference_and_are_written_whole() {
    let inputs = cpu_inputs(2, 3);
    let out = inputs.dir.path().join("out");
    let (s, _) = run_json(
        EXE,
        &[
            "images",
            inputs.images.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--sigma",
            TEST_SIGMA,
        ],
    );
    assert_eq!(s.digest, inputs.images_digest);
    assert_eq!((s.items, s.failed), (3, 0));
    for i in 0..3 {
        let name = format!("img-{i:03}.png");
        scenarios::images::check_output(&inputs.images.join(&name), &out.join(&name)).unwrap();
    }
    assert!(partial_files(&out).is_empty());
}

/// Every bad input to `matrix` and `images` is refused with an error naming the file;
/// `--keep-going` completes the other items and counts the failures; nothing half-written is
/// left in `--out`.
#[test]
fn bad_inputs_are_named_and_keep_going_counts_them() {
    let variant: &[&str] = &[];
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
    assert!(kept.stderr.contains("bad-corrupt.png") && kept.stderr.contains("bad-truncated.png"));
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
