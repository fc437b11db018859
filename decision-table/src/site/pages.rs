//! The pages of `decision-table site`: a shop catalogue made up from the seed, one page at a
//! time, so the server never holds the site and a test can work out what a correct crawl finds.
//!
//! A page is first a [`PageModel`] (its title, its products, its links and where each points),
//! then HTML ([`render`]). The model is what the tests reason about; the HTML is what a crawler
//! sees: 20 to 50 KB of nested markup (header, navigation, breadcrumbs, product cards with a
//! specification table each, paragraphs, a related list, a footer), with the traps a real page
//! has: a commented-out product card and a script holding markup, which a parser must not
//! mistake for content, and an old price beside each real one.
//!
//! The conventions a crawler's extractor relies on (`scenarios::crawl::page` in Rust,
//! `chapter.crawl_parse` in Python):
//! - the title is the `<title>` element's text;
//! - a product is a `div.product` with a `data-sku`; its name is the text of its `.name`, its
//!   price the text of its `.price` (`$1,234.56`); the struck-out `.was` is not the price;
//! - links are the `href`s of `<a>` elements, written in every form a page uses (absolute,
//!   protocol-relative, root-relative, relative, `../`, with a `#fragment`), to the same host and
//!   to the site's other hosts, plus broken ones, redirects, links into the paths `robots.txt`
//!   disallows, and links off the site (another domain, `mailto:`, `javascript:`, `tel:`).
//!
//! Where pages live: page `i` is on host `i % hosts`; the first page of each host is its `/`,
//! the others are `/page/{i}.html`. Links point at pages drawn uniformly from the whole site, so
//! with 10 to 30 links a page the crawl reaches about 20 pages at depth 1, a few hundred at
//! depth 2 and most of a 3,000-page site at depth 3.

use scenarios::rng::SplitMix64;
use std::fmt::Write;

/// Salts, so pages, products and filler draw from streams of their own.
const PAGE_SALT: u64 = 0x5EED_0F5A_6E5F_0001;
const FILLER_SALT: u64 = 0x5EED_0F5A_6E5F_0002;

/// What `robots.txt` says on every host.
pub const ROBOTS_TXT: &str = "# decision-table site: crawlers are welcome, but not in the back office or the cart\n\
User-agent: *\n\
Disallow: /private/\n\
Disallow: /cart\n";

/// Where the site's pages are and how many there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub pages: usize,
    pub hosts: usize,
    pub seed: u64,
}

/// One product card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub cents: u64,
}

/// Where a link points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A page of the site.
    Page(usize),
    /// A path on host `.0` that answers 404 (no such page) or 410 (`/discontinued/`).
    Missing(usize, String),
    /// `/old/{j}` on page `j`'s host: a 301 to page `j`.
    Moved(usize),
    /// `/go/{k}` on host `.0`: a 302 into `/private/`, which robots.txt disallows.
    GoPrivate(usize, u64),
    /// A path robots.txt disallows on host `.0` (`/private/...`, `/cart?...`).
    Disallowed(usize, String),
    /// Off the site: another domain or another scheme. Never to be fetched.
    External(String),
}

/// How an `href` is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Absolute,
    ProtocolRelative,
    RootRelative,
    /// `17.html`, relative to `/page/`: only between two `/page/` paths.
    Relative,
    /// `../page/17.html`: only between two `/page/` paths.
    DotDot,
}

/// One link: where it points, how it is written, and whether it has a `#fragment`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub target: Target,
    pub form: Form,
    pub fragment: bool,
}

/// Everything a page says, before it is HTML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageModel {
    pub index: usize,
    pub host: usize,
    pub title: String,
    pub category: &'static str,
    pub products: Vec<Product>,
    pub links: Vec<Link>,
    /// The size the filler brings the page to, in bytes.
    pub target_bytes: usize,
}

