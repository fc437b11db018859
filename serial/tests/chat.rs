//! The serial chat server, run for real: it serves one client at a time, so the checks the
//! other crates share (`testkit::chat`) are done here one client after another.

use decision_table::chat_load::{self, ChatLoadArgs};
use scenarios::chat::{self, Incoming};
use std::time::Duration;
use testkit::chat::{self as testing, Client, Server};

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
    for (bad, error) in [
        (
            [b"a".repeat(chat::MAX_LINE + 100), b"\n".to_vec()].concat(),
            chat::TOO_LONG,
        ),
        (b"caf\xe9 latin-1\n".to_vec(), chat::NOT_UTF8),
    ] {
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

#[test]
fn sigterm_tells_the_client_and_exits_0() {
    testing::shutdown_tells_every_client(EXE, 1, false);
}

#[test]
fn ctrl_c_tells_the_client_and_exits_0() {
    testing::shutdown_tells_every_client(EXE, 1, true);
}

#[test]
fn bad_server_flags_are_refused() {
    testing::bad_server_flags_are_refused(EXE);
}
