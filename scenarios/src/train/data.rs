//! Fashion-MNIST in memory: the four IDX files of a folder, checked against each other, kept
//! as bytes (47 MB for the training images; each batch turns its own rows into f32).
//!
//! The files are `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`
//! and `t10k-labels-idx1-ubyte`, each with `.gz` (Debian's) or without (a gunzipped copy).
//! Besides each file's own checks ([`super::idx`]), a data set is refused, naming the files,
//! when its images and labels differ in number, a label is not a class (0 to 9), or the
//! training and test images differ in size.

use super::idx;
use super::net::CLASSES;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// Added to the message of a file that cannot be opened.
const HINT: &str = " (on Debian: apt-get install dataset-fashion-mnist; or give --data DIR, a \
                    folder holding Fashion-MNIST's four IDX files)";

/// Where a file of the set is: `NAME.gz` if it exists, else `NAME` if that exists, else
/// `NAME.gz` (for the message saying it is missing).
pub fn path_of(dir: &Path, name: &str) -> PathBuf {
    let gz = dir.join(format!("{name}.gz"));
    let raw = dir.join(name);
    if !gz.exists() && raw.exists() {
        raw
    } else {
        gz
    }
}

/// Images and their labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// One row of `pixels` bytes an image.
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// The whole data set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// Pixels per image (rows x columns).
    pub pixels: usize,
    pub train: Split,
    pub test: Split,
}

/// How many images a run uses, and their size, from the files' headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    pub pixels: usize,
    pub train: usize,
    pub test: usize,
}

/// The images file's count and pixels per image, from its dimensions.
fn image_dims(path: &Path, dims: &[usize]) -> Result<(usize, usize)> {
    let (n, pixels) = (dims[0], dims[1] * dims[2]);
    if pixels > 1 << 20 {
        bail!(
            "{}: images of {} x {} pixels are more than this reads",
            path.display(),
            dims[1],
            dims[2]
        );
    }
    Ok((n, pixels))
}

fn check_counts(images: &Path, n: usize, labels: &Path, m: usize) -> Result<()> {
    if n != m {
        bail!(
            "{} holds {n} images but {} holds {m} labels: they are not one set",
            images.display(),
            labels.display()
        );
    }
    Ok(())
}

fn check_pixels(train: (&Path, usize), test: (&Path, usize)) -> Result<()> {
    if train.1 != test.1 {
        bail!(
            "{} has images of {} pixels but {} of {}: they are not one data set",
            train.0.display(),
            train.1,
            test.0.display(),
            test.1
        );
    }
    Ok(())
}

impl Sizes {
    /// The sizes the files' headers give, cut to the limits, checked against each other: what
    /// a parent whose workers hold the data needs to plan the run.
    pub fn of(dir: &Path, train_limit: Option<usize>, test_limit: Option<usize>) -> Result<Sizes> {
        let [ti, tl, ei, el] =
            [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS].map(|n| path_of(dir, n));
        let (train, pixels) = image_dims(&ti, &idx::header(&ti, 3, HINT)?)?;
        check_counts(&ti, train, &tl, idx::header(&tl, 1, HINT)?[0])?;
        let (test, test_pixels) = image_dims(&ei, &idx::header(&ei, 3, HINT)?)?;
        check_counts(&ei, test, &el, idx::header(&el, 1, HINT)?[0])?;
        check_pixels((&ti, pixels), (&ei, test_pixels))?;
        Ok(Sizes {
            pixels,
            train: train_limit.map_or(train, |l| l.min(train)),
            test: test_limit.map_or(test, |l| l.min(test)),
        })
    }
}

/// Read one split, keep its first `limit` images.
fn split(images: &Path, labels: &Path, limit: Option<usize>) -> Result<(Split, usize)> {
    let img = idx::read(images, 3, HINT)?;
    let (n, pixels) = image_dims(images, &img.dims)?;
    let lab = idx::read(labels, 1, HINT)?;
    check_counts(images, n, labels, lab.dims[0])?;
    if let Some(i) = lab.data.iter().position(|&y| y as usize >= CLASSES) {
        bail!(
            "{}: label {} of image {i} is not a class (Fashion-MNIST has classes 0 to {})",
            labels.display(),
            lab.data[i],
            CLASSES - 1
        );
    }
    let keep = limit.map_or(n, |l| l.min(n));
    let mut images = img.data;
    images.truncate(keep * pixels);
    let mut labels = lab.data;
    labels.truncate(keep);
    Ok((Split { images, labels }, pixels))
}

impl Dataset {
    /// Read and check the four files in `dir`, keeping the first `train_limit` training and
    /// `test_limit` test images (all by default).
    pub fn load(
        dir: &Path,
        train_limit: Option<usize>,
        test_limit: Option<usize>,
    ) -> Result<Dataset> {
        let [ti, tl, ei, el] =
            [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS].map(|n| path_of(dir, n));
        let (train, pixels) = split(&ti, &tl, train_limit)?;
        let (test, test_pixels) = split(&ei, &el, test_limit)?;
        check_pixels((&ti, pixels), (&ei, test_pixels))?;
        Ok(Dataset {
            pixels,
            train,
            test,
        })
    }

