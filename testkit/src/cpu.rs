//! Inputs for `matrix` and `images`: small good ones made in-process with the digests every
//! model must print for them, and every kind of bad one, run against a binary so that its
//! tests can check how each was refused.

use crate::run::{Output, run};
use std::fs;
use std::path::{Path, PathBuf};

/// Small inputs for `matrix` and `images` in a temporary directory, made in-process with the
/// library, and the digests every model must print for them, computed in-process by the
/// single-threaded reference. A model's binary that prints these digests agrees with all the
/// others without any of them running the others' binaries.
#[derive(Debug)]
pub struct CpuInputs {
    pub dir: tempfile::TempDir,
    /// A directory holding `a.mat` and `b.mat`.
    pub matrix: PathBuf,
    pub matrix_digest: String,
    /// A directory holding the PNGs.
    pub images: PathBuf,
    pub images_digest: String,
}

/// The blur the CPU-bound tests use (`--sigma`).
pub const TEST_SIGMA: &str = "1.5";

/// Matrices of `n` x `n` (make `n` not a multiple of the block size to test a short last
/// block) and `count` images of 64x48.
pub fn cpu_inputs(n: usize, count: usize) -> CpuInputs {
    use scenarios::{images, matrix};
    let dir = tempfile::tempdir().expect("a temporary directory");
    let m = matrix::GenMatrixArgs {
        n,
        seed: 11,
        out: dir.path().join("matrix"),
    };
    let (a, b) = matrix::generate(&m).expect("matrices");
    let matrix_digest = matrix::reference_digest(
        &matrix::read(&a).expect("a.mat"),
        &matrix::read(&b).expect("b.mat"),
    );
    let g = images::GenImagesArgs {
        count,
        width: 64,
        height: 48,
        seed: 11,
        out: dir.path().join("images"),
    };
    let paths = images::generate(&g).expect("images");
    let sigma: f32 = TEST_SIGMA.parse().expect("a number");
    let images_digest = images::reference_digest(&paths, sigma).expect("reference");
    CpuInputs {
        matrix: m.out,
        matrix_digest,
        images: g.out,
        images_digest,
        dir,
    }
}

/// Files in `dir` whose name says they were left half-written (the temporary names).
pub fn partial_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(".partial-"))
                .collect()
        })
        .unwrap_or_default()
}

/// How one model and variant met every bad input to `matrix` and `images`: each run's output,
/// and what was left in `--out` by the `images` runs that met bad PNGs.
#[derive(Debug)]
pub struct BadCpuRuns {
    /// The good inputs the bad ones were made from.
    pub inputs: CpuInputs,
    /// `matrix` on a directory that does not exist.
    pub matrix_missing: Output,
    /// `matrix` with a `b.mat` whose magic number is wrong.
    pub matrix_wrong_magic: Output,
    /// `matrix` with an `a.mat` cut 100 bytes short.
    pub matrix_truncated: Output,
    /// `matrix` with an A of 12 x 5 and a B of 12 x 12.
    pub matrix_shapes_mismatch: Output,
    /// How many good PNGs sit beside the two bad ones.
    pub good_images: usize,
    /// `images` on the good PNGs, `bad-corrupt.png` and `bad-truncated.png`.
    pub images_bad_pngs: Output,
    /// That run's `--out`.
    pub images_bad_pngs_out: PathBuf,
    /// The same with `--keep-going --json`.
    pub images_keep_going: Output,
    /// Every file that run wrote to its `--out`.
    pub images_keep_going_written: Vec<PathBuf>,
    /// `images` on a good PNG and a named file, `gone.png`, that does not exist.
    pub images_missing: Output,
    /// `images` whose `--out` is the directory of its inputs.
    pub images_over_inputs: Output,
}

/// Make every bad input to `matrix` and `images` and run `exe` on each, with `variant` (a
/// model's extra flags) after the scenario's own arguments.
pub fn bad_cpu_inputs(exe: &str, variant: &[&str]) -> BadCpuRuns {
    let inputs = cpu_inputs(12, 3);
    let dir = inputs.dir.path().to_path_buf();
    let attempt = |args: &[&str]| run(exe, &[args, variant].concat());
    let path = |p: &Path| p.to_string_lossy().into_owned();

    // matrix: missing, wrong magic, truncated, shapes that do not multiply.
    let matrix_missing = attempt(&["matrix", &path(&dir.join("nowhere"))]);
    let bad = dir.join("bad-matrix");
    fs::create_dir(&bad).unwrap();
    let bad_s = path(&bad);
    let good_a = fs::read(inputs.matrix.join("a.mat")).unwrap();
    let good_b = fs::read(inputs.matrix.join("b.mat")).unwrap();
    fs::write(bad.join("a.mat"), &good_a).unwrap();
    let mut wrong = good_b.clone();
    wrong[..8].copy_from_slice(b"NOTAMATX");
    fs::write(bad.join("b.mat"), &wrong).unwrap();
    let matrix_wrong_magic = attempt(&["matrix", &bad_s]);
    fs::write(bad.join("b.mat"), &good_b).unwrap();
    fs::write(bad.join("a.mat"), &good_a[..good_a.len() - 100]).unwrap();
    let matrix_truncated = attempt(&["matrix", &bad_s]);
    let mut rng = scenarios::rng::SplitMix64::new(1);
    let odd = scenarios::matrix::Matrix::random(12, 5, &mut rng);
    scenarios::matrix::write(&bad.join("a.mat"), &odd).unwrap();
    let matrix_shapes_mismatch = attempt(&["matrix", &bad_s]);

    // images: a corrupt and a truncated PNG among good ones.
    let imgs = dir.join("bad-images");
    fs::create_dir(&imgs).unwrap();
    let mut good_images = 0;
    for e in fs::read_dir(&inputs.images).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, imgs.join(p.file_name().unwrap())).unwrap();
        good_images += 1;
    }
    let png = fs::read(inputs.images.join("img-000.png")).unwrap();
    fs::write(imgs.join("bad-corrupt.png"), b"not a picture at all").unwrap();
    fs::write(imgs.join("bad-truncated.png"), &png[..png.len() / 2]).unwrap();
    let imgs_s = path(&imgs);
    let images_bad_pngs_out = dir.join("out-stop");
    let out_s = path(&images_bad_pngs_out);
    let images_bad_pngs = attempt(&["images", &imgs_s, "--out", &out_s, "--sigma", TEST_SIGMA]);
    let keep_out = dir.join("out-keep");
    let keep_s = path(&keep_out);
    let images_keep_going = attempt(&[
        "images",
        &imgs_s,
        "--out",
        &keep_s,
        "--sigma",
        TEST_SIGMA,
        "--keep-going",
        "--json",
    ]);
    let images_keep_going_written = fs::read_dir(&keep_out)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();

    // A named file that does not exist; outputs that would overwrite the inputs.
    let gone = path(&dir.join("gone.png"));
    let first = path(&inputs.images.join("img-000.png"));
    let images_missing = attempt(&["images", &first, &gone, "--out", &path(&dir.join("o3"))]);
    let same = path(&inputs.images);
    let images_over_inputs = attempt(&["images", &same, "--out", &same]);

    BadCpuRuns {
        inputs,
        matrix_missing,
        matrix_wrong_magic,
        matrix_truncated,
        matrix_shapes_mismatch,
        good_images,
        images_bad_pngs,
        images_bad_pngs_out,
        images_keep_going,
        images_keep_going_written,
        images_missing,
        images_over_inputs,
    }
}
