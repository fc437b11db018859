//! `decision-table serve`, checked from outside: the binary's first line and its graceful stop,
//! and what each knob puts on the wire, read with a bare TCP socket so nothing between the test
//! and the bytes can hide a fault (a client library would retry or hide a short body). With
//! `--images DIR`: the folder's PNGs at `/images/{i}` byte for byte, listed at `/images`, under
//! the same knobs, and a folder it cannot serve refused at start-up.
//!
//! `cargo test -p decision-table --test serve`

use decision_table::server::{self, FaultKind, ServeArgs, fault_for};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::run::assert_refused;

const EXE: &str = env!("CARGO_BIN_EXE_decision-table");

/// One response as it came off the socket.
struct Raw {
    status: u16,
    content_length: u64,
    body: Vec<u8>,
    /// The connection ended before `content_length` bytes of body.
    cut: bool,
    /// Reading stopped because nothing came for the read timeout.
    silent: bool,
    first_byte: Duration,
    total: Duration,
}

impl std::fmt::Debug for Raw {
    // Everything but the body's bytes, which would drown the message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Raw")
            .field("status", &self.status)
            .field("content_length", &self.content_length)
            .field("body_len", &self.body.len())
            .field("cut", &self.cut)
            .field("silent", &self.silent)
            .field("first_byte", &self.first_byte)
            .field("total", &self.total)
            .finish()
    }
}

