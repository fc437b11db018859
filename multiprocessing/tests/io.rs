//! The multiprocessing binary's `downloads` and `requests` against a real server started in this test
//! process on 127.0.0.1:0. The checks themselves live in `decision_table::testing_io`, written
//! once for the four crates: digests equal to the library's reference (so every model agrees),
//! every fault kind survived or reported by name, a dead server, bad flags.

use decision_table::testing::assert_help_lists;
use decision_table::testing_io as io;

const EXE: &str = env!("CARGO_BIN_EXE_multiprocessing");

#[test]
fn downloads_match_the_reference() {
    io::assert_downloads_match_the_reference(EXE);
}

#[test]
fn requests_match_the_reference() {
    io::assert_requests_match_the_reference(EXE);
}

#[test]
fn every_fault_kind_is_survived() {
    io::assert_every_fault_kind_is_survived(EXE);
}

#[test]
fn files_out_of_retries_are_reported_by_name() {
    io::assert_files_out_of_retries_are_reported_by_name(EXE);
}

#[test]
fn requests_survive_faults() {
    io::assert_requests_survive_faults(EXE);
}

#[test]
fn a_dead_server_fails_fast() {
    io::assert_a_dead_server_fails_fast(EXE);
}

#[test]
fn requests_overlap() {
    io::assert_requests_overlap(EXE);
}

#[test]
fn io_flags_are_checked() {
    io::assert_io_flags_are_checked(EXE);
}

#[test]
fn help_lists_the_io_scenarios() {
    assert_help_lists(EXE, &["downloads", "requests"]);
}
