//! The plumbing of the chat servers' integration tests: start a crate's real `chat-server` as a
//! child process of the test (on 127.0.0.1:0 unless told otherwise, with a lower open-file
//! limit if asked) and read its address, drive hand-made clients over raw sockets, shape the
//! load client's runs ([`decision_table::chat_load`], run in the test process), stop the server
//! and collect its summary and log. The checks themselves are in each crate's `tests/chat.rs`,
//! where a reader sees them; a server is never left behind (SIGKILL on drop if a check failed).
//!
//! Run through those tests: `cargo test -p threading --test chat` (or serial, multiprocessing,
//! asyncio).

use decision_table::chat_load::ChatLoadArgs;
use scenarios::Summary;
use scenarios::chat::{self, Incoming};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Long enough for a loaded CI machine, short enough that a hang fails the test quickly.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// How to start a server: `Launch::default()` is `chat-server --addr 127.0.0.1:0 --json`.
#[derive(Debug, Clone)]
pub struct Launch<'a> {
    /// `--addr`.
    pub addr: &'a str,
    /// In a process group of its own, as a terminal would start it: Ctrl-C there is SIGINT to
    /// the whole group ([`Server::ctrl_c`]).
    pub own_group: bool,
    /// Start it under `prlimit --nofile=N:N`, so it runs out of file descriptors after a few
    /// dozen clients (soft and hard: the server raises its soft limit to the hard one).
    pub open_files: Option<u64>,
    /// More flags after those.
    pub extra: &'a [&'a str],
}

impl Default for Launch<'_> {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:0",
            own_group: false,
            open_files: None,
            extra: &[],
        }
    }
}

/// A chat server running as a child process of the test.
pub struct Server {
    child: Child,
    /// Where to connect (loopback, if it listens on every interface).
    pub addr: SocketAddr,
    stdout: Option<std::thread::JoinHandle<String>>,
    stderr: mpsc::Receiver<String>,
    /// The human lines (stderr in `--json` mode) read so far; the announcement first.
    log: Vec<String>,
}

impl Server {
    /// Start `exe chat-server --addr 127.0.0.1:0 --json <extra>` and wait for its address.
    pub fn start(exe: &str, extra: &[&str]) -> Server {
        Self::launch(
            exe,
            Launch {
                extra,
                ..Launch::default()
            },
        )
    }

    /// The same, in a process group of its own (see [`Launch::own_group`]).
    pub fn start_in_own_group(exe: &str, extra: &[&str]) -> Server {
        Self::launch(
            exe,
            Launch {
                own_group: true,
                extra,
                ..Launch::default()
            },
        )
    }

    /// Start the server as `how` says and wait for its address.
    pub fn launch(exe: &str, how: Launch) -> Server {
        use std::os::unix::process::CommandExt;
        let mut cmd = match how.open_files {
            // prlimit sets the limit and then runs the server in its own process: the pid is
            // the server's.
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        if how.own_group {
            cmd.process_group(0);
        }
        let mut child = cmd
            .args(["chat-server", "--addr", how.addr, "--json"])
            .args(how.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let mut out = child.stdout.take().expect("piped");
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        // In --json mode the human lines, the address among them, go to stderr.
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[server] {line}");
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            addr: "127.0.0.1:0".parse().expect("an address"),
            stdout: Some(stdout),
            stderr,
            log: Vec::new(),
        };
        let line = server
            .stderr
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("{cmd:?} never said where it listens"));
        let mut addr = chat::parse_announcement(&line)
            .unwrap_or_else(|| panic!("not an announcement: {line}"));
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        server.addr = addr;
        server.log.push(line);
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's child processes right now (those of every thread).
    pub fn children(&self) -> Vec<u32> {
        crate::procs::children_of(self.pid())
    }

    /// SIGTERM, then wait for the exit and the JSON summary.
    pub fn stop(self) -> (ExitStatus, Summary) {
        self.sigterm();
        self.wait()
    }

    /// SIGTERM, then wait for the exit, the JSON summary and every human line it printed.
    pub fn stop_with_log(mut self) -> (ExitStatus, Summary, Vec<String>) {
        self.sigterm();
        let (status, summary) = self.finish();
        // Its stderr closes when it exits; what it said last is still on its way.
        let deadline = Instant::now() + PATIENCE;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(_) => break,
            }
        }
        (status, summary, std::mem::take(&mut self.log))
    }

    /// Send SIGTERM and return at once.
    pub fn sigterm(&self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        kill(Pid::from_raw(self.pid() as i32), Signal::SIGTERM).expect("SIGTERM");
    }

    /// Ctrl-C in a terminal: SIGINT to the server's whole process group (children included).
    /// For servers started in their own group; returns at once.
    pub fn ctrl_c(&self) {
        use nix::sys::signal::{Signal, killpg};
        use nix::unistd::Pid;
        killpg(Pid::from_raw(self.pid() as i32), Signal::SIGINT).expect("SIGINT");
    }

    /// SIGKILL: the server dies on the spot, with no chance to clean up.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
        self.stdout.take();
    }

    /// Wait for the exit (after a signal) and the JSON summary.
    pub fn wait(mut self) -> (ExitStatus, Summary) {
        self.finish()
    }

    fn finish(&mut self) -> (ExitStatus, Summary) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the server did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let stdout = self
            .stdout
            .take()
            .expect("not stopped yet")
            .join()
            .expect("stdout reader");
        (status, crate::run::parse_summary(&stdout))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failed check must not leave a server behind.
        if self.stdout.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One hand-driven client.
