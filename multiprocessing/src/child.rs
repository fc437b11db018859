//! A child process of this same binary, from the parent's side, and the frames they exchange.
//!
//! Python's `multiprocessing` starts a fresh interpreter (or forks) and pickles a function call
//! across. Here the binary runs `std::env::current_exe()` with the hidden `worker` subcommand
//! (its side is `child_main.rs`). Frames are length-prefixed (`scenarios::frame`):
//!
//! - parent -> child, on its stdin: [`ToChild::Start`] once, naming the job and carrying it
//!   (the job's settings, serialised: what `ProcessPoolExecutor` does when it pickles the
//!   function by name), then one [`ToChild::Item`] per unit of work;
//! - child -> parent, on its stdout: one [`Reply`] per item, with the output or the job's error.
//!
//! Items, jobs and outputs are serialised with postcard (compact binary serde), so an output
//! as large as a block of a matrix crosses the pipe as its bytes. The child's stderr is the
//! terminal's, so what a child says still reaches the reader.
//!
//! How children never outlive their parent:
//! - a child that reads end-of-file on stdin exits: the parent closed the pipe, or died;
//! - the child asks the kernel to kill it when its parent dies (`PR_SET_PDEATHSIG`), which
//!   covers a child busy in a long task when the parent is killed;
//! - Ctrl-C reaches the whole process group, children included;
//! - dropping a [`ChildProcess`] that was not finished kills and reaps it.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that spawned the child exits, so a child must be
//! spawned by the thread that keeps it (the pool's driver threads do).

use anyhow::{Context, Result, bail};
use scenarios::frame::{read_frame, write_frame};
use scenarios::job::Job;
use scenarios::usage;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};

/// The environment variable that carries the parent's pid to the child.
pub const PARENT_PID_ENV: &str = "MULTIPROCESSING_PARENT_PID";
/// The environment variable that tells a worker to die on purpose (tests only).
pub const FAULT_ENV: &str = "MULTIPROCESSING_FAULT";

/// Serialise a job, an item or an output for a frame.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).context("cannot serialise a frame")
}

/// The inverse of [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).context("a frame does not hold what it should")
}

/// What the parent sends a child.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum ToChild {
    /// The job every later item is for: its name and its settings.
    Start { job: String, settings: Vec<u8> },
    /// One unit of work for that job.
    Item { id: u64, item: Vec<u8> },
}

/// The child's answer to one [`ToChild::Item`].
#[derive(Debug, PartialEq)]
pub struct Reply {
    pub id: u64,
    /// The pid of the process that did the work.
    pub pid: u32,
    /// Its threads now.
    pub threads: u64,
    /// The job's output, or its error message (the job failed; the child lives on).
    pub result: Result<Vec<u8>, String>,
}

/// Bytes of a reply before its body.
const REPLY_HEADER: usize = 21;

impl Reply {
    /// Wire format: tag (0 ok, 1 error), id, pid, threads, then the body. A fixed
    /// header rather than serde, so that a body of megabytes is handed over without a copy.
    pub fn encode(&self) -> Vec<u8> {
        let (tag, body): (u8, &[u8]) = match &self.result {
            Ok(bytes) => (0, bytes),
            Err(msg) => (1, msg.as_bytes()),
        };
        let mut out = Vec::with_capacity(REPLY_HEADER + body.len());
        out.push(tag);
        out.extend_from_slice(&self.id.to_le_bytes());
        out.extend_from_slice(&self.pid.to_le_bytes());
        out.extend_from_slice(&self.threads.to_le_bytes());
        out.extend_from_slice(body);
        out
    }

