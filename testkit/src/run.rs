//! Running the real binaries: a time limit on every run (a test must fail, not hang), the JSON
//! summary parsed back into a [`Summary`], `--help` collected, and the one assertion every
//! crate's tests share, that a bad input is refused by name.

use scenarios::Summary;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a finished run printed, and how long it took from spawn to exit.
#[derive(Debug)]
pub struct Output {
    /// The command line, for messages: `exe ["arg", ...]`.
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Run `exe args...`, killing it (and failing the test) if it takes longer than `limit`.
pub fn run_with_limit(exe: &str, args: &[&str], limit: Duration) -> Output {
    let start = Instant::now();
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {exe}: {e}"));
    // Read both pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{exe} {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    Output {
        command: format!("{exe} {args:?}"),
        status,
        stdout: out_t.join().expect("stdout reader"),
        stderr: err_t.join().expect("stderr reader"),
        elapsed,
    }
}

/// Run with a two-minute limit.
pub fn run(exe: &str, args: &[&str]) -> Output {
    run_with_limit(exe, args, Duration::from_secs(120))
}

/// Run with `--json` appended, require success, and parse the one JSON line stdout must hold.
pub fn run_json(exe: &str, args: &[&str]) -> (Summary, Output) {
    let mut all: Vec<&str> = args.to_vec();
    all.push("--json");
    let out = run(exe, &all);
    assert!(
        out.status.success(),
        "{exe} {all:?} failed with {}:\n{}",
        out.status,
        out.stderr
    );
    (parse_summary(&out.stdout), out)
}

/// Parse stdout that must be exactly one JSON object on one line.
pub fn parse_summary(stdout: &str) -> Summary {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "stdout must hold exactly one line, got:\n{stdout}"
    );
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not a summary ({e}): {}", lines[0]))
}

/// Assert that a run was refused as bad input: a non-zero exit, an error line that mentions
/// `mentions`, and no panic.
pub fn assert_refused(exe: &str, args: &[&str], mentions: &str) {
    assert_refusal(&run(exe, args), &[mentions]);
}

/// Assert that a finished run was a refusal: a non-zero exit, an error message in stderr that
/// mentions every one of `mentions`, and no panic.
pub fn assert_refusal(out: &Output, mentions: &[&str]) {
    let command = &out.command;
    assert!(
        !out.status.success(),
        "{command} should have failed but succeeded:\n{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("error"),
        "{command}: no error message in stderr:\n{}",
        out.stderr
    );
    for m in mentions {
        assert!(
            out.stderr.contains(m),
            "{command}: the error does not mention {m:?}:\n{}",
            out.stderr
        );
    }
    assert!(
        !out.stderr.contains("panicked"),
        "{command} panicked:\n{}",
        out.stderr
    );
}

/// What `exe --help` printed, and `exe <subcommand> --help` for each subcommand asked about.
#[derive(Debug)]
pub struct Help {
    pub listing: Output,
    pub subcommands: Vec<(String, Output)>,
}

/// Run `exe --help`, then `exe <s> --help` for each of `subcommands`.
pub fn help(exe: &str, subcommands: &[&str]) -> Help {
    Help {
        listing: run(exe, &["--help"]),
        subcommands: subcommands
            .iter()
            .map(|s| (s.to_string(), run(exe, &[s, "--help"])))
            .collect(),
    }
}

/// The digest a correct queue run of `items` items must report.
pub fn queue_digest(items: usize) -> String {
    let all: Vec<(u64, u64)> = (0..items as u64)
        .map(|i| (i, scenarios::chapter::queue_value(i)))
        .collect();
    scenarios::chapter::verify_queue(items, &all).expect("a complete queue verifies")
}

