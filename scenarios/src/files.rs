//! Files that appear whole or not at all, and inputs that are what they claim to be.

use anyhow::{Context, Result};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Write `bytes` to a temporary file beside `path`, then rename it over `path`: a reader (or a
/// crash) never sees a half-written file under the final name, and a failed write leaves
/// nothing behind (the temporary file is removed when it is dropped).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    // tempfile creates files readable by their owner only; the result is an ordinary file.
    let mut tmp = tempfile::Builder::new()
        .prefix(".partial-")
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir.unwrap_or(Path::new(".")))
        .with_context(|| format!("cannot create a temporary file beside {}", path.display()))?;
    tmp.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot move the finished file to {}", path.display()))?;
    Ok(())
}

/// Check that an input is a regular file before opening it: opening a FIFO blocks until
/// someone writes to it, and a device such as `/dev/zero` never ends. Returns its size.
pub fn regular_file(path: &Path) -> Result<u64> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, a socket or a device)"
        };
        anyhow::bail!("{} is {kind}: refusing to read it", path.display());
    }
    Ok(meta.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bin");
        write_atomically(&path, b"hello").unwrap();
        write_atomically(&path, b"again").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"again");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let e = write_atomically(&dir.path().join("no/such/dir/x"), b"").unwrap_err();
        assert!(format!("{e:#}").contains("no/such/dir/x"), "{e:#}");
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.bin");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(regular_file(&file).unwrap(), 5);
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = format!("{:#}", regular_file(&fifo).unwrap_err());
        assert!(
            e.contains("fifo") && e.contains("not a regular file"),
            "{e}"
        );
        let e = format!("{:#}", regular_file(Path::new("/dev/zero")).unwrap_err());
        assert!(e.contains("/dev/zero"), "{e}");
        assert!(format!("{:#}", regular_file(dir.path()).unwrap_err()).contains("a directory"));
    }
}
