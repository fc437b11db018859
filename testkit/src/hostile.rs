//! Servers that lie, for the checks that a client never trusts what a peer sends: a server
//! whose every answer is an endless body, and a way to watch how much memory a run took while
//! it met one.

use crate::run::Output;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A server on 127.0.0.1:0 that answers every request with `200 OK` and a chunked body that
/// never ends (until the client hangs up). Its thread runs until the test process ends.
pub fn endless_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer_forever(stream));
        }
    });
    url
}

fn answer_forever(mut stream: TcpStream) {
    // Read the request head, whatever it asks for.
    let mut reader = BufReader::new(stream.try_clone().expect("a second handle"));
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        line.clear();
    }
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let chunk = [b' '; 64 * 1024];
    let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
    while stream.write_all(&framed).is_ok() {}
}

/// A run, and the most memory its process had while it ran (sampled every few milliseconds).
#[derive(Debug)]
pub struct Watched {
    pub output: Output,
    pub peak_rss_kib: u64,
}

/// Run `exe args...` (with a 60 s limit), sampling its peak resident memory as it goes.
pub fn run_watching_memory(exe: &str, args: &[&str]) -> Watched {
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {exe}: {e}"));
    let (mut out, mut err) = (
        child.stdout.take().expect("piped"),
        child.stderr.take().expect("piped"),
    );
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut peak_rss_kib = 0;
    let status = loop {
        if let Some(hwm) = peak_of(child.id()) {
            peak_rss_kib = peak_rss_kib.max(hwm);
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{exe} {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Watched {
        output: Output {
            command: format!("{exe} {}", args.join(" ")),
            status,
            stdout: out_t.join().expect("stdout reader"),
            stderr: err_t.join().expect("stderr reader"),
            elapsed: started.elapsed(),
        },
        peak_rss_kib,
    }
}

/// `VmHWM` of a live process, in KiB.
fn peak_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `downloads` (whose first document is `/manifest`) and `requests` (whose first is `/`)
/// against [`endless_server`].
#[derive(Debug)]
pub struct Endless {
    pub url: String,
    pub downloads: Watched,
    pub requests: Watched,
}

pub fn against_endless_documents(exe: &str) -> Endless {
    let url = endless_server();
    let out = tempfile::tempdir().expect("a temporary directory");
    let out_s = out.path().to_str().expect("a UTF-8 temporary path");
    Endless {
        downloads: run_watching_memory(exe, &["downloads", "--url", &url, "--out", out_s]),
        requests: run_watching_memory(exe, &["requests", "--url", &url]),
        url,
    }
}
