"""What a page yields: its title, its products and its links, by the rules of the Rust
``scenarios::crawl::page`` (html5ever), so both languages extract the same items:

- the title is the text of the first ``<title>``, whitespace collapsed;
- a product is a ``div.product`` with a ``data-sku``; its name is the text of its first
  ``.name``, its price the text of its first ``.price`` (``$1,234.56``); a card without a
  readable price is not a product, and a card inside a comment is a comment;
- a link is the ``href`` of an ``<a>``, resolved against the page's URL, its fragment dropped,
  kept if it is ``http://`` to a loopback IPv4 address (the site's hosts), counted as off the
  site otherwise. Markup inside ``<script>`` is text.

Three parsers, chosen with ``--parser``:

- ``html.parser`` (the default): the standard library's ``html.parser.HTMLParser``, driven by
  a small state machine below; pure Python, nothing to install;
- ``bs4``: BeautifulSoup over the same ``html.parser`` (the tree and the CSS selectors cost
  extra, in pure Python: the slowest way, and a very common one);
- ``bs4-lxml``: BeautifulSoup over ``lxml`` (libxml2, in C): the usual advice, several times
  faster (the chapter's sources say about ten times; ``docs/crawl.md`` has what we measured).

Parsing is CPU work under the GIL in every case (lxml releases it only inside its C parser):
threads of one process take turns at it.
"""

import ipaddress
import time
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

PARSERS = ("html.parser", "bs4", "bs4-lxml")
VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())


def collapse(s: str) -> str:
    return " ".join(s.split())


def parse_price(s: str):
    """``$1,234.56`` (or ``$7``, ``$0.5``) in cents; None if it is not a price."""
    s = s.strip()
    if not s.startswith("$"):
        return None
    digits = s[1:].replace(",", "")
    whole, _, frac = digits.partition(".")
    if not whole or len(frac) > 2 or not (whole + frac).isascii() or not (whole + frac).isdigit():
        return None
    cents = int(frac) * (10 if len(frac) == 1 else 1) if frac else 0
    return int(whole) * 100 + cents


def normalise(url: str):
    """A URL kept to the site (http, loopback IPv4, no fragment), or None."""
    url, _ = urldefrag(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # raises ValueError for a bad port
    except ValueError:
        return None
    if parts.scheme != "http" or host is None:
        return None
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        return None
    return url if ip.is_loopback else None


def resolve(base: str, href: str):
    try:
        return normalise(urljoin(base, href))
    except ValueError:
        return None


def origin(url: str) -> str:
    """``http://127.0.0.2:8100``: what robots.txt and the per-host limit are kept by (the
    default port 80 dropped, as the WHATWG URL standard and the Rust side do)."""
    p = urlsplit(url)
    port = p.port
    return f"{p.scheme}://{p.hostname}" + ("" if port in (None, 80) else f":{port}")


class _Extractor(HTMLParser):
    """The rules above over ``html.parser``'s events. The site's markup is well formed, so a
    stack of open elements is enough to know what is inside what."""

    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.title = None
        self.items = []
        self.links = []
        self.off_site = 0
        self._stack = []  # (tag, role): role is None, "title", "product", "name" or "price"
        self._text = None  # the text being collected, and for what
        self._card = None  # the product being read: [sku, name, price text]

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href") is not None:
            url = resolve(self.base, a["href"])
            if url is None:
                self.off_site += 1
            else:
                self.links.append(url)
        if tag in VOID:
            return
        classes = (a.get("class") or "").split()
        role = None
        if tag == "title" and self.title is None and self._text is None:
            role = "title"
        elif tag == "div" and "product" in classes and a.get("data-sku") is not None and self._card is None:
            role = "product"
            self._card = [a["data-sku"], None, None]
        elif self._card is not None and self._text is None:
            if "name" in classes and self._card[1] is None:
                role = "name"
            elif "price" in classes and self._card[2] is None:
                role = "price"
        if role in ("title", "name", "price"):
            self._text = []
        self._stack.append((tag, role))

    def handle_endtag(self, tag):
        # Close up to the matching open element (html.parser does not fix markup for us).
        while self._stack:
            open_tag, role = self._stack.pop()
            self._close(role)
            if open_tag == tag:
                break

    def _close(self, role):
        if role in ("title", "name", "price"):
            text = collapse("".join(self._text))
            self._text = None
            if role == "title":
                self.title = text
            elif role == "name":
                self._card[1] = text
            else:
                self._card[2] = text
        elif role == "product":
            sku, name, price = self._card
            self._card = None
            cents = parse_price(price) if price is not None else None
            if name is not None and cents is not None:
                self.items.append((sku, name, cents))

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def _stdlib(html: str, base: str):
    p = _Extractor(base)
    p.feed(html)
    p.close()
    return p.title or "", p.items, p.links, p.off_site


def _soup(html: str, base: str, builder: str):
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, builder)
    title = soup.find("title")
    items = []
    for card in soup.select("div.product[data-sku]"):
        name, price = card.select_one(".name"), card.select_one(".price")
        if name is None or price is None:
            continue
        cents = parse_price(collapse(price.get_text()))
        if cents is not None:
            items.append((card["data-sku"], collapse(name.get_text()), cents))
    links, off_site = [], 0
    for a in soup.find_all("a", href=True):
        url = resolve(base, a["href"])
        if url is None:
            off_site += 1
        else:
            links.append(url)
    return (collapse(title.get_text()) if title is not None else ""), items, links, off_site


def extract(html: str, base: str, parser: str = "html.parser"):
    """(title, [(sku, name, cents)], links on the site, links off it), and the CPU time the
    parse took on this thread in milliseconds (``time.thread_time``: a thread waiting for the
    GIL or for a core is not parsing meanwhile, so the sum over pages is the work parsing was)."""
    t = time.thread_time()
    if parser == "html.parser":
        got = _stdlib(html, base)
    elif parser == "bs4":
        got = _soup(html, base, "html.parser")
    elif parser == "bs4-lxml":
        got = _soup(html, base, "lxml")
    else:
        raise ValueError(f"unknown parser {parser!r}: use one of {', '.join(PARSERS)}")
    return got, (time.thread_time() - t) * 1000
