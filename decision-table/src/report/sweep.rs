//! The scale curves: what `scripts/compare.sh` measured by sweeping a size rather than timing
//! one command, read from `summaries/sweeps/` of a results folder.
//!
//! - `chat-capacity/`: the chat servers under a paced load, N clients at a time. Per point
//!   `<name>-n<N>.json` (the `chat-load --json` summary, with the server's memory read by
//!   `--server-pid` once every client was in), `<name>-n<N>.server.json` (the server's own
//!   summary, written when it stopped), or `<name>-n<N>.error` (what the load client said when
//!   it could not give a summary); `<name>.cmd` (the server's and the load's command lines);
//!   and `sweep.json`, the sweep's settings ([`ChatSettings`]).
//! - `spawn/`: `threading spawn` and `asyncio spawn` at N threads or tasks. Per point
//!   `<model>-n<N>.json` (the summary) or `<model>-n<N>.error` (the refusal: the threads' wall
//!   is a point of the curve, not a failure of the run); `<model>.cmd`.
//!
//! From these: per chat model the *latency-bounded capacity* (the largest N with nothing lost
//! and p99 under the bound, below the first N that missed it, as websocket-shootout and
//! tcp-echo benchmarks count it), and the spawn curve's memory per unit and time to start.

use super::run::Language;
use anyhow::{Context, Result};
use scenarios::Summary;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The folder under a results folder where the sweeps are.
pub const DIR: &str = "summaries/sweeps";

/// How the chat sweep was run, as `sweep.json` records it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct ChatSettings {
    pub senders: usize,
    pub rate: u64,
    pub messages: usize,
    /// The latency bound of the capacity, in ms.
    pub bound_p99_ms: f64,
    /// How many times a point over the bound (everyone let in) was run again; the last run
    /// counts.
    pub retries: usize,
    /// The sizes asked, in order.
    pub grid: Vec<usize>,
    /// Where the server and the load client ran, e.g. "server on CPU 1, load on CPU 0".
    pub pinning: String,
    /// Models left out, and why.
    pub left_out: String,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            senders: 0,
            rate: 0,
            messages: 0,
            bound_p99_ms: 250.0,
            retries: 0,
            grid: Vec::new(),
            pinning: String::new(),
            left_out: String::new(),
        }
    }
}

/// One N of one model of the chat sweep.
#[derive(Clone, Debug)]
pub struct ChatPoint {
    /// The harness's name of the server: `asyncio`, `python-threading`, ...
    pub name: String,
    pub clients: usize,
    pub load: Option<Summary>,
    pub server: Option<Summary>,
    pub error: Option<String>,
}

impl ChatPoint {
    fn num(&self, key: &str) -> Option<f64> {
        self.load.as_ref()?.extra.get(key).and_then(Value::as_f64)
    }

    pub fn language(&self) -> Language {
        Language::of_name(&self.name)
    }

    /// Were all N clients let in (and the load ran)?
    pub fn all_in(&self) -> bool {
        self.num("admitted").map(|a| a as usize) == Some(self.clients)
    }

    pub fn p50_ms(&self) -> Option<f64> {
        self.all_in().then(|| self.num("latency_p50_ms")).flatten()
    }

    pub fn p99_ms(&self) -> Option<f64> {
        self.all_in().then(|| self.num("latency_p99_ms")).flatten()
    }

    /// Messages lost, duplicated or unexpected (the summary's `failed` once everyone was in).
    pub fn failed(&self) -> Option<u64> {
        self.all_in()
            .then(|| self.load.as_ref().map(|s| s.failed as u64))
            .flatten()
    }

    /// The server's PSS (children included) with every client in, in KiB.
    pub fn pss_kib(&self) -> Option<f64> {
        self.num("server_pss_kib")
    }

    pub fn rss_kib(&self) -> Option<f64> {
        self.num("server_rss_kib")
    }

    /// PSS per client above the idle server's, in KiB.
    pub fn per_client_kib(&self) -> Option<f64> {
        self.num("server_pss_per_client_kib")
    }

    pub fn deliveries_per_s(&self) -> Option<f64> {
        self.num("deliveries_per_s")
    }

    /// How late the paced sends left (p99, ms): the load client's own health.
    pub fn send_late_p99_ms(&self) -> Option<f64> {
        self.num("send_late_p99_ms")
    }

    /// Does this point meet the bound: everyone in, nothing lost, p99 under `bound_ms`?
    pub fn passes(&self, bound_ms: f64) -> bool {
        self.failed() == Some(0) && self.p99_ms().is_some_and(|p| p < bound_ms)
    }

    /// Why the point misses the bound, in a few words ("" when it passes).
    pub fn why_not(&self, bound_ms: f64) -> String {
        if let Some(e) = &self.error {
            return e.clone();
        }
        let Some(load) = &self.load else {
            return "no summary".into();
        };
        if !self.all_in() {
            let admitted = self.num("admitted").unwrap_or(0.0);
            return format!(
                "{} of {} let in",
                thousands(admitted as u64),
                thousands(self.clients as u64)
            );
        }
        if load.failed > 0 {
            return format!("{} lost", thousands(load.failed as u64));
        }
        match self.p99_ms() {
            Some(p) if p >= bound_ms => format!("p99 {} ms", ms(p)),
            Some(_) => String::new(),
            None => "no latency".into(),
        }
    }
}

