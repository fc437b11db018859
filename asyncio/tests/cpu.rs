//! `matrix` and `images` as tasks, with the CPU work on tokio's blocking threads or (the
//! mistake) on the event loop, on small inputs made in-process: every variant's digest must
//! equal the library's single-threaded reference, and the blocking variant must be seen to
//! starve the event loop.

use testkit::run::{TEST_SIGMA, assert_cpu_bad_inputs, cpu_inputs, run_json};

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

#[test]
fn bad_inputs_are_named_and_keep_going_counts_them() {
    assert_cpu_bad_inputs(EXE, &["--workers", "2"]);
    assert_cpu_bad_inputs(EXE, &["--variant", "blocking"]);
}
