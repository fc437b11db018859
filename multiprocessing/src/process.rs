//! A child process of this same binary, and the frames the parent and child exchange.
//!
//! Python's `multiprocessing` starts a fresh interpreter (or forks) and pickles a function call
//! across. Here the binary runs `std::env::current_exe()` with the hidden `worker` subcommand;
//! the child reads [`Task`] frames on its stdin and answers with [`Reply`] frames on its stdout
//! (length-prefixed, see `scenarios::frame`). Its stderr is the terminal's, so what a
//! child says still reaches the reader.
//!
//! How children never outlive their parent:
//! - a child that reads end-of-file on stdin exits: the parent closed the pipe, or died;
//! - the child asks the kernel to kill it when its parent dies (`PR_SET_PDEATHSIG`), which
//!   covers a child busy in a long task when the parent is killed;
//! - Ctrl-C reaches the whole process group, children included;
//! - dropping a [`Worker`] that was not finished kills and reaps it.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that spawned the child exits, so a worker must be
//! spawned by the thread that keeps it (the pool's driver threads do).

use anyhow::{Context, Result, bail};
use scenarios::frame::{read_frame, write_frame};
use scenarios::usage;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};

/// The environment variable that carries the parent's pid to the child.
pub const PARENT_PID_ENV: &str = "MULTIPROCESSING_PARENT_PID";
/// The environment variable that tells a worker to die on purpose (tests only).
pub const FAULT_ENV: &str = "MULTIPROCESSING_FAULT";

/// One unit of work sent to a child: which job, and its argument.
#[derive(Debug, Serialize, Deserialize)]
pub struct Task {
    pub id: u64,
    pub job: String,
    pub arg: Value,
}

/// The child's answer to one [`Task`].
#[derive(Debug, PartialEq)]
pub struct Reply {
    pub id: u64,
    /// The pid of the process that did the work.
    pub pid: u32,
    /// That process's peak resident memory so far, in KiB.
    pub peak_kib: u64,
    /// The job's output, or its error message (the job failed; the child lives on).
    pub result: Result<Vec<u8>, String>,
}

impl Reply {
    /// Wire format: tag (0 ok, 1 error), id, pid, peak KiB, then the body.
    pub fn encode(&self) -> Vec<u8> {
        let (tag, body): (u8, &[u8]) = match &self.result {
            Ok(bytes) => (0, bytes),
            Err(msg) => (1, msg.as_bytes()),
        };
        let mut out = Vec::with_capacity(21 + body.len());
        out.push(tag);
        out.extend_from_slice(&self.id.to_le_bytes());
        out.extend_from_slice(&self.pid.to_le_bytes());
        out.extend_from_slice(&self.peak_kib.to_le_bytes());
        out.extend_from_slice(body);
        out
    }

    pub fn decode(mut frame: Vec<u8>) -> Result<Reply> {
        if frame.len() < 21 {
            bail!("reply frame of {} bytes is too short", frame.len());
        }
        let u64_at = |at: usize| u64::from_le_bytes(frame[at..at + 8].try_into().expect("8 bytes"));
        let (tag, id, peak_kib) = (frame[0], u64_at(1), u64_at(13));
        let pid = u32::from_le_bytes(frame[9..13].try_into().expect("4 bytes"));
        // Drop the header in place: a reply can be megabytes, and split_off would copy it.
        frame.drain(..21);
        let body = frame;
        let result = match tag {
            0 => Ok(body),
            1 => Err(String::from_utf8_lossy(&body).into_owned()),
            other => bail!("reply frame has unknown tag {other}"),
        };
        Ok(Reply {
            id,
            pid,
            peak_kib,
            result,
        })
    }
}

/// How a worker should die on purpose, to test that the parent survives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
pub enum DieHow {
    /// SIGKILL itself, as the OOM killer or `kill -9` would
    Kill,
    /// Panic inside the job
    Panic,
    /// Exit with status 3 without answering
    Exit,
}

/// A planned death: the worker that receives task `task` dies `how`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub task: u64,
    pub how: DieHow,
}

