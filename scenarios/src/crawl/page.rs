//! What a page yields: its title, its products and its links, parsed with html5ever (the
//! `scraper` crate, CSS selectors over the tree html5ever builds) as a browser would parse it.
//! This is the crawl's CPU work: about a millisecond for a 35 KB page in a release build.
//!
//! The extraction rules (the Python twin, `chapter/crawl_parse.py`, follows them to the letter,
//! so both languages extract the same items):
//! - the title is the text of the first `<title>`, whitespace collapsed;
//! - a product is a `div.product` with a `data-sku`; its name is the text of its first `.name`,
//!   its price the text of its first `.price`, read as `$1,234.56` (a card without a readable
//!   price is not a product); a card inside a comment is a comment, not a card;
//! - a link is the `href` of an `<a>`, resolved against the page's URL as a browser resolves
//!   it, its `#fragment` dropped. It stays on the site if it is `http://` to a loopback address
//!   (127.0.0.0/8, where the site's hosts are); anything else (`https://example.org`, `mailto:`,
//!   `javascript:`) is counted as off the site and never fetched. Markup inside a `<script>` is
//!   text, not links.

use super::Item;
use crate::gil;
use reqwest::Url;
use scraper::{ElementRef, Html, Selector};
use std::sync::LazyLock;

/// What one page yields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extracted {
    pub title: String,
    pub items: Vec<Item>,
    /// Links on the site, absolute, without fragment, in page order (duplicates kept).
    pub links: Vec<String>,
    pub off_site: u32,
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("a valid selector")
}

static TITLE: LazyLock<Selector> = LazyLock::new(|| selector("title"));
static PRODUCT: LazyLock<Selector> = LazyLock::new(|| selector("div.product[data-sku]"));
static NAME: LazyLock<Selector> = LazyLock::new(|| selector(".name"));
static PRICE: LazyLock<Selector> = LazyLock::new(|| selector(".price"));
static LINK: LazyLock<Selector> = LazyLock::new(|| selector("a[href]"));

