//! Getting the bytes of a range to the table: one [`Scanner`] fed by three readers.
//!
//! - [`read_range`]: `pread` into a 1 MiB buffer, block after block (serial's one buffered
//!   reader; each multiprocessing child reads its own range this way);
//! - [`map_range`]: a slice of a memory map of the whole file (the threads share one map, so
//!   nothing is copied: the page cache's pages are the buffer);
//! - [`tokio_fs_range`]: `tokio::fs::File` through tokio's `BufReader`, as an async program
//!   would write it. tokio has no asynchronous file I/O on Linux: every `read` is handed to a
//!   blocking thread and its bytes copied back, one 8 KiB buffer at a time (the default
//!   capacity of `BufReader`), and the parsing runs on the event loop. The asyncio model's
//!   `--variant tokio-fs` measures what that costs.
//!
//! The scanner splits at `\n` with `memchr` (SIMD: it looks at 32 bytes per step, where a
//! byte loop looks at one). A line split by a block boundary is carried over to the next block
//! (at most [`MAX_LINE`] + 1 of its bytes are kept; a longer line is malformed anyway and is
//! only measured until its end). All three readers feed pieces of at most [`PIECE`] bytes, the
//! unit of work that holds the emulated GIL (`threading --gil`), so every model runs the
//! same loop on the same boundaries' worth of work.

use super::parse::{BadLine, MAX_LINE, Table, Why};
use crate::gil;
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The unit the readers feed the scanner: 1 MiB.
pub const PIECE: usize = 1 << 20;
/// tokio's `BufReader` default: what a program that does not think about it reads per call.
pub const TOKIO_BUF: usize = 8 * 1024;

/// What a range of the file added up to: the table, and the malformed lines skipped with
/// `--keep-going` (without it, the first one is an error).
#[derive(Debug, Default)]
pub struct Scanned {
    pub table: Table,
    pub rows: u64,
    pub malformed: u64,
    pub first_bad: Option<BadLine>,
}

/// A line that began in an earlier piece and has not ended yet.
struct Pending {
    offset: u64,
    head: Vec<u8>,
    len: usize,
}

/// Splits what it is fed into lines and adds them to its table.
pub struct Scanner {
    out: Scanned,
    keep_going: bool,
    /// The file offset of the next byte to be fed.
    pos: u64,
    pending: Option<Pending>,
}

impl Scanner {
    /// A scanner for bytes that start at file offset `start`.
    pub fn new(start: u64, keep_going: bool) -> Scanner {
        Scanner {
            out: Scanned::default(),
            keep_going,
            pos: start,
            pending: None,
        }
    }

    /// A malformed line: an error, or counted with `--keep-going`.
    fn bad(&mut self, line: BadLine) -> Result<()> {
        if !self.keep_going {
            return Err(line.into());
        }
        self.out.malformed += 1;
        if self.out.first_bad.is_none() {
            self.out.first_bad = Some(line);
        }
        Ok(())
    }

    /// A line the fast path could not vouch for: by the rule book.
    #[cold]
    fn slow(&mut self, offset: u64, head: &[u8], len: usize) -> Result<()> {
        match self.out.table.add_checked(head, len) {
            Ok(Ok(())) => {
                self.out.rows += 1;
                Ok(())
            }
            Ok(Err(why)) => self.bad(BadLine::new(offset, head, len as u64, why)),
            Err(too_many) => Err(anyhow::Error::new(too_many).context(format!("byte {offset}"))),
        }
    }