/// A model's latency-bounded capacity.
#[derive(Clone, Debug)]
pub struct Capacity<'a> {
    pub name: &'a str,
    /// The largest N that passed below the first that failed.
    pub best: Option<&'a ChatPoint>,
    /// The first N that failed, if the sweep reached one.
    pub first_failure: Option<&'a ChatPoint>,
    /// The largest N the sweep asked.
    pub tried_up_to: usize,
}

/// The chat sweep: every point, by model then N.
#[derive(Clone, Debug)]
pub struct ChatSweep {
    pub settings: ChatSettings,
    pub points: Vec<ChatPoint>,
    /// Per model, its command lines (`server: ...`, `load: ...`).
    pub commands: BTreeMap<String, String>,
}

impl ChatSweep {
    /// The models, Python's first (as the report lists languages), each in the harness's order
    /// of first appearance otherwise sorted by name.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.points.iter().map(|p| p.name.as_str()).collect();
        names.sort_by_key(|n| (Language::of_name(n), *n));
        names.dedup();
        names
    }

    /// One model's points, by N.
    pub fn of(&self, name: &str) -> Vec<&ChatPoint> {
        let mut v: Vec<&ChatPoint> = self.points.iter().filter(|p| p.name == name).collect();
        v.sort_by_key(|p| p.clients);
        v
    }

    pub fn capacity(&self, name: &str) -> Capacity<'_> {
        let bound = self.settings.bound_p99_ms;
        let points = self.of(name);
        let first_failure = points.iter().copied().find(|p| !p.passes(bound));
        let limit = first_failure.map_or(usize::MAX, |f| f.clients);
        let best = points
            .iter()
            .copied()
            .rfind(|p| p.clients < limit && p.passes(bound));
        Capacity {
            name: points.first().map_or("", |p| p.name.as_str()),
            best,
            first_failure,
            tried_up_to: points.last().map_or(0, |p| p.clients),
        }
    }
}

/// One N of one model of the spawn sweep.
#[derive(Clone, Debug)]
pub struct SpawnPoint {
    /// `threading` or `asyncio`.
    pub model: String,
    pub count: usize,
    pub summary: Option<Summary>,
    pub error: Option<String>,
}

impl SpawnPoint {
    fn num(&self, key: &str) -> Option<f64> {
        self.summary
            .as_ref()?
            .extra
            .get(key)
            .and_then(Value::as_f64)
    }

    /// What one thread or task is called.
    pub fn unit(&self) -> &'static str {
        if self.model == "threading" {
            "thread"
        } else {
            "task"
        }
    }

    /// RSS per unit, in KiB (peak over before, divided by N).
    pub fn per_unit_kib(&self) -> Option<f64> {
        self.num("per_unit_kib")
    }

    /// The kernel's stack per unit (threads only), which RSS does not show.
    pub fn kernel_per_unit_kib(&self) -> Option<f64> {
        self.num("kernel_stack_per_unit_kib")
    }

    /// RSS plus kernel stack per unit.
    pub fn total_per_unit_kib(&self) -> Option<f64> {
        Some(self.per_unit_kib()? + self.kernel_per_unit_kib().unwrap_or(0.0))
    }

    pub fn start_s(&self) -> Option<f64> {
        self.num("start_s")
    }

    pub fn ok(&self) -> bool {
        self.summary.as_ref().is_some_and(|s| s.failed == 0)
    }
}

/// The spawn sweep.
#[derive(Clone, Debug)]
pub struct SpawnSweep {
    pub points: Vec<SpawnPoint>,
    pub commands: BTreeMap<String, String>,
}

/// Where a model's curve stopped: the largest N that ran, and the refusal above it.
#[derive(Clone, Debug)]
pub struct Wall<'a> {
    pub reached: &'a SpawnPoint,
    pub refused: &'a SpawnPoint,
}

impl SpawnSweep {
    /// `threading` then `asyncio`, those that ran.
    pub fn models(&self) -> Vec<&str> {
        let mut m: Vec<&str> = self.points.iter().map(|p| p.model.as_str()).collect();
        m.sort_by_key(|m| (*m != "threading", *m));
        m.dedup();
        m
    }

    pub fn of(&self, model: &str) -> Vec<&SpawnPoint> {
        let mut v: Vec<&SpawnPoint> = self.points.iter().filter(|p| p.model == model).collect();
        v.sort_by_key(|p| p.count);
        v
    }

    /// The model's wall, if a point was refused: the largest N that ran below it.
    pub fn wall(&self, model: &str) -> Option<Wall<'_>> {
        let points = self.of(model);
        let refused = points.iter().copied().find(|p| !p.ok())?;
        let reached = points
            .iter()
            .copied()
            .rfind(|p| p.ok() && p.count < refused.count)?;
        Some(Wall { reached, refused })
    }

    /// The point at `count`, if it ran.
    pub fn at(&self, model: &str, count: usize) -> Option<&SpawnPoint> {
        self.points
            .iter()
            .find(|p| p.model == model && p.count == count && p.ok())
    }
}

