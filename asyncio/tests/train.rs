//! `train` with each step's shards on tokio's blocking threads, for real, on a small data set
//! written in-process: the digest must equal the single-threaded reference for every
//! `--workers`. The event loop only hands the work out; the arithmetic is the same.

use testkit::run::run_json;
use testkit::train::small_set;

const EXE: &str = env!("CARGO_BIN_EXE_asyncio");

#[test]
fn every_worker_count_trains_the_reference_bits() {
    let set = small_set(&[]);
    for workers in ["1", "2", "3"] {
        let (s, _) = run_json(EXE, &set.command(&["--workers", workers]));
        assert_eq!(s.digest, set.digest, "--workers {workers}");
        assert_eq!(s.variant, "spawn_blocking");
        assert_eq!(s.extra["accuracy"].as_f64(), Some(set.accuracy));
    }
}
