//! `serve --images DIR`: the PNGs of the `pipeline` scenario, read once at start-up and served
//! from memory at `/images/{i}`, listed at `/images` (name, path, size, SHA-256, in name order:
//! the same [`Manifest`] as `/manifest`, its `about` describing the images).
//!
//! Why a folder rather than pictures drawn from the seed: the folder is what `decision-table gen
//! images` wrote, so the pipeline's digest can be checked against the `images` scenario run on
//! the very same files (and `images::reference_digest` of them) byte for byte; and drawing and
//! encoding 1080p pictures costs the server seconds of CPU at every start, on the two cores the
//! clients are being measured on. Reading them once keeps the server out of the measurement.
//!
//! Only `.png` regular files are taken (as the `images` scenario lists a folder), each at most
//! [`scenarios::images::MAX_INPUT_BYTES`], at most [`MAX_TOTAL`] in all, with names a client may safely write:
//! anything else stops the server at start-up with an error naming the file.

use super::ServeArgs;
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use scenarios::digest::sha256_hex;
use scenarios::images::{list_inputs, load};
use scenarios::pipeline::ROUTE;
use scenarios::wire::{About, FileEntry, Manifest};
use std::path::Path;

/// The most image bytes one server holds in memory.
pub const MAX_TOTAL: u64 = 2 << 30;

/// The images a server offers.
#[derive(Debug)]
pub struct ImageSet {
    /// Each image's bytes, in manifest order (cloning a `Bytes` shares them).
    pub bytes: Vec<Bytes>,
    /// `/images`, serialised once.
    pub manifest_json: Bytes,
    pub total: u64,
}

/// A name a client will write as a file: letters, digits, '.', '_' and '-', not hidden.
fn safe(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Read the `.png` files of `dir` and make `/images` for a server with these knobs.
pub fn load_dir(dir: &Path, args: &ServeArgs) -> Result<ImageSet> {
    if !dir.is_dir() {
        bail!(
            "--images {}: not a directory (make one with `decision-table gen images --out {}`)",
            dir.display(),
            dir.display()
        );
    }
    let paths = list_inputs(&[dir.to_path_buf()]).context("--images")?;
    let (mut bytes, mut files, mut total) = (Vec::new(), Vec::new(), 0u64);
    for (i, path) in paths.iter().enumerate() {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| safe(n))
            .with_context(|| {
                format!(
                    "{}: a name a client cannot safely write (use letters, digits, '.', '_', '-')",
                    path.display()
                )
            })?;
        let png = load(path)?;
        total += png.len() as u64;
        if total > MAX_TOTAL {
            bail!(
                "--images {}: more than the {} GiB of images this server holds in memory",
                dir.display(),
                MAX_TOTAL >> 30
            );
        }
        files.push(FileEntry {
            name: name.to_string(),
            path: format!("{ROUTE}/{i}"),
            size: png.len() as u64,
            sha256: sha256_hex(&png),
        });
        bytes.push(Bytes::from(png));
    }
    let manifest = Manifest {
        about: About {
            server: "decision-table serve".into(),
            files: files.len(),
            size: files.iter().map(|f| f.size).max().unwrap_or(0),
            latency_ms: args.latency_ms,
            bandwidth: args.bandwidth,
            fault_rate: args.fault_rate,
        },
        files,
    };
    Ok(ImageSet {
        bytes,
        manifest_json: Bytes::from(serde_json::to_vec(&manifest)?),
        total,
    })
}

/// What `/images` lists for a server with these knobs (the tests' reference); `None` without
/// `--images`.
pub fn images_manifest(args: &ServeArgs) -> Result<Option<Manifest>> {
    match &args.images {
        None => Ok(None),
        Some(dir) => {
            let set = load_dir(dir, args)?;
            Ok(Some(serde_json::from_slice(&set.manifest_json)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_names_are_served() {
        assert!(safe("img-000.png") && safe("a_b.PNG"));
        assert!(!safe(".hidden.png") && !safe("sp ace.png") && !safe("é.png") && !safe(""));
    }

    #[test]
    fn a_folder_is_listed_in_name_order_with_checksums() {
        let dir = tempfile::tempdir().unwrap();
        scenarios::images::generate(&scenarios::images::GenImagesArgs {
            count: 3,
            width: 16,
            height: 12,
            seed: 1,
            out: dir.path().to_path_buf(),
        })
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"not an image").unwrap();
        let args = ServeArgs {
            latency_ms: 7,
            ..ServeArgs::default()
        };
        let set = load_dir(dir.path(), &args).unwrap();
        let m: Manifest = serde_json::from_slice(&set.manifest_json).unwrap();
        assert_eq!(m.files.len(), 3);
        assert_eq!(m.files[1].name, "img-001.png");
        assert_eq!(m.files[1].path, "/images/1");
        let png = std::fs::read(dir.path().join("img-001.png")).unwrap();
        assert_eq!(m.files[1].sha256, sha256_hex(&png));
        assert_eq!(set.bytes[1], png);
        assert_eq!((m.about.files, m.about.latency_ms), (3, 7));
        let e = load_dir(&dir.path().join("nope"), &args).unwrap_err();
        assert!(format!("{e:#}").contains("not a directory"), "{e:#}");
    }
}
