//! The hidden `worker` subcommand: what every child process runs.
//!
//! It reads [`Task`] frames from stdin until end-of-file, runs each task's job, and writes one
//! [`Reply`] frame per task to stdout. Stdout is the channel to the parent, so everything a job
//! says for humans goes to stderr (`console::set_json(true)` routes `say!` there).

use crate::process::{DieHow, FAULT_ENV, Fault, PARENT_PID_ENV, Reply, Task};
use anyhow::{Context, Result, bail};
use scenarios::frame::{read_frame, write_frame};
use scenarios::{console, usage};
use serde_json::Value;
use std::io::{BufReader, BufWriter, Write};

/// Run the job a task names. Every scenario that uses processes adds its job here.
fn dispatch(job: &str, arg: Value) -> Result<Vec<u8>> {
    match job {
        "cake" => crate::cakes::job(arg),
        "worker" => crate::workers::job(arg),
        "queue-item" => crate::queue::job(arg),
        "map" => crate::map::job(arg),
        "matrix-block" => crate::matrix::job(arg),
        "image" => crate::images::job(arg),
        "download" => crate::downloads::job(arg),
        "request" => crate::requests::job(arg),
        other => bail!("this worker knows no job called '{other}'"),
    }
}

/// Die if the parent is gone, and ask the kernel to kill us when it goes.
pub(crate) fn tie_to_parent() -> Result<()> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .context("cannot ask to die with the parent")?;
    // The parent may have died between starting us and the line above.
    if let Ok(expected) = std::env::var(PARENT_PID_ENV)
        && expected != std::os::unix::process::parent_id().to_string()
    {
        bail!("the process that started this worker ({expected}) is gone");
    }
    Ok(())
}

fn die(how: DieHow, task: u64) -> ! {
    match how {
        DieHow::Kill => {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            // raise(SIGKILL) does not return; this is only for the type checker.
            std::process::abort()
        }
        DieHow::Panic => panic!("planned panic on task {task} (a test fault)"),
        DieHow::Exit => std::process::exit(3),
    }
}

/// Serve tasks until the parent closes our stdin.
pub fn serve() -> Result<()> {
    console::set_json(true);
    tie_to_parent()?;
    let fault: Option<Fault> = match std::env::var(FAULT_ENV) {
        Ok(text) => Some(serde_json::from_str(&text).context("bad test fault description")?),
        Err(_) => None,
    };
    let pid = std::process::id();
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut output = BufWriter::new(std::io::stdout().lock());
    while let Some(frame) = read_frame(&mut input).context("reading a task")? {
        let task: Task = serde_json::from_slice(&frame).context("a task frame is not valid")?;
        if let Some(f) = fault
            && f.task == task.id
        {
            die(f.how, task.id);
        }
        let result = dispatch(&task.job, task.arg).map_err(|e| format!("{e:#}"));
        let reply = Reply {
            id: task.id,
            pid,
            peak_kib: usage::own_peak_rss_kib(),
            result,
        };
        write_frame(&mut output, &reply.encode()).context("writing a reply")?;
        output.flush().context("writing a reply")?;
    }
    Ok(())
}
