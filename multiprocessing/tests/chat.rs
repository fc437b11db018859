//! The multiprocessing chat server, run for real: started on 127.0.0.1:0 as a child process of
//! the test, driven by hand-made clients and the load client, stopped with SIGTERM or Ctrl-C.
//! The threading and asyncio servers' `tests/chat.rs` make the same checks, so a diff of the
//! three shows what the model changes (here: the children, which must never be orphaned);
//! `testkit::chat` does the plumbing.
//!
//! ```text
//! cargo test -p multiprocessing --test chat
//! ```

use decision_table::chat_load;
use scenarios::chat;
use std::time::{Duration, Instant};
use testkit::chat::{self as kit, Client, Launch, Server};
use testkit::run::assert_refused;

const EXE: &str = env!("CARGO_BIN_EXE_multiprocessing");

/// 50 clients, 5 of them sending 20 messages each: every message reaches the 49 others once.
#[test]
fn fifty_clients_lose_nothing() {
    let server = Server::start(EXE, &[]);
    let s = chat_load::run(&kit::load(server.addr, 50, 5, 20)).expect("the load runs");
    assert_eq!(s.extra["expected"], 5 * 20 * 49);
    assert_eq!(s.extra["delivered"], 5 * 20 * 49, "{s:?}");
    assert_eq!(s.extra["lost"], 0);
    assert_eq!(s.extra["duplicated"], 0);
    assert_eq!(s.failed, 0);
    let (status, summary) = server.stop();
    assert!(status.success(), "{status}");
    assert_eq!(summary.scenario, "chat");
    assert_eq!(summary.extra["clients_served"], 50);
    assert_eq!(summary.extra["lines_in"], 100);
    assert_eq!(summary.extra["deliveries"], 5 * 20 * 49);
}

/// A client that never reads while 2 senders push 8 MB at it: the other clients still get
/// everything, and the slow one is cut off with a notice, its last line.
#[test]
fn a_slow_reader_does_not_stall_the_others() {
    let server = Server::start(EXE, &[]);
    let mut slow = Client::connect(server.addr);
    let s = chat_load::run(&kit::flood(server.addr)).expect("the load runs");
    assert_eq!(s.extra["lost"], 0, "{s:?}");
    assert_eq!(s.failed, 0);
    // Now the slow reader reads: what was already on its way, then the notice, then the end.
    let heard = std::iter::from_fn(|| slow.line())
        .find(|l| l.contains("messages behind; disconnecting"))
        .expect("the slow reader was never told it fell behind");
    assert!(heard.starts_with("* "), "{heard}");
    assert_eq!(heard, chat::too_slow(256).trim_end());
    assert!(slow.rest().is_empty(), "nothing after the notice");
    let (status, summary) = server.stop();
    assert!(status.success());
    assert!(summary.extra["kicked"].as_u64().unwrap() > 0, "{summary:?}");
}

/// An overlong line and a non-UTF-8 line: each sender gets its error line and is disconnected;
/// a bystander hears nothing of it and keeps chatting.
#[test]
fn bad_lines_disconnect_only_their_sender() {
    let server = Server::start(EXE, &[]);
    let mut watcher = Client::connect(server.addr);
    let mut talker = Client::connect(server.addr);
    for (bad, error) in kit::bad_lines() {
        let mut culprit = Client::connect(server.addr);
        culprit.send(&bad);
        assert_eq!(culprit.rest(), vec![error.trim_end().to_string()]);
    }
    talker.send(b"still here\n");
    assert_eq!(
        watcher.line().as_deref(),
        Some(format!("#{}: still here", talker.id).as_str())
    );
    drop((watcher, talker));
    let (status, summary) = server.stop();
    assert!(status.success());
    assert_eq!(summary.extra["bad_lines"], 2);
    assert_eq!(summary.extra["lines_in"], 1);
}

/// A client that sends half a line and vanishes: the half is dropped, the others carry on.
#[test]
fn a_client_vanishing_mid_line_changes_nothing() {
    let server = Server::start(EXE, &[]);
    let mut watcher = Client::connect(server.addr);
    let mut talker = Client::connect(server.addr);
    let mut vanisher = Client::connect(server.addr);
    vanisher.send(b"half a li");
    drop(vanisher);
    talker.send(b"after\n");
    assert_eq!(
        watcher.line().as_deref(),
        Some(format!("#{}: after", talker.id).as_str())
    );
    drop((watcher, talker));
    let (status, summary) = server.stop();
    assert!(status.success());
    assert_eq!(summary.extra["lines_in"], 1);
    assert_eq!(summary.extra["clients_served"], 3);
}

