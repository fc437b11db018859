//! C in memory a pool's parent and its worker processes share, the way Python's
//! `multiprocessing.shared_memory` gives processes one buffer: a memory file (`memfd_create`)
//! the parent makes, sized for C, before it starts any worker. Each worker inherits it open on
//! the same descriptor number, opens its own handle through `/proc/self/fd`, and writes each
//! block's rows at their offset instead of sending them back through its pipe.
//!
//! Why: at n = 2048, shipping C's 32 MiB through the pipes (encoded by the worker, read and
//! decoded by the parent, while both cores compute) cost about 45 ms of a 540 ms run, 8 %.
//! Written here, each row of C is copied once, by the worker that computed it.
//!
//! Why a file written with `pwrite`, not a mapping: a mapping would need `unsafe` (another
//! process writes the memory under Rust's feet), and the parent does not need C in its address
//! space to count it done: it reads C back ([`read_back`]) only when asked to save it. Since no
//! process maps the file, its pages show in nobody's RSS or PSS: the run adds its size to its
//! memory by hand ([`crate::Run::shared_memory_kib`]).

use super::file::read_f64s;
use super::{Block, Rows};
use crate::outcome::Outcome;
use anyhow::{Context, Result, ensure};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::OnceLock;

/// Rows of C written per `pwrite`: 256 KiB at a time, from one buffer the worker reuses.
const CHUNK_F64S: usize = 32 * 1024;

/// Where a worker process puts its rows of C: what the parent hands it in the job.
#[derive(Debug, Serialize, Deserialize)]
pub struct SharedC {
    /// The descriptor number the memory file is open on, in the parent and in every worker.
    fd: i32,
    rows: usize,
    cols: usize,
    /// This worker's own handle on it, opened by the first block it writes.
    #[serde(skip)]
    file: OnceLock<Result<File, String>>,
}

impl SharedC {
    /// Make the memory file for a `rows` x `cols` C, zero-filled, and keep it open in this
    /// process without close-on-exec, so every worker started while it is open inherits it.
    /// The returned [`File`] is the parent's handle: drop it only after the workers are done.
    pub fn create(rows: usize, cols: usize) -> Result<(SharedC, File)> {
        use nix::sys::memfd::{MFdFlags, memfd_create};
        let bytes = (rows * cols * 8) as u64;
        // No MFD_CLOEXEC: the workers are this binary started again, and inherit it.
        let fd = memfd_create(c"matrix-c", MFdFlags::empty())
            .context("cannot make the memory file for C (memfd_create)")?;
        let file = File::from(fd);
        file.set_len(bytes)
            .with_context(|| format!("cannot size the memory file for C to {bytes} bytes"))?;
        let shared = SharedC {
            fd: file.as_raw_fd(),
            rows,
            cols,
            file: OnceLock::new(),
        };
        Ok((shared, file))
    }

    /// How many KiB of memory the file holds: C's size.
    pub fn kib(&self) -> u64 {
        (self.rows * self.cols * 8).div_ceil(1024) as u64
    }

    /// In a worker: write the rows of C a block computed, at their offset.
    pub fn put(&self, rows: Rows, c: &[f64]) -> Result<()> {
        ensure!(
            rows.start + rows.count <= self.rows && c.len() == rows.count * self.cols,
            "rows {}..{} ({} numbers) do not fit the shared C of {} x {}",
            rows.start,
            rows.start + rows.count,
            c.len(),
            self.rows,
            self.cols
        );
        let file = self
            .file
            .get_or_init(|| self.open().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut offset = (rows.start * self.cols * 8) as u64;
        let mut bytes = Vec::with_capacity(CHUNK_F64S.min(c.len()) * 8);
        for chunk in c.chunks(CHUNK_F64S) {
            bytes.clear();
            bytes.extend(chunk.iter().flat_map(|x| x.to_le_bytes()));
            file.write_all_at(&bytes, offset)
                .context("cannot write rows of C into the shared memory file")?;
            offset += bytes.len() as u64;
        }
        Ok(())
    }

    fn open(&self) -> Result<File> {
        let path = format!("/proc/self/fd/{}", self.fd);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .with_context(|| {
                format!(
                    "the shared memory file for C (descriptor {}) is not open in this process",
                    self.fd
                )
            })?;
        let (want, got) = ((self.rows * self.cols * 8) as u64, file.metadata()?.len());
        ensure!(
            got == want,
            "{path} holds {got} bytes, not the {want} of the shared C: it is not the parent's memory file"
        );
        Ok(file)
    }
}

/// In the parent, to save C: put into each computed block the rows its worker wrote.
pub fn read_back(
    file: &File,
    cols: usize,
    blocks: &[Rows],
    outcomes: &mut [Outcome<Block>],
) -> Result<()> {
    for (&rows, outcome) in blocks.iter().zip(outcomes) {
        if let Outcome::Done(block) = outcome {
            block.c = read_block(file, cols, rows)?;
        }
    }
    Ok(())
}

fn read_block(mut file: &File, cols: usize, rows: Rows) -> Result<Vec<f64>> {
    file.seek(SeekFrom::Start((rows.start * cols * 8) as u64))?;
    read_f64s(
        &mut file,
        rows.count * cols,
        Path::new("the shared memory file for C"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_written_by_one_handle_are_read_back_at_their_place() {
        let (shared, file) = SharedC::create(5, 3).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 5 * 3 * 8);
        let rows = Rows { start: 2, count: 2 };
        let c = [1.5, -2.0, 3.25, 4.0, 5.5, f64::MIN_POSITIVE];
        shared.put(rows, &c).unwrap();
        assert_eq!(read_block(&file, 3, rows).unwrap(), c);
        // The rows around it are untouched zeros.
        let before = read_block(&file, 3, Rows { start: 0, count: 2 }).unwrap();
        assert_eq!(before, [0.0; 6]);
    }

    /// Why `put` refused rows `start..start + count` given `len` numbers, with its causes.
    fn refusal(shared: &SharedC, start: usize, count: usize, len: usize) -> String {
        let err = shared
            .put(Rows { start, count }, &vec![0.0; len])
            .unwrap_err();
        format!("{err:#}")
    }

    #[test]
    fn rows_that_do_not_fit_are_refused() {
        let (shared, _file) = SharedC::create(4, 2).unwrap();
        let why = refusal(&shared, 3, 2, 4);
        assert!(why.contains("do not fit the shared C of 4 x 2"), "{why}");
        let why = refusal(&shared, 0, 1, 3);
        assert!(why.contains("do not fit"), "{why}");
    }

    #[test]
    fn a_descriptor_that_is_not_the_memory_file_is_refused() {
        let (mut shared, _file) = SharedC::create(4, 4).unwrap();
        let other = tempfile::tempfile().unwrap();
        shared.fd = other.as_raw_fd();
        let why = refusal(&shared, 0, 1, 4);
        assert!(why.contains("not the parent's memory file"), "{why}");
        shared.fd = 9999;
        shared.file = OnceLock::new();
        let why = refusal(&shared, 0, 1, 4);
        assert!(why.contains("is not open in this process"), "{why}");
    }
}
