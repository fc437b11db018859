//! The hidden `worker` subcommand: what every child process runs.
//!
//! It reads frames from stdin until end-of-file: first the job ([`ToChild::Start`]: which one,
//! and its settings), then items ([`ToChild::Item`]), running the job on each and writing one
//! [`Reply`] per item to stdout. Stdout is the channel to the parent, so everything a job says
//! for humans goes to stderr (`console::set_json(true)` routes `say!` there).
//!
//! The job is found by its name in [`runner_for`]: the list of every job a worker process
//! knows, the way `ProcessPoolExecutor` finds a pickled function by its qualified name.

use crate::child::{self, DieHow, FAULT_ENV, Fault, PARENT_PID_ENV, Reply, ToChild};
use anyhow::{Context, Result, bail};
use scenarios::bigfile::Aggregate;
use scenarios::db::blocking::Transact;
use scenarios::fetch::blocking::{Download, FetchItem};
use scenarios::frame::{read_frame, write_frame};
use scenarios::images::ProcessImage;
use scenarios::job::Job;
use scenarios::matrix::MultiplyRows;
use scenarios::pipeline::ProcessArrived;
use scenarios::train::TrainJob;
use scenarios::{console, usage};
use std::io::{BufReader, BufWriter, Write};

/// A job this process was handed, ready to run items from their bytes.
trait Runner {
    fn run(&self, item: &[u8]) -> Result<Vec<u8>>;
}

struct Typed<J>(J);

impl<J: Job> Runner for Typed<J> {
    fn run(&self, item: &[u8]) -> Result<Vec<u8>> {
        let output = self.0.run(child::decode(item)?)?;
        child::encode(&output)
    }
}

fn typed<J: Job>(settings: &[u8]) -> Result<Box<dyn Runner>> {
    let job: J = child::decode(settings).with_context(|| format!("the {} job", J::NAME))?;
    Ok(Box::new(Typed(job)))
}

/// Every job a worker process can run. A scenario that uses processes adds its job here.
fn runner_for(name: &str, settings: &[u8]) -> Result<Box<dyn Runner>> {
    match name {
        crate::cakes::Bake::NAME => typed::<crate::cakes::Bake>(settings),
        crate::workers::Wait::NAME => typed::<crate::workers::Wait>(settings),
        crate::queue::Consume::NAME => typed::<crate::queue::Consume>(settings),
        crate::map::Crunch::NAME => typed::<crate::map::Crunch>(settings),
        MultiplyRows::NAME => typed::<MultiplyRows>(settings),
        ProcessImage::NAME => typed::<ProcessImage>(settings),
        Download::NAME => typed::<Download>(settings),
        FetchItem::NAME => typed::<FetchItem>(settings),
        ProcessArrived::NAME => typed::<ProcessArrived>(settings),
        Aggregate::NAME => typed::<Aggregate>(settings),
        Transact::NAME => typed::<Transact>(settings),
        scenarios::crawl::blocking::FetchPages::NAME => {
            typed::<scenarios::crawl::blocking::FetchPages>(settings)
        }
        TrainJob::NAME => typed::<TrainJob>(settings),
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

fn die(how: DieHow, item: u64) -> ! {
    match how {
        DieHow::Kill => {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            // raise(SIGKILL) does not return; this is only for the type checker.
            std::process::abort()
        }
        DieHow::Panic => panic!("planned panic on item {item} (a test fault)"),
        DieHow::Exit => std::process::exit(3),
    }
}

/// Serve items until the parent closes our stdin.
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
    let mut runner = None;
    while let Some(frame) = read_frame(&mut input).context("reading a frame")? {
        match child::decode(&frame).context("a frame from the parent is not valid")? {
            ToChild::Start { job, settings } => runner = Some(runner_for(&job, &settings)?),
            ToChild::Item { id, item } => {
                if let Some(f) = fault
                    && f.item == id
                {
                    die(f.how, id);
                }
                let runner = runner.as_ref().context("an item came before its job")?;
                let reply = Reply {
                    id,
                    pid,
                    result: runner.run(&item).map_err(|e| format!("{e:#}")),
                    threads: usage::threads_now().unwrap_or(1),
                };
                write_frame(&mut output, &reply.encode()).context("writing a reply")?;
                output.flush().context("writing a reply")?;
            }
        }
    }
    Ok(())
}
