//! The serial chat server, run for real: it serves one client at a time, so the checks the
//! other crates' `tests/chat.rs` make are made here one client after another;
//! `testkit::chat` does the plumbing.
//!
//! ```text
//! cargo test -p serial --test chat
//! ```

use decision_table::chat_load::{self, ChatLoadArgs};
use scenarios::chat::{self, Incoming};
use std::time::Duration;
use testkit::chat::{self as kit, Client, Launch, Server};
use testkit::run::assert_refused;

const EXE: &str = env!("CARGO_BIN_EXE_serial");

/// 50 clients one after another, 5 of them sending 20 lines: the server reads every line, and
/// never holds more than one client.
#[test]
fn fifty_clients_one_after_another_lose_nothing() {
    let server = Server::start(EXE, &[]);
    let mut ids = Vec::new();
    for i in 0..50 {
        let mut c = Client::connect(server.addr);
        ids.push(c.id);
        if i % 10 == 0 {
            for k in 0..20 {
                c.send(format!("message {k} from client {i}\n").as_bytes());
            }
        }
    }
    assert_eq!(ids, (1..=50).collect::<Vec<u64>>());
    let (status, summary) = server.stop();
    assert!(status.success());
    assert_eq!(summary.extra["clients_served"], 50);
    assert_eq!(summary.extra["peak_clients"], 1);
    assert_eq!(summary.extra["lines_in"], 100);
    // Nobody else is ever connected, so nothing is relayed.
    assert_eq!(summary.extra["deliveries"], 0);
}

#[test]
fn the_next_client_waits_until_the_first_leaves() {
    let server = Server::start(EXE, &[]);
    let first = Client::connect(server.addr);
    let mut second = Client::connect_unwelcomed(server.addr);
    assert!(
        !second.hears_within(Duration::from_millis(300)),
        "the second client was served while the first was still connected"
    );
    drop(first);
    let welcome = second.line().expect("a welcome");
    assert_eq!(chat::parse_incoming(&welcome), Incoming::Welcome(2));
    drop(second);
    let (status, _) = server.stop();
    assert!(status.success());
}

#[test]
fn the_load_client_shows_everyone_else_waiting() {
    let server = Server::start(EXE, &[]);
    let s = chat_load::run(&ChatLoadArgs {
        addr: server.addr,
        clients: 5,
        senders: Some(1),
        messages: 3,
        connect_timeout_s: 1,
        model: "serial".into(),
        ..Default::default()
    })
    .expect("the load runs");
    assert_eq!(s.extra["admitted"], 1);
    assert_eq!(s.extra["waiting"], 4);
    assert_eq!(s.failed, 4);
    let (status, _) = server.stop();
    assert!(status.success());
}

#[test]
fn a_bad_line_disconnects_its_sender_and_the_next_client_is_served() {
    let server = Server::start(EXE, &[]);
    for (bad, error) in kit::bad_lines() {
        let mut culprit = Client::connect(server.addr);
        culprit.send(&bad);
        assert_eq!(culprit.rest(), vec![error.trim_end().to_string()]);
    }
    let mut next = Client::connect(server.addr);
    next.send(b"fine\n");
    drop(next);
    let (status, summary) = server.stop();
    assert!(status.success());
    assert_eq!(summary.extra["bad_lines"], 2);
    assert_eq!(summary.extra["lines_in"], 1);
}

#[test]
fn a_client_vanishing_mid_line_frees_the_server() {
    let server = Server::start(EXE, &[]);
    let mut vanisher = Client::connect(server.addr);
    vanisher.send(b"half a li");
    drop(vanisher);
    let next = Client::connect(server.addr);
    assert_eq!(next.id, 2);
    drop(next);
    let (status, summary) = server.stop();
    assert!(status.success());
    assert_eq!(summary.extra["lines_in"], 0);
}

/// SIGTERM, or Ctrl-C (SIGINT to the server's process group, as a terminal sends it): the
/// client being served gets the shutdown notice and the end of the connection, and the server
/// exits 0.
fn shutdown_tells_the_client(ctrl_c: bool) {
    let server = Server::start_in_own_group(EXE, &[]);
    let mut client = Client::connect(server.addr);
    assert!(
        server.children().is_empty(),
        "one process, nothing to leave behind"
    );
    if ctrl_c {
        server.ctrl_c();
    } else {
        server.sigterm();
    }
    assert_eq!(client.rest(), vec![chat::SHUTDOWN.trim_end().to_string()]);
    let (status, summary) = server.wait();
    assert!(status.success(), "{status}");
    assert_eq!(summary.extra["clients_served"], 1);
}

#[test]
fn sigterm_tells_the_client_and_exits_0() {
    shutdown_tells_the_client(false);
}

#[test]
fn ctrl_c_tells_the_client_and_exits_0() {
    shutdown_tells_the_client(true);
}

#[test]
fn bad_server_flags_are_refused() {
    assert_refused(EXE, &["chat-server", "--addr", "localhost"], "--addr");
    assert_refused(EXE, &["chat-server", "--queue", "0"], "--queue");
    assert_refused(EXE, &["chat-server", "--queue", "-4"], "--queue");
    // An address that is taken: a clear error, not a panic.
    let (_taken, addr) = kit::taken_address();
    assert_refused(EXE, &["chat-server", "--addr", &addr], "in use");
}

/// Listening on every interface is allowed, with a warning after the address line; on
/// loopback (the default) there is no warning.
#[test]
fn listening_beyond_this_machine_comes_with_a_warning() {
    let open = Server::launch(
        EXE,
        Launch {
            addr: "0.0.0.0:0",
            ..Launch::default()
        },
    );
    let quiet = Server::start(EXE, &[]);
    let (status, _, log) = open.stop_with_log();
    assert!(status.success());
    assert!(log[0].contains("listening on 0.0.0.0:"), "{log:#?}");
    assert!(log[1].starts_with("warning: "), "{log:#?}");
    assert!(log[1].contains("every network interface"), "{log:#?}");
    let (status, _, log) = quiet.stop_with_log();
    assert!(status.success());
    assert!(!log.iter().any(|l| l.contains("warning")), "{log:#?}");
}