/// A running child process that serves tasks.
pub struct Worker {
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: Option<BufReader<ChildStdout>>,
    peak_kib: u64,
    finished: bool,
}

impl Worker {
    /// Start a copy of this binary as a worker. `fault` is for tests: see [`Fault`].
    pub fn spawn(fault: Option<Fault>) -> Result<Worker> {
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
        Ok(Worker {
            child,
            stdin,
            stdout,
            peak_kib: 0,
            finished: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a task without waiting for its reply (the chapter's `Process.start()`).
    pub fn send(&mut self, task: &Task) -> Result<()> {
        let pid = self.pid();
        let stdin = self
            .stdin
            .as_mut()
            .context("this worker's input is already closed")?;
        let frame = serde_json::to_vec(task)?;
        write_frame(stdin, &frame)
            .and_then(|()| stdin.flush())
            .with_context(|| format!("worker process {pid} is not reading its tasks"))
    }

    /// Wait for the next reply. An error here means the worker is gone (or spoke garbage): the
    /// caller should [`reap`](Worker::reap) it and treat its task as failed.
    pub fn recv(&mut self) -> Result<Reply> {
        let pid = self.pid();
        let stdout = self
            .stdout
            .as_mut()
            .context("this worker's replies were handed to another reader")?;
        let frame = read_frame(stdout)
            .with_context(|| format!("worker process {pid} stopped mid-reply"))?
            .with_context(|| format!("worker process {pid} exited without replying"))?;
        let reply = Reply::decode(frame)?;
        self.peak_kib = self.peak_kib.max(reply.peak_kib);
        Ok(reply)
    }

    /// Send a task and wait for its reply.
    pub fn call(&mut self, task: &Task) -> Result<Reply> {
        self.send(task)?;
        self.recv()
    }

    /// Hand the reply stream to another thread (a queue reads replies while it keeps sending).
    pub fn take_replies(&mut self) -> Option<Replies> {
        self.stdout.take().map(|stdout| Replies {
            pid: self.pid(),
            stdout,
            peak_kib: 0,
        })
    }

    /// Close the worker's stdin: it finishes what it holds and exits.
    pub fn close_input(&mut self) {
        self.stdin = None;
    }

    /// Tell the worker there is no more work (close its stdin), wait for it to exit, and record
    /// its peak memory. A worker that does not exit cleanly is an error.
    pub fn finish(mut self) -> Result<()> {
        self.finished = true;
        self.stdin = None;
        usage::add_child_peak(self.peak_kib);
        let status = self
            .child
            .wait()
            .context("cannot wait for a worker process")?;
        if !status.success() {
            bail!("worker process {} {}", self.child.id(), describe(status));
        }
        Ok(())
    }

    /// Reap a worker that died, and say how it died.
    pub fn reap(mut self) -> String {
        self.finished = true;
        self.stdin = None;
        usage::add_child_peak(self.peak_kib);
        // It may be stuck rather than dead (it sent garbage): make sure it is gone.
        let _ = self.child.kill();
        match self.child.wait() {
            Ok(status) => describe(status),
            Err(e) => format!("could not be waited for: {e}"),
        }
    }

    /// Record memory reported through a [`Replies`] reader before finishing.
    pub fn note_peak(&mut self, kib: u64) {
        self.peak_kib = self.peak_kib.max(kib);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if !self.finished {
            // An unfinished worker being dropped means the parent is bailing out: leave no orphan.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The reply half of a [`Worker`], readable from another thread.
pub struct Replies {
    pid: u32,
    stdout: BufReader<ChildStdout>,
    peak_kib: u64,
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
                self.peak_kib = self.peak_kib.max(reply.peak_kib);
                Ok(Some(reply))
            }
        }
    }

    pub fn peak_kib(&self) -> u64 {
        self.peak_kib
    }
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
                peak_kib: 5678,
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
            peak_kib: 1,
            result: Ok(vec![]),
        }
        .encode();
        bad[0] = 9;
        assert!(Reply::decode(bad).is_err());
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
