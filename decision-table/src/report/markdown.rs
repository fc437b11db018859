//! The report's Markdown: the header, the chapter's table with the measured verdicts, and per
//! scenario a table of every model (and the commands that ran).

use super::run::{Entry, Report, Scenario};
use super::verdict::{RowVerdict, verdicts};
use crate::table::ROWS;
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
        out.push(format!("kernel {g:.1} GFLOP/s"));
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
    if let Some(p) = num("latency_p99_ms") {
        out.push(format!("p99 {p:.1} ms"));
    }
    if let Some(d) = num("deliveries_per_s") {
        out.push(format!("{:.2} M deliveries/s", d / 1e6));
    }
    if let Some(l) = num("lost").filter(|l| *l > 0.0) {
        out.push(format!("{l} LOST"));
    }
    if let Some(t) = num("ticker_max_late_ms") {
        out.push(format!("event loop stalled {t:.0} ms"));
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

/// The scenario's table in Markdown.
pub fn scenario_table(s: &Scenario) -> String {
    let serial = s.serial().map(|e| e.bench.mean);
    let mut out = String::from(
        "| model | mean ± σ | speedup vs serial | speedup per worker | CPU time | peak memory | digest | figures |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |\n",
    );
    let agree = s.digests_agree();
    let reference = s
        .entries
        .iter()
        .find_map(|e| e.summary.as_ref().map(|x| x.digest.clone()));
    for e in &s.entries {
        let speedup = serial.map(|base| base / e.bench.mean);
        let workers = e.summary.as_ref().map(|x| x.workers.max(1));
        let per_worker = match (speedup, workers) {
            (Some(sp), Some(w)) => format!("{:.2}", sp / w as f64),
            _ => "–".into(),
        };
        let digest = match (&e.summary, &reference) {
            (Some(x), Some(r)) if agree.is_some() => {
                let short = x.digest.get(..12).unwrap_or(&x.digest);
                if &x.digest == r {
                    format!("✓ `{short}`")
                } else {
                    format!("✗ `{short}` differs")
                }
            }
            (Some(x), _) => format!("`{}`", x.digest.get(..12).unwrap_or(&x.digest)),
            (None, _) => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {}{} | {} ± {} | {} | {} | {} | {} | {} | {} |",
            e.bench.name,
            workers.map_or(String::new(), |w| format!(
                " ({w} worker{})",
                if w == 1 { "" } else { "s" }
            )),
            seconds(e.bench.mean),
            seconds(e.bench.stddev),
            speedup.map_or("–".into(), |v| format!("{v:.2}x")),
            per_worker,
            seconds(e.bench.cpu),
            match (&e.server, &e.summary) {
                (Some(server), _) => format!("{} (server)", mib(server.max_rss_kib)),
                (None, Some(x)) => mib(x.max_rss_kib),
                (None, None) => "–".into(),
            },
            digest,
            figures(e),
        );
    }
    out
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
        "Each scenario ran every model on the same inputs under hyperfine (wall time, mean ± σ \
         of the runs). *Speedup per worker* is the speedup over serial divided by the workers \
         the run used: 1.00 means every worker was fully used. CPU time is user + system per \
         run, child processes included; peak memory comes from the run's own summary and also \
         counts its children (for chat, the server's own peak; its CPU time is the load client's). The digest column \
         checks that every model computed the same result; *figures* are the scenario's own \
         (kernel speed, the ideal time, threads used, latency).\n\n",
    );
    out.push_str("## The chapter's decision table against the measurements\n\n");
    out.push_str("| job | chapter's choice | measured fastest | verdict | why |\n| --- | --- | --- | --- | --- |\n");
    for v in verdicts(report) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            v.job,
            v.chapter_choice,
            v.fastest.as_deref().unwrap_or("–"),
            v.verdict.as_str(),
            v.why
        );
    }
    out.push('\n');
    for s in &report.scenarios {
        let _ = writeln!(out, "## {}\n", s.name);
        let _ = writeln!(out, "![{} chart]({chart_dir}/{}.svg)\n", s.name, s.name);
        out.push_str(&scenario_table(s));
        if s.digests_agree() == Some(false) {
            out.push_str("\n**The digests differ: the models did not compute the same result.**\n");
        }
        out.push_str("\n<details><summary>commands</summary>\n\n");
        for e in &s.entries {
            let _ = writeln!(
                out,
                "- `{}`: `{}` ({} runs)",
                e.bench.name, e.bench.command, e.bench.runs
            );
        }
        out.push_str("\n</details>\n\n");
    }
    out
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "unknown" } else { s }
}

/// The chapter's table with the verdicts of a run, as `decision-table` (no arguments) prints
/// it. Rows follow the chapter's table, not the file: a row the file lacks is "not covered".
pub fn chapter_table_with_verdicts(verdicts: &[RowVerdict]) -> String {
    let by_job: BTreeMap<&str, &RowVerdict> =
        verdicts.iter().map(|v| (v.job.as_str(), v)).collect();
    let mut s = String::from(
        "The chapter's decision table, with the verdicts of the latest measured run:\n\n\
         | job | chapter's choice | measured fastest | verdict |\n| --- | --- | --- | --- |\n",
    );
    for row in ROWS {
        let v = by_job.get(row.job);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            row.job,
            row.chapter_choice_text(),
            v.and_then(|v| v.fastest.as_deref()).unwrap_or("–"),
            v.map_or("not covered", |v| v.verdict.as_str()),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::hyperfine::Bench;
    use scenarios::Summary;

    fn entry(name: &str, mean: f64) -> Entry {
        Entry {
            bench: Bench {
                name: name.into(),
                command: name.into(),
                mean,
                stddev: 0.0,
                min: mean,
                max: mean,
                cpu: mean,
                runs: 3,
            },
            summary: None,
            server: None,
        }
    }

    #[test]
    fn table_shows_speedup_and_digest_mismatch() {
        let mut s = Scenario {
            name: "cakes".into(),
            entries: vec![entry("serial", 2.0), entry("threading", 1.0)],
        };
        let summary = |model: &str, digest: &str, workers| Summary {
            scenario: "cakes".into(),
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
        };
        s.entries[0].summary = Some(summary("serial", "aaaa", 1));
        s.entries[1].summary = Some(summary("threading", "aaaa", 2));
        let t = scenario_table(&s);
        assert!(t.contains("| 2.00x | 1.00 |"), "{t}");
        assert!(t.contains("✓"));
        assert_eq!(s.digests_agree(), Some(true));
        s.entries[1].summary.as_mut().unwrap().digest = "bbbb".into();
        assert_eq!(s.digests_agree(), Some(false));
        assert!(scenario_table(&s).contains("differs"));
    }
}
