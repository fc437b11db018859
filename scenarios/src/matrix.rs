//! The `matrix` scenario, written once: the chapter's "mathematical computation" row, as
//! C = A x B on dense f64 matrices.
//!
//! - Inputs: `decision-table gen matrix --n 1024 --seed 42 --out data/matrix` writes `a.mat`
//!   and `b.mat`, deterministic from the seed ([`generate`]).
//! - File format (version 1), little-endian throughout:
//!
//!   | bytes | what |
//!   | --- | --- |
//!   | 0..8 | magic `DTMATRIX` |
//!   | 8..12 | version, u32 = 1 |
//!   | 12..16 | reserved, u32 = 0 |
//!   | 16..24 | rows, u64 |
//!   | 24..32 | cols, u64 |
//!   | 32.. | rows x cols f64, row-major |
//!
//!   [`read_header`] checks the magic, the version, the dimensions and that the file's size is
//!   exactly what the header promises, so a wrong or truncated file is an error naming it before
//!   any work starts.
//! - Kernel: [`PackedB::multiply_rows`] computes a block of C's rows. Each element of C is the
//!   same chain of fused multiply-adds over k = 0, 1, 2, ... whatever the block, so every model
//!   produces the same bytes and the same digest ([`summarise`]).
//! - Work item: [`block`] is what every model runs per block of rows: read those rows of A from
//!   the file, multiply, hash each row of C. B is read once per process, straight into the
//!   kernel's layout ([`PackedB::read`]).
//! - Figures: `gflops` is 2mkn / wall time (the whole run), `kernel_gflops` is 2mkn / the time
//!   spent inside the kernel summed over workers: one core's speed, whatever the model.

use crate::cli::{bounded, cores, workers};
use crate::digest::{Digest, Sha, sha256};
use crate::files::write_atomically;
use crate::items::Outcome;
use crate::rng::SplitMix64;
use crate::{Run, Summary, say};
use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The first eight bytes of every matrix file.
pub const MAGIC: &[u8; 8] = b"DTMATRIX";
/// The format version this code reads and writes.
pub const VERSION: u32 = 1;
/// Bytes before the first element.
pub const HEADER_LEN: u64 = 32;
/// The largest dimension accepted: a 16384 x 16384 matrix is already 2 GiB.
pub const MAX_DIM: u64 = 16_384;

/// `matrix`: C = A x B, by blocks of rows.
#[derive(Args, Debug, Clone)]
pub struct MatrixArgs {
    /// Directory holding a.mat and b.mat (make them with `decision-table gen matrix`)
    #[arg(default_value = "data/matrix")]
    pub input: PathBuf,
    /// How many workers compute row blocks (default: one per core)
    #[arg(long, default_value_t = cores(), value_parser = workers, allow_negative_numbers = true)]
    pub workers: usize,
    /// Rows of C per work item
    #[arg(long, default_value_t = 64, value_parser = block_rows, allow_negative_numbers = true)]
    pub block_rows: usize,
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

/// What a matrix file's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub rows: usize,
    pub cols: usize,
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

/// Write a matrix file. It appears under its final name only once it is complete.
pub fn write(path: &Path, m: &Matrix) -> Result<()> {
    ensure!(
        m.data.len() == m.rows * m.cols,
        "matrix data does not match its shape"
    );
    let mut bytes = Vec::with_capacity(HEADER_LEN as usize + m.data.len() * 8);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&(m.rows as u64).to_le_bytes());
    bytes.extend_from_slice(&(m.cols as u64).to_le_bytes());
    bytes.extend_from_slice(&to_bytes(&m.data));
    write_atomically(path, &bytes)
}

/// Read and check a matrix file's header, and check the file's size against it.
pub fn read_header(path: &Path) -> Result<Header> {
    let mut f = open(path)?;
    header_of(&mut f, path)
}

fn open(path: &Path) -> Result<File> {
    File::open(path).with_context(|| {
        format!(
            "cannot open matrix file {} (make the inputs with `cargo run --release -p decision-table -- gen matrix --out {}`)",
            path.display(),
            path.parent().map_or(Path::new("."), |d| d).display()
        )
    })
}

