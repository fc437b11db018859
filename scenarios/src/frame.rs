//! Length-prefixed frames: how processes talk over pipes.
//!
//! A pipe is a byte stream; messages need edges. Each frame is a 4-byte little-endian length
//! followed by that many bytes. A clean end of stream between frames is `Ok(None)` (the other
//! side closed); an end inside a frame is an error (the other side died mid-message).

use std::io::{self, ErrorKind, Read, Write};

/// Frames larger than this are refused: a corrupt length must not make us allocate gigabytes.
pub const MAX_FRAME: usize = 512 << 20;
/// The most a reader sets aside before a frame's bytes arrive (a block of a matrix fits).
const PREALLOCATE: usize = 16 << 20;

/// Write one frame. The caller flushes when it wants the peer to see it.
pub fn write_frame<W: Write>(w: &mut W, payload: &[u8]) -> io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("frame of {} bytes exceeds {MAX_FRAME}", payload.len()),
        ));
    }
    w.write_all(&(payload.len() as u32).to_le_bytes())?;
    w.write_all(payload)
}

/// Read one frame; `Ok(None)` when the stream ends cleanly before a frame starts.
pub fn read_frame<R: Read>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "stream ended inside a frame header",
                ));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("frame length {len} exceeds {MAX_FRAME}"),
        ));
    }
    // Memory for what has arrived, not for what the length claims: a corrupt or hostile
    // length costs at most PREALLOCATE up front, and the rest only as the bytes come.
    let mut buf = Vec::with_capacity(len.min(PREALLOCATE));
    r.take(len as u64).read_to_end(&mut buf)?;
    if buf.len() < len {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "stream ended inside a frame",
        ));
    }
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_several_frames() {
        let mut buf = Vec::new();
        for p in [&b"hello"[..], b"", b"world!"] {
            write_frame(&mut buf, p).unwrap();
        }
        let mut r = &buf[..];
        assert_eq!(read_frame(&mut r).unwrap().unwrap(), b"hello");
        assert_eq!(read_frame(&mut r).unwrap().unwrap(), b"");
        assert_eq!(read_frame(&mut r).unwrap().unwrap(), b"world!");
        assert!(read_frame(&mut r).unwrap().is_none());
    }

    #[test]
    fn truncated_frame_is_an_error() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"hello").unwrap();
        buf.truncate(6);
        assert_eq!(
            read_frame(&mut &buf[..]).unwrap_err().kind(),
            ErrorKind::UnexpectedEof
        );
        assert!(read_frame(&mut &buf[..2]).is_err());
    }

    #[test]
    fn absurd_length_is_refused() {
        let buf = u32::MAX.to_le_bytes();
        assert_eq!(
            read_frame(&mut &buf[..]).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
    }
}
