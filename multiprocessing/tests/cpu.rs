//! `matrix` and `images` on worker processes and on rayon, on small inputs made in-process:
//! every variant's digest must equal the library's single-threaded reference. And the pool
//! survives its workers: a worker that dies mid-run fails its item, is replaced, and the rest
//! complete; Ctrl-C in the middle leaves no worker behind.

use scenarios::Summary;
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::procs::{alive, assert_all_gone, pids, wait_for_children};
use testkit::run::{
    TEST_SIGMA, assert_cpu_bad_inputs, assert_refused, cpu_inputs, parse_summary, partial_files,
    run, run_json,
};

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

#[test]
fn bad_inputs_are_named_and_keep_going_counts_them() {
    assert_cpu_bad_inputs(EXE, &["--workers", "2"]);
    assert_cpu_bad_inputs(EXE, &["--workers", "2", "--engine", "rayon"]);
}