fn header_of(f: &mut File, path: &Path) -> Result<Header> {
    let p = path.display();
    let mut h = [0u8; HEADER_LEN as usize];
    f.read_exact(&mut h)
        .with_context(|| format!("{p}: truncated: shorter than the {HEADER_LEN}-byte header"))?;
    if &h[0..8] != MAGIC {
        bail!("{p}: not a matrix file (wrong magic: expected \"DTMATRIX\")");
    }
    let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
    let version = u32_at(8);
    if version != VERSION {
        bail!("{p}: matrix format version {version}; this program reads version {VERSION}");
    }
    let (rows, cols) = (u64_at(16), u64_at(24));
    if !(1..=MAX_DIM).contains(&rows) || !(1..=MAX_DIM).contains(&cols) {
        bail!("{p}: header says {rows} x {cols}; each side must be 1 to {MAX_DIM}");
    }
    let expected = HEADER_LEN + rows * cols * 8;
    let actual = f
        .metadata()
        .with_context(|| format!("cannot read the size of {p}"))?
        .len();
    if actual < expected {
        bail!(
            "{p}: truncated: a {rows} x {cols} matrix needs {expected} bytes, the file has {actual}"
        );
    }
    if actual > expected {
        bail!(
            "{p}: wrong size: a {rows} x {cols} matrix needs {expected} bytes, the file has {actual}"
        );
    }
    Ok(Header {
        rows: rows as usize,
        cols: cols as usize,
    })
}

/// Read a whole matrix file.
pub fn read(path: &Path) -> Result<Matrix> {
    let mut f = open(path)?;
    let h = header_of(&mut f, path)?;
    let data = read_f64s(&mut f, h.rows * h.cols, path)?;
    Ok(Matrix {
        rows: h.rows,
        cols: h.cols,
        data,
    })
}

/// Read rows `start..start + count` only: a worker process reads the rows of A its task needs.
pub fn read_rows(path: &Path, start: usize, count: usize) -> Result<Vec<f64>> {
    let mut f = open(path)?;
    let h = header_of(&mut f, path)?;
    ensure!(
        start + count <= h.rows,
        "{}: rows {start}..{} asked for, the matrix has {}",
        path.display(),
        start + count,
        h.rows
    );
    f.seek(SeekFrom::Start(HEADER_LEN + (start * h.cols * 8) as u64))?;
    read_f64s(&mut f, count * h.cols, path)
}

/// Read `count` f64s through a small buffer: no second, byte-sized copy of the data.
fn read_f64s(f: &mut File, count: usize, path: &Path) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(count);
    let mut buf = vec![0u8; (count * 8).min(1 << 16)];
    while out.len() < count {
        let bytes = &mut buf[..((count - out.len()) * 8).min(1 << 16)];
        f.read_exact(bytes)
            .with_context(|| format!("{}: truncated while reading", path.display()))?;
        out.extend(
            bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))),
        );
    }
    Ok(out)
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

/// Columns of B per packed panel: three AVX2 vectors of four f64.
const W: usize = 12;
/// Rows of A per register tile. The R x W tile is 12 vector accumulators; with three vectors of
/// B and one broadcast of A that is all 16 AVX2 registers, and nothing spills. (Measured on
/// this machine: 4 x 12 beat 4 x 8, 6 x 8, 3 x 16 and 8 x 8.)
const R: usize = 4;

/// B laid out for the kernel: column panels W wide, each stored k-major and contiguous, so the
/// innermost loop reads memory in order instead of striding across B's rows. Packing costs one
/// pass over B (microseconds per row); each process does it once and reuses it for every block.
#[derive(Clone, Debug)]
pub struct PackedB {
    inner: usize,
    cols: usize,
    panels: Vec<f64>,
}

impl PackedB {
    pub fn new(b: &Matrix) -> PackedB {
        let mut packed = PackedB::empty(b.rows, b.cols);
        for (k, row) in b.data.chunks_exact(b.cols).enumerate() {
            packed.put_row(k, row);
        }
        packed
    }

    /// Read B's file straight into packed form, one row at a time: no second copy of B.
    pub fn read(path: &Path) -> Result<PackedB> {
        let mut f = open(path)?;
        let h = header_of(&mut f, path)?;
        let mut packed = PackedB::empty(h.rows, h.cols);
        let mut reader = std::io::BufReader::with_capacity(1 << 16, f);
        let (mut bytes, mut row) = (vec![0u8; h.cols * 8], vec![0.0; h.cols]);
        for k in 0..h.rows {
            reader
                .read_exact(&mut bytes)
                .with_context(|| format!("{}: truncated while reading", path.display()))?;
            for (x, b) in row.iter_mut().zip(bytes.chunks_exact(8)) {
                *x = f64::from_le_bytes(b.try_into().expect("8 bytes"));
            }
            packed.put_row(k, &row);
        }
        Ok(packed)
    }

    fn empty(inner: usize, cols: usize) -> PackedB {
        PackedB {
            inner,
            cols,
            panels: vec![0.0; cols.div_ceil(W) * inner * W],
        }
    }