const CATEGORIES: [&str; 12] = [
    "Kitchen", "Garden", "Tools", "Lighting", "Bath", "Office", "Camping", "Storage", "Textiles",
    "Audio", "Cycling", "Pets",
];
const ADJECTIVES: [&str; 16] = [
    "Brushed",
    "Compact",
    "Classic",
    "Folding",
    "Heavy-Duty",
    "Nordic",
    "Portable",
    "Rustic",
    "Slim",
    "Smart",
    "Vintage",
    "Weatherproof",
    "Deluxe",
    "Modular",
    "Quiet",
    "Everyday",
];
const MATERIALS: [&str; 12] = [
    "Steel",
    "Oak",
    "Bamboo",
    "Ceramic",
    "Copper",
    "Linen",
    "Walnut",
    "Glass",
    "Cotton",
    "Aluminium",
    "Slate",
    "Wool",
];
const NOUNS: [&str; 16] = [
    "Kettle",
    "Lamp",
    "Shelf",
    "Salt & Pepper Mill",
    "Chair",
    "Planter",
    "Toolbox",
    "Speaker",
    "Blanket",
    "Lantern",
    "Desk Organiser",
    "Bike Light",
    "Cutting Board",
    "Pet Bed",
    "Tent Peg Set",
    "Cup & Saucer",
];
const WORDS: [&str; 48] = [
    "delivery",
    "returns",
    "warranty",
    "quality",
    "design",
    "crafted",
    "durable",
    "finish",
    "every",
    "home",
    "season",
    "customers",
    "review",
    "stock",
    "ships",
    "within",
    "days",
    "order",
    "gift",
    "size",
    "colour",
    "care",
    "instructions",
    "material",
    "sourced",
    "responsibly",
    "tested",
    "lab",
    "comfort",
    "weight",
    "light",
    "easy",
    "clean",
    "assemble",
    "minutes",
    "included",
    "spare",
    "parts",
    "available",
    "years",
    "service",
    "local",
    "workshop",
    "since",
    "1987",
    "free",
    "over",
    "made",
];

impl Layout {
    /// The host page `index` lives on.
    pub fn host_of(&self, index: usize) -> usize {
        index % self.hosts
    }

    /// The path of page `index` on its host.
    pub fn path_of(&self, index: usize) -> String {
        if index < self.hosts {
            "/".to_string()
        } else {
            format!("/page/{index}.html")
        }
    }

    /// The page at `path` on `host`, if there is one.
    pub fn page_at(&self, host: usize, path: &str) -> Option<usize> {
        if path == "/" {
            return (host < self.pages).then_some(host);
        }
        let i: usize = path
            .strip_prefix("/page/")?
            .strip_suffix(".html")?
            .parse()
            .ok()?;
        // A page is at exactly one path: the home pages are not also /page/{i}.html.
        (i >= self.hosts && i < self.pages && self.host_of(i) == host && path == self.path_of(i))
            .then_some(i)
    }

    /// The page `/old/{j}` on `host` moved to, if it is one of that host's.
    pub fn moved(&self, host: usize, path: &str) -> Option<usize> {
        let j: usize = path.strip_prefix("/old/")?.parse().ok()?;
        (j < self.pages && self.host_of(j) == host && path == format!("/old/{j}")).then_some(j)
    }

    /// The model of page `index` (< pages).
    pub fn page(&self, index: usize) -> PageModel {
        let mut r = SplitMix64::for_item(self.seed ^ PAGE_SALT, index as u64);
        let host = self.host_of(index);
        let category = CATEGORIES[r.below(CATEGORIES.len() as u64) as usize];
        let products = (0..4 + r.below(9))
            .map(|k| Product {
                sku: format!("P{index}-{k}"),
                name: format!(
                    "{} {} {}",
                    pick(&mut r, &ADJECTIVES),
                    pick(&mut r, &MATERIALS),
                    pick(&mut r, &NOUNS)
                ),
                cents: 99 + r.below(250_000),
            })
            .collect();
        let title = format!(
            "{category} & more — {} {} catalogue, page {index}",
            pick(&mut r, &ADJECTIVES),
            pick(&mut r, &MATERIALS)
        );
        let n_links = 10 + r.below(21) as usize;
        let links = (0..n_links).map(|_| self.link(&mut r, index)).collect();
        PageModel {
            index,
            host,
            title,
            category,
            products,
            links,
            target_bytes: 20_000 + r.below(30_001) as usize,
        }
    }

