//! The `matrix` scenario, written once: the chapter's "mathematical computation" row, as
//! C = A x B on dense f64 matrices.
//!
//! - Inputs: `decision-table gen matrix --n 1024 --seed 42 --out data/matrix` writes `a.mat`
//!   and `b.mat`, deterministic from the seed ([`generate`]), in the format of [`file`].
//! - Work item: a block of C's rows ([`Rows`]); the job every model maps over them is
//!   [`MultiplyRows`]: read those rows of A from the file, multiply by B with the [`kernel`]
//!   (a well-kept GEMM on one thread), hash each row of C. B is read once per process.
//! - Digest: SHA-256 over each row's SHA-256, in row order ([`summarise`]), so it does not
//!   depend on how rows were grouped into blocks, nor on which worker computed them.
//! - Figures: `gflops` is 2mkn / wall time (the whole run), `kernel_gflops` is 2mkn / the time
//!   spent inside the kernel summed over workers: one core's speed, whatever the model.

pub mod file;
pub mod kernel;
pub mod shared;

pub use file::{Header, read, read_header, read_rows, to_bytes, write};
pub use kernel::{multiply, multiply_rows};

use crate::cli::{bounded, cores, workers};
use crate::digest::{Digest, Sha, sha256};
use crate::gil;
use crate::job::Job;
use crate::outcome::Outcome;
use crate::rng::SplitMix64;
use crate::{Run, Summary, say};
use anyhow::{Context, Result, anyhow, ensure};
use clap::Args;
use file::MAX_DIM;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// `matrix`: C = A x B, by blocks of rows.
#[derive(Args, Debug, Clone)]
pub struct MatrixArgs {
    /// Directory holding a.mat and b.mat (make them with `decision-table gen matrix`)
    #[arg(default_value = "data/matrix")]
    pub input: PathBuf,
    /// How many workers compute row blocks (default: one per core)
    #[arg(long, default_value_t = cores(), value_parser = workers, allow_negative_numbers = true)]
    pub workers: usize,
    /// Rows of C per work item (large: the GEMM packs B again for every item)
    #[arg(long, default_value_t = 256, value_parser = block_rows, allow_negative_numbers = true)]
    pub block_rows: usize,
    /// Also write C to this file (the matrix format), to compare with another program's
    #[arg(long, value_name = "FILE")]
    pub save_c: Option<PathBuf>,
}

impl MatrixArgs {
    pub fn a(&self) -> PathBuf {
        self.input.join("a.mat")
    }

    pub fn b(&self) -> PathBuf {
        self.input.join("b.mat")
    }
}

fn block_rows(s: &str) -> Result<usize, String> {
    bounded(s, 1, MAX_DIM).map(|v| v as usize)
}

/// The size of one side of the square matrices `gen matrix` writes.
pub fn side(s: &str) -> Result<usize, String> {
    bounded(s, 1, 8192).map(|v| v as usize)
}

/// `decision-table gen matrix`: two random n x n matrices.
#[derive(Args, Debug, Clone)]
pub struct GenMatrixArgs {
    /// Rows and columns of A and B
    #[arg(long, default_value_t = 1024, value_parser = side, allow_negative_numbers = true)]
    pub n: usize,
    /// Seed of the generator: the same seed always gives the same matrices
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Directory to write a.mat and b.mat into (created if missing)
    #[arg(long, default_value = "data/matrix")]
    pub out: PathBuf,
}

/// A dense row-major matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    /// Elements uniform in [-1, 1), drawn from `rng` row by row.
    pub fn random(rows: usize, cols: usize, rng: &mut SplitMix64) -> Matrix {
        let data = (0..rows * cols)
            .map(|_| rng.next_f64() * 2.0 - 1.0)
            .collect();
        Matrix { rows, cols, data }
    }
}

/// Write A and B for `gen matrix` into `args.out`; returns their paths.
pub fn generate(args: &GenMatrixArgs) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let (a, b) = (args.out.join("a.mat"), args.out.join("b.mat"));
    // Independent streams, so A does not depend on B's size and vice versa.
    write(
        &a,
        &Matrix::random(args.n, args.n, &mut SplitMix64::for_item(args.seed, 0)),
    )?;
    write(
        &b,
        &Matrix::random(args.n, args.n, &mut SplitMix64::for_item(args.seed, 1)),
    )?;
    Ok((a, b))
}

