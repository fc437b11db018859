//! One file on its way to the disk: a temporary file in the output folder, hashed as the body
//! arrives, checked against the manifest, and only then given its name.

use super::retry::{Failure, Fetched};
use crate::digest::hex;
use crate::wire::FileEntry;
use anyhow::{Context, Result, bail};
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Create the output directory if needed.
pub fn prepare_out(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the output directory {}", out.display()))?;
    if !out.is_dir() {
        bail!("--out {} is not a directory", out.display());
    }
    Ok(())
}

/// A download in progress: a temporary file in the output directory and the hash so far.
/// Dropped before [`Part::finish`] succeeds, it removes the temporary file.
///
/// The temporary file is created exclusively (`O_EXCL`) under a name nobody can predict
/// (`.NAME.XXXXXX.part`, by the `tempfile` crate), so a symlink planted in a shared output
/// folder (`--out /tmp/...`) is never written through: creating it fails or makes a new file.
/// The final rename replaces whatever is at the final name, a symlink included, and never
/// follows it.
pub struct Part<'a> {
    entry: &'a FileEntry,
    tmp: Option<tempfile::NamedTempFile>,
    dest: PathBuf,
    hasher: Sha256,
    received: u64,
}

impl<'a> Part<'a> {
    pub fn create(entry: &'a FileEntry, out: &Path) -> Result<Self, Failure> {
        let tmp = tempfile::Builder::new()
            .prefix(&temp_prefix(entry))
            .suffix(TEMP_SUFFIX)
            .permissions(std::fs::Permissions::from_mode(0o644))
            .tempfile_in(out)
            .map_err(|e| {
                Failure::Final(format!(
                    "cannot create a temporary file for {} in {}: {e}",
                    entry.name,
                    out.display()
                ))
            })?;
        Ok(Part {
            entry,
            dest: out.join(&entry.name),
            tmp: Some(tmp),
            hasher: Sha256::new(),
            received: 0,
        })
    }

    /// Append a piece of the body.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.received += bytes.len() as u64;
        if self.received > self.entry.size {
            return Err(Failure::Retry(format!(
                "more than the {} bytes the manifest lists",
                self.entry.size
            )));
        }
        self.hasher.update(bytes);
        let tmp = self.tmp.as_mut().expect("open until finished");
        tmp.write_all(bytes)
            .map_err(|e| Failure::Final(format!("cannot write {}: {e}", tmp.path().display())))
    }

    /// Check the length and the checksum, then give the file its final name. `promised` is
    /// the response's `Content-Length`.
    pub fn finish(self, promised: Option<u64>) -> Result<String, Failure> {
        self.verify(promised)?.commit()
    }

    /// Check the length and the checksum and close the file: all that is left is to give it
    /// its name ([`Verified::commit`]).
    pub fn verify(mut self, promised: Option<u64>) -> Result<Verified, Failure> {
        let (received, size) = (self.received, self.entry.size);
        if let Some(promised) = promised
            && received != promised
        {
            return Err(Failure::Retry(format!(
                "short body: {received} of the {promised} bytes promised"
            )));
        }
        if received != size {
            return Err(Failure::Retry(format!(
                "{received} bytes where the manifest lists {size}"
            )));
        }
        let sha = hex(&std::mem::take(&mut self.hasher).finalize());
        if sha != self.entry.sha256 {
            return Err(Failure::Retry(format!(
                "SHA-256 {} where the manifest lists {}",
                &sha[..16],
                &self.entry.sha256[..16]
            )));
        }
        // Close before renaming; the rename is what makes the file exist under its name.
        let tmp = self
            .tmp
            .take()
            .expect("open until finished")
            .into_temp_path();
        Ok(Verified {
            tmp,
            dest: std::mem::take(&mut self.dest),
            sha,
        })
    }
}

/// A complete, checked download under its temporary name (removed if dropped).
pub struct Verified {
    tmp: tempfile::TempPath,
    dest: PathBuf,
    sha: String,
}

impl Verified {
    /// Rename the file to its final name (replacing a file or a symlink there, never
    /// following it); on failure, remove it.
    ///
    /// This can block for a while: when the rename replaces a file of an earlier run, ext4
    /// (`auto_da_alloc`) writes the new file's data out first, so that a crash cannot leave an
    /// empty file where a full one was. Async code runs it on a blocking thread.
    pub fn commit(self) -> Result<String, Failure> {
        let dest = self.dest;
        self.tmp.persist(&dest).map_err(|e| {
            // The error hands the temporary path back; dropping it removes the file.
            Failure::Final(format!("cannot rename to {}: {}", dest.display(), e.error))
        })?;
        Ok(self.sha)
    }
}