    /// Scatter row k of B into the panels (B is read in order, each panel written in order).
    fn put_row(&mut self, k: usize, row: &[f64]) {
        let panel_len = self.inner * W;
        for (p, src) in row.chunks(W).enumerate() {
            let at = p * panel_len + k * W;
            self.panels[at..at + src.len()].copy_from_slice(src);
        }
    }

    /// Rows of B: the inner dimension, which must be A's columns.
    pub fn inner(&self) -> usize {
        self.inner
    }

    /// Columns of B (and of C).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The kernel: `c` (whole rows of C) = `a` (the same rows of A) x B.
    ///
    /// For each W-column panel of B and each group of R rows of A, an R x W tile of C stays in
    /// registers while k runs over the whole inner dimension, so every element of C is
    /// `fma(a[i][K-1], b[K-1][j], ... fma(a[i][0], b[0][j], 0.0))`: the same operations in the
    /// same order whichever block or group the row lands in. That is what makes the digest the
    /// same for every model and every `--block-rows`.
    pub fn multiply_rows(&self, a: &[f64], c: &mut [f64]) {
        let (k, n) = (self.inner, self.cols);
        assert!(
            a.len().is_multiple_of(k) && c.len() == a.len() / k * n,
            "shapes do not match"
        );
        for (p, panel) in self.panels.chunks_exact(k * W).enumerate() {
            let (j0, w) = (p * W, W.min(n - p * W));
            let mut a_groups = a.chunks_exact(R * k);
            let mut c_groups = c.chunks_exact_mut(R * n);
            for (a4, c4) in (&mut a_groups).zip(&mut c_groups) {
                let tile = tile::<R>(std::array::from_fn(|r| &a4[r * k..(r + 1) * k]), panel);
                for (row, c_row) in tile.iter().zip(c4.chunks_exact_mut(n)) {
                    c_row[j0..j0 + w].copy_from_slice(&row[..w]);
                }
            }
            // The last rows (fewer than R): one at a time, with the very same arithmetic.
            for (a1, c1) in a_groups
                .remainder()
                .chunks_exact(k)
                .zip(c_groups.into_remainder().chunks_exact_mut(n))
            {
                c1[j0..j0 + w].copy_from_slice(&tile::<1>([a1], panel)[0][..w]);
            }
        }
    }
}

/// One RR x W tile of C: RR rows of A times one packed panel of B.
#[inline(always)]
fn tile<const RR: usize>(a: [&[f64]; RR], panel: &[f64]) -> [[f64; W]; RR] {
    let mut acc = [[0.0; W]; RR];
    for (k, b) in panel.chunks_exact(W).enumerate() {
        for r in 0..RR {
            let x = a[r][k];
            for j in 0..W {
                acc[r][j] = x.mul_add(b[j], acc[r][j]);
            }
        }
    }
    acc
}

/// What one work item reports besides its rows of C.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// Seconds spent inside the kernel.
    pub kernel_s: f64,
    /// The SHA-256 of each row of C the item computed, in row order.
    pub row_hashes: Vec<Sha>,
}

/// One work item, the same in every model: read rows `start..` of A from its file (as many as
/// `c` has rows), compute those rows of C into `c` with the kernel, and hash each row. Hashing
/// here, in the workers, keeps the 8 MiB of C from being hashed on one core at the end.
pub fn block(a: &Path, b: &PackedB, start: usize, c: &mut [f64]) -> Result<Block> {
    let rows = c.len() / b.cols;
    let a_rows = read_rows(a, start, rows)?;
    ensure!(
        a_rows.len() == rows * b.inner,
        "{}: has {} columns, B has {} rows: they cannot be multiplied",
        a.display(),
        a_rows.len() / rows.max(1),
        b.inner
    );
    let started = std::time::Instant::now();
    b.multiply_rows(&a_rows, c);
    let kernel_s = started.elapsed().as_secs_f64();
    let mut bytes = Vec::with_capacity(b.cols * 8);
    let row_hashes = c
        .chunks_exact(b.cols)
        .map(|row| {
            bytes.clear();
            bytes.extend(row.iter().flat_map(|x| x.to_le_bytes()));
            sha256(&bytes)
        })
        .collect();
    Ok(Block {
        kernel_s,
        row_hashes,
    })
}

