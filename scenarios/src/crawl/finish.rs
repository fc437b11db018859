//! Closing a crawl: the digest every model must agree on, the figures and the closing lines.
//!
//! The digest is over the *set* of URLs visited (sorted, each with what it came to: a page and
//! its title, a redirect and where to, a missing page and its status, a failure) and then the
//! products extracted from every page (sorted: SKU, name, price in cents). Nothing in it
//! depends on the order pages were fetched in, on timing or on retries; only on the site, the
//! depth and what failed for good. Python's `chapter/crawl.py` computes it byte for byte alike.
//!
//! The figures:
//! - `pages_per_s`: pages parsed per second of the whole run;
//! - `fetch_p50_ms`, `fetch_p95_ms`: the time of each URL's last attempt, from sending the
//!   request to the last byte, over every URL; waiting for a host's slot is not in it, a loop
//!   too busy to read the socket is;
//! - `parse_s` and `parse_share`: the time spent parsing, and its share of the time spent on
//!   pages (parsing plus fetching): how CPU-bound the crawl is;
//! - `politeness_violations`: HTTP 429 answers this crawler got (the site counts the same);
//! - `max_rss_kib` in the summary, children included, is the peak memory. A process pool
//!   starts fresh workers for each round and reaps them before the next, so the children's part
//!   is the largest round's, not the sum over every process the crawl ever started (the pool's
//!   own accounting adds every child's peak, which is exact only when they all live together).

use super::{Crawled, Fetched, Visit};
use crate::digest::Digest;
use crate::usage::Threads;
use crate::{Run, Summary, say};

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The `q` quantile (0 to 1) of `values`, nearest rank; 0 for none.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// What one visited URL contributes to the digest.
pub fn visit_line(f: &Fetched) -> String {
    match &f.visit {
        Visit::Page { title, .. } => format!("{} 200 {title}", f.url),
        Visit::Redirect { status, location } => {
            format!(
                "{} {status} {}",
                f.url,
                location.as_deref().unwrap_or("off-site")
            )
        }
        Visit::Missing { status } => format!("{} {status}", f.url),
        Visit::Failed { .. } => format!("{} failed", f.url),
    }
}

/// The digest of a crawl: the visited set, then the products, each sorted.
pub fn digest(visited: &[Fetched]) -> String {
    let mut lines: Vec<String> = visited.iter().map(visit_line).collect();
    lines.sort();
    let mut items: Vec<String> = visited
        .iter()
        .flat_map(|f| match &f.visit {
            Visit::Page { items, .. } => items
                .iter()
                .map(|i| format!("{}\t{}\t{}", i.sku, i.name, i.cents))
                .collect(),
            _ => vec![],
        })
        .collect();
    items.sort();
    let mut d = Digest::new();
    d.update_u64(lines.len() as u64);
    for l in &lines {
        d.update(l.as_bytes());
    }
    d.update_u64(items.len() as u64);
    for i in &items {
        d.update(i.as_bytes());
    }
    d.finish()
}

