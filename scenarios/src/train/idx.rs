//! Fashion-MNIST's files: the IDX format, read with `flate2` and a few lines of our own.
//!
//! An IDX file is a 4-byte magic number (two zero bytes, the element type, 0x08 for unsigned
//! bytes, and the number of dimensions), then each dimension as a big-endian u32, then the
//! elements, row-major. The images file is `n x 28 x 28` (magic `00 00 08 03`), the labels
//! file `n` (magic `00 00 08 01`), one byte a label. Debian's `dataset-fashion-mnist` ships
//! them gzip-compressed under `/usr/share/datasets/fashion-mnist`; a copy that was gunzipped
//! reads too (the first two bytes say which).
//!
//! No crate for the format itself: it is these few lines, and the checks are what matters. A
//! file is refused, naming it, when it is missing, not a regular file, not gzip where it
//! claims to be, of the wrong magic (images where labels belong), of absurd dimensions, shorter
//! than its header promises, longer than it, or when its gzip checksum does not match. Every
//! read is bounded by what the header promises (at most [`MAX_BYTES`]), so a corrupt header
//! cannot make us allocate gigabytes.

use crate::files::{regular_file, write_atomically};
use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::bufread::GzDecoder;
use flate2::write::GzEncoder;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::path::Path;

/// The element type this reader accepts: unsigned bytes.
pub const UBYTE: u8 = 0x08;
/// The most data one file may hold: Fashion-MNIST's training images are 47 MB.
pub const MAX_BYTES: usize = 1 << 30;

/// One IDX file's contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// What a file is expected to hold, for the messages: "images", "labels".
fn kind(ndims: u8) -> &'static str {
    match ndims {
        1 => "labels",
        3 => "images",
        _ => "data",
    }
}

/// Open a file for reading, decompressing it if it is gzip.
fn open(path: &Path, hint: &str) -> Result<Box<dyn Read>> {
    let p = path.display();
    if path.exists() {
        regular_file(path)?;
    }
    let file = File::open(path).with_context(|| format!("cannot open {p}{hint}"))?;
    let mut reader = BufReader::new(file);
    let head = reader
        .fill_buf()
        .with_context(|| format!("cannot read {p}"))?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(GzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

/// Read into `buf` until it is full or the stream ends; how many bytes arrived.
fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// What went wrong inside a gzip stream, in words: a cut-off file, or damaged data.
fn damaged(path: &Path, e: std::io::Error, after: usize) -> anyhow::Error {
    let p = path.display();
    if e.kind() == ErrorKind::UnexpectedEof {
        anyhow::anyhow!("{p}: truncated: the compressed data ends after {after} bytes ({e})")
    } else {
        anyhow::anyhow!("{p}: corrupt: {e} (after {after} bytes)")
    }
}

/// Open an IDX file of unsigned bytes with `ndims` dimensions and check its header; the
/// reader is left at the first element. (dimensions, elements, the header's length.)
fn open_checked(path: &Path, ndims: u8, hint: &str) -> Result<(Box<dyn Read>, Vec<usize>, usize)> {
    let p = path.display();
    let what = kind(ndims);
    let mut r = open(path, hint)?;
    let mut magic = [0u8; 4];
    let got = read_up_to(&mut r, &mut magic).map_err(|e| {
        if e.kind() == ErrorKind::InvalidInput || e.kind() == ErrorKind::InvalidData {
            anyhow::anyhow!("{p}: starts like gzip but is not valid gzip ({e})")
        } else {
            damaged(path, e, 0)
        }
    })?;
    if got < 4 {
        bail!("{p}: truncated: shorter than an IDX header ({got} bytes)");
    }
    if magic != [0, 0, UBYTE, ndims] {
        bail!(
            "{p}: not an IDX file of {what} (wrong magic {:02x} {:02x} {:02x} {:02x}; expected \
             00 00 08 {ndims:02x})",
            magic[0],
            magic[1],
            magic[2],
            magic[3]
        );
    }
    let mut header = vec![0u8; 4 * ndims as usize];
    let got = read_up_to(&mut r, &mut header).map_err(|e| damaged(path, e, 4))?;
    if got < header.len() {
        bail!("{p}: truncated: the file ends inside its header");
    }
    let dims: Vec<usize> = header
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize)
        .collect();
    let total = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&t| t <= MAX_BYTES);
    let Some(total) = total else {
        bail!(
            "{p}: header says {}: more than the {MAX_BYTES} bytes this reads",
            shape(&dims)
        );
    };
    if total == 0 {
        bail!("{p}: header says {}: it holds no {what}", shape(&dims));
    }
    Ok((r, dims, 4 + header.len()))
}

