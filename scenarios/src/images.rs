//! The `images` scenario, written once: the chapter's "image processing" row.
//!
//! - Inputs: `decision-table gen images --count 32 --width 1920 --height 1080 --seed 42 --out
//!   data/images` draws PNGs with real structure (a gradient, overlapping shapes, noise),
//!   deterministic from the seed ([`generate`]).
//! - Per file ([`process_file`], the [`ProcessImage`] job every model maps over the inputs):
//!   [`load`] the bytes, [`transform`] them (decode, Gaussian blur, resize to half size,
//!   grayscale, encode PNG), [`save`] the result in `--out` under a temporary name and rename it
//!   when complete. Only the computing holds the emulated GIL (`threading --gil`), as CPython
//!   releases the real one during file I/O; between its stages it may hand the GIL over to a
//!   thread that asked (`gil::checkpoint`, every 5 ms as CPython's switch interval).
//! - The digest covers each output's SHA-256 in input order ([`summarise`]), so every model
//!   that produces the same bytes prints the same digest.
//! - The PNG encoder's settings are fixed ([`encode_png`]): the same pixels always give the
//!   same bytes with the versions in `Cargo.lock`. (The `image` crate does not promise the same
//!   bytes across its minor versions, which is one more reason the lock file is committed.)

use crate::Run;
use crate::cli::{bounded, cores, workers};
use crate::digest::{Digest, Sha, sha256};
use crate::files::write_atomically;
use crate::gil;
use crate::job::Job;
use crate::outcome::{self, OnError, Outcome};
use crate::rng::SplitMix64;
use crate::{Summary, say};
use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::imageops::FilterType;
use image::{DynamicImage, ExtendedColorType, ImageEncoder, ImageFormat, RgbImage};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// `images`: blur, halve and gray a folder of PNGs.
#[derive(Args, Debug, Clone)]
pub struct ImagesArgs {
    /// PNG files, or directories whose .png files are processed in name order
    #[arg(default_value = "data/images")]
    pub inputs: Vec<PathBuf>,
    /// Directory for the processed images, same file names (created if missing)
    #[arg(long, default_value = "data/images-out")]
    pub out: PathBuf,
    /// How many workers process images (default: one per core)
    #[arg(long, default_value_t = cores(), value_parser = workers, allow_negative_numbers = true)]
    pub workers: usize,
    /// Standard deviation of the Gaussian blur, in pixels
    #[arg(long, default_value_t = 2.0, value_parser = sigma, allow_negative_numbers = true)]
    pub sigma: f32,
    /// After a bad input, process the others anyway and count the failures (exit status 1)
    #[arg(long)]
    pub keep_going: bool,
}

pub(crate) fn sigma(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if !(0.1..=50.0).contains(&v) {
        return Err(format!("{v} is out of range: use 0.1 to 50 pixels"));
    }
    Ok(v)
}

fn count(s: &str) -> Result<usize, String> {
    bounded(s, 1, 10_000).map(|v| v as usize)
}

fn dimension(s: &str) -> Result<u32, String> {
    bounded(s, 2, 16_384).map(|v| v as u32)
}

/// `decision-table gen images`: structured PNGs from a seed.
#[derive(Args, Debug, Clone)]
pub struct GenImagesArgs {
    /// How many images
    #[arg(long, default_value_t = 32, value_parser = count, allow_negative_numbers = true)]
    pub count: usize,
    /// Width in pixels
    #[arg(long, default_value_t = 1920, value_parser = dimension, allow_negative_numbers = true)]
    pub width: u32,
    /// Height in pixels
    #[arg(long, default_value_t = 1080, value_parser = dimension, allow_negative_numbers = true)]
    pub height: u32,
    /// Seed of the generator: the same seed always gives the same images
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Directory to write the images into (created if missing)
    #[arg(long, default_value = "data/images")]
    pub out: PathBuf,
}

