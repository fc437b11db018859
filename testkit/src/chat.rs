//! The chat servers' integration tests, written once: every crate's `tests/chat.rs` starts its
//! real binary's `chat-server` on 127.0.0.1:0 as a child process and runs these checks against
//! it, with raw sockets and with the load client ([`decision_table::chat_load`]) in the test process.
//! Every server is stopped (SIGTERM, or SIGKILL if a check failed) before the check returns.

use scenarios::Summary;
use scenarios::chat::{self, Incoming};
use decision_table::chat_load::{self, ChatLoadArgs};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Long enough for a loaded CI machine, short enough that a hang fails the test quickly.
const PATIENCE: Duration = Duration::from_secs(20);

/// A chat server running as a child process of the test.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    stdout: Option<std::thread::JoinHandle<String>>,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Start `exe chat-server --addr 127.0.0.1:0 --json <extra>` and wait for its address.
    pub fn start(exe: &str, extra: &[&str]) -> Server {
        Self::spawn(Command::new(exe), extra)
    }

    /// The same, in a process group of its own, as a terminal would start it: Ctrl-C there
    /// is SIGINT to the whole group ([`Server::ctrl_c`]).
    pub fn start_in_own_group(exe: &str, extra: &[&str]) -> Server {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(exe);
        cmd.process_group(0);
        Self::spawn(cmd, extra)
    }

    fn spawn(mut cmd: Command, extra: &[&str]) -> Server {
        let mut child = cmd
            .args(["chat-server", "--addr", "127.0.0.1:0", "--json"])
            .args(extra)
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
        };
        let line = server
            .stderr
            .recv_timeout(PATIENCE)
            .expect("the server never said where it listens");
        server.addr = chat::parse_announcement(&line)
            .unwrap_or_else(|| panic!("not an announcement: {line}"));
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's child processes right now (those its main thread started).
    pub fn children(&self) -> Vec<u32> {
        let pid = self.pid();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// SIGTERM, then wait for the exit and the JSON summary.
    pub fn stop(self) -> (ExitStatus, Summary) {
        self.sigterm();
        self.wait()
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

fn load(addr: SocketAddr, clients: usize, senders: usize, messages: usize) -> ChatLoadArgs {
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

/// 50 clients, 5 of them sending 20 messages each: every message reaches the 49 others once.
pub fn fifty_clients_lose_nothing(exe: &str) {
    let server = Server::start(exe, &[]);
    let s = chat_load::run(&load(server.addr, 50, 5, 20)).expect("the load runs");
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
/// everything, and the slow one is told it fell behind (`notice` is how this model says it).
pub fn slow_reader_does_not_stall_the_others(exe: &str, notice: &str) {
    let server = Server::start(exe, &[]);
    let mut slow = Client::connect(server.addr);
    // On loopback the kernel buffers about 3.5 MB for a client that does not read before the
    // server's write to it blocks; 8 MB of big messages get past that and the 256 messages
    // (2 MB) a queue holds by default. The senders are paced (500 messages/s in all) so that
    // the clients that do read are never 256 messages behind, even on a busy machine: only the
    // slow one is.
    let mut args = load(server.addr, 10, 2, 500);
    args.payload = 8000;
    args.rate = Some(250);
    let s = chat_load::run(&args).expect("the load runs");
    assert_eq!(s.extra["lost"], 0, "{s:?}");
    assert_eq!(s.failed, 0);
    // Now the slow reader reads: what was already on its way, then the notice.
    let heard = std::iter::from_fn(|| slow.line())
        .find(|l| l.contains(notice))
        .unwrap_or_else(|| panic!("the slow reader was never told {notice:?}"));
    assert!(heard.starts_with("* "), "{heard}");
    // Leave, so the server need not wait for it when it stops.
    drop(slow);
    let (status, summary) = server.stop();
    assert!(status.success());
    assert!(summary.extra["kicked"].as_u64().unwrap() > 0, "{summary:?}");
}

/// An overlong line and a non-UTF-8 line: each sender gets its error line and is disconnected;
/// a bystander hears nothing of it and keeps chatting.
pub fn bad_lines_disconnect_only_their_sender(exe: &str) {
    let server = Server::start(exe, &[]);
    let mut watcher = Client::connect(server.addr);
    let mut talker = Client::connect(server.addr);
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
pub fn a_client_vanishing_mid_line_changes_nothing(exe: &str) {
    let server = Server::start(exe, &[]);
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
pub fn shutdown_tells_every_client(exe: &str, clients: usize, ctrl_c: bool) {
    let server = Server::start_in_own_group(exe, &[]);
    let connected: Vec<Client> = (0..clients).map(|_| Client::connect(server.addr)).collect();
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
    assert_eq!(summary.extra["clients_served"], clients);
    assert_all_gone(&children);
}

/// Wait until none of `pids` is alive; panic if some are still there after the patience.
pub fn assert_all_gone(pids: &[u32]) {
    let deadline = Instant::now() + PATIENCE;
    while pids.iter().any(|&p| alive(p)) {
        assert!(Instant::now() < deadline, "orphans: {pids:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Present and not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// Flags a server must refuse, naming the flag.
pub fn bad_server_flags_are_refused(exe: &str) {
    use crate::run::assert_refused;
    assert_refused(exe, &["chat-server", "--addr", "localhost"], "--addr");
    assert_refused(exe, &["chat-server", "--queue", "0"], "--queue");
    assert_refused(exe, &["chat-server", "--queue", "-4"], "--queue");
    // An address that is taken: a clear error, not a panic.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    assert_refused(exe, &["chat-server", "--addr", &addr], "in use");
}
