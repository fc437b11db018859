//! Cold cache without root: drop one file's pages from the page cache.
//!
//! `posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)` asks the kernel to forget the cached pages of
//! one file; any user who can open the file may ask, where `echo 3 > /proc/sys/vm/drop_caches`
//! needs root and empties the cache of the whole machine. The kernel only drops clean pages, so
//! the file's dirty pages (a file just generated) are written out first (`fdatasync`). Pages
//! another process has mapped stay; nothing of ours maps the file between runs.
//!
//! Used by `--cold` (every model, before its clock starts) and by `decision-table drop-cache
//! FILE`, which the harness runs as hyperfine's `--prepare` before every cold run, of the
//! models and of `cat` and `wc -l` alike.

use anyhow::{Context, Result};
use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
use std::fs::File;
use std::path::Path;

/// Write out `path`'s dirty pages and drop all its pages from the page cache.
pub fn drop_cache(path: &Path) -> Result<()> {
    crate::files::regular_file(path)?;
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    file.sync_data()
        .with_context(|| format!("cannot write out {}'s cached pages", path.display()))?;
    posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED)
        .with_context(|| format!("cannot drop {}'s pages from the page cache", path.display()))?;
    Ok(())
}

/// Tell the kernel that `file` will be read front to back: it reads further ahead, which is
/// what a cold run of a sequential scan wants.
pub fn sequential(file: &File) {
    // Advice only: a kernel that ignores it reads the file all the same.
    let _ = posix_fadvise(file, 0, 0, PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL);
}
