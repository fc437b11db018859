//! The report's sections for the scale curves ([`super::sweep`]): the chat servers'
//! latency-bounded capacity (a table, and p99 and memory against N) and the spawn curve
//! (memory per thread or task and time to start them, against N).
//!
//! The charts' data ([`chat_panels`], [`spawn_panels`]) and the tables are built here, apart
//! from the drawing, so the tests can check what a chart shows.

use super::chart::colour;
use super::lines::{self, Panel, Series};
use super::run::{Language, Scenario};
use super::sweep::{ChatSweep, SpawnSweep, Sweeps, ms, thousands};
use crate::table::Model;
use anyhow::Result;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// The model of a harness name (`python-asyncio` -> asyncio).
fn model_of(name: &str) -> Option<Model> {
    let bare = name.strip_prefix("python-").unwrap_or(name);
    Model::from_name(bare.split('-').next().unwrap_or(bare))
}

fn mib(kib: f64) -> String {
    let m = kib / 1024.0;
    if m >= 1000.0 {
        format!("{} MiB", thousands(m.round() as u64))
    } else if m >= 100.0 {
        format!("{m:.0} MiB")
    } else {
        format!("{m:.1} MiB")
    }
}

/// The chat sweep's two panels: p99 latency against N (with the bound), and the server's
/// memory (PSS, children included) against N; one series per model.
pub fn chat_panels(sweep: &ChatSweep) -> (Panel, Panel) {
    let bound = sweep.settings.bound_p99_ms;
    let mut latency = Vec::new();
    let mut memory = Vec::new();
    for name in sweep.names() {
        let points = sweep.of(name);
        let base = Series {
            label: name.to_string(),
            colour: colour(model_of(name)),
            dashed: Language::of_name(name) == Language::Python,
            points: Vec::new(),
            stopped: None,
        };
        let stopped = points
            .iter()
            .find(|p| p.p99_ms().is_none())
            .map(|p| (p.clients as f64, short_why(&p.why_not(bound))));
        latency.push(Series {
            points: points
                .iter()
                .filter_map(|p| Some((p.clients as f64, p.p99_ms()?)))
                .collect(),
            stopped: stopped.clone(),
            ..base.clone()
        });
        memory.push(Series {
            points: points
                .iter()
                // Only where every client got in: otherwise the reading is not of N.
                .filter(|p| p.all_in())
                .filter_map(|p| Some((p.clients as f64, p.pss_kib()? / 1024.0)))
                .collect(),
            stopped,
            ..base
        });
    }
    let load = load_words(sweep);
    (
        Panel {
            title: format!("p99 latency vs clients ({load})"),
            x_desc: "clients connected (log scale)".into(),
            y_desc: "p99 latency, ms (log scale)".into(),
            series: latency,
            bound: Some((bound, format!("bound: p99 {} ms", ms(bound)))),
        },
        Panel {
            title: "server memory with every client in (PSS)".into(),
            x_desc: "clients connected (log scale)".into(),
            y_desc: "PSS of the server and its children, MiB (log scale)".into(),
            series: memory,
            bound: None,
        },
    )
}

/// "10 senders × 2/s": the load, in a few words.
fn load_words(sweep: &ChatSweep) -> String {
    let s = &sweep.settings;
    if s.rate > 0 {
        format!("{} senders × {}/s", s.senders, s.rate)
    } else {
        "paced".into()
    }
}

/// A reason short enough for a chart's legend.
fn short_why(why: &str) -> String {
    let w = why.split(". ").next().unwrap_or(why);
    if w.chars().count() > 48 {
        format!("{}…", w.chars().take(47).collect::<String>())
    } else {
        w.to_string()
    }
}

/// Why a thread could not be started, in a few words.
fn wall_words(error: &str) -> String {
    if error.contains("max_map_count") {
        "memory maps: vm.max_map_count".into()
    } else if error.contains("pid_max") || error.contains("threads-max") {
        "kernel tasks: pid_max".into()
    } else {
        short_why(error)
    }
}