/// Write the images for `gen images`; returns their paths in order.
pub fn generate(args: &GenImagesArgs) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let digits = (args.count - 1).to_string().len().max(3);
    (0..args.count)
        .map(|i| {
            let img = draw(
                args.width,
                args.height,
                &mut SplitMix64::for_item(args.seed, i as u64),
            );
            let png = encode_png(
                img.as_raw(),
                args.width,
                args.height,
                ExtendedColorType::Rgb8,
            )?;
            let path = args.out.join(format!("img-{i:0digits$}.png"));
            write_atomically(&path, &png)?;
            Ok(path)
        })
        .collect()
}

/// One picture: a two-colour gradient in a random direction, overlapping circles and
/// rectangles blended over it, and per-pixel noise. Integer and basic float arithmetic only
/// (no trigonometry from the platform's libm), so the pixels are the same on every machine.
pub fn draw(width: u32, height: u32, rng: &mut SplitMix64) -> RgbImage {
    let colour = |rng: &mut SplitMix64| [0, 1, 2].map(|_| rng.below(256) as f64);
    let (from, to) = (colour(rng), colour(rng));
    let (dx, dy) = (rng.below(17) as f64 - 8.0, rng.below(17) as f64 - 7.5);
    let span = dx.abs() * width as f64 + dy.abs() * height as f64;
    let start = dx.min(0.0) * width as f64 + dy.min(0.0) * height as f64;
    let mut px: Vec<f64> = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let t = ((x as f64 * dx + y as f64 * dy) - start) / span;
            px.extend((0..3).map(|c| from[c] + (to[c] - from[c]) * t));
        }
    }
    let (w, h) = (width as i64, height as i64);
    for _ in 0..6 + rng.below(9) {
        let (cx, cy) = (rng.below(w as u64) as i64, rng.below(h as u64) as i64);
        let size = 2 + rng.below((w.min(h) / 3).max(1) as u64) as i64;
        let (fill, alpha) = (colour(rng), 0.5 + rng.next_f64() * 0.4);
        let circle = rng.below(2) == 0;
        for y in (cy - size).max(0)..(cy + size).min(h) {
            for x in (cx - size).max(0)..(cx + size).min(w) {
                if circle && (x - cx).pow(2) + (y - cy).pow(2) > size * size {
                    continue;
                }
                let at = ((y * w + x) * 3) as usize;
                for c in 0..3 {
                    px[at + c] += (fill[c] - px[at + c]) * alpha;
                }
            }
        }
    }
    let bytes = px
        .iter()
        .map(|v| (v + rng.below(25) as f64 - 12.0).clamp(0.0, 255.0) as u8)
        .collect();
    RgbImage::from_raw(width, height, bytes).expect("the buffer matches the size")
}

/// Encode pixels as PNG with fixed settings (fast deflate, adaptive filters), so the same
/// pixels always give the same bytes.
pub fn encode_png(
    pixels: &[u8],
    width: u32,
    height: u32,
    ty: ExtendedColorType,
) -> Result<Vec<u8>> {
    let mut png = Vec::new();
    PngEncoder::new_with_quality(&mut png, CompressionType::Fast, PngFilter::Adaptive)
        .write_image(pixels, width, height, ty)
        .context("cannot encode PNG")?;
    Ok(png)
}

/// The files a run will process, in input order: files as given, directories expanded to
/// their .png files sorted by name. A named file that does not exist stays in the list and
/// fails as an item, naming itself.
pub fn list_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if !input.is_dir() {
            files.push(input.clone());
            continue;
        }
        let mut pngs = Vec::new();
        for entry in std::fs::read_dir(input)
            .with_context(|| format!("cannot list the directory {}", input.display()))?
        {
            let path = entry
                .with_context(|| format!("cannot list the directory {}", input.display()))?
                .path();
            if path.is_file()
                && path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("png"))
            {
                pngs.push(path);
            }
        }
        if pngs.is_empty() {
            bail!(
                "{}: no .png files in this directory (make some with `cargo run --release -p decision-table -- gen images --out {}`)",
                input.display(),
                input.display()
            );
        }
        pngs.sort();
        files.extend(pngs);
    }
    // Outputs keep the input's file name: two inputs with one name would overwrite each other.
    let mut seen: HashMap<&std::ffi::OsStr, &Path> = HashMap::new();
    for f in &files {
        let name = f
            .file_name()
            .with_context(|| format!("{} is not a file name", f.display()))?;
        if let Some(other) = seen.insert(name, f) {
            bail!(
                "{} and {} have the same file name: their outputs would overwrite each other",
                other.display(),
                f.display()
            );
        }
    }
    Ok(files)
}

