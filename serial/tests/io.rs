//! The serial binary's `downloads` and `requests` against a real server started in this test
//! process on 127.0.0.1:0. The checks live in `testkit::io`, written once for
//! the four crates: digests equal to the library's reference (so every model agrees), every
//! fault kind survived by retrying or reported by name, a dead server, bad flags, and
//! one request at a time (this is the baseline).

testkit::io_tests!(env!("CARGO_BIN_EXE_serial"), OneAtATime);