/// Check that A and B exist, are valid, and can be multiplied; returns (rows of C, inner, cols).
pub fn check_inputs(a: &Path, b: &Path) -> Result<(usize, usize, usize)> {
    let (ha, hb) = (read_header(a)?, read_header(b)?);
    ensure!(
        ha.cols == hb.rows,
        "{} is {} x {} and {} is {} x {}: A's columns must equal B's rows",
        a.display(),
        ha.rows,
        ha.cols,
        b.display(),
        hb.rows,
        hb.cols
    );
    Ok((ha.rows, ha.cols, hb.cols))
}

/// One work item: rows `start..start + count` of C.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rows {
    pub start: usize,
    pub count: usize,
}

/// The work items of an `m`-row product, `block_rows` rows each (the last may be shorter), in
/// order.
pub fn row_blocks(m: usize, block_rows: usize) -> Vec<Rows> {
    (0..m)
        .step_by(block_rows)
        .map(|start| Rows {
            start,
            count: block_rows.min(m - start),
        })
        .collect()
}

/// The job every model maps over the row blocks of C = A x B.
#[derive(Debug, Serialize, Deserialize)]
pub struct MultiplyRows {
    a: PathBuf,
    b: PathBuf,
    /// B, read by the first item this process runs, then kept for every later one. Not sent
    /// to a worker process: each process reads B itself, once.
    #[serde(skip)]
    b_matrix: OnceLock<Result<Matrix, String>>,
    /// Set by a process pool: each block's rows of C go into memory shared with the parent,
    /// and the reply through the pipe carries only their hashes.
    #[serde(default)]
    shared_c: Option<shared::SharedC>,
}

impl MultiplyRows {
    pub fn new(args: &MatrixArgs) -> MultiplyRows {
        MultiplyRows {
            a: args.a(),
            b: args.b(),
            b_matrix: OnceLock::new(),
            shared_c: None,
        }
    }

    /// The same job for worker processes that write C into `shared` (see [`shared`]).
    pub fn with_shared_c(mut self, shared: shared::SharedC) -> MultiplyRows {
        self.shared_c = Some(shared);
        self
    }

    /// The file A is read from, a block of rows at a time.
    pub fn a_path(&self) -> &Path {
        &self.a
    }

    /// The file B is read from, whole.
    pub fn b_path(&self) -> &Path {
        &self.b
    }

    fn b_matrix(&self) -> Result<&Matrix> {
        // The other workers wait here while the first one reads B: a serial part of every run.
        let b = self
            .b_matrix
            .get_or_init(|| read(&self.b).map_err(|e| format!("{e:#}")));
        b.as_ref().map_err(|e| anyhow!("{e}"))
    }
}

impl Job for MultiplyRows {
    const NAME: &'static str = "matrix-rows";
    type Item = Rows;
    type Output = Block;

    fn run(&self, rows: Rows) -> Result<Block> {
        let mut done = block(&self.a, self.b_matrix()?, rows)?;
        if let Some(shared) = &self.shared_c {
            shared.put(rows, &done.c)?;
            done.c = Vec::new();
        }
        Ok(done)
    }

    /// Half a minute to start and read B, plus the block's arithmetic at 50 MFLOP/s: a
    /// thousand times slower than the kernel runs here.
    fn deadline(&self, rows: &Rows) -> Duration {
        // From B's header only: the parent of a process pool asks, and must not read B itself.
        let (k, n) =
            read_header(&self.b).map_or((MAX_DIM as usize, MAX_DIM as usize), |h| (h.rows, h.cols));
        Duration::from_secs(30) + Duration::from_secs_f64(flops(rows.count, k, n) / 50e6)
    }
}

/// What one work item produces: its rows of C, and what the summary needs of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// Seconds spent inside the kernel.
    pub kernel_s: f64,
    /// The SHA-256 of each row, in row order.
    pub row_hashes: Vec<Sha>,
    /// The rows of C. Empty in a reply from a worker process, which wrote them into memory it
    /// shares with its parent ([`shared`]); elsewhere (threads, a worker on another host, which
    /// sends them back as raw bytes) the rows themselves.
    #[serde(with = "f64s_as_bytes")]
    pub c: Vec<f64>,
}

/// One work item, the same in every model: read rows `rows` of A from its file, compute those
/// rows of C with the kernel, and hash each row. Hashing here, in the workers, keeps C from
/// being hashed on one core at the end.
pub fn block(a: &Path, b: &Matrix, rows: Rows) -> Result<Block> {
    let a_rows = read_rows(a, rows.start, rows.count)?;
    ensure!(
        a_rows.len() == rows.count * b.rows,
        "{}: has {} columns, B has {} rows: they cannot be multiplied",
        a.display(),
        a_rows.len() / rows.count.max(1),
        b.rows
    );
    Ok(multiply_block(&a_rows, b))
}

