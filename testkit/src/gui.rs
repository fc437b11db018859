//! The gui scenario's test plumbing: small PNGs made in-process with the digest every model
//! must print for them, the arguments of a short headless session, the frame figures of a
//! summary, and what a session left in its output folder.

use scenarios::Summary;
use scenarios::images;
use std::path::{Path, PathBuf};

/// Inputs for a gui session.
#[derive(Debug)]
pub struct GuiInputs {
    pub dir: tempfile::TempDir,
    pub images: PathBuf,
    pub out: PathBuf,
    paths: Vec<PathBuf>,
}

impl GuiInputs {
    /// The digest of the job's outputs: the images scenario's reference, computed here on one
    /// thread at the default blur.
    pub fn digest(&self) -> String {
        images::reference_digest(&self.paths, 2.0).expect("the reference digest")
    }
}

/// `count` pictures of `width` x `height`: 8 of 320 x 180 make a job of a second or more in a
/// debug build, long enough to see frames drawn, or not, while it runs.
pub fn gui_inputs(count: usize, width: u32, height: u32) -> GuiInputs {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let g = images::GenImagesArgs {
        count,
        width,
        height,
        seed: 5,
        out: dir.path().join("images"),
    };
    let paths = images::generate(&g).expect("images");
    GuiInputs {
        out: dir.path().join("out"),
        images: g.out,
        paths,
        dir,
    }
}

/// A short headless session on `inputs`: start at 100 ms, a probe click every 50 ms, 300 ms of
/// frames after the job, at most two minutes; `extra` goes last.
pub fn session_args<'a>(inputs: &'a GuiInputs, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "gui",
        inputs.images.to_str().expect("a UTF-8 path"),
        "--out",
        inputs.out.to_str().expect("a UTF-8 path"),
        "--headless",
        "--start-ms",
        "100",
        "--click-every-ms",
        "50",
        "--tail-ms",
        "300",
        "--max-seconds",
        "120",
    ];
    args.extend_from_slice(extra);
    args
}

/// A number from a summary's extra fields (panics naming the field if it is missing).
pub fn figure(s: &Summary, key: &str) -> f64 {
    s.extra
        .get(key)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("the summary has no number '{key}': {:?}", s.extra))
}

/// What is in an output folder: the PNGs that decode whole, and the names of everything else
/// (a temporary file left behind, a file cut short).
pub fn outputs(out: &Path) -> (usize, Vec<String>) {
    let (mut whole, mut other) = (0, Vec::new());
    for entry in std::fs::read_dir(out).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        match std::fs::read(&path) {
            Ok(bytes) if name.ends_with(".png") && images::decode(&path, &bytes).is_ok() => {
                whole += 1
            }
            _ => other.push(name),
        }
    }
    (whole, other)
}
