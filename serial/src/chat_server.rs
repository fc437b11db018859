//! The chat server done serially: accept one client, serve it until it leaves, then accept the
//! next. It speaks the whole protocol and works, for one person at a time: with nobody else
//! connected there is nobody to relay to, and everyone who connects meanwhile waits in the
//! kernel's listen queue without even a welcome. `decision-table chat-load` shows that: one
//! client let in, the rest still waiting when it gives up.
//!
//! ```text
//! cargo run -p serial -- chat-server [--addr 127.0.0.1:7878]
//! cargo run -p decision-table -- chat-load --clients 10 --connect-timeout-s 3 --model serial
//! ```
//!
//! The one other thread is the signal watcher: Ctrl-C or SIGTERM must reach a server that is
//! blocked reading its client. It sends that client the shutdown notice and closes its socket,
//! which wakes the main thread, which then exits 0. (`--queue` is accepted and unused: nothing
//! is ever queued here.)

use crate::MODEL;
use anyhow::Result;
use scenarios::chat::{self, Acceptor, ChatServerArgs, Counters, Line};
use scenarios::{Label, Run, Summary};
use std::io::{BufReader, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

pub fn run(args: &ChatServerArgs) -> Result<Summary> {
    let run = Run::start("chat", Label::new(MODEL, "one-at-a-time", 0), 0);
    // The client being served, for the signal watcher to say goodbye to.
    let current: Arc<Mutex<Option<TcpStream>>> = Arc::default();
    let serving = Arc::clone(&current);
    let acceptor = Acceptor::listen(MODEL, args.addr, move || {
        if let Some(mut client) = serving.lock().expect("current client").take() {
            let _ = client.set_write_timeout(Some(chat::LINGER));
            let _ = client.write_all(chat::SHUTDOWN.as_bytes());
            let _ = client.shutdown(Shutdown::Both);
        }
    })?;
    let counters = Counters::default();
    let mut next_id = 1;
    let stopping = acceptor.stop_flag();
    acceptor.serve(&counters, |stream| {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(chat::WRITE_STALL));
        *current.lock().expect("current client") = stream.try_clone().ok();
        // The signal may have come between the accept and the line above.
        if stopping.load(Ordering::SeqCst) {
            chat::close_with(&stream, chat::SHUTDOWN);
            return;
        }
        connection(stream, next_id, &counters);
        next_id += 1;
        current.lock().expect("current client").take();
    });
    Ok(counters.finish(run))
}

/// One connection: relay its lines until it leaves.
fn connection(stream: TcpStream, id: u64, counters: &Counters) {
    let mut out = &stream;
    counters.joined();
    // A client that is gone already fails the first read below too.
    let _ = out.write_all(chat::welcome(id).as_bytes());
    let mut reader = BufReader::with_capacity(chat::READ_BUFFER, &stream);
    let mut buf = Vec::new();
    loop {
        match chat::read_line(&mut reader, &mut buf) {
            // Every other connected client gets the line: there are none.
            Ok(Line::Text(_)) => Counters::count(&counters.lines_in, 1),
            Ok(bad @ (Line::TooLong | Line::NotUtf8)) => {
                Counters::count(&counters.bad_lines, 1);
                chat::close_with(&stream, bad.error().expect("a bad line"));
                break;
            }
            Ok(Line::End | Line::EndMidLine) | Err(_) => break,
        }
    }
    counters.left();
}