/// Create the output directory, refusing one that holds any of the inputs (the outputs would
/// replace them).
pub fn prepare_out(out: &Path, inputs: &[PathBuf]) -> Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create --out {}", out.display()))?;
    let out_real = out
        .canonicalize()
        .with_context(|| format!("cannot resolve --out {}", out.display()))?;
    for input in inputs {
        let dir = input.parent().filter(|d| !d.as_os_str().is_empty());
        if dir
            .unwrap_or(Path::new("."))
            .canonicalize()
            .is_ok_and(|d| d == out_real)
        {
            bail!(
                "--out {} holds the input {}: the outputs would overwrite the inputs; choose another directory",
                out.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// Stage 1: read an input file.
pub fn load(input: &Path) -> Result<Vec<u8>> {
    // A FIFO would block for ever and /dev/zero never ends: only a regular file of a sane size.
    if input.exists() {
        let size = crate::files::regular_file(input)?;
        if size > MAX_INPUT_BYTES {
            bail!(
                "{} has {size} bytes, over the {} MiB this pipeline reads; refusing it",
                input.display(),
                MAX_INPUT_BYTES >> 20
            );
        }
    }
    std::fs::read(input).map_err(|e| {
        let hint = if e.kind() == ErrorKind::NotFound {
            " (make inputs with `cargo run --release -p decision-table -- gen images`)"
        } else {
            ""
        };
        anyhow::anyhow!("cannot read {}: {e}{hint}", input.display())
    })
}

/// The largest input file read: a 1080p PNG is a few MiB.
pub const MAX_INPUT_BYTES: u64 = 256 << 20;
/// The largest picture decoded, in either direction. A PNG of a few hundred KiB can declare
/// 16,000 x 16,000 pixels and make the decoder allocate gigabytes; the header is checked first.
pub const MAX_SIDE: u32 = 8192;
/// The most the decoder may allocate for one picture (8192 x 8192 gray fits; 8192 x 8192 RGBA
/// does not).
pub const MAX_DECODE_ALLOC: u64 = 256 << 20;

/// Decode a PNG within [`MAX_SIDE`] and [`MAX_DECODE_ALLOC`]: a picture that declares more is
/// refused before its pixels are allocated. `name` only labels errors.
pub fn decode(name: &Path, png: &[u8]) -> Result<DynamicImage> {
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(png), ImageFormat::Png);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(limit) => anyhow::anyhow!(
            "{}: {limit}: this pipeline decodes at most {MAX_SIDE} x {MAX_SIDE} pixels and {} MiB",
            name.display(),
            MAX_DECODE_ALLOC >> 20
        ),
        other => anyhow::anyhow!("{}: not a valid PNG: {other}", name.display()),
    })
}

/// Stage 2, the CPU-bound part: decode, Gaussian blur, half size, grayscale, encode PNG.
/// `name` only labels errors.
pub fn transform(name: &Path, png: &[u8], sigma: f32) -> Result<Vec<u8>> {
    // Between the stages, a thread behind the emulated GIL hands it over if another asked
    // (`gil::checkpoint`); each stage is one call into the `image` crate, the finest cut.
    let img = decode(name, png)?;
    gil::checkpoint();
    let blurred = img.blur(sigma);
    gil::checkpoint();
    let half = blurred.resize_exact(
        (img.width() / 2).max(1),
        (img.height() / 2).max(1),
        FilterType::Triangle,
    );
    gil::checkpoint();
    let gray = match half.grayscale() {
        // Alpha is dropped: the output is plain 8-bit gray whatever the input held.
        DynamicImage::ImageLuma8(g) => g,
        other => other.to_luma8(),
    };
    gil::checkpoint();
    encode_png(
        gray.as_raw(),
        gray.width(),
        gray.height(),
        ExtendedColorType::L8,
    )
    .with_context(|| format!("{}: cannot encode the result", name.display()))
}