/// "60000 x 28 x 28".
pub fn shape(dims: &[usize]) -> String {
    dims.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(" x ")
}

/// The dimensions an IDX file's header gives, checked, without reading its data.
pub fn header(path: &Path, ndims: u8, hint: &str) -> Result<Vec<usize>> {
    open_checked(path, ndims, hint).map(|(_, dims, _)| dims)
}

/// Read and check an IDX file of unsigned bytes with `ndims` dimensions. `hint` is added to
/// the message of a file that cannot be opened (where to get the data set).
pub fn read(path: &Path, ndims: u8, hint: &str) -> Result<Idx> {
    let p = path.display();
    let what = kind(ndims);
    let (mut r, dims, start) = open_checked(path, ndims, hint)?;
    let shown = shape(&dims);
    let total: usize = dims.iter().product();
    let mut data = vec![0u8; total];
    let got = read_up_to(&mut r, &mut data).map_err(|e| damaged(path, e, start))?;
    if got < total {
        bail!(
            "{p}: truncated: the header promises {shown} ({total} bytes of {what}), the data \
             ends after {got}"
        );
    }
    // Read on to the end (one byte at most): a longer file is refused, and a gzip stream checks
    // its CRC and length only when it is read to its end.
    let mut extra = [0u8; 1];
    match read_up_to(&mut r, &mut extra) {
        Ok(0) => {}
        Ok(_) => bail!("{p}: wrong size: more data than the header's {shown} promises"),
        Err(e) => return Err(damaged(path, e, start + total)),
    }
    Ok(Idx { dims, data })
}

/// Write an IDX file of unsigned bytes (gzip-compressed when `gzip`), atomically: the tests'
/// small data sets, and the harness's subsets if it ever wants them.
pub fn write(path: &Path, dims: &[usize], data: &[u8], gzip: bool) -> Result<()> {
    anyhow::ensure!(
        dims.iter().product::<usize>() == data.len(),
        "IDX data does not match its dimensions"
    );
    let mut bytes = vec![0, 0, UBYTE, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    bytes.extend_from_slice(data);
    if gzip {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&bytes)?;
        bytes = gz.finish()?;
    }
    write_atomically(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(path: &Path, ndims: u8) -> String {
        format!("{:#}", read(path, ndims, "").unwrap_err())
    }

    #[test]
    fn round_trips_compressed_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        for gzip in [true, false] {
            let path = dir.path().join(format!("x-{gzip}"));
            write(&path, &[2, 3, 4], &data, gzip).unwrap();
            let idx = read(&path, 3, "").unwrap();
            assert_eq!(idx.dims, [2, 3, 4]);
            assert_eq!(idx.data, data);
        }
    }

    #[test]
    fn bad_files_are_named_and_explained() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t10k-images-idx3-ubyte");
        write(&path, &[2, 2, 2], &[7; 8], false).unwrap();
        let good = std::fs::read(&path).unwrap();
        let with = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            err(&path, 3)
        };
        let e = with(&good[..good.len() - 3]);
        assert!(e.contains("t10k-images") && e.contains("truncated"), "{e}");
        let e = with(&good[..2]);
        assert!(e.contains("truncated"), "{e}");
        let mut longer = good.clone();
        longer.push(0);
        assert!(with(&longer).contains("wrong size"));
        // Labels where images belong.
        let mut labels = good.clone();
        labels[3] = 1;
        let e = with(&labels);
        assert!(e.contains("wrong magic") && e.contains("images"), "{e}");
        let mut huge = good.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(with(&huge).contains("more than"));
        let e = format!(
            "{:#}",
            read(&dir.path().join("missing"), 1, " (hint)").unwrap_err()
        );
        assert!(e.contains("missing") && e.contains("(hint)"), "{e}");
    }

    #[test]
    fn damaged_gzip_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.gz");
        let data: Vec<u8> = (0..5000).map(|i| (i * 7 % 10) as u8).collect();
        write(&path, &[5000], &data, true).unwrap();
        let good = std::fs::read(&path).unwrap();
        // Cut inside the compressed stream.
        std::fs::write(&path, &good[..good.len() / 2]).unwrap();
        let e = err(&path, 1);
        assert!(e.contains("labels.gz") && e.contains("truncated"), "{e}");
        // The CRC at the end no longer matches.
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 6] ^= 0xff;
        std::fs::write(&path, &bad).unwrap();
        let e = err(&path, 1);
        assert!(e.contains("labels.gz") && e.contains("corrupt"), "{e}");
        // Not gzip after its first two bytes.
        std::fs::write(&path, [0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).unwrap();
        let e = err(&path, 1);
        assert!(e.contains("labels.gz"), "{e}");
    }
}