/// The closing lines and the summary of a crawl. `items` in the summary is the number of URLs
/// visited; every URL that failed for good is named and counted in `failed`.
pub fn finish(mut run: Run, crawled: Crawled, threads: Threads) -> Summary {
    let v = &crawled.visited;
    let count = |f: fn(&Visit) -> bool| v.iter().filter(|x| f(&x.visit)).count();
    let pages = count(|x| matches!(x, Visit::Page { .. }));
    let redirects = count(|x| matches!(x, Visit::Redirect { .. }));
    let missing = count(|x| matches!(x, Visit::Missing { .. }));
    let failed: Vec<&Fetched> = v
        .iter()
        .filter(|x| matches!(x.visit, Visit::Failed { .. }))
        .collect();
    for f in failed.iter().take(10) {
        if let Visit::Failed { why } = &f.visit {
            say!("FAILED {} after {} attempt(s): {why}", f.url, f.attempts);
        }
    }
    if failed.len() > 10 {
        say!(
            "... and {} more failed URLs (all listed in --json)",
            failed.len() - 10
        );
    }
    let items: usize = v
        .iter()
        .map(|f| match &f.visit {
            Visit::Page { items, .. } => items.len(),
            _ => 0,
        })
        .sum();
    let fetch_ms: Vec<f64> = v
        .iter()
        .filter(|f| f.attempts > 0)
        .map(|f| f.fetch_ms)
        .collect();
    let fetch_s: f64 = fetch_ms.iter().sum::<f64>() / 1000.0;
    let parse_s: f64 = v.iter().map(|f| f.parse_ms).sum::<f64>() / 1000.0;
    let parse_share = if fetch_s + parse_s > 0.0 {
        parse_s / (fetch_s + parse_s)
    } else {
        0.0
    };
    let violations: u64 = v.iter().map(|f| u64::from(f.throttled)).sum();
    let retries: u64 = v
        .iter()
        .map(|f| u64::from(f.attempts.saturating_sub(1)))
        .sum();
    let bytes: u64 = v.iter().map(|f| f.bytes).sum();
    let wall = run.elapsed_s();
    let pages_per_s = if wall > 0.0 { pages as f64 / wall } else { 0.0 };
    let (p50, p95) = (quantile(&fetch_ms, 0.5), quantile(&fetch_ms, 0.95));
    let deepest = crawled.depths.iter().copied().max().unwrap_or(0);
    say!(
        "crawled {} URLs to depth {deepest} in {} rounds: {pages} pages ({items} products, {:.1} MiB), \
         {redirects} redirects, {missing} missing, {} failed; skipped {} by robots.txt, {} links off the site",
        v.len(),
        crawled.rounds,
        bytes as f64 / (1 << 20) as f64,
        failed.len(),
        crawled.robots_skipped,
        crawled.off_site,
    );
    say!(
        "{pages_per_s:.0} pages/s in {wall:.3} s, fetch p50 {p50:.1} ms p95 {p95:.1} ms, parsing {:.0}% of page time \
         ({parse_s:.3} s), {violations} politeness violations (HTTP 429), {retries} retries, {} OS threads in {} process(es)",
        parse_share * 100.0,
        threads.os_threads,
        threads.processes,
    );
    if violations > 0 {
        say!(
            "IMPOLITE: {violations} requests went over a host's limit and were refused with HTTP 429"
        );
    }
    let failed_urls: Vec<String> = failed.iter().map(|f| f.url.clone()).collect();
    run.extra("pages", pages as u64)
        .extra("pages_per_s", round3(pages_per_s))
        .extra("fetch_p50_ms", round3(p50))
        .extra("fetch_p95_ms", round3(p95))
        .extra("parse_s", round3(parse_s))
        .extra("parse_share", round3(parse_share))
        .extra("politeness_violations", violations)
        .extra("products", items as u64)
        .extra("redirects", redirects as u64)
        .extra("missing", missing as u64)
        .extra("robots_skipped", crawled.robots_skipped)
        .extra("off_site", crawled.off_site)
        .extra("cut", crawled.cut)
        .extra("depth", deepest as u64)
        .extra("rounds", crawled.rounds as u64)
        .extra("retries", retries)
        .extra("bytes", bytes)
        .extra("robots_unreachable", crawled.robots_unreachable.clone())
        .extra("os_threads", threads.os_threads)
        .extra("processes", threads.processes)
        .extra("failed_urls", failed_urls);
    let digest = digest(v);
    let mut summary = run.finish(digest, failed.len());
    summary.items = v.len();
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crawl::Item;

    fn page(url: &str, skus: &[&str]) -> Fetched {
        let mut f = Fetched::failed(url.into(), "");
        f.attempts = 1;
        f.visit = Visit::Page {
            title: "T".into(),
            items: skus
                .iter()
                .map(|s| Item {
                    sku: s.to_string(),
                    name: "n".into(),
                    cents: 5,
                })
                .collect(),
            links: vec![],
            off_site: 0,
        };
        f
    }

    #[test]
    fn the_digest_is_of_sets_not_orders() {
        let a = vec![page("u1", &["a", "b"]), page("u2", &["c"])];
        let b = vec![page("u2", &["c"]), page("u1", &["b", "a"])];
        assert_eq!(digest(&a), digest(&b));
        let mut retried = b.clone();
        retried[0].attempts = 3;
        retried[0].fetch_ms = 99.0;
        assert_eq!(
            digest(&a),
            digest(&retried),
            "attempts and timing are not results"
        );
        let c = vec![page("u1", &["a", "b"]), Fetched::failed("u2".into(), "x")];
        assert_ne!(digest(&a), digest(&c));
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.95), 95.0);
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&[3.0], 0.95), 3.0);
        assert_eq!(quantile(&[], 0.95), 0.0);
    }
}
