//! `matrix` and `images` run for real on small inputs made in-process: the binary's digest
//! must equal the library's single-threaded reference, which is what every model is held to.

use testkit::run::{TEST_SIGMA, assert_cpu_bad_inputs, cpu_inputs, partial_files, run_json};

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

#[test]
fn bad_inputs_are_named_and_keep_going_counts_them() {
    assert_cpu_bad_inputs(EXE, &[]);
}
