//! Inputs for `train`: a small, learnable data set written as the four gzip IDX files
//! (synthetic strokes of 8 x 8 pixels, from the library's writer), the flags of a run on it
//! that takes a fraction of a second in a debug build, and the digest and accuracy every model
//! must print for them, computed in this process by the single-threaded reference (the
//! library's training loop, every task in turn). And where Debian's Fashion-MNIST is, if it is
//! installed.

use clap::Parser;
use scenarios::job::Job;
use scenarios::train::{
    self, Dataset, Done, Executor, Plan, Step, Task, TrainArgs, TrainJob, Weights,
};
use scenarios::{Label, Run};
use std::path::PathBuf;
use std::sync::Arc;

/// A small data set in a temporary directory and what a run on it must print.
#[derive(Debug)]
pub struct SmallSet {
    pub dir: tempfile::TempDir,
    /// The folder for `--data`.
    pub data: String,
    /// The flags of a run on it (`--data` included), for `train`.
    pub args: Vec<String>,
    /// The digest of the reference run of `args`.
    pub digest: String,
    /// Its final test accuracy.
    pub accuracy: f64,
}

impl SmallSet {
    /// `train` and the set's flags, then `more`.
    pub fn command<'a>(&'a self, more: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["train"];
        all.extend(self.args.iter().map(String::as_str));
        all.extend_from_slice(more);
        all
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: TrainArgs,
}

/// Every task on this thread, in turn: the reference.
struct Reference(TrainJob);

impl Executor for Reference {
    fn run(&mut self, params: &Arc<Vec<f32>>, tasks: Vec<Task>) -> anyhow::Result<Vec<Done>> {
        self.0.run(Step {
            params: Weights(Arc::clone(params)),
            tasks,
        })
    }
}

/// Train `flags` (after `train`) in this process with the reference; (digest, accuracy).
pub fn reference(flags: &[String]) -> (String, f64) {
    let cli = Cli::parse_from(std::iter::once("train".to_string()).chain(flags.iter().cloned()));
    let plan = Plan::of(&cli.args).expect("a plan");
    let mut run = Run::start("train", Label::new("reference", "serial", 1), 0);
    let mut exec = Reference(TrainJob::load(&cli.args).expect("the data set"));
    let digest = train::train(&cli.args, &plan, &mut run, &mut exec, None).expect("training");
    let summary = run.finish(digest, 0);
    let accuracy = summary.extra["accuracy"].as_f64().expect("an accuracy");
    (summary.digest, accuracy)
}

/// `train` of 480 training and 120 test images of 8 x 8 pixels, an MLP 64-16-10, 3 epochs of
/// batches of 32 in 4 shards (15 batches an epoch, the last one short), plus `more` flags
/// (which replace the defaults they name: `--epochs 50`).
pub fn small_set(more: &[&str]) -> SmallSet {
    let dir = tempfile::tempdir().expect("a temporary directory");
    Dataset::synthetic(480, 120, 8, 5)
        .write(dir.path(), 8, 8)
        .expect("the data set");
    let data = dir.path().to_str().expect("a UTF-8 path").to_string();
    let defaults = [
        ("--data", data.as_str()),
        ("--epochs", "3"),
        ("--batch", "32"),
        ("--shards", "4"),
        ("--hidden", "16"),
        ("--lr", "0.2"),
        ("--evals-per-epoch", "1"),
        ("--target", "0.5"),
    ];
    let mut args = Vec::new();
    for (flag, value) in defaults {
        if !more.contains(&flag) {
            args.extend([flag.to_string(), value.to_string()]);
        }
    }
    args.extend(more.iter().map(|s| s.to_string()));
    let (digest, accuracy) = reference(&args);
    SmallSet {
        dir,
        data,
        args,
        digest,
        accuracy,
    }
}

/// Debian's Fashion-MNIST, if `dataset-fashion-mnist` is installed.
pub fn fashion_mnist() -> Option<PathBuf> {
    let dir = PathBuf::from(train::DEFAULT_DATA);
    dir.join("train-images-idx3-ubyte.gz")
        .is_file()
        .then_some(dir)
}

