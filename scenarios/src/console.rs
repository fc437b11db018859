//! Where the human lines go.
//!
//! Every scenario prints a few lines for a person as it runs ("Baking the carrot cake...").
//! With `--json`, stdout must carry exactly one JSON object, so those lines move to stderr
//! instead of disappearing: a person watching a `--json` run still sees progress, and a
//! program reading stdout sees only the summary.

use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// Switch the whole process to JSON mode: human lines go to stderr from now on.
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// Is this run producing the JSON summary on stdout?
pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Print one human line: to stdout normally, to stderr in JSON mode.
///
/// The line is written with a single call so that lines from several threads or processes
/// never interleave mid-line.
pub fn line(text: &str) {
    use std::io::Write;
    let mut buf = String::with_capacity(text.len() + 1);
    buf.push_str(text);
    buf.push('\n');
    // A closed stdout (say, `| head`) must not turn into a panic in the middle of a run.
    if json() {
        let _ = std::io::stderr().lock().write_all(buf.as_bytes());
    } else {
        let _ = std::io::stdout().lock().write_all(buf.as_bytes());
    }
}

/// `say!("Baking the {name} cake...")`: a human line, routed by [`line`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::console::line(&format!($($arg)*))
    };
}