    pub fn decode(mut frame: Vec<u8>) -> Result<Reply> {
        if frame.len() < REPLY_HEADER {
            bail!("reply frame of {} bytes is too short", frame.len());
        }
        let u64_at = |at: usize| u64::from_le_bytes(frame[at..at + 8].try_into().expect("8 bytes"));
        let (tag, id, threads) = (frame[0], u64_at(1), u64_at(13));
        let pid = u32::from_le_bytes(frame[9..13].try_into().expect("4 bytes"));
        // Drop the header in place: a reply can be megabytes, and split_off would copy it.
        frame.drain(..REPLY_HEADER);
        let body = frame;
        let result = match tag {
            0 => Ok(body),
            1 => Err(String::from_utf8_lossy(&body).into_owned()),
            other => bail!("reply frame has unknown tag {other}"),
        };
        Ok(Reply {
            id,
            pid,
            threads,
            result,
        })
    }
}

/// How a worker should die on purpose, to test that the parent survives it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub enum DieHow {
    /// SIGKILL itself, as the OOM killer or `kill -9` would
    #[default]
    Kill,
    /// Panic inside the job
    Panic,
    /// Exit with status 3 without answering
    Exit,
}

/// A planned death: the worker that receives item `item` dies `how`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub item: u64,
    pub how: DieHow,
}

/// A running child process that serves one job's items.
pub struct ChildProcess {
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: Option<BufReader<ChildStdout>>,
    threads: u64,
    finished: bool,
}