/// Both sweeps of a results folder, those that ran.
#[derive(Clone, Debug, Default)]
pub struct Sweeps {
    pub chat: Option<ChatSweep>,
    pub spawn: Option<SpawnSweep>,
}

impl Sweeps {
    pub fn is_empty(&self) -> bool {
        self.chat.is_none() && self.spawn.is_none()
    }
}

/// Split `<name>-n<N>` into the name and N.
fn point_name(stem: &str) -> Option<(String, usize)> {
    let (name, n) = stem.rsplit_once("-n")?;
    Some((name.to_string(), n.parse().ok()?))
}

/// The files of one sweep folder, grouped by point: `(name, N) -> {suffix -> text}`, and the
/// `<name>.cmd` files.
type Files = (
    BTreeMap<(String, usize), BTreeMap<String, String>>,
    BTreeMap<String, String>,
);

fn read_folder(dir: &Path) -> Result<Option<Files>> {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut points: BTreeMap<(String, usize), BTreeMap<String, String>> = BTreeMap::new();
    let mut commands = BTreeMap::new();
    for file in listing {
        let path = file?.path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        // `asyncio-n1000.server.json` -> stem `asyncio-n1000`, suffix `server.json`.
        let Some((stem, suffix)) = file_name.split_once('.') else {
            continue;
        };
        let read = || {
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))
        };
        if let Some(key) = point_name(stem) {
            points
                .entry(key)
                .or_default()
                .insert(suffix.to_string(), read()?);
        } else if suffix == "cmd" {
            commands.insert(stem.to_string(), read()?.trim().to_string());
        }
    }
    Ok(Some((points, commands)))
}

fn summary(dir: &Path, stem: &str, suffix: &str, text: Option<&String>) -> Result<Option<Summary>> {
    text.map(|t| {
        serde_json::from_str(t.trim()).with_context(|| {
            format!(
                "{} is not a summary",
                dir.join(format!("{stem}.{suffix}")).display()
            )
        })
    })
    .transpose()
}

/// Read `summaries/sweeps/` of a results folder.
pub fn load(results: &Path) -> Result<Sweeps> {
    let base = results.join(DIR);
    let mut sweeps = Sweeps::default();
    let chat_dir = base.join("chat-capacity");
    if let Some((files, commands)) = read_folder(&chat_dir)? {
        let settings = match std::fs::read_to_string(chat_dir.join("sweep.json")) {
            Ok(t) => serde_json::from_str(&t).with_context(|| {
                format!("{} is not valid", chat_dir.join("sweep.json").display())
            })?,
            Err(_) => ChatSettings::default(),
        };
        let mut points = Vec::new();
        for ((name, clients), f) in &files {
            let stem = format!("{name}-n{clients}");
            points.push(ChatPoint {
                name: name.clone(),
                clients: *clients,
                load: summary(&chat_dir, &stem, "json", f.get("json"))?,
                server: summary(&chat_dir, &stem, "server.json", f.get("server.json"))?,
                error: f.get("error").map(|e| last_line(e)),
            });
        }
        if !points.is_empty() {
            sweeps.chat = Some(ChatSweep {
                settings,
                points,
                commands,
            });
        }
    }
    let spawn_dir = base.join("spawn");
    if let Some((files, commands)) = read_folder(&spawn_dir)? {
        let mut points = Vec::new();
        for ((model, count), f) in &files {
            let stem = format!("{model}-n{count}");
            points.push(SpawnPoint {
                model: model.clone(),
                count: *count,
                summary: summary(&spawn_dir, &stem, "json", f.get("json"))?,
                error: f.get("error").map(|e| last_line(e)),
            });
        }
        if !points.is_empty() {
            sweeps.spawn = Some(SpawnSweep { points, commands });
        }
    }
    Ok(sweeps)
}

/// The last line of a program's error output that says something: its error message.
fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("failed without a word")
        .trim_start_matches("Error: ")
        .trim_start_matches("error: ")
        .to_string()
}

/// Milliseconds to three significant digits: "4.2", "36", "1,470".
pub fn ms(v: f64) -> String {
    if v >= 1000.0 {
        thousands(v.round() as u64)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A count with thousands separators: 19,900.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_names_split_at_the_last_n() {
        assert_eq!(
            point_name("python-asyncio-n1000"),
            Some(("python-asyncio".into(), 1000))
        );
        assert_eq!(point_name("threading"), None);
        assert_eq!(thousands(1_899_900), "1,899,900");
        assert_eq!(thousands(999), "999");
        assert_eq!(ms(1470.4), "1,470");
        assert_eq!(ms(4.23), "4.2");
    }

    #[test]
    fn an_error_is_its_last_line() {
        assert_eq!(
            last_line("connecting...\nError: could not start thread 15863 of 30000: maps\n\n"),
            "could not start thread 15863 of 30000: maps"
        );
    }
}
