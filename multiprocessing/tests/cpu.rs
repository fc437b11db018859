//! `matrix` and `images` on worker processes and on rayon, on small inputs made in-process:
//! every variant's digest must equal the library's single-threaded reference. And the pool
//! survives its workers: a worker that dies mid-run fails its item, is replaced, and the rest
//! complete; Ctrl-C in the middle leaves no worker behind. Every bad input is refused naming
//! the file, on either engine.

use scenarios::Summary;
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::cpu::{TEST_SIGMA, bad_cpu_inputs, cpu_inputs, partial_files};
use testkit::procs::{alive, assert_all_gone, pids, wait_for_children};
use testkit::run::{assert_refusal, assert_refused, parse_summary, run, run_json};

const EXE: &str = env!("CARGO_BIN_EXE_multiprocessing");

#[test]
fn every_engine_matches_the_reference() {
    let inputs = cpu_inputs(37, 5);
    let out = inputs.dir.path().join("out");
    for engine in ["processes", "rayon"] {
        for workers in ["1", "3"] {
            let dir = inputs.matrix.to_str().unwrap();
            let args = [
                "matrix",
                dir,
                "--block-rows",
                "8",
                "--workers",
                workers,
                "--engine",
                engine,
            ];
            let (s, _) = run_json(EXE, &args);
            assert_eq!(s.digest, inputs.matrix_digest, "{args:?}");
            assert_eq!((s.variant.as_str(), s.items), (engine, 5));

            let (imgs, out) = (inputs.images.to_str().unwrap(), out.to_str().unwrap());
            let mut args = vec!["images", imgs, "--out", out, "--sigma", TEST_SIGMA];
            args.extend(["--workers", workers, "--engine", engine]);
            let (s, _) = run_json(EXE, &args);
            assert_eq!(s.digest, inputs.images_digest, "{args:?}");
            assert_eq!((s.variant.as_str(), s.items, s.failed), (engine, 5, 0));
        }
    }
}

/// The workers write their rows of C into memory shared with the parent, which reads it back to
/// save it: what is saved must be the product, bit for bit, and equal to what rayon's threads
/// keep in memory. The shared memory is counted in the run's memory.
#[test]
fn c_the_workers_wrote_into_shared_memory_is_the_product() {
    use scenarios::matrix::{multiply, read};
    let inputs = cpu_inputs(37, 5);
    let (a, b) = (
        read(&inputs.matrix.join("a.mat")).unwrap(),
        read(&inputs.matrix.join("b.mat")).unwrap(),
    );
    let bits = |xs: &[f64]| xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let want = bits(&multiply(&a, &b, a.rows));
    let c_kib = (a.rows * b.cols * 8).div_ceil(1024) as u64;
    for (engine, workers) in [("processes", "1"), ("processes", "3"), ("rayon", "2")] {
        let saved = inputs.dir.path().join(format!("c-{engine}-{workers}.mat"));
        let args = [
            "matrix",
            inputs.matrix.to_str().unwrap(),
            "--block-rows",
            "8",
            "--workers",
            workers,
            "--engine",
            engine,
            "--save-c",
            saved.to_str().unwrap(),
        ];
        let (s, _) = run_json(EXE, &args);
        assert_eq!(s.digest, inputs.matrix_digest, "{args:?}");
        let c = read(&saved).unwrap();
        assert_eq!((c.rows, c.cols), (a.rows, b.cols), "{args:?}");
        assert!(bits(&c.data) == want, "{args:?}: C is not A x B");
        let shared = s.extra.get("shared_kib").and_then(|v| v.as_u64());
        if engine == "processes" {
            assert_eq!(shared, Some(c_kib), "{args:?}");
            let pss = s.extra["children_pss_kib"].as_u64().unwrap();
            assert!(s.max_rss_kib >= c_kib + pss, "{args:?}: {s:?}");
        } else {
            assert_eq!(shared, None, "{args:?}: threads share no memory file");
        }
    }
}

#[test]
fn worker_processes_are_real_and_gone_after_the_run() {
    let inputs = cpu_inputs(37, 1);
    let args = [
        "matrix",
        inputs.matrix.to_str().unwrap(),
        "--block-rows",
        "4",
        "--workers",
        "2",
    ];
    let (s, _) = run_json(EXE, &args);
    let kids = pids(&s);
    assert_eq!(kids.len(), 2);
    assert!(!kids.contains(&std::process::id()));
    assert!(kids.iter().all(|&p| !alive(p)), "a worker outlived the run");
}

/// Run with a worker dying on task 2: it fails, is replaced, the rest complete, exit 1.
fn survive_a_death(args: &[&str], how: &str, says: &str) -> Summary {
    let mut all = args.to_vec();
    all.extend([
        "--workers",
        "2",
        "--die-on-task",
        "2",
        "--die-how",
        how,
        "--json",
    ]);
    let out = run(EXE, &all);
    assert_eq!(out.status.code(), Some(1), "{how}: {}", out.stderr);
    let s = parse_summary(&out.stdout);
    assert_eq!(
        (s.failed, s.extra["replaced"].as_u64()),
        (1, Some(1)),
        "{how}"
    );
    assert!(
        out.stderr.contains("while running task 2") && out.stderr.contains(says),
        "{how}: {}",
        out.stderr
    );
    assert!(
        pids(&s).iter().all(|&p| !alive(p)),
        "{how}: a worker outlived the run"
    );
    s
}

