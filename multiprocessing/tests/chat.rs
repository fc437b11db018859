//! The multiprocessing chat server, run for real: started on 127.0.0.1:0 as a child process of the test,
//! loaded with the load client, stopped with SIGTERM. The checks are written once in
//! `testkit::chat`.

use testkit::chat;

const EXE: &str = env!("CARGO_BIN_EXE_multiprocessing");

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

/// Ctrl-C reaches the children too: they ignore it and let the parent close every connection.
#[test]
fn ctrl_c_tells_every_client_and_exits_0() {
    chat::shutdown_tells_every_client(EXE, 3, true);
}

#[test]
fn bad_server_flags_are_refused() {
    chat::bad_server_flags_are_refused(EXE);
}

/// A process per client, really: each connection is served by a child of the server.
fn server_with_clients(server: &chat::Server, n: usize) -> (Vec<chat::Client>, Vec<u32>) {
    let clients: Vec<_> = (0..n).map(|_| chat::Client::connect(server.addr)).collect();
    let children = server.children();
    assert_eq!(children.len(), n, "one child process per client");
    (clients, children)
}

/// A server killed outright takes its children with it.
#[test]
fn a_killed_server_leaves_no_orphans() {
    let server = chat::Server::start(EXE, &[]);
    let (mut clients, children) = server_with_clients(&server, 3);
    server.kill();
    chat::assert_all_gone(&children);
    for c in &mut clients {
        assert!(c.rest().is_empty(), "the connection just ends");
    }
}