/// Small inputs for `matrix` and `images` in a temporary directory, made in-process with the
/// library, and the digests every model must print for them, computed in-process by the
/// single-threaded reference. A model's binary that prints these digests agrees with all the
/// others without any of them running the others' binaries.
pub struct CpuInputs {
    pub dir: tempfile::TempDir,
    /// A directory holding `a.mat` and `b.mat`.
    pub matrix: std::path::PathBuf,
    pub matrix_digest: String,
    /// A directory holding the PNGs.
    pub images: std::path::PathBuf,
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
pub fn partial_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(".partial-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Every bad input to `matrix` and `images`, for one model and variant (`variant` holds its
/// extra flags): each is refused with an error naming the file; `--keep-going` completes the
/// other items and counts the failures; nothing half-written is left in `--out`.
pub fn assert_cpu_bad_inputs(exe: &str, variant: &[&str]) {
    use std::fs;
    let inputs = cpu_inputs(12, 3);
    let dir = inputs.dir.path();
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(variant)
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    let refused = |args: Vec<String>, mentions: &[&str]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        for m in mentions {
            assert_refused(exe, &args, m);
        }
    };
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();

    // matrix: missing, wrong magic, truncated, shapes that do not multiply.
    let missing = path(&dir.join("nowhere"));
    refused(with(&["matrix", &missing]), &["a.mat", "gen matrix"]);
    let bad = dir.join("bad-matrix");
    fs::create_dir(&bad).unwrap();
    let good_a = fs::read(inputs.matrix.join("a.mat")).unwrap();
    let good_b = fs::read(inputs.matrix.join("b.mat")).unwrap();
    fs::write(bad.join("a.mat"), &good_a).unwrap();
    let mut wrong = good_b.clone();
    wrong[..8].copy_from_slice(b"NOTAMATX");
    fs::write(bad.join("b.mat"), &wrong).unwrap();
    refused(with(&["matrix", &path(&bad)]), &["b.mat", "wrong magic"]);
    fs::write(bad.join("b.mat"), &good_b).unwrap();
    fs::write(bad.join("a.mat"), &good_a[..good_a.len() - 100]).unwrap();
    refused(with(&["matrix", &path(&bad)]), &["a.mat", "truncated"]);
    let mut rng = scenarios::rng::SplitMix64::new(1);
    let odd = scenarios::matrix::Matrix::random(12, 5, &mut rng);
    scenarios::matrix::write(&bad.join("a.mat"), &odd).unwrap();
    refused(
        with(&["matrix", &path(&bad)]),
        &["A's columns must equal B's rows"],
    );

    // images: a corrupt and a truncated PNG among good ones.
    let imgs = dir.join("bad-images");
    fs::create_dir(&imgs).unwrap();
    let mut good = 0;
    for e in fs::read_dir(&inputs.images).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, imgs.join(p.file_name().unwrap())).unwrap();
        good += 1;
    }
    let png = fs::read(inputs.images.join("img-000.png")).unwrap();
    fs::write(imgs.join("bad-corrupt.png"), b"not a picture at all").unwrap();
    fs::write(imgs.join("bad-truncated.png"), &png[..png.len() / 2]).unwrap();
    let out = dir.join("out-stop");
    let (imgs_s, out_s) = (path(&imgs), path(&out));
    refused(
        with(&["images", &imgs_s, "--out", &out_s, "--sigma", TEST_SIGMA]),
        &["bad-", "not a valid PNG"],
    );
    assert!(partial_files(&out).is_empty(), "{:?}", partial_files(&out));
    for name in ["bad-corrupt.png", "bad-truncated.png"] {
        assert!(!out.join(name).exists(), "{name} has an output");
    }

    let out = dir.join("out-keep");
    let out_s = path(&out);
    let args = with(&[
        "images",
        &imgs_s,
        "--out",
        &out_s,
        "--sigma",
        TEST_SIGMA,
        "--keep-going",
        "--json",
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ran = run(exe, &args);
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    let s = parse_summary(&ran.stdout);
    assert_eq!((s.items, s.failed), (good + 2, 2), "{}", ran.stderr);
    assert!(ran.stderr.contains("bad-corrupt.png") && ran.stderr.contains("bad-truncated.png"));
    let written: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(written.len(), good, "{written:?}");
    for w in &written {
        scenarios::images::check_output(&inputs.images.join(w.file_name().unwrap()), w).unwrap();
    }

    // A named file that does not exist.
    let gone = path(&dir.join("gone.png"));
    let first = path(&inputs.images.join("img-000.png"));
    refused(
        with(&["images", &first, &gone, "--out", &path(&dir.join("o3"))]),
        &["gone.png", "cannot read"],
    );
    // Outputs that would overwrite the inputs.
    let same = path(&inputs.images);
    refused(
        with(&["images", &same, "--out", &same]),
        &["overwrite the inputs"],
    );
    // Flags out of range.
    refused(with(&["matrix", "--block-rows", "0"]), &["--block-rows"]);
    refused(with(&["matrix", "--workers", "0"]), &["--workers"]);
    refused(with(&["images", "--sigma", "-1"]), &["--sigma"]);
    refused(with(&["images", "--sigma", "lots"]), &["--sigma"]);
}
