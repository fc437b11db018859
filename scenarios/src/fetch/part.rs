//! One file on its way to the disk: a temporary file in the output folder, hashed as the body
//! arrives, checked against the manifest, and only then given its name.

use super::retry::{Failure, Fetched};
use crate::digest::hex;
use crate::wire::FileEntry;
use anyhow::{Context, Result, bail};
use sha2::{Digest as _, Sha256};
use std::io::Write;
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

/// A download in progress: a temporary file in the output directory and the hash so far. Dropped
/// before [`Part::finish`] succeeds, it removes the temporary file.
pub struct Part<'a> {
    entry: &'a FileEntry,
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<std::fs::File>,
    hasher: Sha256,
    received: u64,
}

impl<'a> Part<'a> {
    pub fn create(entry: &'a FileEntry, out: &Path) -> Result<Self, Failure> {
        let tmp = out.join(format!(".{}.part", entry.name));
        let file = std::fs::File::create(&tmp)
            .map_err(|e| Failure::Final(format!("cannot create {}: {e}", tmp.display())))?;
        Ok(Part {
            entry,
            dest: out.join(&entry.name),
            tmp,
            file: Some(file),
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
        let file = self.file.as_mut().expect("open until finished");
        file.write_all(bytes)
            .map_err(|e| Failure::Final(format!("cannot write {}: {e}", self.tmp.display())))
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
        drop(self.file.take());
        Ok(Verified {
            tmp: std::mem::take(&mut self.tmp),
            dest: std::mem::take(&mut self.dest),
            sha,
        })
    }
}

/// A complete, checked download under its temporary name.
pub struct Verified {
    tmp: PathBuf,
    dest: PathBuf,
    sha: String,
}

impl Verified {
    /// Rename the file to its final name; on failure, remove it.
    ///
    /// This can block for a while: when the rename replaces a file of an earlier run, ext4
    /// (`auto_da_alloc`) writes the new file's data out first, so that a crash cannot leave an
    /// empty file where a full one was. Async code runs it on a blocking thread.
    pub fn commit(self) -> Result<String, Failure> {
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| {
            let _ = std::fs::remove_file(&self.tmp);
            Failure::Final(format!("cannot rename to {}: {e}", self.dest.display()))
        })?;
        Ok(self.sha)
    }
}

impl Drop for Part<'_> {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// After a file's last attempt: a file that failed must not be left under its final name, not
/// even an old copy from an earlier run, nor as a temporary file (a worker process killed
/// mid-download never got to remove its own).
pub fn settle(entry: &FileEntry, out: &Path, outcome: &Fetched<String>) {
    if outcome.result.is_err() {
        let _ = std::fs::remove_file(out.join(&entry.name));
        let _ = std::fs::remove_file(out.join(format!(".{}.part", entry.name)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_renamed_only_when_verified() {
        let dir = std::env::temp_dir().join(format!("fetch-part-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let content: Vec<u8> = (0..100).collect();
        let entry = FileEntry {
            name: "f.bin".into(),
            path: "/files/0".into(),
            size: 100,
            sha256: crate::digest::sha256_hex(&content),
        };
        let tmp = dir.join(".f.bin.part");
        // Short: promised 100, got 50.
        let mut p = Part::create(&entry, &dir).unwrap();
        p.write(&content[..50]).unwrap();
        assert!(tmp.exists());
        assert!(matches!(p.finish(Some(100)), Err(Failure::Retry(m)) if m.contains("short body")));
        assert!(!tmp.exists() && !dir.join("f.bin").exists());
        // Corrupt: right length, wrong bytes.
        let mut p = Part::create(&entry, &dir).unwrap();
        let mut bad = content.clone();
        bad[3] ^= 1;
        p.write(&bad).unwrap();
        assert!(matches!(p.finish(Some(100)), Err(Failure::Retry(m)) if m.contains("SHA-256")));
        assert!(!tmp.exists() && !dir.join("f.bin").exists());
        // Too long.
        let mut p = Part::create(&entry, &dir).unwrap();
        p.write(&content).unwrap();
        assert!(p.write(b"x").is_err());
        drop(p);
        assert!(!tmp.exists());
        // Good.
        let mut p = Part::create(&entry, &dir).unwrap();
        p.write(&content[..60]).unwrap();
        p.write(&content[60..]).unwrap();
        assert_eq!(p.finish(Some(100)).unwrap(), entry.sha256);
        assert_eq!(std::fs::read(dir.join("f.bin")).unwrap(), content);
        assert!(!tmp.exists());
        // A later failure removes the old copy, and what a killed worker left behind.
        std::fs::write(&tmp, b"half").unwrap();
        settle(&entry, &dir, &Fetched::failed("gave up"));
        assert!(!dir.join("f.bin").exists() && !tmp.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
