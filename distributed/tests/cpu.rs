//! `matrix` and `images` on the distributed model against a throw-away Redis (testkit's
//! `Broker`), on small inputs made in-process: the digest must equal the library's
//! single-threaded reference, the bytes that travelled must be counted, and a run must leave
//! nothing behind in the broker. Bad setups (no broker, no workers, a bad image) are refused
//! with a message that says what to do.
//!
//! `cargo test -p distributed --test cpu` (needs `redis-server`; `.ci/run` installs it)

use testkit::broker::Broker;
use testkit::cpu::{TEST_SIGMA, cpu_inputs, partial_files};
use testkit::run::{parse_summary, run, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_distributed");

#[test]
fn local_workers_match_the_reference_and_count_what_travelled() {
    let broker = Broker::start();
    let url = broker.url();
    let inputs = cpu_inputs(37, 5);
    let dir = inputs.matrix.to_str().unwrap();
    for workers in ["1", "3"] {
        let args = [
            "matrix",
            dir,
            "--block-rows",
            "8",
            "--workers",
            workers,
            "--broker",
            &url,
        ];
        let (s, _) = run_json(EXE, &args);
        assert_eq!(s.digest, inputs.matrix_digest, "{args:?}");
        assert_eq!((s.model.as_str(), s.items, s.failed), ("distributed", 5, 0));
        // B (37 x 37 f64s) travels once per worker process that took a block, never per block.
        let b_bytes = 16 + 37 * 37 * 8;
        let broadcast = s.extra["broadcast_bytes"].as_u64().unwrap();
        let processes = s.extra["processes"].as_u64().unwrap();
        assert_eq!(broadcast, processes * b_bytes, "{s:?}");
        assert!(processes >= 1 && processes <= workers.parse().unwrap());
        // Each block's rows of A out and of C back (37 rows in 5 blocks, 37 columns, f64s),
        // plus the row hashes; the projection is there.
        let moved = s.extra["bytes_per_task"].as_u64().unwrap();
        assert!(moved * 5 >= 2 * 37 * 37 * 8, "{s:?}");
        assert!(s.extra["projected_s"]["10"].as_f64().is_some());
    }

    let out = inputs.dir.path().join("out");
    let (imgs, out_s) = (inputs.images.to_str().unwrap(), out.to_str().unwrap());
    let args = [
        "images",
        imgs,
        "--out",
        out_s,
        "--sigma",
        TEST_SIGMA,
        "--workers",
        "2",
    ];
    let (s, _) = run_json(EXE, &[&args[..], &["--broker", &url]].concat());
    assert_eq!(s.digest, inputs.images_digest);
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 5);
    assert!(partial_files(&out).is_empty());
    // Every PNG's bytes went through the engine: at least their size on disk.
    let on_disk: u64 = std::fs::read_dir(&inputs.images)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(s.extra["bytes_to_workers"].as_u64().unwrap() >= on_disk);
    assert_eq!(s.extra["duplicates"], 0);
    // The runs cleaned up after themselves: no run keys, no task entries left.
    assert_eq!(broker.keys("dt:rust:run:"), Vec::<String>::new());
    assert_eq!(broker.pending("rust"), 0);
}

#[test]
fn a_bad_image_is_named_and_the_others_are_processed_with_keep_going() {
    let broker = Broker::start();
    let inputs = cpu_inputs(8, 3);
    std::fs::write(inputs.images.join("img-001.png"), b"not a picture").unwrap();
    let out = inputs.dir.path().join("out");
    let args = [
        "images",
        inputs.images.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--workers",
        "2",
        "--broker",
        &broker.url(),
    ];
    let stopped = run(EXE, &args);
    assert!(!stopped.status.success());
    assert!(
        stopped.stderr.contains("img-001.png: not a valid PNG"),
        "{}",
        stopped.stderr
    );

    let kept = run(EXE, &[&args[..], &["--keep-going", "--json"]].concat());
    assert!(!kept.status.success());
    let s = parse_summary(&kept.stdout);
    assert_eq!((s.items, s.failed), (3, 1));
    assert!(kept.stderr.contains("img-001.png"), "{}", kept.stderr);
    assert!(partial_files(&out).is_empty());
}

#[test]
fn no_broker_or_no_worker_is_a_clear_error() {
    let inputs = cpu_inputs(8, 1);
    let dir = inputs.matrix.to_str().unwrap();
    // Port 1 on loopback: nothing listens there.
    let out = run(EXE, &["matrix", dir, "--broker", "redis://127.0.0.1:1"]);
    assert!(!out.status.success());
    assert!(
        out.stderr
            .contains("cannot reach the broker at redis://127.0.0.1:1"),
        "{}",
        out.stderr
    );

    let broker = Broker::start();
    let args = [
        "matrix",
        dir,
        "--broker",
        &broker.url(),
        "--remote",
        "--workers",
        "2",
    ];
    let out = run(EXE, &[&args[..], &["--wait-workers-s", "1"]].concat());
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("only 0 of the 2 workers")
            && out.stderr.contains("distributed worker --broker"),
        "{}",
        out.stderr
    );
    assert!(out.elapsed < std::time::Duration::from_secs(10));
}
