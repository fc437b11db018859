//! A site for `crawl`, started in this process on 127.0.0.2, 127.0.0.3, ... (a free port), and
//! what a correct crawl of it must report, worked out from the site's own page models
//! (`decision_table::site::pages`), not from any crawler: which URLs a breadth-first crawl to
//! depth D visits (shortest distance, redirects at the depth of the link to them, robots.txt
//! obeyed), what each came to and the products on every page, hashed with the library's
//! `crawl::finish::digest`. [`SiteBench`] starts the site and runs a binary against it; the
//! checks are in each crate's `tests/crawl.rs`.

use crate::run::{Output, parse_summary, run_with_limit};
use decision_table::site::pages::{Layout, Target};
use decision_table::site::{self, HostStats, Site, SiteArgs};
use scenarios::Summary;
use scenarios::crawl::{Fetched, Item, Visit, finish};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// A small site for tests: `pages` pages on `hosts` hosts, C = `per_host`, no latency.
pub fn small(pages: usize, hosts: usize, per_host: usize) -> SiteArgs {
    SiteArgs {
        port: 0,
        pages,
        hosts,
        per_host,
        stall_ms: 10_000,
        ..SiteArgs::default()
    }
}

/// What a correct crawl of a site to some depth finds.
#[derive(Debug)]
pub struct Reference {
    pub digest: String,
    /// URLs visited (pages, redirects, missing).
    pub visited: usize,
    pub pages: usize,
    pub redirects: usize,
    pub missing: usize,
    pub robots_skipped: u64,
}

/// The crawl of `layout` served at `bases` from its first host's `/` to `depth`, worked out
/// from the page models.
pub fn reference(layout: &Layout, bases: &[String], depth: usize) -> Reference {
    let url = |h: usize, p: &str| format!("{}{p}", bases[h]);
    let page_url = |j: usize| url(layout.host_of(j), &layout.path_of(j));
    let disallowed = |p: &str| p.starts_with("/private/") || p.starts_with("/cart");
    // What each on-site URL is: a page, a redirect to a URL, a missing page.
    let mut seen = HashSet::new();
    let mut visited = Vec::new();
    let mut robots_skipped = 0;
    let start = page_url(0);
    seen.insert(start.clone());
    let mut level = vec![Target::Page(0)];
    for d in 0..=depth {
        let mut next = Vec::new();
        while !level.is_empty() {
            let mut moved = Vec::new();
            for t in std::mem::take(&mut level) {
                let (h, p) = layout.resolve(&t).expect("on the site");
                let here = url(h, &p);
                let visit = match t {
                    Target::Page(j) => {
                        let m = layout.page(j);
                        if d < depth {
                            next.extend(m.links.iter().map(|l| l.target.clone()));
                        }
                        Visit::Page {
                            title: m.title,
                            items: m
                                .products
                                .into_iter()
                                .map(|p| Item {
                                    sku: p.sku,
                                    name: p.name,
                                    cents: p.cents,
                                })
                                .collect(),
                            links: vec![],
                            off_site: 0,
                        }
                    }
                    Target::Moved(j) => {
                        moved.push(Target::Page(j));
                        Visit::Redirect {
                            status: 301,
                            location: Some(page_url(j)),
                        }
                    }
                    Target::GoPrivate(h, k) => {
                        moved.push(Target::Disallowed(h, format!("/private/area-{k}.html")));
                        Visit::Redirect {
                            status: 302,
                            location: Some(url(h, &format!("/private/area-{k}.html"))),
                        }
                    }
                    Target::Missing(_, ref p) => Visit::Missing {
                        status: if p.starts_with("/discontinued/") {
                            410
                        } else {
                            404
                        },
                    },
                    Target::Disallowed(..) | Target::External(_) => unreachable!("never admitted"),
                };
                visited.push(Fetched {
                    visit,
                    ..Fetched::failed(here, "")
                });
            }
            level = admit(
                layout,
                &url,
                moved,
                &mut seen,
                &mut robots_skipped,
                &disallowed,
            );
        }
        level = admit(
            layout,
            &url,
            std::mem::take(&mut next),
            &mut seen,
            &mut robots_skipped,
            &disallowed,
        );
    }
    let count = |f: fn(&Visit) -> bool| visited.iter().filter(|v| f(&v.visit)).count();
    Reference {
        digest: finish::digest(&visited),
        visited: visited.len(),
        pages: count(|v| matches!(v, Visit::Page { .. })),
        redirects: count(|v| matches!(v, Visit::Redirect { .. })),
        missing: count(|v| matches!(v, Visit::Missing { .. })),
        robots_skipped,
    }
}

fn admit(
    layout: &Layout,
    url: &impl Fn(usize, &str) -> String,
    targets: Vec<Target>,
    seen: &mut HashSet<String>,
    robots_skipped: &mut u64,
    disallowed: &impl Fn(&str) -> bool,
) -> Vec<Target> {
    let mut out = Vec::new();
    for t in targets {
        let Some((h, p)) = layout.resolve(&t) else {
            continue;
        };
        if !seen.insert(url(h, &p)) {
            continue;
        }
        if disallowed(&p) {
            *robots_skipped += 1;
        } else {
            out.push(t);
        }
    }
    out
}

/// A site running in this test process, and its reference crawl.
pub struct SiteBench {
    pub args: SiteArgs,
    pub site: Site,
}

/// One crawl against a [`SiteBench`].
#[derive(Debug)]
pub struct Crawled {
    pub output: Output,
}

impl Crawled {
    pub fn summary(&self) -> Summary {
        parse_summary(&self.output.stdout)
    }
}

impl SiteBench {
    pub fn start(args: SiteArgs) -> SiteBench {
        let site = site::start(&args).expect("start the site");
        SiteBench { args, site }
    }

    pub fn url(&self) -> String {
        self.site.start_url()
    }

    /// The reference crawl to `depth`.
    pub fn reference(&self, depth: usize) -> Reference {
        reference(&self.args.layout(), self.site.bases(), depth)
    }

    /// `exe crawl --url START --json EXTRA...`, within two minutes.
    pub fn crawl(&self, exe: &str, extra: &[&str]) -> Crawled {
        let url = self.url();
        let mut args = vec!["crawl", "--url", url.as_str(), "--json"];
        args.extend_from_slice(extra);
        Crawled {
            output: run_with_limit(exe, &args, Duration::from_secs(120)),
        }
    }

    pub fn hosts(&self) -> &[Arc<HostStats>] {
        self.site.stats()
    }

    /// Politeness violations (429s) over every host.
    pub fn politeness_violations(&self) -> u64 {
        self.hosts().iter().map(|h| h.politeness()).sum()
    }

    /// Requests into paths robots.txt disallows, over every host.
    pub fn robots_violations(&self) -> u64 {
        self.hosts().iter().map(|h| h.robots()).sum()
    }

    /// The most requests one host had in flight at once.
    pub fn max_in_flight(&self) -> u64 {
        self.hosts()
            .iter()
            .map(|h| h.max_in_flight())
            .max()
            .unwrap_or(0)
    }

    /// How many times each host's robots.txt was asked for.
    pub fn robots_fetches(&self) -> HashMap<String, u64> {
        self.hosts()
            .iter()
            .map(|h| {
                (
                    h.host.clone(),
                    h.robots_txt.load(std::sync::atomic::Ordering::Relaxed),
                )
            })
            .collect()
    }
}