/// Stage 3: write the result into `out` under the input's file name; returns its SHA-256.
pub fn save(out: &Path, input: &Path, png: &[u8]) -> Result<Sha> {
    let name = input
        .file_name()
        .with_context(|| format!("{} is not a file name", input.display()))?;
    write_atomically(&out.join(name), png)?;
    Ok(sha256(png))
}

/// The whole pipeline for one file; returns the output's SHA-256.
pub fn process_file(input: &Path, out: &Path, sigma: f32) -> Result<Sha> {
    let png = load(input)?;
    let result = gil::hold(|| transform(input, &png, sigma))?;
    save(out, input, &result)
}

/// The job every model maps over the input files: [`process_file`] into one output folder.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProcessImage {
    pub out: PathBuf,
    pub sigma: f32,
}

impl ProcessImage {
    pub fn new(args: &ImagesArgs) -> ProcessImage {
        ProcessImage {
            out: args.out.clone(),
            sigma: args.sigma,
        }
    }
}

impl Job for ProcessImage {
    const NAME: &'static str = "image";
    type Item = PathBuf;
    type Output = Sha;

    fn run(&self, input: PathBuf) -> Result<Sha> {
        process_file(&input, &self.out, self.sigma)
    }

    /// Two minutes: a 1080p image takes a tenth of a second here, and the decoder refuses
    /// anything large enough to take much longer (see `decode`).
    fn deadline(&self, _input: &PathBuf) -> std::time::Duration {
        std::time::Duration::from_secs(120)
    }
}

impl ImagesArgs {
    /// `--keep-going`, as the executors take it.
    pub fn on_error(&self) -> OnError {
        OnError::keep_going(self.keep_going)
    }
}

/// The end of every model's images run: the error that stopped it, or the summary with the
/// digest of the outputs in input order (a failed item counts as the bytes `failed`).
pub fn summarise(run: Run, on_error: OnError, outcomes: Vec<Outcome<Sha>>) -> Result<Summary> {
    let total = outcomes.len();
    let (results, failed) = outcome::conclude(on_error, outcomes)?;
    let mut digest = Digest::new();
    for r in &results {
        match r {
            Some(sha) => digest.update(sha),
            None => digest.update(b"failed"),
        };
    }
    say!(
        "{} of {total} images processed, {failed} failed",
        total - failed
    );
    Ok(run.finish(digest.finish(), failed))
}

/// The digest a correct run over `inputs` must print, computed here on one thread without
/// writing anything: the reference the models are tested against.
pub fn reference_digest(inputs: &[PathBuf], sigma: f32) -> Result<String> {
    let mut digest = Digest::new();
    for input in inputs {
        let out = transform(input, &load(input)?, sigma)?;
        digest.update(&sha256(&out));
    }
    Ok(digest.finish())
}