/// The arithmetic of one work item, on its rows of A already in memory (read from the file by
/// [`block`], or received from a driver by a worker on another host): multiply by B, hash
/// each row of C.
pub fn multiply_block(a_rows: &[f64], b: &Matrix) -> Block {
    // Behind the emulated GIL with `threading --gil` (the kernel times itself inside it: its
    // speed, not the wait for the lock); free otherwise.
    let (kernel_s, row_hashes, c) = gil::hold(|| {
        let started = std::time::Instant::now();
        let c = multiply_rows(a_rows, b);
        let kernel_s = started.elapsed().as_secs_f64();
        // Where a thread behind the emulated GIL may hand it over (never inside the timed
        // kernel, so `kernel_s` never counts a wait for the lock).
        gil::checkpoint();
        let mut bytes = Vec::with_capacity(b.cols * 8);
        let row_hashes = c
            .chunks_exact(b.cols)
            .map(|row| {
                gil::checkpoint();
                bytes.clear();
                bytes.extend(row.iter().flat_map(|x| x.to_le_bytes()));
                sha256(&bytes)
            })
            .collect();
        (kernel_s, row_hashes, c)
    });
    Block {
        kernel_s,
        row_hashes,
        c,
    }
}

/// serde for `Vec<f64>` as one run of little-endian bytes.
mod f64s_as_bytes {
    use serde::{Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(xs: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&super::to_bytes(xs))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        d.deserialize_bytes(F64s)
    }

    struct F64s;

    impl<'de> de::Visitor<'de> for F64s {
        type Value = Vec<f64>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("f64s as little-endian bytes")
        }

        fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<f64>, E> {
            if !bytes.len().is_multiple_of(8) {
                return Err(E::custom("f64 bytes not a multiple of 8"));
            }
            Ok(bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect())
        }

        // Self-describing formats such as JSON write bytes as a list of numbers.
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f64>, A::Error> {
            let mut bytes = Vec::new();
            while let Some(b) = seq.next_element::<u8>()? {
                bytes.push(b);
            }
            self.visit_bytes(&bytes)
        }
    }
}

/// Floating-point operations of an (m x k) x (k x n) product: one multiply and one add per term.
pub fn flops(m: usize, k: usize, n: usize) -> f64 {
    2.0 * m as f64 * k as f64 * n as f64
}