    fn link(&self, r: &mut SplitMix64, from: usize) -> Link {
        let host = self.host_of(from);
        let roll = r.below(100);
        let target = match roll {
            0..=2 => {
                // Broken: a page number past the end, a page on the wrong host, or gone for good.
                match r.below(3) {
                    0 => Target::Missing(
                        host,
                        format!("/page/{}.html", self.pages + r.below(1000) as usize),
                    ),
                    1 if self.hosts > 1 => {
                        let j = r.below(self.pages as u64) as usize;
                        let wrong = (self.host_of(j) + 1) % self.hosts;
                        Target::Missing(wrong, format!("/page/{j}.html"))
                    }
                    _ => Target::Missing(host, format!("/discontinued/{}", r.below(500))),
                }
            }
            3..=6 => Target::Moved(r.below(self.pages as u64) as usize),
            7 => Target::GoPrivate(host, r.below(50)),
            8..=9 => {
                if r.below(2) == 0 {
                    Target::Disallowed(host, format!("/private/orders-{}.html", r.below(100)))
                } else {
                    Target::Disallowed(host, format!("/cart?add=P{from}-{}", r.below(4)))
                }
            }
            10..=11 => Target::External(
                [
                    "https://example.org/partners",
                    "http://example.com/blog/launch.html",
                    "mailto:sales@example.org",
                    "javascript:void(0)",
                    "tel:+1-555-0100",
                ][r.below(5) as usize]
                    .to_string(),
            ),
            _ => Target::Page(r.below(self.pages as u64) as usize),
        };
        // Relative forms only where the browser's resolution stays under /page/.
        let both_under_page = from >= self.hosts
            && matches!(target, Target::Page(j) if j >= self.hosts && self.host_of(j) == host);
        let form = match r.below(10) {
            0 => Form::ProtocolRelative,
            1..=3 => Form::Absolute,
            4 | 5 if both_under_page => Form::Relative,
            6 if both_under_page => Form::DotDot,
            _ => Form::RootRelative,
        };
        Link {
            target,
            form,
            fragment: r.below(8) == 0,
        }
    }

    /// The host and path a link points to, for the links that stay on the site.
    pub fn resolve(&self, target: &Target) -> Option<(usize, String)> {
        match target {
            Target::Page(j) => Some((self.host_of(*j), self.path_of(*j))),
            Target::Missing(h, p) | Target::Disallowed(h, p) => Some((*h, p.clone())),
            Target::Moved(j) => Some((self.host_of(*j), format!("/old/{j}"))),
            Target::GoPrivate(h, k) => Some((*h, format!("/go/{k}"))),
            Target::External(_) => None,
        }
    }
}

fn pick<'a>(r: &mut SplitMix64, from: &[&'a str]) -> &'a str {
    from[r.below(from.len() as u64) as usize]
}

