//! The crawl, level by level: what every model runs, handing each level to its pool.
//!
//! Why levels. "Breadth-first to depth D" sounds like a queue, but with K requests in flight
//! pages come back in whatever order the network and the scheduler give, and a queue fed as
//! they arrive makes the depth of a URL depend on timing: a page reached first through a long
//! chain would be given that chain's depth, its links cut off at D, and a run with other timing
//! would visit other pages. So depth here is the *shortest* link distance from the start page,
//! and it is computed exactly: level d is fetched whole (any order, any concurrency), then its
//! results are read back *in input order* and every link not seen before becomes level d+1.
//! The set of pages visited is then a function of the site alone, identical in every model,
//! every run and both languages. The price is a barrier per level (the slowest page of a level
//! holds up the next), a few per crawl.
//!
//! The rest of the rules:
//! - each URL once: a URL (absolute, without fragment) is admitted to a level only if it was
//!   never admitted before; links to it later are duplicates;
//! - a redirect is not a link: its target is admitted to the *same* level (fetched in a further
//!   round of it), so a page that moved keeps its distance;
//! - robots.txt: fetched once per host, before the host's first URL is admitted, by the
//!   coordinator itself; a disallowed URL is counted and never fetched. As RFC 9309 says, a
//!   robots.txt that answers 4xx allows everything, one that cannot be had (5xx, no answer after
//!   every retry) disallows everything on that host;
//! - links off the site (another scheme, a non-loopback host) are counted and never fetched;
//! - `--max-pages` bounds the URLs admitted; those cut are counted.
//!
//! A level is cut into work items by [`Sharding`]: one URL per item, hosts interleaved so K
//! workers spread over the hosts (serial, threading, asyncio: the per-host limit is a limiter
//! they share); or, for processes, which share nothing, at most C shards per host, so no host
//! ever has more than C processes on it at once: politeness by construction.

use super::page::origin;
use super::{CrawlArgs, Fetched, RobotsTxt, Visit};
use crate::outcome::Outcome;
use crate::say;
use anyhow::{Result, bail};
use std::collections::{HashMap, HashSet};

/// How a level is cut into work items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharding {
    /// One URL per item, hosts interleaved.
    PerUrl,
    /// At most `per_host` items per host, each a run of that host's URLs.
    ByHost { per_host: usize },
}

/// The robots.txt rules of one host.
enum Rules {
    Parsed(Box<texting_robots::Robot>),
    AllowAll,
    /// robots.txt could not be had, and why.
    DisallowAll(String),
}

impl Rules {
    fn allows(&self, url: &str) -> bool {
        match self {
            Rules::Parsed(robot) => robot.allowed(url),
            Rules::AllowAll => true,
            Rules::DisallowAll(_) => false,
        }
    }
}

/// A whole crawl: every URL visited in the order the levels visited them, and what was skipped.
#[derive(Debug, Default)]
pub struct Crawled {
    pub visited: Vec<Fetched>,
    /// The depth of each visited URL, beside it.
    pub depths: Vec<usize>,
    /// Levels fetched, rounds of redirects included.
    pub rounds: usize,
    /// URLs never fetched because robots.txt disallows them.
    pub robots_skipped: u64,
    /// Links that leave the site (all pages, duplicates included).
    pub off_site: u64,
    /// URLs never admitted because `--max-pages` were known.
    pub cut: u64,
    /// robots.txt fetched, and the hosts whose robots.txt could not be had.
    pub robots_fetched: u64,
    pub robots_unreachable: Vec<String>,
}

/// The state of a crawl between levels.
struct Frontier<'a> {
    args: &'a CrawlArgs,
    seen: HashSet<String>,
    rules: HashMap<String, Rules>,
    crawled: Crawled,
}