/// The end of every model's matrix run. The digest is SHA-256 over the SHA-256 of each row of
/// C, in row order (a row of a failed block counts as the bytes `failed`), so it does not
/// depend on how rows were grouped into blocks. `shape` is (rows of C, inner dimension,
/// columns of C); `outcomes` holds one entry per block, in order. With `--save-c`, C is
/// written (after the clock stops) when every block was computed.
pub fn summarise(
    mut run: Run,
    shape: (usize, usize, usize),
    args: &MatrixArgs,
    outcomes: Vec<Outcome<Block>>,
) -> Result<Summary> {
    let (m, k, n) = shape;
    let block_rows = args.block_rows;
    let (mut digest, mut kernel_s, mut failed) = (Digest::new(), 0.0, 0);
    for (i, outcome) in outcomes.iter().enumerate() {
        if let Outcome::Done(block) = outcome {
            kernel_s += block.kernel_s;
            for h in &block.row_hashes {
                digest.update(h);
            }
            continue;
        }
        say!(
            "block {i} failed: {}",
            outcome.why_not().unwrap_or_default()
        );
        failed += 1;
        for _ in i * block_rows..m.min((i + 1) * block_rows) {
            digest.update(b"failed");
        }
    }
    let flop = flops(m, k, n);
    let (gflops, kernel_gflops) = (flop / run.elapsed_s() / 1e9, flop / kernel_s / 1e9);
    say!(
        "C = A x B ({m}x{k} by {k}x{n}) in {:.3} s: {gflops:.2} GFLOP/s; inside the kernel {kernel_gflops:.2} GFLOP/s per core",
        run.elapsed_s()
    );
    run.extra("shape", vec![m, k, n])
        .extra("block_rows", block_rows)
        .extra("gflops", round2(gflops))
        .extra("kernel_s", (kernel_s * 1e6).round() / 1e6)
        .extra("kernel_gflops", round2(kernel_gflops));
    let summary = run.finish(digest.finish(), failed);
    if let Some(path) = &args.save_c {
        ensure!(
            failed == 0,
            "--save-c {}: {failed} block(s) failed, so there is no C to write",
            path.display()
        );
        let data = outcomes
            .into_iter()
            .flat_map(|o| match o {
                Outcome::Done(block) => block.c,
                _ => unreachable!("no block failed"),
            })
            .collect();
        write(
            path,
            &Matrix {
                rows: m,
                cols: n,
                data,
            },
        )?;
    }
    Ok(summary)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The digest a correct run must print for A x B: the reference every model is tested against.
pub fn reference_digest(a: &Matrix, b: &Matrix) -> String {
    let mut d = Digest::new();
    for row in multiply(a, b, a.rows).chunks_exact(b.cols) {
        d.update(&sha256(&to_bytes(row)));
    }
    d.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Label;

    fn test_run(items: usize) -> Run {
        Run::start("matrix", Label::new("test", "x", 1), items)
    }

    #[test]
    fn blocks_give_the_reference_digest_whatever_their_size() {
        let dir = tempfile::tempdir().unwrap();
        let args = MatrixArgs {
            input: dir.path().to_path_buf(),
            workers: 1,
            block_rows: 1,
            save_c: None,
        };
        generate(&GenMatrixArgs {
            n: 10,
            seed: 3,
            out: args.input.clone(),
        })
        .unwrap();
        let (a, b) = (read(&args.a()).unwrap(), read(&args.b()).unwrap());
        let job = MultiplyRows::new(&args);
        assert_eq!(job.b_matrix().unwrap(), &b);
        for block_rows in [3, 10, 1, 4] {
            let blocks: Vec<_> = row_blocks(10, block_rows)
                .into_iter()
                .map(|rows| Outcome::of(job.run(rows)))
                .collect();
            let c: Vec<f64> = blocks
                .iter()
                .flat_map(|o| match o {
                    Outcome::Done(b) => b.c.clone(),
                    _ => panic!("a block failed"),
                })
                .collect();
            assert_eq!(c, multiply(&a, &b, 10), "--block-rows {block_rows}");
            let args = MatrixArgs {
                block_rows,
                ..args.clone()
            };
            let s = summarise(test_run(blocks.len()), (10, 10, 10), &args, blocks).unwrap();
            assert_eq!(
                s.digest,
                reference_digest(&a, &b),
                "--block-rows {block_rows}"
            );
        }
    }

    #[test]
    fn row_blocks_cover_every_row_once() {
        assert_eq!(
            row_blocks(10, 4),
            [
                Rows { start: 0, count: 4 },
                Rows { start: 4, count: 4 },
                Rows { start: 8, count: 2 }
            ]
        );
        assert_eq!(row_blocks(3, 8), [Rows { start: 0, count: 3 }]);
    }

    #[test]
    fn a_block_survives_serialisation_bit_for_bit() {
        let block = Block {
            kernel_s: 0.25,
            row_hashes: vec![[1; 32], [2; 32]],
            c: vec![1.5, -2.0, f64::MIN_POSITIVE, -0.0],
        };
        let json = serde_json::to_vec(&block).unwrap();
        let back: Block = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, block);
        assert_eq!(back.c[3].to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn a_failed_block_is_counted_and_changes_the_digest() {
        let ok = |h: u8| {
            Outcome::Done(Block {
                kernel_s: 0.1,
                row_hashes: vec![[h; 32]; 2],
                c: vec![],
            })
        };
        let args = MatrixArgs {
            input: PathBuf::from("x"),
            workers: 1,
            block_rows: 2,
            save_c: None,
        };
        let good = summarise(test_run(2), (4, 2, 2), &args, vec![ok(1), ok(2)]).unwrap();
        let lost = vec![ok(1), Outcome::Lost("boom".into())];
        let bad = summarise(test_run(2), (4, 2, 2), &args, lost).unwrap();
        assert_eq!((good.failed, bad.failed), (0, 1));
        assert_ne!(good.digest, bad.digest);
    }

    #[test]
    fn shapes_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.mat"), dir.path().join("b.mat"));
        let mut rng = SplitMix64::new(2);
        write(&a, &Matrix::random(2, 3, &mut rng)).unwrap();
        write(&b, &Matrix::random(4, 2, &mut rng)).unwrap();
        let e = format!("{:#}", check_inputs(&a, &b).unwrap_err());
        assert!(e.contains("A's columns must equal B's rows"), "{e}");
    }
}
