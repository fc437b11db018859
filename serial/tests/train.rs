//! `train` run for real: on a small data set written as IDX files in-process, the binary's
//! digest (the final weights) must equal the library's single-threaded reference, which every
//! model is held to, and the classifier must learn; on Debian's Fashion-MNIST, where it is
//! installed, a quick subset must reach the accuracy softmax regression is known for. Every
//! bad data set is refused naming the file.

use testkit::run::{assert_refusal, assert_refused, run_json, run_with_limit};
use testkit::train::{bad_train_inputs, fashion_mnist, small_set};

const EXE: &str = env!("CARGO_BIN_EXE_serial");

#[test]
fn training_matches_the_reference_and_learns() {
    let set = small_set(&[]);
    // --workers is ignored by serial: the same run.
    for workers in ["1", "3"] {
        let (s, _) = run_json(EXE, &set.command(&["--workers", workers]));
        assert_eq!(s.digest, set.digest, "--workers {workers}");
        assert_eq!((s.variant.as_str(), s.workers, s.failed), ("serial", 1, 0));
        assert_eq!(s.items, 45, "3 epochs of 15 steps");
        assert_eq!(s.extra["accuracy"].as_f64(), Some(set.accuracy));
    }
    assert!(
        set.accuracy > 0.6,
        "the small set is learnable: {}",
        set.accuracy
    );
    // Another seed is another model.
    let (other, _) = run_json(EXE, &set.command(&["--seed", "7"]));
    assert_ne!(other.digest, set.digest);
    // The figures the report reads.
    let (s, _) = run_json(EXE, &set.command(&[]));
    for key in ["samples_per_s", "train_s", "eval_s", "load_s", "test_loss"] {
        assert!(
            s.extra[key].as_f64().is_some_and(|v| v >= 0.0),
            "{key}: {}",
            s.extra[key]
        );
    }
    assert_eq!(s.extra["train_samples"].as_u64(), Some(480));
    assert_eq!(s.extra["curve"].as_array().map(Vec::len), Some(3));
    assert!(s.extra.get("reproducible").is_none());
    let to_target = s.extra["seconds_to_target"].as_f64();
    assert!(to_target.is_some_and(|t| t <= s.wall_s), "{:?}", s.extra);
}

#[test]
fn softmax_regression_on_a_subset_of_fashion_mnist_is_in_range() {
    let Some(data) = fashion_mnist() else {
        eprintln!(
            "dataset-fashion-mnist is not installed: skipped (apt-get install dataset-fashion-mnist)"
        );
        return;
    };
    // Softmax regression: about 0.84 on the whole set after a few epochs; a tenth of the
    // training set for one epoch in a debug build lands a little lower.
    let args = [
        "train",
        "--data",
        data.to_str().unwrap(),
        "--hidden",
        "0",
        "--epochs",
        "1",
        "--train-limit",
        "6000",
        "--test-limit",
        "2000",
        "--json",
    ];
    let out = run_with_limit(EXE, &args, std::time::Duration::from_secs(120));
    assert!(out.status.success(), "{}", out.stderr);
    let s = testkit::run::parse_summary(&out.stdout);
    let accuracy = s.extra["accuracy"].as_f64().unwrap();
    assert!((0.74..0.86).contains(&accuracy), "accuracy {accuracy}");
    assert_eq!(s.extra["net"], "softmax regression 784-10");
}

#[test]
fn bad_data_sets_are_refused_by_name() {
    let bad = bad_train_inputs(EXE, &[]);
    assert_refusal(
        &bad.missing,
        &["train-images-idx3-ubyte.gz", "dataset-fashion-mnist"],
    );
    assert_refusal(
        &bad.wrong_magic,
        &["train-images-idx3-ubyte.gz", "wrong magic"],
    );
    assert_refusal(
        &bad.truncated_gzip,
        &["t10k-images-idx3-ubyte.gz", "truncated"],
    );
    assert_refusal(&bad.truncated_raw, &["t10k-labels-idx1-ubyte", "truncated"]);
    assert_refusal(
        &bad.corrupt_gzip,
        &["train-images-idx3-ubyte.gz", "corrupt"],
    );
    assert_refusal(&bad.bad_label, &["train-labels-idx1-ubyte.gz", "label 10"]);
    for (flag, value) in [
        ("--epochs", "0"),
        ("--batch", "0"),
        ("--shards", "0"),
        ("--lr", "-1"),
        ("--momentum", "1.5"),
        ("--target", "2"),
        ("--hidden", "lots"),
    ] {
        assert_refused(EXE, &["train", flag, value], flag);
    }
}