#[test]
fn a_dying_worker_fails_one_item_and_the_rest_complete() {
    let inputs = cpu_inputs(37, 5);
    let matrix = [
        "matrix",
        inputs.matrix.to_str().unwrap(),
        "--block-rows",
        "8",
    ];
    for (how, says) in [
        ("kill", "killed by signal 9"),
        ("panic", "exited with status 101"),
        ("exit", "exited with status 3"),
    ] {
        let s = survive_a_death(&matrix, how, says);
        assert_eq!(s.items, 5);
        assert_ne!(
            s.digest, inputs.matrix_digest,
            "a lost block must show in the digest"
        );

        let out = inputs.dir.path().join(format!("out-{how}"));
        let (imgs, out_s) = (inputs.images.to_str().unwrap(), out.to_str().unwrap());
        let images = ["images", imgs, "--out", out_s, "--sigma", TEST_SIGMA];
        // Without --keep-going: a dead worker is not a bad input, so the run goes on.
        let s = survive_a_death(&images, how, says);
        assert_eq!(s.items, 5);
        let written = std::fs::read_dir(&out).unwrap().count();
        assert_eq!(written, 4, "every image but the dead worker's");
        assert!(!out.join("img-002.png").exists());
        assert!(partial_files(&out).is_empty());
    }
}

#[test]
fn rayon_has_no_worker_to_kill() {
    assert_refused(
        EXE,
        &["matrix", "--engine", "rayon", "--die-on-task", "1"],
        "--engine processes",
    );
}

#[test]
fn ctrl_c_in_the_middle_leaves_no_orphans() {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    use std::os::unix::process::CommandExt;
    // Long enough in a debug build to be interrupted: many blocks of a 400 x 400 product.
    let inputs = cpu_inputs(400, 1);
    let mut child = Command::new(EXE)
        .args([
            "matrix",
            inputs.matrix.to_str().unwrap(),
            "--block-rows",
            "2",
            "--workers",
            "2",
        ])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let kids = wait_for_children(&mut child, 2, Duration::from_secs(20));
    // Ctrl-C in a terminal sends SIGINT to the whole foreground process group.
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("killpg");
    let status = child.wait().expect("wait");
    assert!(!status.success());
    assert_all_gone(&kids, Duration::from_secs(5));
}

/// Every bad input to `matrix` and `images` is refused with an error naming the file;
/// `--keep-going` completes the other items and counts the failures; nothing half-written is
/// left in `--out`.
#[test]
fn bad_inputs_are_named_and_keep_going_counts_them() {
    for variant in [
        &["--workers", "2"][..],
        &["--workers", "2", "--engine", "rayon"],
    ] {
        let bad = bad_cpu_inputs(EXE, variant);
        // matrix: missing, wrong magic, truncated, shapes that do not multiply.
        assert_refusal(&bad.matrix_missing, &["a.mat", "gen matrix"]);
        assert_refusal(&bad.matrix_wrong_magic, &["b.mat", "wrong magic"]);
        assert_refusal(&bad.matrix_truncated, &["a.mat", "truncated"]);
        assert_refusal(
            &bad.matrix_shapes_mismatch,
            &["A's columns must equal B's rows"],
        );
        // images: a corrupt and a truncated PNG among good ones stop the run, half-written
        // outputs removed.
        assert_refusal(&bad.images_bad_pngs, &["bad-", "not a valid PNG"]);
        let out = &bad.images_bad_pngs_out;
        assert!(partial_files(out).is_empty(), "{:?}", partial_files(out));
        for name in ["bad-corrupt.png", "bad-truncated.png"] {
            assert!(!out.join(name).exists(), "{name} has an output");
        }
        // With --keep-going the good ones complete and the bad ones are counted, by name.
        let kept = &bad.images_keep_going;
        assert_eq!(kept.status.code(), Some(1), "{}", kept.stderr);
        let s = parse_summary(&kept.stdout);
        let good = bad.good_images;
        assert_eq!((s.items, s.failed), (good + 2, 2), "{}", kept.stderr);
        assert!(
            kept.stderr.contains("bad-corrupt.png") && kept.stderr.contains("bad-truncated.png")
        );
        let written = &bad.images_keep_going_written;
        assert_eq!(written.len(), good, "{written:?}");
        for w in written {
            let input = bad.inputs.images.join(w.file_name().unwrap());
            scenarios::images::check_output(&input, w).unwrap();
        }
        // A named file that does not exist; outputs that would overwrite the inputs.
        assert_refusal(&bad.images_missing, &["gone.png", "cannot read"]);
        assert_refusal(&bad.images_over_inputs, &["overwrite the inputs"]);
        // Flags out of range.
        for (args, mentions) in [
            (&["matrix", "--block-rows", "0"][..], "--block-rows"),
            (&["matrix", "--workers", "0"], "--workers"),
            (&["images", "--sigma", "-1"], "--sigma"),
            (&["images", "--sigma", "lots"], "--sigma"),
        ] {
            assert_refused(EXE, &[args, variant].concat(), mentions);
        }
    }
}