    /// Feed the next bytes of the range, in pieces of at most [`PIECE`] bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<()> {
        for piece in bytes.chunks(PIECE) {
            gil::hold(|| self.feed_piece(piece))?;
        }
        Ok(())
    }

    fn feed_piece(&mut self, mut data: &[u8]) -> Result<()> {
        self.pos += data.len() as u64;
        // First, the end of a line carried over from the previous piece.
        if let Some(mut p) = self.pending.take() {
            let Some(nl) = memchr::memchr(b'\n', data) else {
                take_head(&mut p.head, data);
                p.len += data.len();
                self.pending = Some(p);
                return Ok(());
            };
            take_head(&mut p.head, &data[..nl]);
            p.len += nl;
            if p.len > MAX_LINE || !self.out.table.add_known(&p.head) {
                self.slow(p.offset, &p.head, p.len)?;
            } else {
                self.out.rows += 1;
            }
            data = &data[nl + 1..];
        }
        let data_base = self.pos - data.len() as u64;
        // The hot loop: every complete line of the piece.
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', data) {
            let line = &data[start..nl];
            if self.out.table.add_known(line) {
                self.out.rows += 1;
            } else {
                self.slow(data_base + start as u64, line, line.len())?;
            }
            start = nl + 1;
        }
        // The start of a line that ends in a later piece.
        let tail = &data[start..];
        if !tail.is_empty() {
            let mut head = Vec::with_capacity(MAX_LINE + 1);
            take_head(&mut head, tail);
            self.pending = Some(Pending {
                offset: data_base + start as u64,
                head,
                len: tail.len(),
            });
        }
        Ok(())
    }

    /// The range is over. A line still open is the file's last line without a newline (at the
    /// end of the file), or means the file changed under us (anywhere else: ranges end on line
    /// boundaries).
    pub fn finish(mut self, at_end_of_file: bool) -> Result<Scanned> {
        if let Some(p) = self.pending.take() {
            if !at_end_of_file {
                bail!(
                    "the range ends in the middle of the line at byte {}: the file changed while \
                     it was read",
                    p.offset
                );
            }
            let line = BadLine::new(p.offset, &p.head, p.len as u64, Why::NoFinalNewline);
            self.bad(line)?;
        }
        Ok(self.out)
    }
}

/// Keep at most `MAX_LINE + 1` bytes of a line: enough for [`super::parse::diagnose`] and
/// for the error message.
fn take_head(head: &mut Vec<u8>, more: &[u8]) {
    let room = (MAX_LINE + 1).saturating_sub(head.len());
    head.extend_from_slice(&more[..more.len().min(room)]);
}

/// `start..end` of `path`, read with `pread` into one buffer, block after block.
pub fn read_range(
    path: &Path,
    file: &File,
    (start, end): (u64, u64),
    at_end_of_file: bool,
    keep_going: bool,
) -> Result<Scanned> {
    let mut scanner = Scanner::new(start, keep_going);
    let mut buf = vec![0u8; PIECE];
    let mut pos = start;
    while pos < end {
        let want = PIECE.min((end - pos) as usize);
        let got = &mut buf[..want];
        file.read_exact_at(got, pos).with_context(|| {
            format!(
                "cannot read {} at byte {pos} (did it get shorter?)",
                path.display()
            )
        })?;
        scanner.feed(got)?;
        pos += want as u64;
    }
    scanner.finish(at_end_of_file)
}

/// `start..end` of a memory map of the whole file.
pub fn map_range(
    map: &[u8],
    (start, end): (u64, u64),
    at_end_of_file: bool,
    keep_going: bool,
) -> Result<Scanned> {
    let mut scanner = Scanner::new(start, keep_going);
    scanner.feed(&map[start as usize..end as usize])?;
    scanner.finish(at_end_of_file)
}

/// `start..end` of `path` through `tokio::fs` and tokio's `BufReader`, parsed on the event loop.
pub async fn tokio_fs_range(
    path: &Path,
    (start, end): (u64, u64),
    at_end_of_file: bool,
    keep_going: bool,
) -> Result<Scanned> {
    use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};
    let cannot = || format!("cannot read {}", path.display());
    let mut file = tokio::fs::File::open(path).await.with_context(cannot)?;
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .with_context(cannot)?;
    let mut reader = BufReader::with_capacity(TOKIO_BUF, file);
    let mut scanner = Scanner::new(start, keep_going);
    let mut pos = start;
    while pos < end {
        // Each fill of the buffer is one trip to a blocking thread and back.
        let buf = reader.fill_buf().await.with_context(cannot)?;
        if buf.is_empty() {
            bail!(
                "{} ended at byte {pos}, before {end}: it got shorter while it was read",
                path.display()
            );
        }
        let n = buf.len().min((end - pos) as usize);
        scanner.feed(&buf[..n])?;
        reader.consume(n);
        pos += n as u64;
    }
    scanner.finish(at_end_of_file)
}

