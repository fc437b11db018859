//! The report's Markdown: the header, the chapter's table with the measured verdicts of each
//! language, and per scenario a table per language (Python's, then Rust's), the notes on what
//! may and may not be compared across them, and the commands that ran.

use super::run::{Entry, Language, Report, Scenario};
use super::verdict::{LanguageVerdict, RowVerdict, verdicts};
use crate::table::ROWS;
use scenarios::Summary;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The scenario-specific figures worth a glance, from a run's summary (and its server's).
fn figures(e: &Entry) -> String {
    let Some(s) = &e.summary else {
        return "–".into();
    };
    let num = |k: &str| s.extra.get(k).and_then(Value::as_f64);
    let mut out = Vec::new();
    if let Some(g) = num("kernel_gflops") {
        // Pure Python runs at hundredths of a GFLOP/s: MFLOP/s, not "0.0".
        out.push(if g >= 1.0 {
            format!("kernel {g:.1} GFLOP/s")
        } else {
            format!("kernel {:.0} MFLOP/s", g * 1000.0)
        });
    }
    if let Some(i) = num("ideal_s") {
        out.push(format!("ideal {}", seconds(i)));
    }
    if let Some(t) = num("os_threads") {
        out.push(format!("{t} threads"));
    }
    if let Some(p) = num("processes").filter(|p| *p > 1.0) {
        out.push(format!("{p} processes"));
    }
    // The chat load client without --rate sends everything at once: its deliveries per second
    // are the figure (a throughput), and its p99 is mostly how long the burst took to drain,
    // so it is named as such (the paced latency is chat-capacity's).
    let burst = s.variant == "load" && num("rate").is_none();
    if let Some(d) = num("deliveries_per_s").filter(|_| burst) {
        out.push(format!("burst throughput {:.2} M deliveries/s", d / 1e6));
    }
    if let Some(p) = num("latency_p99_ms") {
        if burst {
            out.push(format!("p99 in the burst {p:.1} ms"));
        } else {
            out.push(format!("p99 {p:.1} ms"));
        }
    }
    if let Some(d) = num("deliveries_per_s").filter(|_| !burst) {
        out.push(format!("{:.2} M deliveries/s", d / 1e6));
    }
    if let Some(l) = num("lost").filter(|l| *l > 0.0) {
        out.push(format!("{l} LOST"));
    }
    if let Some(t) = num("ticker_max_late_ms") {
        out.push(format!("event loop stalled {t:.0} ms"));
    }
    if let Some(f) = super::gui::figures(e) {
        out.push(f);
    }
    // The train scenario: how fast it learned, and how well.
    if let (Some(r), Some(a)) = (num("samples_per_s"), num("accuracy")) {
        out.push(format!("{r:.0} samples/s, test accuracy {a:.4}"));
    }
    if out.is_empty() {
        "–".into()
    } else {
        out.join(", ")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub fn seconds(s: f64) -> String {
    if s >= 10.0 {
        format!("{s:.2} s")
    } else if s >= 0.1 {
        format!("{s:.3} s")
    } else {
        format!("{:.1} ms", s * 1000.0)
    }
}

/// A ratio (speedup, efficiency) to two decimals, or two significant digits below 0.1, so a
/// 200-fold slowdown reads "0.0050", not "0.00".
pub fn ratio(v: f64) -> String {
    if v >= 0.1 || v <= 0.0 || !v.is_finite() {
        format!("{v:.2}")
    } else {
        let digits = (1.0 - v.log10().floor()) as usize;
        format!("{v:.digits$}")
    }
}

/// The first 12 hex digits: enough to tell digests apart in a table.
fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// The peak memory a summary reports. A Python run with worker processes reports
/// `max_rss_kib` as its own peak plus its children's summed PSS, and gives the children's PSS
/// and RSS sums apart: PSS is shown as the memory (it splits the pages a forked child shares
/// with its parent and siblings), the same total with RSS beside it (it counts every shared
/// page once per process, so it overstates what a pool costs). Memory the processes share
/// without mapping it (`shared_kib`: the matrix workers of both languages write C into a
/// memory file) is in both figures, and named, since no process's own RSS shows it.
fn memory(summary: &Summary) -> String {
    let kib = |k: &str| summary.extra.get(k).and_then(Value::as_u64);
    let peak = match (kib("children_pss_kib"), kib("children_rss_kib")) {
        (Some(pss), Some(rss)) => {
            let with_rss = summary.max_rss_kib.saturating_sub(pss) + rss;
            format!("{} PSS ({} RSS)", mib(summary.max_rss_kib), mib(with_rss))
        }
        _ => mib(summary.max_rss_kib),
    };
    match kib("shared_kib") {
        Some(shared) => format!("{peak}, {} of it shared", mib(shared)),
        None => peak,
    }
}

/// The header of one language's table: its inputs and its baseline.
fn language_heading(s: &Scenario, language: Language) -> String {
    let mut parts = vec![format!("**{language}**")];
    if let Some(inputs) = s.reference(language).and_then(Entry::inputs) {
        parts.push(inputs.to_string());
    }
    parts.push(match s.serial(language) {
        Some(serial) => format!("speedups against `{}`", serial.bench.name),
        None => "no serial run, so no speedups".into(),
    });
    parts.join(" · ")
}

/// One language's table of a scenario in Markdown. `cores` comes from `meta.json` (0 when the
/// run did not record it).
pub fn scenario_table(s: &Scenario, language: Language, cores: usize) -> String {
    let efficiency = match cores {
        0 => "efficiency".to_string(),
        1 => "efficiency (1 core)".to_string(),
        n => format!("efficiency ({n} cores)"),
    };
    let mut out = format!(
        "| model | mean ± σ | speedup vs serial | {efficiency} | CPU time | memory | digest | figures |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |\n",
    );
    let agree = s.digests_agree(language);
    for e in s.entries_of(language) {
        let reference = s.group_digest(e);
        let speedup = s.speedup(e);
        let workers = e.summary.as_ref().map(|x| x.workers.max(1));
        let efficiency = match speedup {
            Some(sp) if cores > 0 => ratio(sp / cores as f64),
            _ => "–".into(),
        };
        let digest = match (&e.summary, reference) {
            // Hogwild: a digest, but of a result no other run will reproduce.
            (Some(x), _) if !Scenario::reproducible(x) => {
                format!("not reproducible `{}`", short(&x.digest))
            }
            (Some(x), Some(r)) if agree.is_some() => {
                if x.digest == r {
                    format!("✓ `{}`", short(&x.digest))
                } else {
                    format!("✗ `{}` differs", short(&x.digest))
                }
            }
            (Some(x), _) => format!("`{}`", short(&x.digest)),
            (None, _) => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {}{} | {} | {} | {} | {} | {} | {} | {} |",
            e.bench.name,
            workers.map_or(String::new(), |w| format!(
                " ({w} worker{})",
                if w == 1 { "" } else { "s" }
            )),
            // One run has no spread to show (hyperfine writes 0).
            if e.bench.runs > 1 {
                format!("{} ± {}", seconds(e.bench.mean), seconds(e.bench.stddev))
            } else {
                format!("{} (1 run)", seconds(e.bench.mean))
            },
            speedup.map_or("–".into(), |v| format!("{}x", ratio(v))),
            efficiency,
            seconds(e.bench.cpu),
            match (&e.server, &e.summary) {
                (Some(server), _) => format!("{} (server)", memory(server)),
                (None, Some(x)) => memory(x),
                (None, None) => "–".into(),
            },
            digest,
            figures(e),
        );
    }
    out
}

/// What a language's table needs said under it: runs the others cannot be compared with, and
/// digests that disagree.
fn language_notes(s: &Scenario, language: Language) -> String {
    let mut out = String::new();
    if let Some(reference) = s.reference(language) {
        for e in s.on_other_inputs(language) {
            let inputs = |x: &Entry| x.inputs().map_or("unknown".into(), |i| i.to_string());
            let _ = writeln!(
                out,
                "\n`{}` ran on other inputs ({}) than `{}` ({}): it has no speedup and is left \
                 out of the verdicts.",
                e.bench.name,
                inputs(e),
                reference.bench.name,
                inputs(reference),
            );
        }
    }
    // Rows of another kind with a serial run of their own (bigfile's `-cold` rows, numpy's
    // matrix): say which serial run their speedups are against.
    let plain = s.serial(language).map(|x| x.bench.name.as_str());
    let mut kinds: Vec<(&str, Vec<&str>, String)> = Vec::new();
    for e in s.entries_of(language) {
        let Some(serial) = s.serial_for(e) else {
            continue;
        };
        if Some(serial.bench.name.as_str()) == plain || serial.bench.name == e.bench.name {
            continue;
        }
        let inputs = e.inputs().map_or("unknown".into(), |i| i.to_string());
        match kinds.iter_mut().find(|k| k.0 == serial.bench.name) {
            Some(k) => k.1.push(&e.bench.name),
            None => kinds.push((&serial.bench.name, vec![&e.bench.name], inputs)),
        }
    }
    for (serial, names, inputs) in kinds {
        let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let _ = writeln!(
            out,
            "\n{} ran on inputs or with an engine of their own ({inputs}): their speedups are \
             against `{serial}`.",
            names.join(", ")
        );
    }
    if s.digests_agree(language) == Some(false) {
        let _ = writeln!(
            out,
            "\n**The {language} digests differ: the {language} models did not compute the same \
             result.**"
        );
    }
    out
}

/// The harness's yardstick for two cores (matrix): two serial processes started at once, each
/// on half of the work, sharing nothing but the machine. Named `two-serials` (`python-` first
/// for Python's); timed only, with a speedup against the serial run of the whole work.
pub const TWO_SERIALS: &str = "two-serials";

/// Under a language's table that has the two-core yardstick: what it is, and how close the
/// most efficient model came to it. A model cannot be more efficient than the machine lets two
/// programs that never talk to each other be; this says how much of the gap to 1.00 is the
/// machine's and how much the model's.
fn ceiling_note(s: &Scenario, language: Language, cores: usize) -> String {
    let name = format!("{}{TWO_SERIALS}", language.name_prefix());
    let Some(ceiling) = s.entries_of(language).find(|e| e.bench.name == name) else {
        return String::new();
    };
    let (Some(serial), Some(top)) = (s.serial_for(ceiling), s.speedup(ceiling)) else {
        return String::new();
    };
    let per_core = |sp: f64| {
        if cores > 0 {
            format!("efficiency {}", ratio(sp / cores as f64))
        } else {
            format!("speedup {}x", ratio(sp))
        }
    };
    let mut out = format!(
        "
`{name}` is no model: two `{}` processes started at once, each on half of the work, \
         sharing nothing but the machine (its caches, its memory bandwidth, the host's other \
         guests). Its {} is what this machine's cores give with no coordination at all: the \
         yardstick for every model here.",
        serial.bench.name,
        per_core(top),
    );
    let best = s
        .entries_of(language)
        .filter(|e| e.runs_as().is_some() && e.bench.name != serial.bench.name)
        .filter(|e| {
            s.serial_for(e)
                .is_some_and(|x| x.bench.name == serial.bench.name)
        })
        .filter_map(|e| s.speedup(e).map(|sp| (e, sp)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((e, sp)) = best {
        let _ = write!(
            out,
            " The most efficient model, `{}` ({}), reached {:.0} % of it.",
            e.bench.name,
            per_core(sp),
            100.0 * sp / top
        );
        if sp > top {
            out.push_str(
                " Over 100 %: the model's workers share what each of the two processes does \
                 alone (starting up, reading the inputs).",
            );
        }
    }
    out.push('\n');
    out
}

/// What may be compared between the two languages of a scenario: times only on the same
/// inputs, and digests only as a remark (each language is checked against itself).
fn across_languages(s: &Scenario) -> String {
    let (Some(rust), Some(python)) = (s.reference(Language::Rust), s.reference(Language::Python))
    else {
        return String::new();
    };
    let digest = |l: Language| s.reference_digest(l);
    let digests_differ = match (digest(Language::Python), digest(Language::Rust)) {
        (Some(p), Some(r)) => {
            (p != r).then(|| format!("Python `{}`, Rust `{}`", short(p), short(r)))
        }
        _ => None,
    };
    let mut out = String::from("\n");
    match (rust.inputs(), python.inputs()) {
        (Some(ri), Some(pi)) if ri == pi => {
            out.push_str(&format!("Both languages ran on the same inputs ({ri})"));
            match (s.serial(Language::Python), s.serial(Language::Rust)) {
                (Some(ps), Some(rs)) => {
                    let _ = write!(
                        out,
                        ": `{}` took {:.1}× as long as `{}`.",
                        ps.bench.name,
                        ps.bench.mean / rs.bench.mean,
                        rs.bench.name
                    );
                }
                _ => out.push('.'),
            }
            match digests_differ {
                Some(pair) => {
                    let _ = write!(
                        out,
                        " Python's and Rust's digests differ on these inputs ({pair}): the two \
                         implementations do not produce byte-identical results, so each \
                         language's digests are checked against its own only."
                    );
                }
                None => out.push_str(" Python and Rust computed the same digest."),
            }
        }
        (Some(ri), Some(pi)) => {
            let _ = write!(
                out,
                "Python ran on other inputs than Rust (Python: {pi}; Rust: {ri}), so the two \
                 languages' times are not compared: each language's speedups are against its \
                 own serial run."
            );
            if let Some(pair) = digests_differ {
                let _ = write!(
                    out,
                    " Their digests differ by design ({pair}): they are of different inputs."
                );
            }
        }
        _ => out.push_str(
            "The summaries do not say which inputs each language ran on, so times are not \
             compared across languages.",
        ),
    }
    out.push('\n');
    out
}

/// A verdict cell: the verdict word, then why.
fn verdict_cell(v: Option<&LanguageVerdict>) -> String {
    match v {
        Some(v) if v.verdict == super::Verdict::NotCovered => format!("not covered: {}", v.why),
        Some(v) => format!("**{}**: {}", v.verdict.as_str(), v.why),
        None => "not covered".into(),
    }
}

/// The whole report in Markdown. `chart_dir` is where the charts are, relative to the report.
pub fn render(report: &Report, chart_dir: &str) -> String {
    let m = &report.meta;
    let mut out = String::from("# The decision table, measured\n\n");
    let _ = writeln!(
        out,
        "| machine | tools | run |\n| --- | --- | --- |\n| {} · {} cores · {:.0} GiB · {} | {} · hyperfine {} | {} mode · commit `{}` · {} · took {:.0} s |\n",
        or_unknown(&m.cpu),
        m.cores,
        m.memory_gib,
        or_unknown(&m.os),
        or_unknown(&m.rustc),
        or_unknown(&m.hyperfine),
        or_unknown(&m.mode),
        m.commit.get(..12).unwrap_or(or_unknown(&m.commit)),
        or_unknown(&m.date),
        m.seconds,
    );
    out.push_str(
        "Each scenario ran every model, in Python and in Rust, under hyperfine (wall time, \
         mean ± σ of the runs). A language's runs share one set of inputs, named above its \
         table; Python's may be smaller than Rust's (pure-Python matrix multiplication is \
         slow), so every comparison stays within one language: the *speedup* is over the same \
         language's serial run on the same inputs, each language's verdict picks its own \
         fastest model, and digests are checked within a language. *Efficiency* is the \
         speedup divided by the machine's cores: 1.00 means every core did useful work, and \
         above 1 the work was waiting, not computing. CPU time is user + system per run, \
         child processes included. Memory is the run's peak, children included (for chat, the \
         server's own peak; its CPU time in the table is the load client's, in the chart the \
         server's); for a Python run with worker \
         processes it counts the children's PSS, which splits the pages they share, with \
         their RSS, which counts those pages once per process, beside it. *Figures* are the \
         scenario's own (kernel speed, the ideal time, threads used, latency). Two times are a \
         tie when they are within 5% or two standard deviations. Each scenario's chart shows \
         per model its wall time (for chat the burst's throughput), its CPU time split into \
         user and system, its memory (PSS, with summed RSS outlined where it had child \
         processes) and, where the run measured it, latency p50 and p99. The scale curves \
         (chat-capacity, spawn) close the report.\n\n",
    );
    out.push_str("## The chapter's decision table against the measurements\n\n");
    out.push_str(
        "| job | chapter's choice | Python: fastest | Python: verdict | Rust: fastest | Rust: verdict |\n\
         | --- | --- | --- | --- | --- | --- |\n",
    );
    for v in verdicts(report) {
        let fastest = |l: Language| {
            v.of(l)
                .and_then(|v| v.fastest.as_deref())
                .unwrap_or("–")
                .to_string()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            v.job,
            v.chapter_choice,
            fastest(Language::Python),
            verdict_cell(v.of(Language::Python)),
            fastest(Language::Rust),
            verdict_cell(v.of(Language::Rust)),
        );
    }
    out.push('\n');
    for s in &report.scenarios {
        let _ = writeln!(out, "## {}\n", s.name);
        let _ = writeln!(out, "![{} chart]({chart_dir}/{}.svg)\n", s.name, s.name);
        if s.name == super::gui::SCENARIO {
            out.push_str(&super::gui::section(chart_dir));
        }
        if s.name == super::training::SCENARIO {
            out.push_str(&super::training::section(s, chart_dir));
        }
        for (i, language) in s.languages().into_iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let _ = writeln!(out, "{}\n", language_heading(s, language));
            out.push_str(&scenario_table(s, language, m.cores));
            out.push_str(&language_notes(s, language));
            out.push_str(&ceiling_note(s, language, m.cores));
        }
        out.push_str(&across_languages(s));
        out.push_str("\n<details><summary>commands</summary>\n\n");
        for e in &s.entries {
            let _ = writeln!(
                out,
                "- `{}`: `{}` ({} runs)",
                e.bench.name,
                relative(&e.bench.command),
                e.bench.runs
            );
        }
        out.push_str("\n</details>\n\n");
    }
    if let Some(chat) = &report.sweeps.chat {
        out.push_str(&super::curves::chat_section(
            chat,
            report.scenario("chat"),
            chart_dir,
        ));
    }
    if let Some(spawn) = &report.sweeps.spawn {
        out.push_str(&super::curves::spawn_section(spawn, chart_dir));
    }
    out
}

/// Folders of the repository that a command's program can live in: whatever stands before one
/// of them in an absolute path is the repository's root on the machine that ran it.
const REPO_MARKERS: [&str; 5] = [
    "/target/release/",
    "/target/debug/",
    "/.venv/bin/",
    "/scripts/",
    "/python/",
];

/// Folders of a results folder that a command's arguments point into (`compare.sh` makes
/// inputs under `OUT/inputs` and writes under `OUT/work`).
const RUN_FOLDERS: [&str; 2] = ["/inputs/", "/work/"];

/// A command line as the report prints it: with paths relative to the repository, never the
/// absolute paths of the machine it ran on. `compare.sh` already writes its `.cmd` files so;
/// this also covers hyperfine's own exports and older runs. A path under the repository loses
/// the repository's root; a path into a results folder elsewhere keeps the results folder's
/// name (`/data/runs/results/inputs/x` -> `results/inputs/x`).
pub fn relative(cmd: &str) -> String {
    let roots: Vec<&str> = cmd
        .split(' ')
        .filter(|w| w.starts_with('/'))
        .filter_map(|w| REPO_MARKERS.iter().find_map(|m| w.find(m).map(|i| &w[..i])))
        .filter(|root| !root.is_empty())
        .collect();
    let word = |w: &str| -> String {
        // `--out=/x/y` as well as `--out /x/y`.
        let (head, path) = match w.split_once('=') {
            Some((h, p)) if p.starts_with('/') => (format!("{h}="), p),
            _ => (String::new(), w),
        };
        if !path.starts_with('/') {
            return w.to_string();
        }
        for root in &roots {
            if let Some(rest) = path.strip_prefix(root).and_then(|r| r.strip_prefix('/')) {
                return format!("{head}{rest}");
            }
        }
        for folder in RUN_FOLDERS {
            if let Some(i) = path.rfind(folder).filter(|i| *i > 0) {
                let run_dir = &path[..i];
                let name = run_dir.rsplit('/').next().unwrap_or(run_dir);
                return format!("{head}{name}{}", &path[i..]);
            }
        }
        w.to_string()
    };
    cmd.split(' ').map(word).collect::<Vec<_>>().join(" ")
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "unknown" } else { s }
}

/// The chapter's table with the verdicts of a run, as `decision-table` (no arguments) prints
/// it. Rows follow the chapter's table, not the file: a row the file lacks is "not covered",
/// and so is Python in a file written before Python was measured.
pub fn chapter_table_with_verdicts(verdicts: &[RowVerdict]) -> String {
    let by_job: BTreeMap<&str, &RowVerdict> =
        verdicts.iter().map(|v| (v.job.as_str(), v)).collect();
    let mut s = String::from(
        "The chapter's decision table, with the verdicts of the latest measured run:\n\n\
         | job | chapter's choice | Python: fastest | Python: verdict | Rust: fastest | Rust: verdict |\n\
         | --- | --- | --- | --- | --- | --- |\n",
    );
    for row in ROWS {
        let v = |l: Language| by_job.get(row.job).and_then(|v| v.of(l));
        let fastest = |l: Language| v(l).and_then(|v| v.fastest.as_deref()).unwrap_or("–");
        let verdict = |l: Language| v(l).map_or("not covered", |v| v.verdict.as_str());
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            row.job,
            row.chapter_choice_text(),
            fastest(Language::Python),
            verdict(Language::Python),
            fastest(Language::Rust),
            verdict(Language::Rust),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::hyperfine::Bench;

    /// A summary with the fields these tests do not look at filled in.
    fn summary(scenario: &str, model: &str, digest: &str, workers: usize) -> Summary {
        Summary {
            scenario: scenario.into(),
            model: model.into(),
            variant: "v".into(),
            workers,
            items: 2,
            wall_s: 1.0,
            user_s: 0.0,
            sys_s: 0.0,
            max_rss_kib: 2048,
            digest: digest.into(),
            failed: 0,
            extra: Default::default(),
        }
    }

    fn entry(name: &str, mean: f64) -> Entry {
        Entry::new(Bench::fixed(name, mean, 3))
    }

    #[test]
    fn memory_shared_between_processes_is_named_in_the_memory_cell() {
        let mut pool = summary("matrix", "multiprocessing", "aaaa", 2);
        pool.max_rss_kib = 40 * 1024;
        let extra = |k: &str, mib: u64| (k.to_string(), Value::from(mib * 1024));
        pool.extra.extend([
            extra("children_pss_kib", 20),
            extra("children_rss_kib", 30),
            extra("shared_kib", 8),
        ]);
        assert_eq!(
            memory(&pool),
            "40.0 MiB PSS (50.0 MiB RSS), 8.0 MiB of it shared"
        );
        pool.extra.remove("shared_kib");
        assert_eq!(memory(&pool), "40.0 MiB PSS (50.0 MiB RSS)");
    }

    #[test]
    fn table_shows_speedup_efficiency_and_digest_mismatch() {
        let mut s = Scenario {
            name: "cakes".into(),
            entries: vec![entry("serial", 2.0), entry("threading", 1.0)],
        };
        let summary = |model: &str, digest: &str, workers| summary("cakes", model, digest, workers);
        s.entries[0].summary = Some(summary("serial", "aaaa", 1));
        s.entries[1].summary = Some(summary("threading", "aaaa", 2));
        let t = scenario_table(&s, Language::Rust, 2);
        assert!(t.contains("| 2.00x | 1.00 |"), "{t}");
        assert!(t.contains("✓"));
        // Without meta.json's cores there is no efficiency to give.
        let t = scenario_table(&s, Language::Rust, 0);
        assert!(t.contains("| 2.00x | – |"), "{t}");
        assert_eq!(s.digests_agree(Language::Rust), Some(true));
        assert_eq!(s.digests_agree(Language::Python), None);
        s.entries[1].summary.as_mut().unwrap().digest = "bbbb".into();
        assert_eq!(s.digests_agree(Language::Rust), Some(false));
        assert!(scenario_table(&s, Language::Rust, 2).contains("differs"));
    }

    #[test]
    fn rows_of_another_digest_group_are_checked_among_themselves() {
        // The pure-Python matrix runs on small inputs of its own, numpy on Rust's: two groups,
        // each agreeing within itself, and no "digests differ".
        let summary = |digest: &str| Summary {
            extra: [("language".to_string(), "python".into())]
                .into_iter()
                .collect(),
            ..summary("matrix", "serial", digest, 1)
        };
        let mut s = Scenario {
            name: "matrix".into(),
            entries: vec![
                entry("python-serial-numpy", 1.0),
                entry("python-threading-numpy", 0.6),
                entry("python-serial", 2.0),
                entry("python-threading", 2.0),
            ],
        };
        for (e, (digest, group)) in s.entries.iter_mut().zip([
            ("nnnn", "python-numpy"),
            ("nnnn", "python-numpy"),
            ("pppp", "python"),
            ("pppp", "python"),
        ]) {
            e.summary = Some(summary(digest));
            e.digest_group = Some(group.into());
        }
        assert_eq!(s.digests_agree(Language::Python), Some(true));
        let t = scenario_table(&s, Language::Python, 2);
        assert!(!t.contains("differs"), "{t}");
        assert_eq!(t.matches('✓').count(), 4, "{t}");
        // The language is known by its plain serial row's digest.
        assert_eq!(s.reference_digest(Language::Python), Some("pppp"));
        // One row off its group's digest is still caught.
        s.entries[1].summary.as_mut().unwrap().digest = "xxxx".into();
        assert_eq!(s.digests_agree(Language::Python), Some(false));
        assert!(scenario_table(&s, Language::Python, 2).contains("✗ `xxxx` differs"));
    }

    #[test]
    fn the_two_core_yardstick_is_explained_and_the_best_model_measured_against_it() {
        let mut s = Scenario {
            name: "matrix".into(),
            entries: vec![
                entry("serial", 1.0),
                entry("threading", 0.6),
                entry("multiprocessing", 0.7),
                entry(TWO_SERIALS, 0.55),
            ],
        };
        for e in &mut s.entries[..3] {
            let model = e.bench.name.clone();
            e.summary = Some(summary("matrix", &model, "aaaa", 2));
            e.digest_group = Some("rust".into());
        }
        // Timed only: no summary, but the harness put it in the serial run's group.
        s.entries[3].digest_group = Some("rust".into());
        let note = ceiling_note(&s, Language::Rust, 2);
        assert!(note.contains("`two-serials` is no model"), "{note}");
        assert!(note.contains("efficiency 0.91"), "{note}");
        // threading: 1 / 0.6 = 1.67x, 0.83 per core, 92 % of 1 / 0.55 = 1.82x.
        assert!(
            note.contains("`threading` (efficiency 0.83), reached 92 %"),
            "{note}"
        );
        // It is no candidate for the verdicts, and gets a speedup in the table.
        assert_eq!(s.entries[3].runs_as(), None);
        assert!(scenario_table(&s, Language::Rust, 2).contains("| two-serials | 0.550 s ± "));
        // No yardstick, no note; none for Python either.
        assert_eq!(ceiling_note(&s, Language::Python, 2), "");
        s.entries.pop();
        assert_eq!(ceiling_note(&s, Language::Rust, 2), "");
    }

    #[test]
    fn commands_lose_the_machine_s_paths() {
        assert_eq!(
            relative("/home/u/repo/target/release/serial matrix /home/u/repo/results/inputs/m"),
            "target/release/serial matrix results/inputs/m"
        );
        assert_eq!(
            relative(
                "target/release/serial images /work/main/results/inputs/i --out=/work/main/results/work/o"
            ),
            "target/release/serial images results/inputs/i --out=results/work/o"
        );
        assert_eq!(
            relative("/r/.venv/bin/python -m chapter cakes --model serial"),
            ".venv/bin/python -m chapter cakes --model serial"
        );
        assert_eq!(
            relative("taskset -c 0 target/release/x --addr 127.0.0.1:1"),
            "taskset -c 0 target/release/x --addr 127.0.0.1:1"
        );
    }

    #[test]
    fn small_ratios_keep_two_significant_digits() {
        assert_eq!(ratio(1.6666), "1.67");
        assert_eq!(ratio(0.1), "0.10");
        assert_eq!(ratio(0.0447), "0.045");
        assert_eq!(ratio(0.00447), "0.0045");
    }

    #[test]
    fn a_python_table_holds_only_python_rows() {
        let s = Scenario {
            name: "matrix".into(),
            entries: vec![
                entry("serial", 2.0),
                entry("python-serial", 8.0),
                entry("python-multiprocessing", 4.0),
            ],
        };
        let t = scenario_table(&s, Language::Python, 2);
        assert!(!t.contains("| serial"), "{t}");
        // Speedup over python-serial (8 s), not over Rust's serial (2 s).
        assert!(
            t.contains("| python-multiprocessing | 4.000 s ± 0.0 ms | 2.00x | 1.00 |"),
            "{t}"
        );
    }
}