impl Block {
    /// A worker process's reply: kernel seconds, the row hashes, then the rows of C themselves
    /// (the parent needs C, and shipping it back is part of what processes cost).
    pub fn encode(&self, c: &[f64]) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.row_hashes.len() * 32 + c.len() * 8);
        out.extend_from_slice(&self.kernel_s.to_le_bytes());
        for h in &self.row_hashes {
            out.extend_from_slice(h);
        }
        out.extend(c.iter().flat_map(|x| x.to_le_bytes()));
        out
    }

    /// The inverse of [`encode`](Block::encode): the rows of C go into `c`.
    pub fn decode(bytes: &[u8], c: &mut [f64], cols: usize) -> Result<Block> {
        let rows = c.len() / cols;
        ensure!(
            bytes.len() == 8 + rows * 32 + c.len() * 8,
            "a reply of {} bytes does not hold {rows} rows of {cols}",
            bytes.len()
        );
        let (head, rest) = bytes.split_at(8);
        let (hashes, data) = rest.split_at(rows * 32);
        for (x, b) in c.iter_mut().zip(data.chunks_exact(8)) {
            *x = f64::from_le_bytes(b.try_into().expect("8 bytes"));
        }
        Ok(Block {
            kernel_s: f64::from_le_bytes(head.try_into().expect("8 bytes")),
            row_hashes: hashes
                .chunks_exact(32)
                .map(|h| h.try_into().expect("32 bytes"))
                .collect(),
        })
    }
}

