//! The matrix file format (version 1), little-endian throughout:
//!
//! | bytes | what |
//! | --- | --- |
//! | 0..8 | magic `DTMATRIX` |
//! | 8..12 | version, u32 = 1 |
//! | 12..16 | reserved, u32 = 0 |
//! | 16..24 | rows, u64 |
//! | 24..32 | cols, u64 |
//! | 32.. | rows x cols f64, row-major |
//!
//! [`read_header`] checks the magic, the version, the dimensions and that the file's size is
//! exactly what the header promises, so a wrong or truncated file is an error naming it before
//! any work starts.

use super::Matrix;
use crate::files::write_atomically;
use anyhow::{Context, Result, bail, ensure};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The first eight bytes of every matrix file.
pub const MAGIC: &[u8; 8] = b"DTMATRIX";
/// The format version this code reads and writes.
pub const VERSION: u32 = 1;
/// Bytes before the first element.
pub const HEADER_LEN: u64 = 32;
/// The largest dimension accepted: a 16384 x 16384 matrix is already 2 GiB.
pub const MAX_DIM: u64 = 16_384;

/// What a matrix file's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub rows: usize,
    pub cols: usize,
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

pub(super) fn open(path: &Path) -> Result<File> {
    // A FIFO would block the open itself, and a device never ends: refuse both first.
    if path.exists() {
        crate::files::regular_file(path)?;
    }
    File::open(path).with_context(|| {
        format!(
            "cannot open matrix file {} (make the inputs with `cargo run --release -p decision-table -- gen matrix --out {}`)",
            path.display(),
            path.parent().map_or(Path::new("."), |d| d).display()
        )
    })
}

pub(super) fn header_of(f: &mut File, path: &Path) -> Result<Header> {
    let mut h = [0u8; HEADER_LEN as usize];
    let got = read_up_to(f, &mut h).with_context(|| format!("cannot read {}", path.display()))?;
    let size = f
        .metadata()
        .with_context(|| format!("cannot read the size of {}", path.display()))?
        .len();
    parse_header(&h[..got], size, &path.display().to_string())
}

/// Read as much of `buf` as the file holds.
fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// Check a matrix file's first bytes (`head`, up to the 32 of the header) against the file's
/// size: the magic, the version, the dimensions, and that the size is exactly what the header
/// promises. `name` labels the errors. A pure function of its inputs (the fuzz target calls it).
pub fn parse_header(head: &[u8], size: u64, name: &str) -> Result<Header> {
    let Ok(h) =
        <[u8; HEADER_LEN as usize]>::try_from(head.get(..HEADER_LEN as usize).unwrap_or(head))
    else {
        bail!("{name}: truncated: shorter than the {HEADER_LEN}-byte header");
    };
    if &h[0..8] != MAGIC {
        bail!("{name}: not a matrix file (wrong magic: expected \"DTMATRIX\")");
    }
    let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
    let version = u32_at(8);
    if version != VERSION {
        bail!("{name}: matrix format version {version}; this program reads version {VERSION}");
    }
    let (rows, cols) = (u64_at(16), u64_at(24));
    if !(1..=MAX_DIM).contains(&rows) || !(1..=MAX_DIM).contains(&cols) {
        bail!("{name}: header says {rows} x {cols}; each side must be 1 to {MAX_DIM}");
    }
    let expected = HEADER_LEN + rows * cols * 8;
    if size < expected {
        bail!(
            "{name}: truncated: a {rows} x {cols} matrix needs {expected} bytes, the file has {size}"
        );
    }
    if size > expected {
        bail!(
            "{name}: wrong size: a {rows} x {cols} matrix needs {expected} bytes, the file has {size}"
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
pub(crate) fn read_f64s(f: &mut impl Read, count: usize, path: &Path) -> Result<Vec<f64>> {
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

/// f64s as little-endian bytes.
pub fn to_bytes(xs: &[f64]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::super::{GenMatrixArgs, check_inputs, generate};
    use super::*;
    use crate::rng::SplitMix64;

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
}