    /// Write a data set as the four gzip IDX files in `dir` (created if missing), images of
    /// `rows x cols`: the tests' small sets.
    pub fn write(&self, dir: &Path, rows: usize, cols: usize) -> Result<()> {
        anyhow::ensure!(
            rows * cols == self.pixels,
            "{rows} x {cols} is not {}",
            self.pixels
        );
        std::fs::create_dir_all(dir)?;
        for (split, images, labels) in [
            (&self.train, TRAIN_IMAGES, TRAIN_LABELS),
            (&self.test, TEST_IMAGES, TEST_LABELS),
        ] {
            let n = split.len();
            let gz = |name: &str| dir.join(format!("{name}.gz"));
            idx::write(&gz(images), &[n, rows, cols], &split.images, true)?;
            idx::write(&gz(labels), &[n], &split.labels, true)?;
        }
        Ok(())
    }

    /// A small data set that can be learned: each class a blurred stroke at its own place and
    /// angle, shifted and speckled from a seed. For tests, where Fashion-MNIST is too big (or
    /// not installed).
    pub fn synthetic(train: usize, test: usize, side: usize, seed: u64) -> Dataset {
        let make = |n: usize, stream: u64| {
            let mut rng = crate::rng::SplitMix64::for_item(seed, stream);
            let mut images = Vec::with_capacity(n * side * side);
            let mut labels = Vec::with_capacity(n);
            for _ in 0..n {
                let y = rng.below(CLASSES as u64) as usize;
                let angle = y as f64 * std::f64::consts::PI / CLASSES as f64;
                let (dx, dy) = (rng.next_f64() - 0.5, rng.next_f64() - 0.5);
                let c = (side as f64 - 1.0) / 2.0;
                for r in 0..side {
                    for q in 0..side {
                        let (x, yy) = (q as f64 - c - dx * 2.0, r as f64 - c - dy * 2.0);
                        // Distance from the class's line through the middle.
                        let d = (x * angle.sin() - yy * angle.cos()).abs();
                        let v = (255.0 * (-d * d / 2.0).exp()) as u8;
                        let noise = (rng.below(40)) as u8;
                        images.push(v.saturating_add(noise));
                    }
                }
                labels.push(y as u8);
            }
            Split { images, labels }
        };
        Dataset {
            pixels: side * side,
            train: make(train, 1),
            test: make(test, 2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_set_reads_back_with_its_sizes_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        let set = Dataset::synthetic(50, 20, 6, 1);
        set.write(dir.path(), 6, 6).unwrap();
        assert_eq!(Dataset::load(dir.path(), None, None).unwrap(), set);
        let cut = Dataset::load(dir.path(), Some(10), Some(100)).unwrap();
        assert_eq!((cut.train.len(), cut.test.len()), (10, 20));
        assert_eq!(cut.train.images, set.train.images[..360]);
        assert_eq!(
            Sizes::of(dir.path(), Some(10), None).unwrap(),
            Sizes {
                pixels: 36,
                train: 10,
                test: 20
            }
        );
    }

    #[test]
    fn sets_that_do_not_belong_together_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = Dataset::synthetic(5, 4, 3, 2);
        set.write(dir.path(), 3, 3).unwrap();
        let labels = dir.path().join(format!("{TRAIN_LABELS}.gz"));
        idx::write(&labels, &[4], &[1, 2, 3, 4], true).unwrap();
        let e = format!("{:#}", Dataset::load(dir.path(), None, None).unwrap_err());
        assert!(e.contains("5 images") && e.contains("4 labels"), "{e}");
        let e = format!("{:#}", Sizes::of(dir.path(), None, None).unwrap_err());
        assert!(e.contains(TRAIN_LABELS), "{e}");
        set.train.labels[2] = 10;
        set.write(dir.path(), 3, 3).unwrap();
        let e = format!("{:#}", Dataset::load(dir.path(), None, None).unwrap_err());
        assert!(e.contains("label 10 of image 2"), "{e}");
        let e = format!(
            "{:#}",
            Dataset::load(&dir.path().join("nowhere"), None, None).unwrap_err()
        );
        assert!(
            e.contains("dataset-fashion-mnist") && e.contains("nowhere"),
            "{e}"
        );
    }

    #[test]
    fn a_gunzipped_copy_reads_too() {
        let dir = tempfile::tempdir().unwrap();
        let set = Dataset::synthetic(5, 4, 3, 3);
        set.write(dir.path(), 3, 3).unwrap();
        let gz = dir.path().join(format!("{TEST_LABELS}.gz"));
        std::fs::remove_file(&gz).unwrap();
        idx::write(&dir.path().join(TEST_LABELS), &[4], &set.test.labels, false).unwrap();
        assert_eq!(Dataset::load(dir.path(), None, None).unwrap(), set);
    }
}
