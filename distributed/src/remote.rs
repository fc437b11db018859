//! How a job's data travels when its worker is on another host and cannot read the driver's
//! files: the one thing the distributed model adds to a [`Job`].
//!
//! The other models hand a worker an item that *names* its data (a path, a block of rows) and
//! let it read the file. Here a [`Remote`] job splits that in three, each side doing what only
//! it can:
//!
//! - the driver [`pack`](Remote::pack)s an item: reads the bytes the worker will need (the
//!   PNG file, the rows of A) and puts them in the engine;
//! - the worker [`compute`](Remote::compute)s on those bytes, plus what every task of the run
//!   shares ([`Remote::shared_bytes`], B), fetched once per worker process and kept;
//! - the driver [`unpack`](Remote::unpack)s the returned bytes into the item's output (writes
//!   the image under its final name; decodes the block of C).
//!
//! Each step calls the scenario's own library functions (`images::load`, `transform`, `save`;
//! `matrix::read_rows`, `multiply_block`), so the work is the same as in every other model and
//! so is the digest. A worker finds a job by its [`Job::NAME`] in [`runner_for`], as a Celery
//! worker finds a task by its registered name.

use anyhow::{Context, Result, anyhow, bail, ensure};
use scenarios::digest::Sha;
use scenarios::gil;
use scenarios::images::{self, ProcessImage};
use scenarios::job::Job;
use scenarios::matrix::{self, Block, Matrix, MultiplyRows, Rows};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A job whose inputs travel to the worker and whose results travel back.
pub trait Remote: Job {
    /// What every task of a run shares, decoded once per worker process.
    type Shared: Send + 'static;

    /// Driver: the bytes every worker fetches once (empty when the tasks share nothing).
    fn shared_bytes(&self) -> Result<Vec<u8>>;
    /// Worker: decode what [`Remote::shared_bytes`] sent.
    fn open_shared(&self, bytes: &[u8]) -> Result<Self::Shared>;
    /// Driver: the bytes a worker needs for one item.
    fn pack(&self, item: &Self::Item) -> Result<Vec<u8>>;
    /// Worker: the work itself, on the bytes [`Remote::pack`] sent; its bytes travel back.
    fn compute(&self, shared: &Self::Shared, item: &Self::Item, input: &[u8]) -> Result<Vec<u8>>;
    /// Driver: the item's output, from the bytes a worker returned.
    fn unpack(&self, item: &Self::Item, returned: Vec<u8>) -> Result<Self::Output>;
    /// The item as an error message names it.
    fn describe(&self, item: &Self::Item) -> String;
}

impl Remote for ProcessImage {
    type Shared = ();

    fn shared_bytes(&self) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }

    fn open_shared(&self, _bytes: &[u8]) -> Result<()> {
        Ok(())
    }

    fn pack(&self, input: &std::path::PathBuf) -> Result<Vec<u8>> {
        images::load(input)
    }

    fn compute(&self, _: &(), input: &std::path::PathBuf, png: &[u8]) -> Result<Vec<u8>> {
        gil::hold(|| images::transform(input, png, self.sigma))
    }

    fn unpack(&self, input: &std::path::PathBuf, png: Vec<u8>) -> Result<Sha> {
        images::save(&self.out, input, &png)
    }

    fn describe(&self, input: &std::path::PathBuf) -> String {
        input.display().to_string()
    }
}

impl Remote for MultiplyRows {
    type Shared = Matrix;

    /// B, once per worker: broadcast, not sent with every block.
    fn shared_bytes(&self) -> Result<Vec<u8>> {
        let b = matrix::read(self.b_path())?;
        let mut bytes = Vec::with_capacity(16 + b.data.len() * 8);
        bytes.extend((b.rows as u64).to_le_bytes());
        bytes.extend((b.cols as u64).to_le_bytes());
        bytes.extend(matrix::to_bytes(&b.data));
        Ok(bytes)
    }

    fn open_shared(&self, bytes: &[u8]) -> Result<Matrix> {
        ensure!(
            bytes.len() >= 16,
            "B arrived truncated ({} bytes)",
            bytes.len()
        );
        let dim = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let (rows, cols) = (dim(0) as usize, dim(8) as usize);
        let data = f64s(&bytes[16..])?;
        ensure!(
            rows.checked_mul(cols) == Some(data.len()),
            "B arrived as {rows}x{cols} with {} numbers",
            data.len()
        );
        Ok(Matrix { rows, cols, data })
    }