/// f64s as little-endian bytes.
pub fn to_bytes(xs: &[f64]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Floating-point operations of an (m x k) x (k x n) product: one multiply and one add per term.
pub fn flops(m: usize, k: usize, n: usize) -> f64 {
    2.0 * m as f64 * k as f64 * n as f64
}

/// The end of every model's matrix run. The digest is SHA-256 over the SHA-256 of each row of
/// C, in row order (a row of a failed block counts as the bytes `failed`), so it does not
/// depend on how rows were grouped into blocks. `shape` is (rows of C, inner dimension,
/// columns of C); `outcomes` holds one entry per block, in order.
pub fn summarise(
    mut run: Run,
    shape: (usize, usize, usize),
    block_rows: usize,
    outcomes: Vec<Outcome<Block>>,
) -> Summary {
    let (m, k, n) = shape;
    let (mut digest, mut kernel_s, mut failed) = (Digest::new(), 0.0, 0);
    for (i, outcome) in outcomes.iter().enumerate() {
        if let Some(Ok(block)) = outcome {
            kernel_s += block.kernel_s;
            for h in &block.row_hashes {
                digest.update(h);
            }
            continue;
        }
        let reason = match outcome {
            Some(Err(e)) => e.as_str(),
            _ => "never run",
        };
        say!("block {i} failed: {reason}");
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
    run.finish(digest.finish(), failed)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The whole product with the kernel, one block of rows at a time, on this thread.
pub fn multiply(a: &Matrix, b: &Matrix, block_rows: usize) -> Vec<f64> {
    let packed = PackedB::new(b);
    let mut c = vec![0.0; a.rows * b.cols];
    for (a_block, c_block) in a
        .data
        .chunks(block_rows * a.cols)
        .zip(c.chunks_mut(block_rows * b.cols))
    {
        packed.multiply_rows(a_block, c_block);
    }
    c
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

    fn naive(a: &Matrix, b: &Matrix) -> Vec<f64> {
        let mut c = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                let mut s = 0.0;
                for k in 0..a.cols {
                    s = a.data[i * a.cols + k].mul_add(b.data[k * b.cols + j], s);
                }
                c[i * b.cols + j] = s;
            }
        }
        c
    }

    #[test]
    fn kernel_matches_the_textbook_product_bit_for_bit() {
        let mut rng = SplitMix64::new(9);
        // Odd shapes: a row remainder, a partial last panel.
        let a = Matrix::random(11, 13, &mut rng);
        let b = Matrix::random(13, 19, &mut rng);
        let expected = naive(&a, &b);
        for block in [1, 3, 4, 5, 11] {
            assert_eq!(multiply(&a, &b, block), expected, "block {block}");
        }
    }

    #[test]
    fn known_small_product() {
        let a = Matrix {
            rows: 2,
            cols: 2,
            data: vec![1.0, 2.0, 3.0, 4.0],
        };
        let b = Matrix {
            rows: 2,
            cols: 2,
            data: vec![5.0, 6.0, 7.0, 8.0],
        };
        assert_eq!(multiply(&a, &b, 1), vec![19.0, 22.0, 43.0, 50.0]);
    }

    #[test]
    fn blocks_give_the_reference_digest_whatever_their_size() {
        let dir = tempfile::tempdir().unwrap();
        let (a_path, b_path) = generate(&GenMatrixArgs {
            n: 10,
            seed: 3,
            out: dir.path().to_path_buf(),
        })
        .unwrap();
        let (a, b) = (read(&a_path).unwrap(), read(&b_path).unwrap());
        let packed = PackedB::read(&b_path).unwrap();
        assert_eq!(packed.panels, PackedB::new(&b).panels);
        let digest_of = |block_rows: usize| {
            let mut c = vec![0.0; 100];
            let outcomes = c
                .chunks_mut(block_rows * 10)
                .enumerate()
                .map(|(i, c)| {
                    Some(block(&a_path, &packed, i * block_rows, c).map_err(|e| e.to_string()))
                })
                .collect();
            let run = Run::start("matrix", "test", "x", 1, 1);
            let s = summarise(run, (10, 10, 10), block_rows, outcomes);
            assert_eq!(c, multiply(&a, &b, 10));
            s.digest
        };
        assert_eq!(digest_of(3), reference_digest(&a, &b));
        assert_eq!(digest_of(10), reference_digest(&a, &b));
        assert_eq!(digest_of(1), reference_digest(&a, &b));
    }

    #[test]
    fn replies_round_trip() {
        let block = Block {
            kernel_s: 0.25,
            row_hashes: vec![[1; 32], [2; 32]],
        };
        let c = [1.5, -2.0, 3.25, 0.0];
        let mut back = [0.0; 4];
        assert_eq!(
            Block::decode(&block.encode(&c), &mut back, 2).unwrap(),
            block
        );
        assert_eq!(back, c);
        assert!(Block::decode(&block.encode(&c)[1..], &mut back, 2).is_err());
    }

    #[test]
    fn a_failed_block_is_counted_and_changes_the_digest() {
        let ok = |h: u8| {
            Some(Ok(Block {
                kernel_s: 0.1,
                row_hashes: vec![[h; 32]; 2],
            }))
        };
        let run = || Run::start("matrix", "test", "x", 1, 2);
        let good = summarise(run(), (4, 2, 2), 2, vec![ok(1), ok(2)]);
        let bad = summarise(run(), (4, 2, 2), 2, vec![ok(1), Some(Err("boom".into()))]);
        assert_eq!((good.failed, bad.failed), (0, 1));
        assert_ne!(good.digest, bad.digest);
    }

    #[test]
    fn files_round_trip_and_rows_can_be_read_alone() {
        let dir = tempfile::tempdir().unwrap();
        let args = GenMatrixArgs {
            n: 6,
            seed: 5,
            out: dir.path().join("m"),
        };
        let (a_path, b_path) = generate(&args).unwrap();
        let a = read(&a_path).unwrap();
        assert_eq!((a.rows, a.cols), (6, 6));
        assert_eq!(read_rows(&a_path, 2, 3).unwrap(), a.data[12..30]);
        assert_eq!(check_inputs(&a_path, &b_path).unwrap(), (6, 6, 6));
        // Deterministic from the seed.
        let again = dir.path().join("again");
        generate(&GenMatrixArgs {
            out: again.clone(),
            ..args
        })
        .unwrap();
        assert_eq!(
            std::fs::read(&a_path).unwrap(),
            std::fs::read(again.join("a.mat")).unwrap()
        );
        assert_ne!(read(&b_path).unwrap(), a);
        // Nothing but the two files: no temporary left behind.
        assert_eq!(std::fs::read_dir(dir.path().join("m")).unwrap().count(), 2);
    }

    #[test]
    fn bad_files_are_named_and_explained() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.mat");
        let m = Matrix::random(3, 4, &mut SplitMix64::new(1));
        write(&path, &m).unwrap();
        let good = std::fs::read(&path).unwrap();
        let err_of = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            format!("{:#}", read(&path).unwrap_err())
        };
        let e = err_of(&good[..good.len() - 5]);
        assert!(e.contains("a.mat") && e.contains("truncated"), "{e}");
        let e = err_of(&good[..10]);
        assert!(e.contains("truncated") && e.contains("header"), "{e}");
        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(err_of(&bad).contains("wrong magic"));
        let mut bad = good.clone();
        bad[8] = 7;
        assert!(err_of(&bad).contains("version 7"));
        let mut bad = good.clone();
        bad.extend_from_slice(&[0; 8]);
        assert!(err_of(&bad).contains("wrong size"));
        let mut bad = good.clone();
        bad[16..24].copy_from_slice(&0u64.to_le_bytes());
        assert!(err_of(&bad).contains("0 x 4"));
        let e = format!("{:#}", read(&dir.path().join("missing.mat")).unwrap_err());
        assert!(e.contains("missing.mat") && e.contains("gen matrix"), "{e}");
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
