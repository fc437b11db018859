//! How the asyncio chat server listens and stops: the blocking servers' [`super::Acceptor`],
//! for tokio. The same steps in the same order (bind, install the signal handlers *before*
//! announcing the address, raise the open-file limit, announce, accept until Ctrl-C or
//! SIGTERM), the same reserve descriptor for turning newcomers away at the open-file limit, so
//! the asyncio server's own file holds only what a connection does.
//!
//! The difference is how a signal reaches the loop: tokio's signal streams are futures, so the
//! accept loop waits on "a connection or a signal" in one `select!`, where the blocking one
//! needs a signal thread and a connection to itself to wake `accept`.
//!
//! Nothing to run on its own: `cargo run -p asyncio -- chat-server`, then Ctrl-C.

use super::acceptor::{Reserve, is_out_of_files, out_of_files};
use super::{Counters, announce, full, raise_fd_limit};
use crate::say;
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Resolves with the signal's name on Ctrl-C or SIGTERM.
type StopSignal = Pin<Box<dyn Future<Output = &'static str> + Send>>;

/// The listening socket of the asyncio server, and the stop signal it waits for.
pub struct AsyncAcceptor {
    listener: TcpListener,
    stop: StopSignal,
    reserve: Reserve,
}

impl AsyncAcceptor {
    /// Listen on `addr`, watch for Ctrl-C and SIGTERM, raise the open-file limit, say where it
    /// listens. Call it inside the server's runtime.
    pub async fn listen(model: &str, addr: SocketAddr) -> Result<AsyncAcceptor> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let stop = stop_signal()?;
        raise_fd_limit().context("cannot raise the open-file limit")?;
        announce(model, listener.local_addr()?);
        Ok(AsyncAcceptor {
            listener,
            stop,
            reserve: Reserve::new(),
        })
    }

    /// Hand every new connection to `serve` until a stop signal, then stop listening. Out of
    /// file descriptors, the newcomer is turned away with the reserve's (and counted in
    /// `counters`); any other failed accept is reported and retried after a pause.
    pub async fn serve(mut self, counters: &Counters, mut serve: impl FnMut(TcpStream)) {
        loop {
            let accepted = tokio::select! {
                biased;
                signal = &mut self.stop => {
                    say!("{signal}: closing");
                    break;
                }
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                // Accepted with the reserve's descriptor: there is no room for this one.
                Ok((stream, _)) if self.reserve.lent() => {
                    turn_away(stream, counters, &out_of_files()).await;
                    self.reserve.refill();
                }
                Ok((stream, _)) => {
                    self.reserve.refill();
                    serve(stream);
                }
                // The next accept takes the newcomer with the descriptor this frees.
                Err(e) if is_out_of_files(&e) && self.reserve.lend() => {}
                Err(e) if is_out_of_files(&e) => {
                    self.reserve.no_reserve(&e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    say!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Count the newcomer (saying why the first time), tell it the server is full, and close. It
/// is written here, in the accept loop, rather than in a task of its own, so that its
/// descriptor is closed before the reserve is taken back; a fresh socket's send buffer is
/// empty, so the wait is only for tokio to see that it is writable.
async fn turn_away(mut stream: TcpStream, counters: &Counters, why: &str) {
    counters.turned_away(why);
    let line = full(why);
    let _ = tokio::time::timeout(
        Duration::from_millis(100),
        stream.write_all(line.as_bytes()),
    )
    .await;
}

/// Install the handlers for Ctrl-C and SIGTERM now, and return what resolves when either comes.
fn stop_signal() -> Result<StopSignal> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch for SIGINT")?;
    Ok(Box::pin(async move {
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }))
}