impl Frontier<'_> {
    /// The URLs of `candidates` that may be fetched, in order: never seen, allowed by their
    /// host's robots.txt (fetched now if this is the host's first URL), within `--max-pages`.
    fn admit(
        &mut self,
        candidates: Vec<String>,
        robots: &mut impl FnMut(&str) -> Result<RobotsTxt>,
    ) -> Result<Vec<String>> {
        let mut admitted = Vec::new();
        for url in candidates {
            if self.seen.contains(&url) {
                continue;
            }
            if self.seen.len() >= self.args.max_pages {
                self.crawled.cut += 1;
                continue;
            }
            let host = origin(&url);
            if !self.rules.contains_key(&host) {
                let rules = self.fetch_rules(&host, robots)?;
                self.rules.insert(host.clone(), rules);
            }
            self.seen.insert(url.clone());
            if self.rules[&host].allows(&url) {
                admitted.push(url);
            } else {
                self.crawled.robots_skipped += 1;
            }
        }
        Ok(admitted)
    }

    fn fetch_rules(
        &mut self,
        host: &str,
        robots: &mut impl FnMut(&str) -> Result<RobotsTxt>,
    ) -> Result<Rules> {
        self.crawled.robots_fetched += 1;
        Ok(match robots(host)? {
            RobotsTxt::Rules(body) => {
                match texting_robots::Robot::new(super::USER_AGENT, body.as_bytes()) {
                    Ok(robot) => Rules::Parsed(Box::new(robot)),
                    Err(e) => {
                        say!(
                            "{host}/robots.txt could not be read ({e}); treating it as allowing everything"
                        );
                        Rules::AllowAll
                    }
                }
            }
            RobotsTxt::Missing(_) => Rules::AllowAll,
            RobotsTxt::Unreachable(why) => {
                say!("{host}/robots.txt could not be had ({why}): nothing on that host is fetched");
                self.crawled.robots_unreachable.push(host.to_string());
                Rules::DisallowAll(why)
            }
        })
    }
}

/// Group `urls` by host, keeping their order within each host and the hosts in order of first
/// appearance.
fn by_host(urls: Vec<String>) -> Vec<Vec<String>> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Vec<String>> = Vec::new();
    for url in urls {
        let k = *index.entry(origin(&url)).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[k].push(url);
    }
    groups
}