    fn pack(&self, rows: &Rows) -> Result<Vec<u8>> {
        let a_rows = matrix::read_rows(self.a_path(), rows.start, rows.count)?;
        Ok(matrix::to_bytes(&a_rows))
    }

    fn compute(&self, b: &Matrix, rows: &Rows, input: &[u8]) -> Result<Vec<u8>> {
        let a_rows = f64s(input)?;
        ensure!(
            a_rows.len() == rows.count * b.rows,
            "rows {}..{} of A have {} numbers, B has {} rows: they cannot be multiplied",
            rows.start,
            rows.start + rows.count,
            a_rows.len(),
            b.rows
        );
        encode(&matrix::multiply_block(&a_rows, b))
    }

    fn unpack(&self, _rows: &Rows, returned: Vec<u8>) -> Result<Block> {
        decode(&returned)
    }

    fn describe(&self, rows: &Rows) -> String {
        format!("rows {}..{} of C", rows.start, rows.start + rows.count)
    }
}

fn f64s(bytes: &[u8]) -> Result<Vec<f64>> {
    ensure!(
        bytes.len().is_multiple_of(8),
        "{} bytes are not a whole number of f64s",
        bytes.len()
    );
    Ok(bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect())
}

/// Serialise what crosses the engine: compact binary serde, as over the process pool's pipes.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).context("cannot serialise for the broker")
}

/// The inverse of [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes)
        .map_err(|e| anyhow!("the broker handed over bytes that do not decode: {e}"))
}

/// A job a worker was handed for one run, with what the run shares, ready for its tasks.
pub trait Runner: Send {
    /// Compute one task from its encoded item and its input bytes.
    fn compute(&self, item: &[u8], input: &[u8]) -> Result<Vec<u8>>;
    /// The item as an error message names it.
    fn describe(&self, item: &[u8]) -> String;
}

struct Typed<J: Remote> {
    job: J,
    shared: J::Shared,
}

impl<J: Remote> Runner for Typed<J> {
    fn compute(&self, item: &[u8], input: &[u8]) -> Result<Vec<u8>> {
        let item: J::Item = decode(item)?;
        self.job.compute(&self.shared, &item, input)
    }

    fn describe(&self, item: &[u8]) -> String {
        decode::<J::Item>(item).map_or_else(
            |e| format!("an unreadable item ({e})"),
            |i| self.job.describe(&i),
        )
    }
}

fn typed<J: Remote>(settings: &[u8], shared: &[u8]) -> Result<Box<dyn Runner>> {
    let job: J = decode(settings).with_context(|| format!("the {} job", J::NAME))?;
    let shared = job.open_shared(shared)?;
    Ok(Box::new(Typed { job, shared }))
}

/// Every job a worker can run, by name. A scenario that runs distributed adds its job here.
pub fn runner_for(name: &str, settings: &[u8], shared: &[u8]) -> Result<Box<dyn Runner>> {
    match name {
        ProcessImage::NAME => typed::<ProcessImage>(settings, shared),
        MultiplyRows::NAME => typed::<MultiplyRows>(settings, shared),
        other => bail!("this worker knows no job called '{other}' (is it an older build?)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b_survives_the_trip() {
        let b = Matrix {
            rows: 2,
            cols: 3,
            data: vec![1.0, -2.0, 3.5, 0.0, 1e300, -0.0],
        };
        let mut bytes = Vec::new();
        bytes.extend(2u64.to_le_bytes());
        bytes.extend(3u64.to_le_bytes());
        bytes.extend(matrix::to_bytes(&b.data));
        let job = MultiplyRows::new(&matrix::MatrixArgs {
            input: "nowhere".into(),
            workers: 1,
            block_rows: 1,
            save_c: None,
        });
        assert_eq!(job.open_shared(&bytes).unwrap(), b);
        assert!(job.open_shared(&bytes[..20]).is_err());
    }

    #[test]
    fn an_unknown_job_is_named() {
        let e = runner_for("nope", &[], &[]).err().unwrap();
        assert!(e.to_string().contains("'nope'"), "{e}");
    }
}