/// SIGTERM, or Ctrl-C (SIGINT to the server's process group, as a terminal sends it): every
/// connected client gets the shutdown notice and the end of the connection, the server exits
/// 0, and no child process is left behind.
fn shutdown_tells_every_client(ctrl_c: bool) {
    let server = Server::start_in_own_group(EXE, &[]);
    let connected: Vec<Client> = (0..3).map(|_| Client::connect(server.addr)).collect();
    let children = server.children();
    if ctrl_c {
        server.ctrl_c();
    } else {
        server.sigterm();
    }
    for mut c in connected {
        assert_eq!(c.rest(), vec![chat::SHUTDOWN.trim_end().to_string()]);
    }
    let (status, summary) = server.wait();
    assert!(status.success(), "{status}");
    assert_eq!(summary.extra["clients_served"], 3);
    assert!(kit::all_gone(&children), "orphans: {children:?}");
}

#[test]
fn sigterm_tells_every_client_and_exits_0() {
    shutdown_tells_every_client(false);
}

/// Ctrl-C reaches the children too: they ignore it and let the parent close every connection.
#[test]
fn ctrl_c_tells_every_client_and_exits_0() {
    shutdown_tells_every_client(true);
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

/// Out of file descriptors (the server started with a limit of 32), every newcomer is told the
/// server is full and disconnected, the server says why once, and it takes clients again as
/// soon as one leaves.
#[test]
fn at_the_open_file_limit_newcomers_are_told_the_server_is_full() {
    let server = Server::launch(
        EXE,
        Launch {
            open_files: Some(32),
            ..Launch::default()
        },
    );
    let is_welcome = |l: &Option<String>| l.as_deref().is_some_and(|l| l.starts_with("* welcome"));
    let mut conns = kit::first_lines(server.addr, 40);
    let (welcomed, full): (Vec<_>, Vec<_>) = conns.iter_mut().partition(|(_, l)| is_welcome(l));
    let (welcomed, mut turned_away) = (welcomed.len(), full.len());
    assert!(welcomed > 0, "nobody got in");
    assert!(
        turned_away >= 5,
        "the limit was not reached: {welcomed} of 40 got in"
    );
    for (client, line) in full {
        let line = line.as_deref().expect("a line, not a silent close");
        assert!(line.starts_with("* error: server is full ("), "{line}");
        assert!(client.rest().is_empty(), "and then the end");
    }
    // One leaves; the server takes a newcomer again once it has closed that connection.
    conns.remove(0);
    let deadline = Instant::now() + kit::PATIENCE;
    let newcomer = loop {
        let mut c = Client::connect_unwelcomed(server.addr);
        let line = c.line().expect("a line, not a silent close");
        if line.starts_with("* welcome") {
            break c;
        }
        assert!(line.starts_with("* error: server is full ("), "{line}");
        turned_away += 1;
        assert!(Instant::now() < deadline, "never took a client again");
        std::thread::sleep(Duration::from_millis(20));
    };
    drop((conns, newcomer));
    let (status, summary, log) = server.stop_with_log();
    assert!(status.success(), "{status}");
    assert_eq!(summary.extra["clients_served"], welcomed + 1);
    assert_eq!(summary.extra["rejected"], turned_away);
    let said = log
        .iter()
        .filter(|l| l.contains("turning clients away"))
        .count();
    assert_eq!(said, 1, "once, then counts: {log:#?}");
    assert!(!log.iter().any(|l| l.contains("cannot accept")), "{log:#?}");
}

/// A process per client, really: each connection is served by a child of the server.
fn server_with_clients(server: &Server, n: usize) -> (Vec<Client>, Vec<u32>) {
    let clients: Vec<_> = (0..n).map(|_| Client::connect(server.addr)).collect();
    let children = server.children();
    assert_eq!(children.len(), n, "one child process per client");
    (clients, children)
}

/// A server killed outright takes its children with it.
#[test]
fn a_killed_server_leaves_no_orphans() {
    let server = Server::start(EXE, &[]);
    let (mut clients, children) = server_with_clients(&server, 3);
    server.kill();
    assert!(kit::all_gone(&children), "orphans: {children:?}");
    for c in &mut clients {
        assert!(c.rest().is_empty(), "the connection just ends");
    }
}