pub struct Client {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    pub id: u64,
}

impl Client {
    /// Connect and read the welcome.
    pub fn connect(addr: SocketAddr) -> Client {
        let mut c = Client::connect_unwelcomed(addr);
        let line = c.line().expect("a welcome, not the end");
        match chat::parse_incoming(&line) {
            Incoming::Welcome(id) => c.id = id,
            _ => panic!("expected a welcome, got {line:?}"),
        }
        c
    }

    /// Connect without waiting for the welcome.
    pub fn connect_unwelcomed(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Client {
            stream,
            reader,
            id: 0,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// The next line without its newline, or None at the end of the connection. Panics if
    /// nothing comes within the patience.
    pub fn line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Ok(_) => Some(String::from_utf8_lossy(&buf).trim_end().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("no line from the server ({e})"),
        }
    }

    /// Does a line arrive within `wait`? (False when the server is not talking to us.)
    pub fn hears_within(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).expect("timeout");
        let got = !self.reader.fill_buf().map_or(true, |b| b.is_empty());
        self.stream
            .set_read_timeout(Some(PATIENCE))
            .expect("timeout");
        got
    }

    /// Read until the end of the connection; the lines read.
    pub fn rest(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.line()).collect()
    }
}

/// A load of `clients` clients, the first `senders` of them sending `messages` each, as fast
/// as the server takes them.
pub fn load(addr: SocketAddr, clients: usize, senders: usize, messages: usize) -> ChatLoadArgs {
    ChatLoadArgs {
        addr,
        clients,
        senders: Some(senders),
        messages,
        connect_timeout_s: 20,
        timeout_s: 30,
        ..Default::default()
    }
}

/// The load that buries a client that does not read: 10 clients, 2 senders pushing 500
/// messages of 8 KB each (8 MB in all), paced. On loopback the kernel buffers about 3.5 MB for
/// a client that does not read before the server's write to it blocks; 8 MB gets past that
/// and past the 256 messages (2 MB) a queue holds by default. The pace (500 messages/s in all)
/// keeps the clients that do read from ever being 256 messages behind, even on a busy machine:
/// only the one that does not read falls behind.
pub fn flood(addr: SocketAddr) -> ChatLoadArgs {
    let mut args = load(addr, 10, 2, 500);
    args.payload = 8000;
    args.rate = Some(250);
    args
}

/// Two lines a server must refuse, each with the error line its sender gets: one longer than
/// the limit, one not UTF-8 (Latin-1).
pub fn bad_lines() -> [(Vec<u8>, &'static str); 2] {
    [
        (
            [b"a".repeat(chat::MAX_LINE + 100), b"\n".to_vec()].concat(),
            chat::TOO_LONG,
        ),
        (b"caf\xe9 latin-1\n".to_vec(), chat::NOT_UTF8),
    ]
}

/// The first line each of `n` new connections gets (None: the connection just ended),
/// keeping the connections open, in connection order.
pub fn first_lines(addr: SocketAddr, n: usize) -> Vec<(Client, Option<String>)> {
    (0..n)
        .map(|_| {
            let mut c = Client::connect_unwelcomed(addr);
            let first = c.line();
            (c, first)
        })
        .collect()
}

/// Wait until none of `pids` is alive, within the patience; false if some still are.
pub fn all_gone(pids: &[u32]) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while pids.iter().any(|&p| crate::procs::alive(p)) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// An address in use on this machine, held as long as the returned listener lives.
pub fn taken_address() -> (std::net::TcpListener, String) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    (taken, addr)
}
