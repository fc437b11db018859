//! `decision-table delay-proxy`: a TCP proxy on loopback that holds every chunk of bytes for a
//! fixed delay before passing it on, in each direction: a database "1 ms away" on a machine
//! whose kernel has no `netem` (the harness prefers a network namespace with `tc netem`, and
//! falls back to this where the kernel lacks it, saying so).
//!
//! ```text
//! decision-table delay-proxy --to 127.0.0.1:5433 --delay-us 1000     # prints "listening on 127.0.0.1:PORT"
//! ```
//!
//! Like netem's delay, it is latency without a bandwidth limit: a chunk read at time t is
//! written at t + delay, whatever is queued behind it, so pipelined requests stay pipelined.
//! Each direction of each connection has a reader thread, which stamps what it reads, and a
//! writer thread, which sleeps until each chunk is due (`thread::sleep` overshoots by tens of
//! microseconds where a 1 ms timer wheel would add up to a millisecond). The queue between
//! them is bounded, so a peer that sends faster than the other end reads is slowed down
//! rather than buffered without limit. Both ends must be loopback addresses: nothing listens
//! beyond this machine, and nothing is sent off it.

use anyhow::{Context, Result, bail};
use clap::Args;
use crossbeam_channel::{Receiver, Sender, bounded};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// Chunks in flight per direction before the reader waits.
const QUEUE: usize = 256;
/// Bytes read at once.
const CHUNK: usize = 64 * 1024;
/// Stack per pump thread: they hold a buffer on the heap and little else.
const STACK: usize = 256 * 1024;

fn delay_us(s: &str) -> Result<u64, String> {
    scenarios::cli::bounded(s, 0, 1_000_000)
}

/// `delay-proxy`'s flags.
#[derive(Args, Debug, Clone)]
pub struct DelayProxyArgs {
    /// Where to forward connections (a loopback address: HOST:PORT)
    #[arg(long)]
    pub to: SocketAddr,
    /// Where to listen (a loopback address; port 0 picks a free one)
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Delay added in each direction, in microseconds (0 to 1,000,000)
    #[arg(long, default_value_t = 1000, value_parser = delay_us, allow_negative_numbers = true)]
    pub delay_us: u64,
}

/// Listen, print the address, and forward every connection until killed.
pub fn run(args: &DelayProxyArgs) -> Result<()> {
    for (flag, addr) in [("--listen", args.listen), ("--to", args.to)] {
        if !addr.ip().is_loopback() {
            bail!("{flag} {addr} is not a loopback address: this proxy stays on this machine");
        }
    }
    let listener = TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    // The harness waits for this line.
    println!("listening on {local}");
    std::io::stdout().flush()?;
    let delay = Duration::from_micros(args.delay_us);
    for client in listener.incoming() {
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                eprintln!("delay-proxy: accept failed: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let to = args.to;
        if let Err(e) = spawn_named("proxy-conn", move || connect(client, to, delay)) {
            eprintln!("delay-proxy: {e:#}");
        }
    }
    Ok(())
}

fn spawn_named(name: &str, f: impl FnOnce() + Send + 'static) -> Result<()> {
    thread::Builder::new()
        .name(name.into())
        .stack_size(STACK)
        .spawn(f)
        .map(|_| ())
        .context("cannot start a proxy thread")
}

/// One proxied connection: connect upstream, then pump both ways.
fn connect(client: TcpStream, to: SocketAddr, delay: Duration) {
    let upstream = match TcpStream::connect_timeout(&to, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("delay-proxy: cannot connect to {to}: {e}");
            return;
        }
    };
    for s in [&client, &upstream] {
        let _ = s.set_nodelay(true);
    }
    let pairs = (|| -> std::io::Result<_> {
        Ok([
            (client.try_clone()?, upstream.try_clone()?),
            (upstream.try_clone()?, client.try_clone()?),
        ])
    })();
    let Ok(pairs) = pairs else {
        return;
    };
    for (from, to) in pairs {
        let (tx, rx) = bounded(QUEUE);
        let started = spawn_named("proxy-read", move || read_side(from, tx))
            .and_then(|()| spawn_named("proxy-write", move || write_side(rx, to, delay)));
        if let Err(e) = started {
            eprintln!("delay-proxy: {e:#}");
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Read chunks and stamp each with when it arrived; end of stream is an empty chunk.
fn read_side(mut from: TcpStream, tx: Sender<(Instant, Vec<u8>)>) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = from.read(&mut buf).unwrap_or(0);
        let chunk = (Instant::now(), buf[..n].to_vec());
        if tx.send(chunk).is_err() || n == 0 {
            return;
        }
    }
}

/// Write each chunk once it is due; pass end of stream on as a half-close.
fn write_side(rx: Receiver<(Instant, Vec<u8>)>, mut to: TcpStream, delay: Duration) {
    for (arrived, chunk) in rx {
        let due = arrived + delay;
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        if chunk.is_empty() {
            break;
        }
        if to.write_all(&chunk).is_err() {
            // The other side is gone: make the reader of this direction stop too.
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_addresses_off_this_machine() {
        let args = DelayProxyArgs {
            to: "10.0.0.1:5432".parse().unwrap(),
            listen: "127.0.0.1:0".parse().unwrap(),
            delay_us: 1000,
        };
        assert!(run(&args).unwrap_err().to_string().contains("loopback"));
    }
}