impl ChildProcess {
    /// Start a copy of this binary as a worker. `fault` is for tests: see [`Fault`].
    pub fn spawn(fault: Option<Fault>) -> Result<ChildProcess> {
        usage::watch_children();
        let exe = std::env::current_exe().context("cannot find this program's own executable")?;
        let mut cmd = Command::new(&exe);
        cmd.arg("worker")
            .env(PARENT_PID_ENV, std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        match fault {
            Some(f) => cmd.env(FAULT_ENV, serde_json::to_string(&f)?),
            None => cmd.env_remove(FAULT_ENV),
        };
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start a worker process ({})", exe.display()))?;
        let stdin = child.stdin.take().map(BufWriter::new);
        let stdout = child.stdout.take().map(BufReader::new);
        Ok(ChildProcess {
            child,
            stdin,
            stdout,
            threads: 0,
            finished: false,
        })
    }

    /// Start a worker for `job`: spawn it, then hand it the job.
    pub fn for_job<J: Job>(job: &J, fault: Option<Fault>) -> Result<ChildProcess> {
        let mut child = ChildProcess::spawn(fault)?;
        child.start(J::NAME, encode(job)?)?;
        Ok(child)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Let the pipes to and from this worker hold `bytes` each (Linux's default is 64 KiB),
    /// for messages of megabytes (the weights and gradients of `train`): one write then fills
    /// the pipe without waiting for the reader to drain it 64 KiB at a time. Best effort: a
    /// kernel that refuses (`fs.pipe-max-size`) leaves the default, which is only slower.
    pub fn widen_pipes(&self, bytes: usize) {
        use nix::fcntl::{FcntlArg, fcntl};
        let size = i32::try_from(bytes).unwrap_or(i32::MAX);
        if let Some(w) = &self.stdin {
            let _ = fcntl(w.get_ref(), FcntlArg::F_SETPIPE_SZ(size));
        }
        if let Some(r) = &self.stdout {
            let _ = fcntl(r.get_ref(), FcntlArg::F_SETPIPE_SZ(size));
        }
    }

    /// Hand the child the job its items are for (already serialised: a pool serialises a job
    /// once for all its workers).
    pub fn start(&mut self, job: &str, settings: Vec<u8>) -> Result<()> {
        let job = job.to_string();
        self.write(&ToChild::Start { job, settings })
    }

    /// Send one item without waiting for its reply (the chapter's `Process.start()`).
    pub fn send<T: Serialize>(&mut self, id: u64, item: &T) -> Result<()> {
        let item = encode(item)?;
        self.write(&ToChild::Item { id, item })
    }

    fn write(&mut self, frame: &ToChild) -> Result<()> {
        let pid = self.pid();
        let frame = encode(frame)?;
        let stdin = self
            .stdin
            .as_mut()
            .context("this worker's input is already closed")?;
        write_frame(stdin, &frame)
            .and_then(|()| stdin.flush())
            .with_context(|| format!("worker process {pid} is not reading its tasks"))
    }

    /// Wait for the next reply. An error means the child is gone (or spoke garbage, and is
    /// killed now): it is reaped here, and the error says how it ended ("worker process 123
    /// was killed by signal 9 (SIGKILL)").
    pub fn recv(&mut self) -> Result<Reply> {
        let pid = self.pid();
        let stdout = self
            .stdout
            .as_mut()
            .context("this worker's replies were handed to another reader")?;
        let reply = match read_frame(stdout) {
            Ok(Some(frame)) => Reply::decode(frame),
            Ok(None) => Err(anyhow::anyhow!("it closed its output without replying")),
            Err(e) => Err(anyhow::anyhow!("it stopped mid-reply: {e}")),
        };
        match reply {
            Ok(reply) => {
                self.note(reply.threads);
                Ok(reply)
            }
            Err(e) => {
                let how = self.reap();
                bail!("worker process {pid} {how} ({e:#})")
            }
        }
    }

    /// Send an item and wait for its reply.
    pub fn call<T: Serialize>(&mut self, id: u64, item: &T) -> Result<Reply> {
        if let Err(e) = self.send(id, item) {
            let how = self.reap();
            bail!("{e:#}: it {how}");
        }
        self.recv()
    }

    /// Hand the reply stream to another thread (a queue reads replies while it keeps sending).
    pub fn take_replies(&mut self) -> Option<Replies> {
        self.stdout.take().map(|stdout| Replies {
            pid: self.pid(),
            stdout,
            threads: 0,
        })
    }

    /// Close the worker's stdin: it finishes what it holds and exits.
    pub fn close_input(&mut self) {
        self.stdin = None;
    }

    /// Tell the worker there is no more work (close its stdin), wait for it to exit, and record
    /// what it used. A worker that does not exit cleanly is an error naming how it ended.
    pub fn finish(mut self) -> Result<()> {
        let pid = self.pid();
        let status = self.wait()?;
        if !status.success() {
            bail!("worker process {pid} {}", describe(status));
        }
        Ok(())
    }

    /// Make sure a child that failed is gone (killed if it is stuck rather than dead), reap it,
    /// and say how it ended.
    pub fn reap(&mut self) -> String {
        let _ = self.child.kill();
        match self.wait() {
            Ok(status) => describe(status),
            Err(e) => format!("could not be waited for: {e:#}"),
        }
    }

    fn wait(&mut self) -> Result<ExitStatus> {
        if !self.finished {
            self.finished = true;
            self.stdin = None;
            usage::add_child_threads(self.threads);
        }
        self.child
            .wait()
            .context("cannot wait for a worker process")
    }

    /// Record the threads a reply said the child had (read through a [`Replies`] reader).
    pub fn note(&mut self, threads: u64) {
        self.threads = self.threads.max(threads);
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if !self.finished {
            // An unfinished worker being dropped means the parent is bailing out: leave no orphan.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The reply half of a [`ChildProcess`], readable from another thread.
pub struct Replies {
    pid: u32,
    stdout: BufReader<ChildStdout>,
    threads: u64,
}

impl Replies {
    /// The next reply, `Ok(None)` when the worker closed its output after its last reply.
    pub fn next_reply(&mut self) -> Result<Option<Reply>> {
        let pid = self.pid;
        match read_frame(&mut self.stdout)
            .with_context(|| format!("worker process {pid} stopped mid-reply"))?
        {
            None => Ok(None),
            Some(frame) => {
                let reply = Reply::decode(frame)?;
                self.threads = self.threads.max(reply.threads);
                Ok(Some(reply))
            }
        }
    }

    /// The most threads the replies reported.
    pub fn threads(&self) -> u64 {
        self.threads
    }
}

/// The memory one worker process is allowed for when checking `--workers`: an idle worker
/// holds about 5 MiB here (its PSS is less), and its job allocates more; 16 MiB is generous.
const PER_PROCESS: u64 = 16 << 20;

/// Refuse to start `n` processes at once when the machine cannot hold them: more than its
/// available memory allows at [`PER_PROCESS`] each, or more than half the tasks the kernel can
/// still start (`kernel.pid_max` for the machine, `RLIMIT_NPROC` for this user). Better a clear
/// error before the first one starts than a machine swapping or a fork failing half-way.
pub fn check_process_count(flag: &str, n: usize) -> Result<()> {
    use nix::sys::resource::{Resource, getrlimit};
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let available: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(u64::MAX, |kib| kib * 1024);
    // /proc/loadavg's fourth field is "running/total": every thread of every process.
    let tasks: u64 = read("/proc/loadavg")
        .split_whitespace()
        .nth(3)
        .and_then(|f| f.split('/').nth(1)?.parse().ok())
        .unwrap_or(0);
    let pid_max: u64 = read("/proc/sys/kernel/pid_max")
        .trim()
        .parse()
        .unwrap_or(u64::MAX);
    let nproc = getrlimit(Resource::RLIMIT_NPROC).map_or(u64::MAX, |(soft, _)| soft);
    let limits = [
        (
            available / PER_PROCESS,
            format!(
                "{} MiB of memory available, allowing {} MiB a process",
                available >> 20,
                PER_PROCESS >> 20
            ),
        ),
        (
            pid_max.saturating_sub(tasks) / 2,
            format!("{tasks} of the machine's {pid_max} tasks (kernel.pid_max) already in use"),
        ),
        (
            nproc.saturating_sub(tasks) / 2,
            format!("a limit of {nproc} processes for this user (RLIMIT_NPROC)"),
        ),
    ];
    let (most, why) = limits
        .into_iter()
        .min_by_key(|(most, _)| *most)
        .expect("three limits");
    if n as u64 > most.max(1) {
        bail!(
            "{flag} {n}: {n} worker processes at once is more than this machine can take: {why}; \
             use at most {}",
            most.max(1)
        );
    }
    Ok(())
}

/// "exited with status 3", "was killed by signal 9 (SIGKILL)".
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        format!("exited with status {code}")
    } else if let Some(sig) = status.signal() {
        let name = nix::sys::signal::Signal::try_from(sig)
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|_| "unknown".into());
        format!("was killed by signal {sig} ({name})")
    } else {
        format!("ended with {status}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_round_trip() {
        for result in [
            Ok(b"body".to_vec()),
            Ok(vec![]),
            Err("it broke".to_string()),
        ] {
            let r = Reply {
                id: 7,
                pid: 1234,
                threads: 3,
                result,
            };
            assert_eq!(Reply::decode(r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn short_or_unknown_replies_are_errors() {
        assert!(Reply::decode(vec![0; 5]).is_err());
        let mut bad = Reply {
            id: 1,
            pid: 1,
            threads: 1,
            result: Ok(vec![]),
        }
        .encode();
        bad[0] = 9;
        assert!(Reply::decode(bad).is_err());
    }

    #[test]
    fn frames_to_a_child_round_trip() {
        for frame in [
            ToChild::Start {
                job: "image".into(),
                settings: vec![1, 2, 3],
            },
            ToChild::Item {
                id: 9,
                item: vec![],
            },
        ] {
            assert_eq!(decode::<ToChild>(&encode(&frame).unwrap()).unwrap(), frame);
        }
        assert!(decode::<ToChild>(&[7, 7, 7]).is_err());
    }

    #[test]
    fn statuses_read_well() {
        assert_eq!(
            describe(ExitStatus::from_raw(3 << 8)),
            "exited with status 3"
        );
        assert_eq!(
            describe(ExitStatus::from_raw(9)),
            "was killed by signal 9 (SIGKILL)"
        );
    }
}
