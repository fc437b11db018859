//! `decision-table chat-load`, run for real: against a small relay server started in the
//! test (the four real servers are tested from their own crates), against nothing, and with
//! bad flags.

use decision_table::chat_load::{ChatLoadArgs, run as load};
use scenarios::Summary;
use scenarios::chat;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use testkit::run::{assert_refused, help, parse_summary, run};

const EXE: &str = env!("CARGO_BIN_EXE_decision-table");

/// A relay server in a few lines: every line goes to every other client, under a lock.
fn toy_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let clients: Arc<Mutex<Vec<(u64, TcpStream)>>> = Arc::default();
    std::thread::spawn(move || {
        for (id, stream) in (1..).zip(listener.incoming()) {
            let mut stream = stream.unwrap();
            stream.set_nodelay(true).unwrap();
            let mut all = clients.lock().unwrap();
            stream.write_all(chat::welcome(id).as_bytes()).unwrap();
            all.push((id, stream.try_clone().unwrap()));
            drop(all);
            let clients = Arc::clone(&clients);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    for (other, s) in clients.lock().unwrap().iter_mut() {
                        if *other != id {
                            let _ = s.write_all(&chat::relay_line(id, &line));
                        }
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_run_prints_one_json_summary_with_every_figure() {
    let addr = toy_server();
    let args = [
        "chat-load",
        "--addr",
        &addr,
        "--clients",
        "20",
        "--senders",
        "4",
        "--messages",
        "5",
        "--model",
        "toy",
        "--json",
    ];
    let out = run(EXE, &args);
    assert!(out.status.success(), "{}", out.stderr);
    let s = parse_summary(&out.stdout);
    assert_eq!((s.scenario.as_str(), s.model.as_str()), ("chat", "toy"));
    assert_eq!(s.extra["expected"], 4 * 5 * 19);
    assert_eq!(s.extra["delivered"], 4 * 5 * 19);
    for figure in [
        "connect_s",
        "lost",
        "duplicated",
        "latency_p50_ms",
        "latency_p99_ms",
        "latency_max_ms",
        "deliveries_per_s",
    ] {
        assert!(s.extra.contains_key(figure), "no {figure} in {s:?}");
    }
    assert!(
        out.stderr.contains("20 clients connected"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_paced_run_reads_the_server_s_memory_and_its_own_schedule() {
    // The toy server runs in this test process, so its pid is ours.
    let addr = toy_server();
    let pid = std::process::id().to_string();
    let args = [
        "chat-load",
        "--addr",
        &addr,
        "--clients",
        "30",
        "--senders",
        "3",
        "--messages",
        "4",
        "--rate",
        "20",
        "--server-pid",
        &pid,
        "--json",
    ];
    let out = run(EXE, &args);
    assert!(out.status.success(), "{}", out.stderr);
    let s = parse_summary(&out.stdout);
    assert_eq!(s.extra["delivered"], 3 * 4 * 29);
    let kib = |k: &str| {
        s.extra[k]
            .as_u64()
            .unwrap_or_else(|| panic!("no {k} in {s:?}"))
    };
    // The server's memory with everyone in: PSS at most RSS, and at least one process.
    assert!(kib("server_pss_kib") > 0);
    assert!(kib("server_pss_kib") <= kib("server_rss_kib"));
    assert!(kib("server_processes") >= 1);
    assert!(s.extra.contains_key("server_pss_idle_kib"));
    assert!(s.extra.contains_key("server_pss_per_client_kib"));
    // Paced: 4 messages at 20/s each, the last due at (3 + 2/3) / 20 s, and it left then or
    // later, never before (the schedule is absolute).
    assert_eq!(s.extra["rate"], 20);
    let due = s.extra["schedule_s"].as_f64().unwrap();
    assert!((due - 0.183).abs() < 0.001, "{due}");
    assert!(s.extra["send_s"].as_f64().unwrap() >= due - 0.001);
    let late = s.extra["send_late_max_ms"].as_f64().unwrap();
    assert!(late >= s.extra["send_late_p99_ms"].as_f64().unwrap());
    assert!(
        out.stderr.contains("server memory with 30 clients in"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_server_pid_that_is_not_running_is_refused() {
    let addr = toy_server();
    let out = run(
        EXE,
        &[
            "chat-load",
            "--addr",
            &addr,
            "--clients",
            "2",
            "--server-pid",
            "2147483646",
        ],
    );
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("--server-pid 2147483646"),
        "{}",
        out.stderr
    );
}

#[test]
fn nothing_listening_is_a_clear_failure() {
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let out = run(
        EXE,
        &["chat-load", "--addr", &addr, "--clients", "3", "--json"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains("could not connect"), "{}", out.stderr);
    assert!(out.stderr.contains("refused"), "{}", out.stderr);
    assert_eq!(parse_summary(&out.stdout).failed, 3);
}

#[test]
fn bad_flags_are_refused() {
    assert_refused(EXE, &["chat-load", "--clients", "0"], "--clients");
    assert_refused(EXE, &["chat-load", "--clients", "-2"], "--clients");
    assert_refused(
        EXE,
        &["chat-load", "--clients", "2", "--senders", "3"],
        "--senders",
    );
    assert_refused(EXE, &["chat-load", "--addr", "nowhere"], "--addr");
    assert_refused(EXE, &["chat-load", "--payload", "9000"], "--payload");
    assert_refused(EXE, &["chat-load", "--rate", "0"], "--rate");
    assert_refused(EXE, &["chat-load", "--timeout-s", "0"], "--timeout-s");
    assert_refused(EXE, &["chat-load", "--server-pid", "0"], "--server-pid");
}

#[test]
fn help_lists_chat_load() {
    let help = help(EXE, &["chat-load"]);
    assert!(help.listing.status.success());
    for (sub, out) in &help.subcommands {
        let listing = &help.listing.stdout;
        assert!(
            listing.contains(sub),
            "--help does not list {sub}:\n{listing}"
        );
        assert!(out.status.success(), "{sub} --help failed");
    }
}

/// A relay server in a few lines, with a fault switch: the load client must notice when a
/// message is dropped or sent twice.
async fn async_toy_server(fault: Option<&'static str>) -> SocketAddr {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::sync::broadcast;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, _) = broadcast::channel::<(u64, String)>(1024);
    tokio::spawn(async move {
        for id in 1.. {
            let (stream, _) = listener.accept().await.unwrap();
            let (r, mut w) = stream.into_split();
            let (tx, mut rx) = (tx.clone(), tx.subscribe());
            w.write_all(chat::welcome(id).as_bytes()).await.unwrap();
            tokio::spawn(async move {
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    let _ = tx.send((id, l));
                }
            });
            tokio::spawn(async move {
                let mut count = 0;
                while let Ok((from, text)) = rx.recv().await {
                    if from == id {
                        continue;
                    }
                    count += 1;
                    let line = chat::relay_line(from, &text);
                    let times = match fault {
                        Some("drop") if count == 3 => 0,
                        Some("twice") if count == 3 => 2,
                        _ => 1,
                    };
                    for _ in 0..times {
                        if w.write_all(&line).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn load_against(fault: Option<&'static str>) -> Summary {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = rt.block_on(async_toy_server(fault));
    let args = ChatLoadArgs {
        addr,
        clients: 6,
        senders: Some(2),
        messages: 5,
        timeout_s: 5,
        ..Default::default()
    };
    // `run` builds its own runtime; the toy server keeps running on `rt`'s threads.
    load(&args).unwrap()
}

#[test]
fn a_correct_server_loses_nothing() {
    let s = load_against(None);
    assert_eq!(s.extra["expected"], 2 * 5 * 5);
    assert_eq!(s.extra["delivered"], 50);
    assert_eq!((s.extra["lost"].as_u64(), s.failed), (Some(0), 0));
}

#[test]
fn a_dropped_message_is_lost_and_a_doubled_one_duplicated() {
    let dropped = load_against(Some("drop"));
    // Every one of the 6 clients misses its third message.
    assert_eq!(dropped.extra["lost"], 6);
    assert_eq!(dropped.failed, 6);
    let doubled = load_against(Some("twice"));
    assert_eq!(doubled.extra["duplicated"], 6);
    assert_eq!(doubled.extra["lost"], 0);
    assert_eq!(doubled.failed, 6);
    assert_ne!(doubled.digest, dropped.digest);
    assert_eq!(doubled.digest, load_against(None).digest);
}