/// How many `\n` come before byte `offset`: the line number of the line there, less one.
pub fn lines_before(path: &Path, offset: u64) -> Result<u64> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut buf = vec![0u8; PIECE];
    let (mut pos, mut lines) = (0u64, 0u64);
    while pos < offset {
        let want = PIECE.min((offset - pos) as usize);
        file.read_exact_at(&mut buf[..want], pos)
            .with_context(|| format!("cannot read {}", path.display()))?;
        lines += memchr::memchr_iter(b'\n', &buf[..want]).count() as u64;
        pos += want as u64;
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_in_pieces(text: &[u8], piece: usize, keep_going: bool) -> Result<Scanned> {
        let mut s = Scanner::new(0, keep_going);
        for p in text.chunks(piece) {
            s.feed(p)?;
        }
        s.finish(true)
    }

    #[test]
    fn lines_split_across_pieces_are_whole_again() {
        let text = b"Oslo;1.0\nLima;-2.5\nOslo;3.0\nLima;20.0\n";
        for piece in 1..text.len() + 1 {
            let s = scan_in_pieces(text, piece, false).unwrap();
            assert_eq!((s.rows, s.malformed), (4, 0), "pieces of {piece}");
            let t = s.table.into_sorted();
            assert_eq!(t[0].0, b"Lima");
            assert_eq!((t[0].1.min, t[0].1.max, t[0].1.sum), (-25, 200, 175));
            assert_eq!((t[1].1.min, t[1].1.max, t[1].1.count), (10, 30, 2));
        }
    }

    #[test]
    fn a_bad_line_names_its_offset_whatever_the_pieces() {
        let text = b"Oslo;1.0\nLima2.5\nOslo;3.0\n";
        for piece in 1..text.len() + 1 {
            let e = scan_in_pieces(text, piece, false).unwrap_err();
            let bad = e.downcast_ref::<BadLine>().expect("a BadLine");
            assert_eq!((bad.offset, bad.why.clone()), (9, Why::NoSemicolon));
            assert_eq!(bad.quoted(), "\"Lima2.5\"");
            let s = scan_in_pieces(text, piece, true).unwrap();
            assert_eq!((s.rows, s.malformed), (2, 1));
        }
    }

    #[test]
    fn a_long_line_is_measured_to_its_end_but_only_its_head_is_kept() {
        let mut text = b"Oslo;1.0\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 5000));
        text.extend(b"\nOslo;2.0\n");
        for piece in [7, 100, 4096, 1 << 20] {
            let e = scan_in_pieces(&text, piece, false).unwrap_err();
            let bad = e.downcast_ref::<BadLine>().unwrap();
            assert_eq!(
                (bad.offset, bad.len, bad.why.clone()),
                (9, 5000, Why::StationTooLong)
            );
            assert_eq!(bad.head.len(), MAX_LINE + 1);
            assert!(
                bad.quoted().ends_with("... (5000 bytes)"),
                "{}",
                bad.quoted()
            );
            assert_eq!(scan_in_pieces(&text, piece, true).unwrap().rows, 2);
        }
    }

    #[test]
    fn the_last_line_needs_its_newline() {
        let e = scan_in_pieces(b"Oslo;1.0\nOslo;2.0", 4, false).unwrap_err();
        let bad = e.downcast_ref::<BadLine>().unwrap();
        assert_eq!((bad.offset, bad.why.clone()), (9, Why::NoFinalNewline));
        let s = scan_in_pieces(b"Oslo;1.0\nOslo;2.0", 4, true).unwrap();
        assert_eq!((s.rows, s.malformed), (1, 1));
        let mut mid = Scanner::new(0, true);
        mid.feed(b"Oslo;1.0\nOs").unwrap();
        assert!(format!("{:#}", mid.finish(false).unwrap_err()).contains("changed"));
    }
}