/// Runs of `train` on every kind of bad data set, for a binary's tests to check how each was
/// refused. Each is a copy of a good small set with one file spoiled.
#[derive(Debug)]
pub struct BadTrain {
    /// `--data` names a folder with no data set.
    pub missing: crate::run::Output,
    /// The training labels file where the training images belong.
    pub wrong_magic: crate::run::Output,
    /// The test images, gzip cut in the middle.
    pub truncated_gzip: crate::run::Output,
    /// The test labels gunzipped and cut short of what the header promises.
    pub truncated_raw: crate::run::Output,
    /// The training images with a damaged gzip checksum.
    pub corrupt_gzip: crate::run::Output,
    /// A training label of 10.
    pub bad_label: crate::run::Output,
}

/// Run `exe train` (with the small set's flags, then `more`) on every kind of bad data set.
pub fn bad_train_inputs(exe: &str, more: &[&str]) -> BadTrain {
    use scenarios::train::data::{TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS};
    use std::fs;
    let set = small_set(&[]);
    let spoil = |name: &str, how: &dyn Fn(&std::path::Path)| {
        let dir = set.dir.path().join(name);
        fs::create_dir_all(&dir).expect("a folder");
        for f in fs::read_dir(&set.data).expect("the set") {
            let f = f.expect("an entry").path();
            if f.is_file() {
                fs::copy(&f, dir.join(f.file_name().expect("a name"))).expect("a copy");
            }
        }
        how(&dir);
        let mut args = set.args.clone();
        args[1] = dir.to_str().expect("UTF-8").to_string();
        let mut all: Vec<&str> = vec!["train"];
        all.extend(args.iter().map(String::as_str));
        all.extend_from_slice(more);
        crate::run::run(exe, &all)
    };
    let gz = |dir: &std::path::Path, name: &str| dir.join(format!("{name}.gz"));
    BadTrain {
        missing: spoil("missing", &|dir| {
            for name in [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS] {
                fs::remove_file(gz(dir, name)).expect("remove");
            }
        }),
        wrong_magic: spoil("wrong-magic", &|dir| {
            fs::copy(gz(dir, TRAIN_LABELS), gz(dir, TRAIN_IMAGES)).expect("copy");
        }),
        truncated_gzip: spoil("truncated-gzip", &|dir| {
            let bytes = fs::read(gz(dir, TEST_IMAGES)).expect("read");
            fs::write(gz(dir, TEST_IMAGES), &bytes[..bytes.len() / 2]).expect("write");
        }),
        truncated_raw: spoil("truncated-raw", &|dir| {
            let labels = scenarios::train::idx::read(&gz(dir, TEST_LABELS), 1, "").expect("labels");
            fs::remove_file(gz(dir, TEST_LABELS)).expect("remove");
            let mut bytes = vec![0, 0, 8, 1];
            bytes.extend_from_slice(&(labels.data.len() as u32).to_be_bytes());
            bytes.extend_from_slice(&labels.data[..labels.data.len() - 7]);
            fs::write(dir.join(TEST_LABELS), bytes).expect("write");
        }),
        corrupt_gzip: spoil("corrupt-gzip", &|dir| {
            let mut bytes = fs::read(gz(dir, TRAIN_IMAGES)).expect("read");
            let n = bytes.len();
            // The CRC-32 of the uncompressed data, the gzip trailer's first four bytes.
            bytes[n - 8] ^= 0x55;
            fs::write(gz(dir, TRAIN_IMAGES), bytes).expect("write");
        }),
        bad_label: spoil("bad-label", &|dir| {
            let mut labels =
                scenarios::train::idx::read(&gz(dir, TRAIN_LABELS), 1, "").expect("labels");
            labels.data[3] = 10;
            scenarios::train::idx::write(&gz(dir, TRAIN_LABELS), &labels.dims, &labels.data, true)
                .expect("write");
        }),
    }
}