/// The spawn curve's two panels: memory per unit, and time to start them all, against N.
pub fn spawn_panels(spawn: &SpawnSweep) -> (Panel, Panel) {
    let mut memory = Vec::new();
    let mut start = Vec::new();
    for model in spawn.models() {
        let points: Vec<_> = spawn.of(model).into_iter().filter(|p| p.ok()).collect();
        let unit = if model == "threading" {
            "threads"
        } else {
            "tasks"
        };
        let stopped = spawn.wall(model).map(|w| {
            (
                w.refused.count as f64,
                wall_words(w.refused.error.as_deref().unwrap_or("refused")),
            )
        });
        let c = colour(Model::from_name(model));
        memory.push(Series {
            label: format!(
                "{unit} ({model} spawn): RSS per {}",
                &unit[..unit.len() - 1]
            ),
            colour: c,
            dashed: false,
            points: points
                .iter()
                .filter_map(|p| Some((p.count as f64, p.per_unit_kib()?)))
                .collect(),
            stopped: stopped.clone(),
        });
        if points
            .iter()
            .any(|p| p.kernel_per_unit_kib().is_some_and(|k| k > 0.0))
        {
            memory.push(Series {
                label: format!("{unit}: RSS + kernel stack"),
                colour: c,
                dashed: true,
                points: points
                    .iter()
                    .filter_map(|p| Some((p.count as f64, p.total_per_unit_kib()?)))
                    .collect(),
                stopped: None,
            });
        }
        start.push(Series {
            label: format!("{unit} ({model} spawn)"),
            colour: c,
            dashed: false,
            points: points
                .iter()
                .filter_map(|p| Some((p.count as f64, p.start_s()?)))
                .collect(),
            stopped,
        });
    }
    (
        Panel {
            title: "memory per thread or task".into(),
            x_desc: "threads or tasks started (log scale)".into(),
            y_desc: "KiB per unit (log scale)".into(),
            series: memory,
            bound: Some((0.5, "target: ≤ 0.5 KiB per task at 1,000,000".into())),
        },
        Panel {
            title: "time to start them all".into(),
            x_desc: "threads or tasks started (log scale)".into(),
            y_desc: "seconds (log scale)".into(),
            series: start,
            bound: None,
        },
    )
}

/// Write the sweeps' charts into `charts`: `chat-capacity.svg` and `spawn.svg`.
pub fn write_charts(sweeps: &Sweeps, charts: &Path) -> Result<()> {
    if let Some(chat) = &sweeps.chat {
        let (p99, memory) = chat_panels(chat);
        lines::draw(
            &format!(
                "chat-capacity: paced load ({}), one line per server (Python dashed); server and \
                 load client on different cores",
                load_words(chat)
            ),
            &[p99, memory],
            &charts.join("chat-capacity.svg"),
        )?;
    }
    if let Some(spawn) = &sweeps.spawn {
        let (memory, start) = spawn_panels(spawn);
        lines::draw(
            "spawn: N sleeping threads or tasks, started then joined",
            &[memory, start],
            &charts.join("spawn.svg"),
        )?;
    }
    Ok(())
}

/// The burst figure of a chat model from the `chat` scenario, if it ran: deliveries/s.
fn burst_throughput(chat: Option<&Scenario>, name: &str) -> Option<f64> {
    chat?
        .entries
        .iter()
        .find(|e| e.bench.name == name)?
        .summary
        .as_ref()?
        .extra
        .get("deliveries_per_s")
        .and_then(Value::as_f64)
}

/// The capacity table: per model the largest N with nothing lost and p99 under the bound, its
/// memory, and what stopped the sweep above it.
pub fn capacity_table(sweep: &ChatSweep, chat: Option<&Scenario>) -> String {
    let bound = ms(sweep.settings.bound_p99_ms);
    let mut out = format!(
        "| server | capacity: largest N, 0 lost, p99 < {bound} ms | p50 / p99 there | server \
         memory there: PSS (RSS) | PSS per client | first N over, and why | burst throughput \
         (`chat` scenario) |\n| --- | ---: | ---: | ---: | ---: | --- | ---: |\n"
    );
    for name in sweep.names() {
        let cap = sweep.capacity(name);
        let best = cap.best;
        let cell = |f: &dyn Fn(&super::sweep::ChatPoint) -> Option<String>| {
            best.and_then(f).unwrap_or_else(|| "–".into())
        };
        let over = match cap.first_failure {
            Some(f) => format!(
                "{}: {}",
                thousands(f.clients as u64),
                f.why_not(sweep.settings.bound_p99_ms)
            ),
            None => format!(
                "none up to {} (the sweep's top)",
                thousands(cap.tried_up_to as u64)
            ),
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {over} | {} |",
            best.map_or("none".into(), |p| format!(
                "**{}**",
                thousands(p.clients as u64)
            )),
            cell(&|p| Some(format!("{} / {} ms", ms(p.p50_ms()?), ms(p.p99_ms()?)))),
            cell(&|p| Some(format!("{} ({})", mib(p.pss_kib()?), mib(p.rss_kib()?)))),
            cell(&|p| Some(format!("{:.1} KiB", p.per_client_kib()?))),
            burst_throughput(chat, name)
                .map_or("–".into(), |d| format!("{:.2} M deliveries/s", d / 1e6)),
        );
    }
    out
}