/// Text for HTML: `&`, `<`, `>` and `"` escaped.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `$1,234.56`.
pub fn price_text(cents: u64) -> String {
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (k, ch) in whole.chars().enumerate() {
        if k > 0 && (whole.len() - k).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("${grouped}.{:02}", cents % 100)
}

/// The `href` of `link` on page `from`, with `bases[h]` the origin of host `h`
/// (`http://127.0.0.2:8080`).
fn href(layout: &Layout, from: usize, link: &Link, bases: &[String]) -> String {
    let Some((host, path)) = layout.resolve(&link.target) else {
        if let Target::External(url) = &link.target {
            return url.clone();
        }
        unreachable!("only external links have no host")
    };
    let same_host = host == layout.host_of(from);
    let form = if same_host {
        link.form
    } else if link.form == Form::ProtocolRelative {
        Form::ProtocolRelative
    } else {
        Form::Absolute
    };
    let mut s = match form {
        Form::Absolute => format!("{}{path}", bases[host]),
        Form::ProtocolRelative => format!("{}{path}", bases[host].trim_start_matches("http:")),
        Form::RootRelative => path,
        Form::Relative => path.trim_start_matches("/page/").to_string(),
        Form::DotDot => format!("..{path}"),
    };
    if link.fragment {
        s.push_str("#reviews");
    }
    s
}

/// Page `index` as HTML, with absolute links made from `bases` (one origin per host).
pub fn render(layout: &Layout, index: usize, bases: &[String]) -> String {
    let page = layout.page(index);
    let mut filler = SplitMix64::for_item(layout.seed ^ FILLER_SALT, index as u64);
    let hrefs: Vec<String> = page
        .links
        .iter()
        .map(|l| href(layout, index, l, bases))
        .collect();
    let anchor = |k: usize, text: &str| format!("<a href=\"{}\">{}</a>", esc(&hrefs[k]), esc(text));
    let mut h = String::with_capacity(page.target_bytes + 4096);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<link rel=\"stylesheet\" href=\"/static/site.css\">\n</head>\n\
         <body class=\"catalogue {}\">\n",
        esc(&page.title),
        page.category.to_lowercase()
    );
    // The links are spread over the page: a few in the navigation, one per product, the rest
    // in the text and the related list.
    let n = hrefs.len();
    let nav = 3.min(n);
    let per_product = page.products.len().min(n - nav);
    h.push_str("<header class=\"site-header\"><div class=\"wrap\"><nav class=\"top\"><ul>\n");
    for k in 0..nav {
        let _ = writeln!(
            h,
            "<li class=\"nav-item\">{}</li>",
            anchor(k, &format!("Section {}", k + 1))
        );
    }
    let _ = write!(
        h,
        "</ul></nav><form class=\"search\" action=\"/search\"><input type=\"text\" name=\"q\"></form></div></header>\n\
         <main id=\"content\">\n<div class=\"wrap\">\n<ol class=\"breadcrumbs\"><li>Home</li><li>{}</li><li>Page {index}</li></ol>\n\
         <h1>{}</h1>\n",
        esc(page.category),
        esc(&page.title)
    );
    // A trap for parsers: a product card inside a comment is not a product.
    let _ = writeln!(
        h,
        "<!-- <div class=\"product\" data-sku=\"X{index}\"><h3 class=\"name\">Not for sale</h3>\
         <p class=\"price\">$0.01</p></div> -->"
    );
    let _ = writeln!(h, "<section class=\"grid\">");
    for (k, p) in page.products.iter().enumerate() {
        let _ = write!(
            h,
            "<div class=\"product\" data-sku=\"{}\">\n<div class=\"media\"><img src=\"/img/{}.jpg\" alt=\"{}\" width=\"320\" height=\"240\"></div>\n\
             <div class=\"info\">\n<h3 class=\"name\">{}</h3>\n<p class=\"price\">{}</p> <s class=\"was\">{}</s>\n\
             <table class=\"specs\"><tbody>\n",
            p.sku,
            p.sku,
            esc(&p.name),
            esc(&p.name),
            price_text(p.cents),
            price_text(p.cents + p.cents / 4),
        );
        for row in ["Weight", "Size", "Colour", "Warranty"] {
            let _ = writeln!(
                h,
                "<tr><th>{row}</th><td>{} {}</td></tr>",
                1 + filler.below(40),
                pick(&mut filler, &WORDS)
            );
        }
        h.push_str("</tbody></table>\n");
        if k < per_product {
            let _ = writeln!(h, "<p class=\"more\">{}</p>", anchor(nav + k, "Details"));
        }
        h.push_str("</div>\n</div>\n");
    }
    h.push_str("</section>\n");
    // A second trap: markup inside a script is text, not links.
    let _ = writeln!(
        h,
        "<script>var promo = \"<a href='/private/promo.html'>secret</a>\"; var skus = {};</script>",
        page.products.len()
    );
    h.push_str("<article class=\"about\">\n");
    let mut next_link = nav + per_product;
    let related_from = n - (n - next_link) / 2;
    // Paragraphs until the page reaches its size; the links not placed yet go in the first ones.
    while h.len() < page.target_bytes {
        h.push_str("<div class=\"block\"><p>");
        for w in 0..40 + filler.below(60) {
            if w > 0 {
                h.push(' ');
            }
            match filler.below(30) {
                0 => {
                    let _ = write!(h, "<em>{}</em>", pick(&mut filler, &WORDS));
                }
                1 => {
                    let _ = write!(h, "<strong>{}</strong>", pick(&mut filler, &WORDS));
                }
                2 if next_link < related_from => {
                    h.push_str(&anchor(next_link, pick(&mut filler, &WORDS)));
                    next_link += 1;
                }
                _ => h.push_str(pick(&mut filler, &WORDS)),
            }
        }
        h.push_str(".</p></div>\n");
    }
    h.push_str("</article>\n<aside class=\"related\"><h2>You may also like</h2><ul>\n");
    for k in next_link..n {
        let _ = writeln!(
            h,
            "<li>{}</li>",
            anchor(k, &format!("Related {}", k - next_link + 1))
        );
    }
    let _ = write!(
        h,
        "</ul></aside>\n</div>\n</main>\n<footer class=\"site-footer\"><p>&copy; 2026 Decision Table Supplies &middot; \
         {} products on this page</p></footer>\n</body>\n</html>\n",
        page.products.len()
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bases(n: usize) -> Vec<String> {
        (0..n)
            .map(|h| format!("http://127.0.0.{}:8080", h + 2))
            .collect()
    }

    #[test]
    fn pages_are_sized_and_linked_as_documented() {
        let layout = Layout {
            pages: 400,
            hosts: 4,
            seed: 7,
        };
        let b = bases(4);
        for i in 0..400 {
            let page = layout.page(i);
            assert!((10..=30).contains(&page.links.len()), "page {i}");
            assert!((4..=12).contains(&page.products.len()), "page {i}");
            let html = render(&layout, i, &b);
            assert!(
                (20_000..=56_000).contains(&html.len()),
                "page {i}: {} bytes",
                html.len()
            );
            assert_eq!(
                html.matches("<a href=\"").count(),
                page.links.len(),
                "every link once"
            );
            assert_eq!(html, render(&layout, i, &b), "deterministic");
        }
        let all: Vec<Link> = (0..400).flat_map(|i| layout.page(i).links).collect();
        for want in [
            |t: &Target| matches!(t, Target::Missing(..)),
            |t: &Target| matches!(t, Target::Moved(_)),
            |t: &Target| matches!(t, Target::GoPrivate(..)),
            |t: &Target| matches!(t, Target::Disallowed(..)),
            |t: &Target| matches!(t, Target::External(_)),
        ] {
            assert!(all.iter().any(|l| want(&l.target)));
        }
        for form in [
            Form::Absolute,
            Form::ProtocolRelative,
            Form::RootRelative,
            Form::Relative,
            Form::DotDot,
        ] {
            assert!(all.iter().any(|l| l.form == form), "{form:?}");
        }
    }

    #[test]
    fn every_page_is_at_one_path_on_one_host() {
        let layout = Layout {
            pages: 50,
            hosts: 3,
            seed: 1,
        };
        for i in 0..50 {
            let (h, p) = (layout.host_of(i), layout.path_of(i));
            assert_eq!(layout.page_at(h, &p), Some(i));
            let other = (h + 1) % 3;
            assert_eq!(
                layout.page_at(other, &p),
                (i < 3).then_some(other),
                "{p} on host {other}"
            );
        }
        assert_eq!(
            layout.page_at(0, "/page/0.html"),
            None,
            "home pages live at / only"
        );
        assert_eq!(layout.page_at(0, "/page/51.html"), None);
        assert_eq!(layout.page_at(0, "/page/03.html"), None);
        assert_eq!(layout.moved(1, "/old/4"), Some(4));
        assert_eq!(layout.moved(0, "/old/4"), None);
    }

    #[test]
    fn prices_read_like_prices() {
        assert_eq!(price_text(99), "$0.99");
        assert_eq!(price_text(123_456), "$1,234.56");
        assert_eq!(price_text(100_000_000), "$1,000,000.00");
    }
}