/// The text under an element, whitespace collapsed to single spaces.
fn text(el: ElementRef<'_>) -> String {
    let joined: String = el.text().collect();
    joined.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `$1,234.56` (or `$7`, `$0.5`) in cents.
pub fn parse_price(s: &str) -> Option<u64> {
    let digits = s.trim().strip_prefix('$')?.replace(',', "");
    let (whole, frac) = digits.split_once('.').unwrap_or((&digits, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let cents = match frac.len() {
        0 => 0,
        1 => frac.parse::<u64>().ok()? * 10,
        _ => frac.parse::<u64>().ok()?,
    };
    whole
        .parse::<u64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

/// A URL kept to the site: `http://` to an IPv4 loopback address, without its fragment, as a
/// string (the form every set and digest of the crawl uses). `None` for anything else.
pub fn normalise(mut url: Url) -> Option<String> {
    if url.scheme() != "http" {
        return None;
    }
    let ip: std::net::Ipv4Addr = url.host_str()?.parse().ok()?;
    if !ip.is_loopback() {
        return None;
    }
    url.set_fragment(None);
    Some(url.into())
}

/// `href` resolved against `base` and kept to the site; `None` if it leaves the site or is not
/// a URL at all.
pub fn resolve(base: &Url, href: &str) -> Option<String> {
    normalise(base.join(href).ok()?)
}

/// The origin of a URL on the site, `http://127.0.0.2:8100`: what robots.txt and the per-host
/// limit are kept by.
pub fn origin(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => String::new(),
    }
}

/// Parse `html`, fetched from `base`, and extract what the crawl keeps. Holds the emulated GIL
/// while it parses (`threading --gil`; free in every other run).
pub fn extract(html: &str, base: &Url) -> Extracted {
    extract_timed(html, base).0
}

/// [`extract`], and the CPU time the parse took on this thread, in milliseconds: CPU time, not
/// the clock, so a thread that waits for a core (16 threads on 2 cores) or for the emulated GIL
/// is not counted as parsing meanwhile, and the sum over pages is the work parsing was.
pub fn extract_timed(html: &str, base: &Url) -> (Extracted, f64) {
    gil::hold(|| {
        let t = thread_cpu_ms();
        let x = extract_unlocked(html, base);
        (x, thread_cpu_ms() - t)
    })
}

/// The CPU time this thread has used, in milliseconds (`getrusage(RUSAGE_THREAD)`, which
/// Linux keeps to the nanosecond of the scheduler's accounting).
fn thread_cpu_ms() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    match getrusage(UsageWho::RUSAGE_THREAD) {
        Ok(u) => {
            let ms = |tv: nix::sys::time::TimeVal| {
                tv.tv_sec() as f64 * 1000.0 + tv.tv_usec() as f64 / 1000.0
            };
            ms(u.user_time()) + ms(u.system_time())
        }
        Err(_) => 0.0,
    }
}

fn extract_unlocked(html: &str, base: &Url) -> Extracted {
    let doc = Html::parse_document(html);
    let title = doc.select(&TITLE).next().map(text).unwrap_or_default();
    let items = doc
        .select(&PRODUCT)
        .filter_map(|card| {
            let sku = card.value().attr("data-sku")?.to_string();
            let name = card.select(&NAME).next().map(text)?;
            let cents = parse_price(&card.select(&PRICE).next().map(text)?)?;
            Some(Item { sku, name, cents })
        })
        .collect();
    let mut links = Vec::new();
    let mut off_site = 0;
    for a in doc.select(&LINK) {
        match a.value().attr("href").and_then(|h| resolve(base, h)) {
            Some(url) => links.push(url),
            None => off_site += 1,
        }
    }
    Extracted {
        title,
        items,
        links,
        off_site,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!DOCTYPE html><html><head><title>
        Kitchen &amp; more — page 7 </title></head><body>
        <!-- <div class="product" data-sku="X"><h3 class="name">Fake</h3><p class="price">$1.00</p></div> -->
        <div class="product" data-sku="P7-0"><h3 class="name">Salt &amp; Pepper
            Mill</h3><p class="price">$1,234.56</p> <s class="was">$1,500.00</s>
            <a href="../page/9.html#reviews">Details</a></div>
        <div class="product"><h3 class="name">No sku</h3><p class="price">$2.00</p></div>
        <div class="product" data-sku="P7-2"><h3 class="name">No price</h3></div>
        <script>var s = "<a href='/private/x.html'>x</a>";</script>
        <a href="http://127.0.0.3:8100/">Home 3</a> <a href="//127.0.0.4:8100/page/11.html">11</a>
        <a href="12.html">12</a> <a href="/cart?add=P7-0">cart</a>
        <a href="https://example.org/x">ext</a> <a href="mailto:a@example.org">mail</a>
        <a href="javascript:void(0)">js</a> <a href="http://example.com/">ext</a>
        </body></html>"#;

    #[test]
    fn extracts_title_products_and_links_as_documented() {
        let base = Url::parse("http://127.0.0.2:8100/page/7.html").unwrap();
        let got = extract(PAGE, &base);
        assert_eq!(got.title, "Kitchen & more — page 7");
        assert_eq!(
            got.items,
            [Item {
                sku: "P7-0".into(),
                name: "Salt & Pepper Mill".into(),
                cents: 123_456
            }]
        );
        assert_eq!(
            got.links,
            [
                "http://127.0.0.2:8100/page/9.html",
                "http://127.0.0.3:8100/",
                "http://127.0.0.4:8100/page/11.html",
                "http://127.0.0.2:8100/page/12.html",
                "http://127.0.0.2:8100/cart?add=P7-0",
            ]
        );
        assert_eq!(got.off_site, 4);
    }

    #[test]
    fn prices() {
        assert_eq!(parse_price("$1,234.56"), Some(123_456));
        assert_eq!(parse_price(" $0.99 "), Some(99));
        assert_eq!(parse_price("$7"), Some(700));
        assert_eq!(parse_price("$7.5"), Some(750));
        for bad in ["1.00", "$", "$1.234", "$-1", "$1.x", "$.50"] {
            assert_eq!(parse_price(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_loopback_http_is_on_the_site() {
        let base = Url::parse("http://127.0.0.2:1/a/b.html").unwrap();
        assert_eq!(
            resolve(&base, "c.html#x").as_deref(),
            Some("http://127.0.0.2:1/a/c.html")
        );
        assert_eq!(resolve(&base, "http://10.0.0.1/"), None);
        assert_eq!(resolve(&base, "http://localhost:1/"), None);
        assert_eq!(resolve(&base, "https://127.0.0.2:1/"), None);
        assert_eq!(origin("http://127.0.0.5:80/x"), "http://127.0.0.5");
        assert_eq!(origin("http://127.0.0.5:8100/x"), "http://127.0.0.5:8100");
    }
}