/// Every point of the chat sweep.
fn chat_points_table(sweep: &ChatSweep) -> String {
    let bound = sweep.settings.bound_p99_ms;
    let mut out = String::from(
        "| server | N | let in | delivered | lost | p50 | p99 | sends late (p99) | server PSS \
         (RSS) | PSS per client | server peak (own summary) | verdict |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    for name in sweep.names() {
        for p in sweep.of(name) {
            let num = |k: &str| {
                p.load
                    .as_ref()
                    .and_then(|s| s.extra.get(k))
                    .and_then(Value::as_f64)
            };
            let count = |k: &str| num(k).map_or("–".into(), |v| thousands(v as u64));
            let msf = |v: Option<f64>| v.map_or("–".into(), |v| format!("{} ms", ms(v)));
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                thousands(p.clients as u64),
                count("admitted"),
                count("delivered"),
                count("lost"),
                msf(p.p50_ms()),
                msf(p.p99_ms()),
                msf(p.send_late_p99_ms()),
                match (p.pss_kib(), p.rss_kib()) {
                    (Some(pss), Some(rss)) => format!("{} ({})", mib(pss), mib(rss)),
                    _ => "–".into(),
                },
                p.per_client_kib()
                    .map_or("–".into(), |k| format!("{k:.1} KiB")),
                p.server
                    .as_ref()
                    .map_or("–".into(), |s| mib(s.max_rss_kib as f64)),
                if p.passes(bound) {
                    "within".to_string()
                } else {
                    format!("over: {}", p.why_not(bound))
                },
            );
        }
    }
    out
}

/// The `chat-capacity` section.
pub fn chat_section(sweep: &ChatSweep, chat: Option<&Scenario>, chart_dir: &str) -> String {
    let s = &sweep.settings;
    let mut out = String::from("## chat-capacity\n\n");
    let _ = writeln!(
        out,
        "Latency-bounded capacity, as websocket-shootout and tcp-echo benchmarks measure it: \
         N clients connect and stay; {} of them send {} messages each, paced at {} per second \
         each (the senders take turns, so the server sees an even stream, {} messages a second \
         in all, each relayed to the N − 1 others); every client checks every message. N grows \
         from {} until the server misses the bound or cannot take the clients; a server's \
         **capacity** is the largest N with nothing lost and p99 under {} ms.{} {} Memory is the \
         server's PSS, its child processes included, read from `/proc/PID/smaps_rollup` by the \
         load client (`--server-pid`) at the moment every client is in and before anything is \
         sent: the cost of holding N connections, measured the same way for every model and \
         both languages (the server's own summary gives its peak over the whole run, queues \
         included; it is in the table of points). PSS splits the pages processes share (a \
         process per client maps the same binary N times), so it does not overstate a process \
         per client as summed RSS does; RSS is beside it. *Per client* is the PSS above the \
         idle server's, divided by N. The burst figure (every sender as fast as it can) is the \
         `chat` scenario's, and it is a throughput: deliveries per second.",
        s.senders,
        s.messages,
        s.rate,
        s.senders as u64 * s.rate,
        s.grid
            .first()
            .map_or("100".into(), |n| thousands(*n as u64)),
        ms(s.bound_p99_ms),
        if s.retries > 0 {
            " A near miss (every client in, nothing lost, p99 over the bound but under twice \
             it) was run once more, and the second run counts: one stall of a shared machine \
             must not end a sweep."
        } else {
            ""
        },
        if s.pinning.is_empty() {
            String::new()
        } else {
            format!("{}.", s.pinning)
        },
    );
    if !s.left_out.is_empty() {
        let _ = writeln!(out, "\n{}", s.left_out);
    }
    out.push('\n');
    out.push_str(&capacity_table(sweep, chat));
    let _ = writeln!(
        out,
        "\n![chat-capacity chart]({chart_dir}/chat-capacity.svg)\n"
    );
    out.push_str("<details><summary>every point</summary>\n\n");
    out.push_str(&chat_points_table(sweep));
    out.push_str(
        "\n*Sends late* is how far behind its schedule the load client sent (its own health: \
         when it is large the load client, not the server, set the pace).\n\n</details>\n\n",
    );
    out.push_str(&commands_list(&sweep.commands));
    out
}