fn get(addr: SocketAddr, method: &str, path: &str, read_timeout: Duration) -> Raw {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(read_timeout))
        .expect("timeout");
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: test\r\n\r\n").expect("send");
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("a status line");
    let first_byte = start.elapsed();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut content_length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a header line");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            content_length = v.trim().parse().expect("a length");
        }
    }
    let mut body = Vec::new();
    let mut buf = [0u8; 8192];
    let (mut cut, mut silent) = (false, false);
    while (body.len() as u64) < content_length {
        match reader.read(&mut buf) {
            Ok(0) => {
                cut = true;
                break;
            }
            Ok(n) => body.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                silent = true;
                break;
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    Raw {
        status,
        content_length,
        body,
        cut,
        silent,
        first_byte,
        total: start.elapsed(),
    }
}

fn small() -> ServeArgs {
    ServeArgs {
        port: 0,
        files: 3,
        size: 10_000,
        ..ServeArgs::default()
    }
}

fn faulty(kind: FaultKind) -> ServeArgs {
    ServeArgs {
        fault_rate: 1.0,
        fault_kind: Some(kind),
        stall_ms: 20_000,
        ..small()
    }
}

const PATIENT: Duration = Duration::from_secs(5);

#[test]
fn files_items_and_the_manifest_are_what_the_library_says() {
    let args = small();
    let srv = server::start(&args).expect("a server");
    let r = get(srv.addr(), "GET", "/files/2", PATIENT);
    assert_eq!((r.status, r.cut), (200, false));
    assert_eq!(r.body, server::file_bytes(args.seed, 2, args.size));
    let r = get(srv.addr(), "GET", "/api/items/77", PATIENT);
    let item: scenarios::wire::Item = serde_json::from_slice(&r.body).expect("an item");
    assert_eq!(item, server::item(args.seed, 77));
    let r = get(srv.addr(), "GET", "/manifest", PATIENT);
    let m: scenarios::wire::Manifest = serde_json::from_slice(&r.body).expect("a manifest");
    assert_eq!(m, server::manifest(&args));
    assert_eq!(get(srv.addr(), "GET", "/files/3", PATIENT).status, 404);
    assert_eq!(get(srv.addr(), "GET", "/nothing", PATIENT).status, 404);
    assert_eq!(get(srv.addr(), "POST", "/files/0", PATIENT).status, 405);
}

#[test]
fn a_500_fault_is_an_http_500() {
    let srv = server::start(&faulty(FaultKind::Status500)).expect("a server");
    assert_eq!(get(srv.addr(), "GET", "/files/0", PATIENT).status, 500);
    assert_eq!(get(srv.addr(), "GET", "/api/items/0", PATIENT).status, 500);
    // The manifest is never broken: it describes the work, it is not the work.
    assert_eq!(get(srv.addr(), "GET", "/manifest", PATIENT).status, 200);
    assert_eq!(srv.served().faults(FaultKind::Status500), 2);
}

#[test]
fn a_short_body_promises_everything_sends_half_and_hangs_up() {
    for size in [10_000, 1 << 20] {
        let srv = server::start(&ServeArgs {
            size,
            ..faulty(FaultKind::Short)
        })
        .expect("a server");
        let r = get(srv.addr(), "GET", "/files/1", PATIENT);
        assert_eq!(r.status, 200);
        assert_eq!(r.content_length, size);
        assert_eq!(r.body.len() as u64, size / 2, "{size}");
        assert!(r.cut, "the connection must close, not wait: {r:?}");
        assert!(!r.silent);
        assert_eq!(
            r.body,
            server::file_bytes(42, 1, size)[..(size / 2) as usize]
        );
    }
}

#[test]
fn a_stall_sends_half_then_nothing_and_does_not_hold_the_shutdown() {
    let srv = server::start(&faulty(FaultKind::Stall)).expect("a server");
    let r = get(srv.addr(), "GET", "/files/0", Duration::from_millis(500));
    assert_eq!(r.content_length, 10_000);
    assert_eq!(r.body.len(), 5_000);
    assert!(r.silent && !r.cut, "{r:?}");
    // The stall has 19 s to go; shutting down cuts it.
    let start = Instant::now();
    srv.shutdown();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn latency_and_bandwidth_are_paced() {
    let args = ServeArgs {
        latency_ms: 200,
        bandwidth: 200_000,
        size: 100_000,
        ..small()
    };
    let srv = server::start(&args).expect("a server");
    let r = get(srv.addr(), "GET", "/files/0", PATIENT);
    assert_eq!(r.body.len(), 100_000);
    assert!(
        r.first_byte >= Duration::from_millis(200),
        "{:?}",
        r.first_byte
    );
    // 200 ms of latency, then 100 kB at 200 kB/s: 0.7 s.
    assert!(r.total >= Duration::from_millis(690), "{:?}", r.total);
    assert!(r.total < Duration::from_millis(2000), "{:?}", r.total);
    // The manifest is neither delayed nor throttled.
    let m = get(srv.addr(), "GET", "/manifest", PATIENT);
    assert!(m.total < Duration::from_millis(150), "{:?}", m.total);
}

#[test]
fn a_retry_of_a_path_gets_that_paths_next_draw() {
    // A seed where file 0 fails its first attempt and passes its second.
    let mut args = ServeArgs {
        fault_rate: 0.5,
        fault_kind: Some(FaultKind::Status500),
        ..small()
    };
    args.seed = (1..)
        .find(|&s| {
            fault_for(s, "/files/0", 0, 0.5, None).is_some()
                && fault_for(s, "/files/0", 1, 0.5, None).is_none()
        })
        .expect("a seed");
    let srv = server::start(&args).expect("a server");
    assert_eq!(get(srv.addr(), "GET", "/files/0", PATIENT).status, 500);
    assert_eq!(get(srv.addr(), "GET", "/files/0", PATIENT).status, 200);
}

fn spawn_serve() -> (
    std::process::Child,
    String,
    BufReader<std::process::ChildStdout>,
) {
    let mut child = Command::new(EXE)
        .args(["serve", "--port", "0", "--files", "2", "--size", "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    out.read_line(&mut first).expect("a first line");
    (child, first, out)
}

fn wait_exit(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not stop within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn serve_prints_its_address_first_and_stops_gracefully_on_sigterm_and_ctrl_c() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let (mut child, first, mut out) = spawn_serve();
        let addr: SocketAddr = first
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("first line: {first:?}"))
            .parse()
            .expect("an address");
        assert_eq!(get(addr, "GET", "/files/1", PATIENT).body.len(), 1000);
        kill(Pid::from_raw(child.id() as i32), signal).expect("signal");
        let status = wait_exit(&mut child, Duration::from_secs(10));
        assert!(status.success(), "{signal:?}: {status}");
        let mut rest = String::new();
        out.read_to_string(&mut rest).expect("the rest");
        assert!(rest.contains("served 1 requests"), "{signal:?}: {rest}");
    }
}

#[test]
fn serve_refuses_bad_knobs() {
    assert_refused(EXE, &["serve", "--fault-rate", "2"], "--fault-rate");
    assert_refused(EXE, &["serve", "--fault-rate", "-0.5"], "--fault-rate");
    assert_refused(EXE, &["serve", "--port", "-1"], "--port");
    assert_refused(EXE, &["serve", "--files", "0"], "--files");
    assert_refused(EXE, &["serve", "--fault-kind", "explode"], "--fault-kind");
    assert_refused(EXE, &["serve", "--latency-ms", "-5"], "negative");
    assert_refused(EXE, &["serve", "--stall-ms", "0"], "--stall-ms");
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    assert_refused(
        EXE,
        &["serve", "--port", &port],
        &format!("127.0.0.1:{port}"),
    );
}

/// `--images DIR` with `count` small PNGs from `gen images`' generator, and the folder.
fn with_images(count: usize, knobs: ServeArgs) -> (ServeArgs, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    scenarios::images::generate(&scenarios::images::GenImagesArgs {
        count,
        width: 24,
        height: 16,
        seed: 9,
        out: dir.path().to_path_buf(),
    })
    .expect("images");
    let args = ServeArgs {
        images: Some(dir.path().to_path_buf()),
        ..knobs
    };
    (args, dir)
}

#[test]
fn images_are_listed_and_served_byte_for_byte() {
    let (args, dir) = with_images(3, small());
    let srv = server::start(&args).expect("a server");
    let r = get(srv.addr(), "GET", "/images", PATIENT);
    assert_eq!(r.status, 200);
    let m: scenarios::wire::Manifest = serde_json::from_slice(&r.body).expect("a manifest");
    assert_eq!(Some(&m), server::images_manifest(&args).unwrap().as_ref());
    assert_eq!((m.about.files, m.files.len()), (3, 3));
    for (i, f) in m.files.iter().enumerate() {
        let on_disk = std::fs::read(dir.path().join(&f.name)).expect("the file");
        assert_eq!(f.name, format!("img-{i:03}.png"));
        assert_eq!(f.path, format!("/images/{i}"));
        assert_eq!(f.size, on_disk.len() as u64);
        assert_eq!(f.sha256, scenarios::digest::sha256_hex(&on_disk));
        let r = get(srv.addr(), "GET", &f.path, PATIENT);
        assert_eq!((r.status, r.cut), (200, false));
        assert_eq!(r.body, on_disk, "{}", f.name);
    }
    assert_eq!(get(srv.addr(), "GET", "/images/3", PATIENT).status, 404);
    assert_eq!(get(srv.addr(), "GET", "/images/x", PATIENT).status, 404);
    // The other routes are what they were.
    let r = get(srv.addr(), "GET", "/files/2", PATIENT);
    assert_eq!(r.body, server::file_bytes(args.seed, 2, args.size));
    let r = get(srv.addr(), "GET", "/manifest", PATIENT);
    let files: scenarios::wire::Manifest = serde_json::from_slice(&r.body).expect("a manifest");
    assert_eq!(files, server::manifest(&args));
}

#[test]
fn without_images_the_images_route_is_a_404_that_says_why() {
    let srv = server::start(&small()).expect("a server");
    let r = get(srv.addr(), "GET", "/images", PATIENT);
    assert_eq!(r.status, 404);
    assert!(String::from_utf8_lossy(&r.body).contains("--images DIR"));
    assert_eq!(get(srv.addr(), "GET", "/images/0", PATIENT).status, 404);
}

#[test]
fn images_get_the_latency_bandwidth_and_faults_but_their_list_does_not() {
    let (args, _dir) = with_images(
        2,
        ServeArgs {
            latency_ms: 200,
            ..small()
        },
    );
    let srv = server::start(&args).expect("a server");
    let r = get(srv.addr(), "GET", "/images/1", PATIENT);
    assert_eq!(r.status, 200);
    assert!(r.first_byte >= Duration::from_millis(200), "{r:?}");
    let list = get(srv.addr(), "GET", "/images", PATIENT);
    assert!(list.total < Duration::from_millis(150), "{list:?}");
    // A bandwidth of a quarter of the image per second: four seconds for it.
    let size = server::images_manifest(&args).unwrap().unwrap().files[0].size;
    let (args, _dir) = with_images(
        1,
        ServeArgs {
            bandwidth: size / 4,
            ..small()
        },
    );
    let srv = server::start(&args).expect("a server");
    let r = get(srv.addr(), "GET", "/images/0", PATIENT);
    assert_eq!(r.body.len() as u64, size);
    assert!(r.total >= Duration::from_millis(3900), "{r:?}");
    for kind in FaultKind::ALL {
        let (args, _dir) = with_images(1, faulty(kind));
        let srv = server::start(&args).expect("a server");
        let r = get(srv.addr(), "GET", "/images/0", Duration::from_millis(500));
        match kind {
            FaultKind::Status500 => assert_eq!(r.status, 500),
            FaultKind::Short => assert!(r.cut && r.body.len() as u64 == r.content_length / 2),
            FaultKind::Stall => assert!(r.silent && r.body.len() as u64 == r.content_length / 2),
        }
        assert_eq!(get(srv.addr(), "GET", "/images", PATIENT).status, 200);
        assert_eq!(srv.served().faults(kind), 1, "{kind:?}");
    }
}

#[test]
fn serve_refuses_an_images_folder_it_cannot_serve() {
    let empty = tempfile::tempdir().expect("a temporary directory");
    let empty_s = empty.path().to_str().expect("UTF-8");
    assert_refused(
        EXE,
        &["serve", "--port", "0", "--images", empty_s],
        "no .png files",
    );
    let gone = empty.path().join("gone");
    let gone_s = gone.to_str().expect("UTF-8");
    assert_refused(
        EXE,
        &["serve", "--port", "0", "--images", gone_s],
        "not a directory",
    );
    std::fs::write(empty.path().join("bad name.png"), b"x").unwrap();
    assert_refused(
        EXE,
        &["serve", "--port", "0", "--images", empty_s],
        "bad name.png",
    );
}
