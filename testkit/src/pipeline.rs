//! A bench for `pipeline`: small PNGs made in-process with `gen images`' generator, a
//! `decision-table serve --images` on 127.0.0.1:0 in this process, what a correct run must
//! report against it (the digest from `images::reference_digest` of the served files, each
//! output's bytes, the fault plan of the server's pure fault function), and runs of a binary
//! against it. The checks are in each crate's `tests/pipeline.rs`.

use crate::io::{Plan, Ran, quick, seed_where, small};
use crate::run::{Output, run, run_with_limit};
use decision_table::server::{self, HttpServer, ServeArgs};
use scenarios::digest::{Sha, sha256};
use scenarios::images;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// The blur every pipeline test uses (`--sigma`).
pub const SIGMA: &str = "1.5";

/// The paths of the first `n` images, as the fault plan sees them.
pub fn image_paths(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/images/{i}")).collect()
}

/// The name of image `i` as `gen images` writes it (for fewer than 1000 images).
pub fn image_name(i: usize) -> String {
    format!("img-{i:03}.png")
}

/// A server of `count` PNGs of `width` x `height`, what a correct run against it reports, and
/// a fresh `--out`. Dropping it stops the server and removes everything.
pub struct PipelineBench {
    pub dir: TempDir,
    /// The served PNGs, in manifest order.
    pub inputs: Vec<PathBuf>,
    pub server: HttpServer,
    pub args: ServeArgs,
    /// What a client with the bench's retries meets (nothing on a server without faults).
    pub plan: Plan,
    retries: Option<u32>,
    pub out: PathBuf,
}

impl PipelineBench {
    /// `count` images of `width` x `height` behind a server with these knobs (its `images` is
    /// set here).
    pub fn start(count: usize, width: u32, height: u32, knobs: ServeArgs) -> PipelineBench {
        Self::serve(count, width, height, knobs, Plan::default(), None)
    }

    /// The same, on the first seed whose fault plan for a client with `retries` retries over
    /// the images satisfies `want` (a check picks its scenario instead of hard-coding a seed).
    /// Runs also get `quick` flags with those retries.
    pub fn with_faults(
        count: usize,
        knobs: ServeArgs,
        retries: u32,
        want: impl Fn(&Plan) -> bool,
    ) -> PipelineBench {
        let (args, plan) = seed_where(knobs, &image_paths(count), retries, want);
        Self::serve(count, 48, 32, args, plan, Some(retries))
    }

    fn serve(
        count: usize,
        width: u32,
        height: u32,
        mut args: ServeArgs,
        plan: Plan,
        retries: Option<u32>,
    ) -> PipelineBench {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let images_dir = dir.path().join("images");
        let inputs = images::generate(&images::GenImagesArgs {
            count,
            width,
            height,
            seed: 13,
            out: images_dir.clone(),
        })
        .expect("images");
        args.images = Some(images_dir);
        PipelineBench {
            server: server::start(&args).expect("a server"),
            out: dir.path().join("out"),
            dir,
            inputs,
            args,
            plan,
            retries,
        }
    }

    /// The digest every model must print: the `images` scenario's reference on these files.
    pub fn reference(&self) -> String {
        images::reference_digest(&self.inputs, SIGMA.parse().expect("a number")).expect("reference")
    }

    /// What each output must hold, by name: the images kernel run on its input here.
    pub fn expected_outputs(&self) -> BTreeMap<String, Sha> {
        self.inputs
            .iter()
            .map(|p| {
                let png = std::fs::read(p).expect("an input");
                let out = images::transform(p, &png, SIGMA.parse().expect("a number"))
                    .expect("the kernel");
                let name = p
                    .file_name()
                    .expect("a name")
                    .to_string_lossy()
                    .into_owned();
                (name, sha256(&out))
            })
            .collect()
    }

    /// The arguments of a run: `pipeline --url <server> --out <dir> --sigma S [quick flags]
    /// <flags>`.
    pub fn args(&self, flags: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = ["pipeline", "--url"].map(String::from).to_vec();
        all.push(self.server.url());
        all.extend(["--out".into(), self.out.to_string_lossy().into_owned()]);
        all.extend(["--sigma".into(), SIGMA.into()]);
        if let Some(retries) = self.retries {
            all.extend(quick(retries));
        }
        all.extend(flags.iter().map(|s| s.to_string()));
        all
    }

    /// `exe pipeline ... <flags> --json`, and what it left in `--out`.
    pub fn run(&self, exe: &str, flags: &[&str]) -> Ran {
        let mut all = self.args(flags);
        all.push("--json".into());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let output = run(exe, &all);
        Ran {
            output,
            files: names_in(&self.out),
        }
    }

    /// `exe pipeline ... <flags>` started in a process group of its own (as a terminal starts
    /// it, so Ctrl-C there is SIGINT to the group), its output thrown away.
    pub fn spawn(&self, exe: &str, flags: &[&str]) -> Child {
        use std::os::unix::process::CommandExt;
        Command::new(exe)
            .args(self.args(flags))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the run")
    }

    /// Every output in `--out` under a final name (not a temporary one), with its SHA-256.
    pub fn outputs(&self) -> BTreeMap<String, Sha> {
        names_in(&self.out)
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .map(|n| {
                let bytes = std::fs::read(self.out.join(&n)).expect("an output");
                (n, sha256(&bytes))
            })
            .collect()
    }
}

/// Every name in `dir`, sorted (none if it does not exist).
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A server without `--images`, and a URL where nothing listens: `exe pipeline` against each.
#[derive(Debug)]
pub struct NoImages {
    pub url: String,
    pub without_images: Output,
    pub dead_url: String,
    pub dead: Output,
}

/// Run `exe pipeline` against a server that serves no images, and against no server at all.
pub fn against_no_images(exe: &str) -> NoImages {
    let srv = server::start(&small(1, 0)).expect("a server");
    let out = tempfile::tempdir().expect("a temporary directory");
    let out_s = out.path().to_str().expect("a UTF-8 temporary path");
    let limit = Duration::from_secs(20);
    let url = srv.url();
    let without_images = run_with_limit(exe, &["pipeline", "--url", &url, "--out", out_s], limit);
    let dead_url = crate::io::dead_url();
    let dead = run_with_limit(
        exe,
        &["pipeline", "--url", &dead_url, "--out", out_s],
        limit,
    );
    NoImages {
        url,
        without_images,
        dead_url,
        dead,
    }
}

/// Ctrl-C as a terminal sends it: SIGINT to the run's whole process group (children included).
pub fn ctrl_c(child: &Child) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).expect("SIGINT to the group");
}

/// Wait for `child` to exit, `within` at most (then kill it and fail the test).
pub fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the run did not end within {within:?} of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Wait until `--out` holds at least one output under its final name, while `child` runs;
/// fail the test if none appears `within` or the run ends first.
pub fn wait_for_an_output(bench: &PipelineBench, child: &mut Child, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    while bench.outputs().is_empty() {
        if std::time::Instant::now() > deadline || child.try_wait().expect("try_wait").is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no output appeared while the run went on");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