fn commands_list(commands: &std::collections::BTreeMap<String, String>) -> String {
    if commands.is_empty() {
        return String::new();
    }
    let mut out = String::from("<details><summary>commands</summary>\n\n");
    for (name, cmd) in commands {
        for line in cmd.lines() {
            let _ = writeln!(
                out,
                "- `{name}`: `{}`",
                super::markdown::relative(line.trim())
            );
        }
    }
    out.push_str("\n</details>\n\n");
    out
}

/// The spawn curve's table: per model and N.
fn spawn_table(spawn: &SpawnSweep) -> String {
    let mut out = String::from(
        "| | N | time to start all | until the last finished | peak RSS | RSS per unit | \
         kernel stack per unit | memory maps per unit |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for model in spawn.models() {
        for p in spawn.of(model) {
            let unit = p.unit();
            match &p.summary {
                Some(s) if p.ok() => {
                    let num = |k: &str| s.extra.get(k).and_then(Value::as_f64).unwrap_or(0.0);
                    let _ = writeln!(
                        out,
                        "| {unit}s (`{model} spawn`) | {} | {} | {} | {} | {:.2} KiB | {:.1} KiB | \
                         {:.1} |",
                        thousands(p.count as u64),
                        super::markdown::seconds(num("start_s")),
                        super::markdown::seconds(num("finish_s")),
                        mib(s.max_rss_kib as f64),
                        num("per_unit_kib"),
                        num("kernel_stack_per_unit_kib"),
                        num("maps_per_unit"),
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "| {unit}s (`{model} spawn`) | {} | refused: {} | – | – | – | – | – |",
                        thousands(p.count as u64),
                        p.error.as_deref().map_or("failed".into(), short_error),
                    );
                }
            }
        }
    }
    out
}

/// An error up to its first sentence end.
fn short_error(e: &str) -> String {
    e.split(". ").next().unwrap_or(e).to_string()
}

/// The target for tasks, against the measured point.
fn task_target(spawn: &SpawnSweep) -> String {
    match spawn.at("asyncio", 1_000_000) {
        Some(p) => {
            let per = p.per_unit_kib().unwrap_or(f64::NAN);
            format!(
                "Target: 1,000,000 tasks at ≤ 0.5 KiB each: **{}**, {per:.2} KiB per task.",
                if per <= 0.5 { "met" } else { "missed" }
            )
        }
        None => "Target: 1,000,000 tasks at ≤ 0.5 KiB each: not measured in this run.".into(),
    }
}

/// The `spawn` section.
pub fn spawn_section(spawn: &SpawnSweep, chart_dir: &str) -> String {
    let mut out = String::from("## spawn\n\n");
    out.push_str(
        "N threads (`threading spawn`, 64 KiB stacks) or N tasks (`asyncio spawn`, one event \
         loop thread), each sleeping, started then joined. *RSS per unit* is the process's peak \
         RSS over its RSS before the first one started, divided by N; a thread also has a \
         kernel stack, which RSS does not show (read from `KernelStack` in `/proc/meminfo`, \
         machine-wide, so other programs blur it a little). A refusal is where the threads \
         meet a limit of the kernel: a point of the curve, not a failure of the run.\n\n",
    );
    for model in spawn.models() {
        if let Some(w) = spawn.wall(model) {
            let _ = writeln!(
                out,
                "The {unit}s' wall: **{}** {unit}s ran; asking for {} was refused: {}.\n",
                thousands(w.reached.count as u64),
                thousands(w.refused.count as u64),
                short_error(w.refused.error.as_deref().unwrap_or("refused")),
                unit = w.reached.unit(),
            );
        }
    }
    let _ = writeln!(out, "{}\n", task_target(spawn));
    out.push_str(&spawn_table(spawn));
    let _ = writeln!(out, "\n![spawn chart]({chart_dir}/spawn.svg)\n");
    out.push_str(&commands_list(&spawn.commands));
    out
}
