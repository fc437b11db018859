//! The gui scenario in a real window, under Xvfb: the app opens with eframe (the `window`
//! feature), xdotool clicks its start button, ImageMagick's `import` takes a screenshot while
//! the job runs, and the app's own log must show the frame counter moving while the job ran.
//! Then `Esc` closes the window mid-job: the workers stop, the program prints its summary and
//! exits, and only whole files are left.
//!
//! Needs `xvfb`, `xdotool` and `imagemagick` (Debian's packages; `.ci/run` installs them) and
//! the feature, so `scripts/test.sh` runs it on its own:
//!
//! ```text
//! cargo test -p threading --features window --test window
//! ```
//!
//! The screenshot is kept at `target/tmp/gui-window.png`, to look at.
#![cfg(feature = "window")]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::gui::{figure, gui_inputs, outputs};
use testkit::run::parse_summary;

const EXE: &str = env!("CARGO_BIN_EXE_threading");

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn need(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "{tool} is missing: apt-get install {package}");
}

/// Run `tool args` with `DISPLAY`, and return its stdout (it must succeed).
fn x(display: &str, tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .env("DISPLAY", display)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Wait up to `within` for `check` to give something.
fn wait_for<T>(within: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(t) = check() {
            return t;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The app's `ui: frame N | ... | STATUS` lines so far: (frame, status).
fn frames_seen(log: &str) -> Vec<(u64, String)> {
    log.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("ui: frame ")?;
            let (n, tail) = rest.split_once(' ')?;
            Some((n.parse().ok()?, tail.rsplit("| ").next()?.to_string()))
        })
        .collect()
}

#[test]
fn a_real_window_keeps_drawing_while_the_job_runs_and_closes_mid_job() {
    need("Xvfb", "xvfb");
    need("xdotool", "xdotool");
    need("import", "imagemagick");
    // A display of our own: Xvfb picks a free number and writes it to the pipe.
    let mut xvfb = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "800x600x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb starts");
    let mut number = String::new();
    BufReader::new(xvfb.stdout.take().unwrap())
        .read_line(&mut number)
        .expect("Xvfb names its display");
    let xvfb = Killed(xvfb);
    let display = format!(":{}", number.trim());

    // A long job for a debug build: 24 pictures on one worker take several seconds.
    let inputs = gui_inputs(24, 320, 180);
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("app.log");
    let app = Command::new(EXE)
        .args([
            "gui",
            inputs.images.to_str().unwrap(),
            "--out",
            inputs.out.to_str().unwrap(),
            "--workers",
            "1",
            "--json",
        ])
        .env("DISPLAY", &display)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("the app starts");
    let mut app = Killed(app);
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let window = wait_for(Duration::from_secs(60), "the window", || {
        let ids = Command::new("xdotool")
            .args(["search", "--name", "Responsive GUI"])
            .env("DISPLAY", &display)
            .output()
            .ok()?;
        let out = String::from_utf8_lossy(&ids.stdout).into_owned();
        out.split_whitespace().next().map(str::to_string)
    });
    // Where the start button is, in the app's own words.
    let start = wait_for(Duration::from_secs(60), "the buttons' places", || {
        let text = log();
        let line = text.lines().find(|l| l.starts_with("ui: buttons at"))?;
        let at = line.split("start ").nth(1)?.split(',').take(2);
        Some(at.map(|v| v.trim().to_string()).collect::<Vec<_>>())
    });
    // Move, let a frame see the pointer there, then click: real (XTEST) input, as a mouse.
    x(
        &display,
        "xdotool",
        &["mousemove", "--window", &window, &start[0], &start[1]],
    );
    std::thread::sleep(Duration::from_millis(300));
    x(&display, "xdotool", &["click", "1"]);
    // Two of the app's once-a-second lines while the job runs, then the screenshot.
    wait_for(Duration::from_secs(60), "the job to run a while", || {
        let running = frames_seen(&log())
            .into_iter()
            .filter(|(_, s)| s == "running")
            .count();
        (running >= 3).then_some(())
    });
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui-window.png");
    x(
        &display,
        "import",
        &["-window", "root", shot.to_str().unwrap()],
    );
    let png = std::fs::read(&shot).expect("the screenshot");
    let picture = scenarios::images::decode(&shot, &png)
        .expect("a PNG")
        .to_rgb8();
    let colours: std::collections::HashSet<_> = picture.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() > 8,
        "a blank screenshot: {} colours",
        colours.len()
    );
    // Close it mid-job, as a person would: focus it (there is no window manager), press Esc.
    x(&display, "xdotool", &["windowfocus", "--sync", &window]);
    x(&display, "xdotool", &["key", "Escape"]);
    let status = wait_for(Duration::from_secs(60), "the app to exit", || {
        app.0.try_wait().expect("try_wait")
    });
    let mut stdout = String::new();
    app.0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let text = log();
    assert!(status.success(), "{status}: {text}");

    // The counter moved while the job ran: frames drawn between the first and the last line
    // that said "running", a second or more apart.
    let running: Vec<u64> = frames_seen(&text)
        .into_iter()
        .filter(|(_, s)| s == "running")
        .map(|(n, _)| n)
        .collect();
    let (first, last) = (running[0], *running.last().unwrap());
    assert!(
        last >= first + 20,
        "the counter went from {first} to {last} while the job ran: {text}"
    );
    let s = parse_summary(&stdout);
    assert_eq!(s.extra["display"], "window");
    assert!(figure(&s, "frames_during_job") >= 20.0, "{:?}", s.extra);
    if s.extra.get("cancelled").and_then(|v| v.as_bool()) == Some(true) {
        assert!(text.contains("closed mid-job"), "{text}");
    } else {
        assert_eq!(s.digest, inputs.digest());
    }
    let (_, other) = outputs(&inputs.out);
    assert!(other.is_empty(), "left behind: {other:?}");
    eprintln!(
        "screenshot: {}; the counter went from frame {first} to {last} while the job ran",
        shot.display()
    );
    drop(xvfb);
}