/// Round-robin over `lists`: the first of each, then the second of each, ...
fn interleave<T>(lists: Vec<Vec<T>>) -> Vec<T> {
    let mut iters: Vec<_> = lists.into_iter().map(Vec::into_iter).collect();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        for it in &mut iters {
            if let Some(x) = it.next() {
                out.push(x);
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// A level's URLs as work items.
pub fn shard(urls: Vec<String>, sharding: Sharding) -> Vec<Vec<String>> {
    let hosts = by_host(urls);
    match sharding {
        Sharding::PerUrl => interleave(hosts).into_iter().map(|u| vec![u]).collect(),
        Sharding::ByHost { per_host } => {
            let sharded = hosts
                .into_iter()
                .map(|urls| {
                    let k = per_host.min(urls.len()).max(1);
                    let mut shards = vec![Vec::new(); k];
                    for (i, u) in urls.into_iter().enumerate() {
                        shards[i % k].push(u);
                    }
                    shards
                })
                .collect();
            interleave(sharded)
        }
    }
}

/// Crawl from `args.url` to `args.depth`. `robots(origin)` fetches one host's robots.txt;
/// `level(items)` fetches every URL of every item, on the crate's pool, and returns one outcome
/// per item, in input order, with one [`Fetched`] per URL of the item, in order.
pub fn crawl(
    args: &CrawlArgs,
    sharding: Sharding,
    mut robots: impl FnMut(&str) -> Result<RobotsTxt>,
    mut level: impl FnMut(Vec<Vec<String>>) -> Result<Vec<Outcome<Vec<Fetched>>>>,
) -> Result<Crawled> {
    let mut f = Frontier {
        args,
        seen: HashSet::new(),
        rules: HashMap::new(),
        crawled: Crawled::default(),
    };
    let mut todo = f.admit(vec![args.url.clone()], &mut robots)?;
    if todo.is_empty()
        && let Some(Rules::DisallowAll(why)) = f.rules.get(&origin(&args.url))
    {
        bail!(
            "cannot crawl {}: {}/robots.txt could not be had ({why}); is `decision-table site` \
             running there?",
            args.url,
            origin(&args.url)
        );
    }
    if todo.is_empty() {
        bail!(
            "{}: robots.txt does not allow crawling the start page",
            args.url
        );
    }
    let mut depth = 0;
    // Links found at this depth: the candidates for the next one, in the order found.
    let mut next = Vec::new();
    while !todo.is_empty() {
        let items = shard(todo, sharding);
        let urls: Vec<Vec<String>> = items.clone();
        let outcomes = level(items)?;
        f.crawled.rounds += 1;
        let mut moved = Vec::new();
        for (batch, outcome) in urls.into_iter().zip(outcomes) {
            let fetched: Vec<Fetched> = match outcome {
                Outcome::Done(fetched) if fetched.len() == batch.len() => fetched,
                Outcome::Done(_) => batch
                    .into_iter()
                    .map(|u| Fetched::failed(u, "the worker returned a short batch"))
                    .collect(),
                other => {
                    let why = other.why_not().unwrap_or_default().to_string();
                    batch
                        .into_iter()
                        .map(|u| Fetched::failed(u, why.clone()))
                        .collect()
                }
            };
            for visit in fetched {
                match &visit.visit {
                    Visit::Page {
                        links, off_site, ..
                    } => {
                        f.crawled.off_site += u64::from(*off_site);
                        if depth < args.depth {
                            next.extend(links.iter().cloned());
                        }
                    }
                    Visit::Redirect { location, .. } => match location {
                        Some(to) => moved.push(to.clone()),
                        None => f.crawled.off_site += 1,
                    },
                    Visit::Missing { .. } | Visit::Failed { .. } => {}
                }
                f.crawled.visited.push(visit);
                f.crawled.depths.push(depth);
            }
        }
        // Where redirects point is this depth still; only when no round of them is left does
        // the crawl go one level down.
        todo = f.admit(moved, &mut robots)?;
        if todo.is_empty() && depth < args.depth {
            todo = f.admit(std::mem::take(&mut next), &mut robots)?;
            depth += 1;
        }
    }
    Ok(f.crawled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(links: &[&str]) -> Visit {
        Visit::Page {
            title: String::new(),
            items: vec![],
            links: links.iter().map(|s| s.to_string()).collect(),
            off_site: 0,
        }
    }

    fn fetched(url: &str, visit: Visit) -> Fetched {
        Fetched {
            url: url.into(),
            visit,
            attempts: 1,
            throttled: 0,
            fetch_ms: 1.0,
            parse_ms: 0.0,
            bytes: 0,
        }
    }

    /// A little site: a -> b, c; b -> d (and back to a); c -> r (a redirect to e); d -> f;
    /// e -> f; h2's robots.txt disallows /no.
    fn site(url: &str) -> Visit {
        let u = |p: &str| format!("http://127.0.0.2:1{p}");
        let p = url.strip_prefix("http://127.0.0.2:1").unwrap_or(url);
        match p {
            "/a" => page(&[
                &u("/b"),
                &u("/c"),
                "http://127.0.0.3:1/no",
                "http://127.0.0.3:1/yes",
            ]),
            "/b" => page(&[&u("/d"), &u("/a")]),
            "/c" => page(&[&u("/r")]),
            "/r" => Visit::Redirect {
                status: 301,
                location: Some(u("/e")),
            },
            "/d" => page(&[&u("/f")]),
            "/e" => page(&[&u("/f"), &u("/g")]),
            _ => Visit::Missing { status: 404 },
        }
    }

    fn run(depth: usize, sharding: Sharding, reverse: bool) -> Crawled {
        let args = CrawlArgs {
            url: "http://127.0.0.2:1/a".into(),
            depth,
            ..CrawlArgs::default()
        };
        let robots = |host: &str| {
            Ok(if host.ends_with(".3:1") {
                RobotsTxt::Rules("User-agent: *\nDisallow: /no\n".into())
            } else {
                RobotsTxt::Missing(404)
            })
        };
        crawl(&args, sharding, robots, |items| {
            // Whatever order the work is done in, the results come back in input order.
            let mut order: Vec<usize> = (0..items.len()).collect();
            if reverse {
                order.reverse();
            }
            let mut done: Vec<Option<Outcome<Vec<Fetched>>>> = vec![None; items.len()];
            for i in order {
                done[i] = Some(Outcome::Done(
                    items[i].iter().map(|u| fetched(u, site(u))).collect(),
                ));
            }
            Ok(done.into_iter().map(Option::unwrap).collect())
        })
        .unwrap()
    }

    fn urls(c: &Crawled) -> Vec<(String, usize)> {
        let mut v: Vec<_> = c
            .visited
            .iter()
            .map(|f| f.url.clone())
            .zip(c.depths.clone())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn depth_is_the_shortest_distance_and_redirects_keep_it() {
        let c = run(2, Sharding::PerUrl, false);
        let h = |p: &str, d| (format!("http://127.0.0.2:1{p}"), d);
        let mut want = vec![
            h("/a", 0),
            h("/b", 1),
            h("/c", 1),
            ("http://127.0.0.3:1/yes".to_string(), 1),
            h("/d", 2),
            h("/r", 2),
            h("/e", 2),
        ];
        want.sort();
        assert_eq!(urls(&c), want, "f and g are at distance 3");
        assert_eq!(c.robots_skipped, 1);
        assert_eq!(c.robots_fetched, 2, "once per host");
        assert_eq!(run(0, Sharding::PerUrl, false).visited.len(), 1);
    }

    #[test]
    fn the_visited_set_does_not_depend_on_order_or_sharding() {
        let base = urls(&run(3, Sharding::PerUrl, false));
        assert_eq!(urls(&run(3, Sharding::PerUrl, true)), base);
        assert_eq!(urls(&run(3, Sharding::ByHost { per_host: 2 }, true)), base);
    }

    #[test]
    fn shards_interleave_hosts_and_keep_at_most_c_per_host() {
        let urls: Vec<String> = ["2/a", "2/b", "2/c", "3/x", "2/d", "3/y"]
            .iter()
            .map(|s| format!("http://127.0.0.{}", s.replacen('/', ":1/", 1)))
            .collect();
        let per_url = shard(urls.clone(), Sharding::PerUrl);
        let flat: Vec<&str> = per_url.iter().map(|b| b[0].as_str()).collect();
        assert_eq!(
            flat,
            [
                "http://127.0.0.2:1/a",
                "http://127.0.0.3:1/x",
                "http://127.0.0.2:1/b",
                "http://127.0.0.3:1/y",
                "http://127.0.0.2:1/c",
                "http://127.0.0.2:1/d"
            ]
        );
        let by_host = shard(urls, Sharding::ByHost { per_host: 2 });
        assert_eq!(by_host.len(), 4, "two shards for each host");
        assert_eq!(by_host[0], ["http://127.0.0.2:1/a", "http://127.0.0.2:1/c"]);
        assert_eq!(by_host[1], ["http://127.0.0.3:1/x"]);
    }

    #[test]
    fn a_start_page_robots_txt_forbids_is_refused() {
        let args = CrawlArgs {
            url: "http://127.0.0.2:1/private/x".into(),
            ..CrawlArgs::default()
        };
        let e = crawl(
            &args,
            Sharding::PerUrl,
            |_| {
                Ok(RobotsTxt::Rules(
                    "User-agent: *\nDisallow: /private/\n".into(),
                ))
            },
            |_| unreachable!("nothing to fetch"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("robots.txt does not allow"), "{e}");
    }
}
