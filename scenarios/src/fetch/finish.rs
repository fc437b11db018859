//! Closing a run: the best time it could have had, the digest every model must agree on, and
//! the closing lines (every failed file or item by name).

use super::part::settle;
use super::retry::Fetched;
use crate::digest::Digest;
use crate::outcome::Outcome;
use crate::usage::Threads;
use crate::wire::{About, Manifest};
use crate::{Run, Summary, say};
use std::path::Path;

/// Rounds of `workers` at a time needed for `n` items.
fn rounds(n: usize, workers: usize) -> f64 {
    n.div_ceil(workers.max(1)) as f64
}

/// The best a run could do: `ceil(n / workers)` rounds of (latency + size / bandwidth).
pub fn ideal_download_s(about: &About, n: usize, size: u64, workers: usize) -> f64 {
    let transfer = if about.bandwidth == 0 {
        0.0
    } else {
        size as f64 / about.bandwidth as f64
    };
    rounds(n, workers) * (about.latency_ms as f64 / 1000.0 + transfer)
}

/// The best a requests run could do: `ceil(n / workers)` latencies (the bodies are tiny).
pub fn ideal_requests_s(about: &About, n: usize, workers: usize) -> f64 {
    rounds(n, workers) * about.latency_ms as f64 / 1000.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The digest of a downloads run: every file's SHA-256 in manifest order (`failed` for a file
/// that failed), so any model that got every file right prints the same digest.
pub fn downloads_digest(outcomes: &[Fetched<String>]) -> String {
    let mut d = Digest::new();
    for o in outcomes {
        match &o.result {
            Ok(sha) => d.update(sha.as_bytes()),
            Err(_) => d.update(b"failed"),
        };
    }
    d.finish()
}

/// The digest of a requests run: every item's value in id order (`failed` for an item that
/// failed), then their sum.
pub fn requests_digest(outcomes: &[Fetched<u64>]) -> String {
    let mut d = Digest::new();
    let mut sum = 0u64;
    for o in outcomes {
        match &o.result {
            Ok(v) => {
                sum += v;
                d.update_u64(*v)
            }
            Err(_) => d.update(b"failed"),
        };
    }
    d.update_u64(sum);
    d.finish()
}

fn retries_used<T>(outcomes: &[Fetched<T>]) -> u64 {
    outcomes
        .iter()
        .map(|o| u64::from(o.attempts.saturating_sub(1)))
        .sum()
}

fn add_resources(run: &mut Run, ideal_s: f64, threads: Threads) {
    run.extra("ideal_s", round3(ideal_s))
        .extra("os_threads", threads.os_threads)
        .extra("processes", threads.processes);
}

/// Each item's attempts, whatever became of the item: one whose worker died, or that never
/// ran, failed without a fetch.
fn fetched<T>(outcomes: Vec<Outcome<Fetched<T>>>) -> Vec<Fetched<T>> {
    outcomes
        .into_iter()
        .map(|o| match o {
            Outcome::Done(fetched) => fetched,
            other => Fetched::failed(other.why_not().unwrap_or_default()),
        })
        .collect()
}

/// The closing lines and summary of a downloads run: every failed file by name, and nothing
/// of it left in `out` (whoever ran it, and however it failed). `threads` is what the run's
/// sampler saw.
pub fn finish_downloads(
    mut run: Run,
    manifest: &Manifest,
    out: &Path,
    outcomes: Vec<Outcome<Fetched<String>>>,
    threads: Threads,
) -> Summary {
    let outcomes = fetched(outcomes);
    let mut failed_files = Vec::new();
    let mut bytes = 0u64;
    for (entry, o) in manifest.files.iter().zip(&outcomes) {
        settle(entry, out, o);
        match &o.result {
            Ok(_) => bytes += entry.size,
            Err(e) => {
                say!(
                    "FAILED {} after {} attempt(s): {e}; nothing is left under that name",
                    entry.name,
                    o.attempts
                );
                failed_files.push(entry.name.clone());
            }
        }
    }
    let n = manifest.files.len();
    let size = manifest.files.iter().map(|f| f.size).max().unwrap_or(0);
    let ideal = ideal_download_s(&manifest.about, n, size, run.workers());
    let retries = retries_used(&outcomes);
    say!(
        "{} of {n} files downloaded and verified ({:.1} MiB) in {:.3} s (ideal {:.3} s), {retries} \
         retries, {} OS threads in {} process(es)",
        n - failed_files.len(),
        bytes as f64 / (1 << 20) as f64,
        run.elapsed_s(),
        ideal,
        threads.os_threads,
        threads.processes,
    );
    add_resources(&mut run, ideal, threads);
    let failed = failed_files.len();
    run.extra("bytes", bytes)
        .extra("retries", retries)
        .extra("failed_files", failed_files);
    run.finish(downloads_digest(&outcomes), failed)
}

/// The closing lines and summary of a requests run.
pub fn finish_requests(
    mut run: Run,
    about: &About,
    outcomes: Vec<Outcome<Fetched<u64>>>,
    threads: Threads,
) -> Summary {
    let outcomes = fetched(outcomes);
    let failed_items: Vec<usize> = (0..outcomes.len())
        .filter(|&i| outcomes[i].result.is_err())
        .collect();
    for &i in failed_items.iter().take(10) {
        let o = &outcomes[i];
        let why = o.result.as_ref().err().map_or("", String::as_str);
        say!("FAILED item {i} after {} attempt(s): {why}", o.attempts);
    }
    if failed_items.len() > 10 {
        say!(
            "... and {} more failed items (all listed in --json)",
            failed_items.len() - 10
        );
    }
    let sum: u64 = outcomes.iter().filter_map(|o| o.result.as_ref().ok()).sum();
    let ideal = ideal_requests_s(about, outcomes.len(), run.workers());
    let retries = retries_used(&outcomes);
    say!(
        "{} of {} items fetched in {:.3} s (ideal {:.3} s), sum of values {sum}, {retries} retries, \
         {} OS threads in {} process(es)",
        outcomes.len() - failed_items.len(),
        outcomes.len(),
        run.elapsed_s(),
        ideal,
        threads.os_threads,
        threads.processes,
    );
    add_resources(&mut run, ideal, threads);
    let failed = failed_items.len();
    run.extra("sum", sum)
        .extra("retries", retries)
        .extra("failed_items", failed_items);
    run.finish(requests_digest(&outcomes), failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_depend_on_results_not_on_attempts() {
        let a = vec![
            Fetched {
                attempts: 1,
                result: Ok(5u64),
            },
            Fetched {
                attempts: 1,
                result: Ok(7),
            },
        ];
        let b = vec![
            Fetched {
                attempts: 3,
                result: Ok(5u64),
            },
            Fetched {
                attempts: 1,
                result: Ok(7),
            },
        ];
        assert_eq!(requests_digest(&a), requests_digest(&b));
        let c = vec![
            Fetched {
                attempts: 1,
                result: Ok(7u64),
            },
            Fetched {
                attempts: 1,
                result: Ok(5),
            },
        ];
        assert_ne!(requests_digest(&a), requests_digest(&c));
        let d = vec![
            Fetched::failed("x"),
            Fetched {
                attempts: 1,
                result: Ok(7),
            },
        ];
        assert_ne!(requests_digest(&a), requests_digest(&d));
    }

    #[test]
    fn ideal_times() {
        let about = About {
            server: "s".into(),
            files: 64,
            size: 1 << 20,
            latency_ms: 50,
            bandwidth: 10 << 20,
            fault_rate: 0.0,
        };
        // 64 files, 8 at a time: 8 rounds of 50 ms + 100 ms.
        assert!((ideal_download_s(&about, 64, 1 << 20, 8) - 1.2).abs() < 1e-9);
        assert!((ideal_download_s(&about, 64, 1 << 20, 1) - 9.6).abs() < 1e-9);
        assert!((ideal_requests_s(&about, 1000, 1000) - 0.05).abs() < 1e-9);
        assert!((ideal_requests_s(&about, 1000, 100) - 0.5).abs() < 1e-9);
    }
}