const TEMP_SUFFIX: &str = ".part";

/// What the temporary names of a file start with: `.NAME.`, then random letters, then `.part`.
fn temp_prefix(entry: &FileEntry) -> String {
    format!(".{}.", entry.name)
}

/// After a file's last attempt: a file that failed must not be left under its final name, not
/// even an old copy from an earlier run, nor as a temporary file (a worker process killed
/// mid-download never got to remove its own).
pub fn settle(entry: &FileEntry, out: &Path, outcome: &Fetched<String>) {
    if outcome.result.is_err() {
        // A symlink at the final name is removed itself, not what it points to.
        let _ = std::fs::remove_file(out.join(&entry.name));
        for tmp in temporaries(entry, out) {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// The temporary files of `entry` left in `out` (by a worker process killed mid-download).
pub fn temporaries(entry: &FileEntry, out: &Path) -> Vec<PathBuf> {
    let prefix = temp_prefix(entry);
    let Ok(dir) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(TEMP_SUFFIX)
        })
        .map(|e| e.path())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(content: &[u8]) -> FileEntry {
        FileEntry {
            name: "f.bin".into(),
            path: "/files/0".into(),
            size: content.len() as u64,
            sha256: crate::digest::sha256_hex(content),
        }
    }

    #[test]
    fn a_part_is_renamed_only_when_verified() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let content: Vec<u8> = (0..100).collect();
        let entry = entry(&content);
        let left = || temporaries(&entry, dir).len();
        // Short: promised 100, got 50.
        let mut p = Part::create(&entry, dir).unwrap();
        p.write(&content[..50]).unwrap();
        assert_eq!(left(), 1, "a temporary file while it downloads");
        assert!(matches!(p.finish(Some(100)), Err(Failure::Retry(m)) if m.contains("short body")));
        assert!(left() == 0 && !dir.join("f.bin").exists());
        // Corrupt: right length, wrong bytes.
        let mut p = Part::create(&entry, dir).unwrap();
        let mut bad = content.clone();
        bad[3] ^= 1;
        p.write(&bad).unwrap();
        assert!(matches!(p.finish(Some(100)), Err(Failure::Retry(m)) if m.contains("SHA-256")));
        assert!(left() == 0 && !dir.join("f.bin").exists());
        // Too long.
        let mut p = Part::create(&entry, dir).unwrap();
        p.write(&content).unwrap();
        assert!(p.write(b"x").is_err());
        drop(p);
        assert_eq!(left(), 0);
        // Good.
        let mut p = Part::create(&entry, dir).unwrap();
        p.write(&content[..60]).unwrap();
        p.write(&content[60..]).unwrap();
        assert_eq!(p.finish(Some(100)).unwrap(), entry.sha256);
        assert_eq!(std::fs::read(dir.join("f.bin")).unwrap(), content);
        assert_eq!(left(), 0);
        // A later failure removes the old copy, and what a killed worker left behind.
        std::fs::write(dir.join(".f.bin.Xy12Zq.part"), b"half").unwrap();
        settle(&entry, dir, &Fetched::failed("gave up"));
        assert!(!dir.join("f.bin").exists() && left() == 0);
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0);
    }

    #[test]
    fn a_planted_symlink_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let (out, elsewhere) = (dir.path().join("out"), dir.path().join("victim"));
        std::fs::create_dir(&out).unwrap();
        std::fs::write(&elsewhere, b"precious").unwrap();
        let content = b"downloaded".to_vec();
        let entry = entry(&content);
        // Links at the old predictable temporary name and at the final name.
        std::os::unix::fs::symlink(&elsewhere, out.join(".f.bin.part")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("f.bin")).unwrap();
        let mut p = Part::create(&entry, &out).unwrap();
        p.write(&content).unwrap();
        p.finish(None).unwrap();
        assert_eq!(std::fs::read(&elsewhere).unwrap(), b"precious");
        let meta = std::fs::symlink_metadata(out.join("f.bin")).unwrap();
        assert!(
            meta.file_type().is_file(),
            "the link at the final name was replaced"
        );
        assert_eq!(std::fs::read(out.join("f.bin")).unwrap(), content);
        // A failure removes the link at the final name, not its target.
        std::os::unix::fs::symlink(&elsewhere, out.join("g.bin")).unwrap();
        let g = FileEntry {
            name: "g.bin".into(),
            ..entry
        };
        settle(&g, &out, &Fetched::failed("gave up"));
        assert!(std::fs::symlink_metadata(out.join("g.bin")).is_err());
        assert_eq!(std::fs::read(&elsewhere).unwrap(), b"precious");
    }
}
