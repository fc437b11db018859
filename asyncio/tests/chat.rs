//! The asyncio chat server, run for real: started on 127.0.0.1:0 as a child process of the test,
//! loaded with the load client, stopped with SIGTERM. The checks are written once in
//! `testkit::chat`.

use testkit::chat as chat;

const EXE: &str = env!("CARGO_BIN_EXE_asyncio");

#[test]
fn fifty_clients_lose_nothing() {
    chat::fifty_clients_lose_nothing(EXE);
}

#[test]
fn a_slow_reader_does_not_stall_the_others() {
    chat::slow_reader_does_not_stall_the_others(EXE, "messages behind; disconnecting");
}

#[test]
fn bad_lines_disconnect_only_their_sender() {
    chat::bad_lines_disconnect_only_their_sender(EXE);
}

#[test]
fn a_client_vanishing_mid_line_changes_nothing() {
    chat::a_client_vanishing_mid_line_changes_nothing(EXE);
}

#[test]
fn sigterm_tells_every_client_and_exits_0() {
    chat::shutdown_tells_every_client(EXE, 3, false);
}

#[test]
fn ctrl_c_tells_every_client_and_exits_0() {
    chat::shutdown_tells_every_client(EXE, 3, true);
}

#[test]
fn bad_server_flags_are_refused() {
    chat::bad_server_flags_are_refused(EXE);
}
