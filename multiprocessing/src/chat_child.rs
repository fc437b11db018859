//! The child's side of the multiprocessing chat server: one process per client, started by the
//! parent (`chat_server.rs`) as this binary's hidden `chat-child` subcommand. Its stdin is the
//! client's socket, which it reads and writes; its stdout is its channel to the parent, in
//! length-prefixed frames (`scenarios::frame`) whose first byte says what they carry (the
//! constants below, written once for both sides).
//!
//! ```text
//! cargo run -p multiprocessing -- chat-server   # the parent starts these; people do not
//! ```
//!
//! One thread reads the client and passes its lines up; the main thread writes to the client
//! whatever the parent sends down, until the parent closes the channel. The child checks that
//! every line is UTF-8 and no longer than the limit, so the parent never sees a bad line, only
//! the error to send for it. It dies with the parent (`tie_to_parent`), and ignores Ctrl-C:
//! the signal mask it inherits blocks it, and the parent says when to stop.

use anyhow::{Context, Result};
use scenarios::chat::{self, Line};
use scenarios::console;
use scenarios::frame::{read_frame, write_frame};
use std::io::{BufReader, BufWriter, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::thread;

/// Child to parent: a valid line from the client.
pub const LINE: u8 = b'L';
/// Child to parent: the error line for a bad line; the parent cuts the client off with it.
pub const BAD: u8 = b'B';
/// Child to parent: the client has gone.
pub const GONE: u8 = b'G';
/// Parent to child: bytes to write to the client (relayed lines, gathered). The parent closing
/// its end of the channel means "say nothing more and close".
pub const DATA: u8 = b'D';

/// The hidden `chat-child` subcommand: serve the client on stdin, talk to the parent on stdout.
pub fn run() -> Result<()> {
    // Stdout is the channel to the parent: human lines must go to stderr.
    console::set_json(true);
    crate::child_main::tie_to_parent()?;
    let tcp = TcpStream::from(
        std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .context("stdin is not the client's socket")?,
    );
    let parent = UnixStream::from(
        std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .context("stdout is not the channel to the parent")?,
    );
    let _ = tcp.set_nodelay(true);
    tcp.set_write_timeout(Some(chat::WRITE_STALL))?;
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    let reader = {
        let (tcp, parent) = (tcp.try_clone()?, parent.try_clone()?);
        thread::Builder::new()
            .name("client-reader".into())
            .spawn(move || {
                let parent = read_client(tcp, parent);
                let _ = done_tx.send(());
                parent
            })?
    };
    // This thread: whatever the parent sends goes to the client, until the parent closes.
    let mut frames = BufReader::new(parent.try_clone()?);
    let mut out = &tcp;
    while let Ok(Some(frame)) = read_frame(&mut frames) {
        match frame.split_first() {
            Some((&DATA, bytes)) if out.write_all(bytes).is_ok() => {}
            // The client stopped taking data (WRITE_STALL) or went away.
            _ => break,
        }
    }
    // Say no more, give the client a moment to read it and close, then stop reading too.
    let _ = tcp.shutdown(Shutdown::Write);
    let _ = done_rx.recv_timeout(chat::LINGER);
    let _ = tcp.shutdown(Shutdown::Read);
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reading thread panicked"))?;
    Ok(())
}

/// The child's reading thread: pass the client's lines to the parent until it leaves. After a
/// bad line, pass the error instead and drop whatever else comes. Hands the channel back.
fn read_client(tcp: TcpStream, parent: UnixStream) -> BufWriter<UnixStream> {
    let mut reader = BufReader::with_capacity(chat::READ_BUFFER, tcp);
    let mut to_parent = BufWriter::new(parent);
    let mut buf = Vec::new();
    let mut frame = Vec::new();
    let mut closing = false;
    loop {
        frame.clear();
        match chat::read_line(&mut reader, &mut buf) {
            Ok(Line::Text(_)) if closing => continue,
            Ok(Line::Text(text)) => {
                frame.push(LINE);
                frame.extend_from_slice(text.as_bytes());
            }
            Ok(bad @ (Line::TooLong | Line::NotUtf8)) if !closing => {
                closing = true;
                frame.push(BAD);
                frame.extend_from_slice(bad.error().expect("a bad line").as_bytes());
            }
            Ok(Line::TooLong | Line::NotUtf8) => continue,
            Ok(Line::End | Line::EndMidLine) | Err(_) => break,
        }
        // Send at once, unless another whole line is already here to go with it (then the
        // next read does not wait for the client).
        let more = !closing && reader.buffer().contains(&b'\n');
        let sent = write_frame(&mut to_parent, &frame)
            .and_then(|()| if more { Ok(()) } else { to_parent.flush() });
        if sent.is_err() {
            break;
        }
    }
    let _ = write_frame(&mut to_parent, &[GONE]).and_then(|()| to_parent.flush());
    to_parent
}