/// Check that a decoded output is what the pipeline promises: gray, half the input's size.
pub fn check_output(input: &Path, output: &Path) -> Result<()> {
    let (iw, ih) = image::image_dimensions(input)?;
    let out = image::open(output)?;
    ensure!(
        (out.width(), out.height()) == ((iw / 2).max(1), (ih / 2).max(1)),
        "{} is {}x{}, expected half of {iw}x{ih}",
        output.display(),
        out.width(),
        out.height()
    );
    ensure!(
        matches!(out, DynamicImage::ImageLuma8(_)),
        "{} is not 8-bit gray",
        output.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(dir: &Path, count: usize) -> Vec<PathBuf> {
        generate(&GenImagesArgs {
            count,
            width: 40,
            height: 30,
            seed: 7,
            out: dir.to_path_buf(),
        })
        .unwrap()
    }

    #[test]
    fn generation_is_deterministic_and_structured() {
        let dir = tempfile::tempdir().unwrap();
        let a = make(&dir.path().join("a"), 3);
        let b = make(&dir.path().join("b"), 3);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(std::fs::read(x).unwrap(), std::fs::read(y).unwrap());
        }
        assert_ne!(std::fs::read(&a[0]).unwrap(), std::fs::read(&a[1]).unwrap());
        let img = image::open(&a[0]).unwrap().to_rgb8();
        let distinct: std::collections::HashSet<_> = img.pixels().map(|p| p.0).collect();
        assert!(
            distinct.len() > 100,
            "a flat picture: {} colours",
            distinct.len()
        );
        assert_eq!(a[2].file_name().unwrap(), "img-002.png");
    }

    #[test]
    fn pipeline_halves_grays_and_matches_the_reference() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = make(&dir.path().join("in"), 2);
        let out = dir.path().join("out");
        prepare_out(&out, &inputs).unwrap();
        let mut digest = Digest::new();
        for input in &inputs {
            digest.update(&process_file(input, &out, 1.5).unwrap());
            check_output(input, &out.join(input.file_name().unwrap())).unwrap();
        }
        assert_eq!(digest.finish(), reference_digest(&inputs, 1.5).unwrap());
        assert_ne!(
            reference_digest(&inputs, 1.5).unwrap(),
            reference_digest(&inputs, 3.0).unwrap()
        );
        // Only the finished outputs: no temporary file left behind.
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2);
    }

    #[test]
    fn bad_inputs_are_named_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = make(&dir.path().join("in"), 1);
        let good = std::fs::read(&inputs[0]).unwrap();
        let (trunc, junk) = (dir.path().join("trunc.png"), dir.path().join("junk.png"));
        std::fs::write(&trunc, &good[..good.len() / 2]).unwrap();
        std::fs::write(&junk, b"this is not a picture").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        for (path, says) in [
            (&trunc, "trunc.png: not a valid PNG"),
            (&junk, "junk.png: not a valid PNG"),
            (&dir.path().join("gone.png"), "cannot read"),
        ] {
            let e = format!("{:#}", process_file(path, &out, 2.0).unwrap_err());
            assert!(e.contains(says), "{e}");
        }
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_its_pixels_are_allocated() {
        // A valid header declaring 16000 x 16000 pixels, and almost no data.
        let mut png = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut png, 16_000, 16_000);
            enc.set_color(png::ColorType::Rgb);
            let mut w = enc.write_header().unwrap();
            w.write_chunk(
                png::chunk::IDAT,
                &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
            )
            .unwrap();
            let _ = w.finish();
        }
        let started = std::time::Instant::now();
        let e = format!("{:#}", decode(Path::new("bomb.png"), &png).unwrap_err());
        assert!(e.contains("bomb.png") && e.contains("8192"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn only_regular_files_of_a_sane_size_are_read() {
        let e = format!("{:#}", load(Path::new("/dev/zero")).unwrap_err());
        assert!(
            e.contains("/dev/zero") && e.contains("not a regular file"),
            "{e}"
        );
    }

    #[test]
    fn inputs_are_listed_in_order_and_clashes_refused() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = make(&dir.path().join("in"), 3);
        assert_eq!(list_inputs(&[dir.path().join("in")]).unwrap(), inputs);
        let e = list_inputs(&[dir.path().join("in"), inputs[1].clone()]).unwrap_err();
        assert!(e.to_string().contains("same file name"), "{e}");
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        let e = list_inputs(&[dir.path().join("empty")]).unwrap_err();
        assert!(e.to_string().contains("no .png files"), "{e}");
        let e = prepare_out(&dir.path().join("in"), &inputs).unwrap_err();
        assert!(e.to_string().contains("overwrite the inputs"), "{e}");
    }
}
