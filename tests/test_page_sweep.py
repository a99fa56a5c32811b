"""Every kind of page and every result view, as a reader's browser shows them, at two widths.

One headless Chromium (tests/chromium.py) visits the query page with each result view, the
list of kinds, a list and a record page of every kind, search and a not-found page. On each,
at 1400 and at 1000 px: nothing requested from another origin, no console error, CSP report or
uncaught exception, nothing wider than the window, a heading, and no raw IRIs or ids where a
reader expects names (headings, list and table links).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from chromium import WINDOW, Browser, Visit
from conftest import LiveServer

WIDTHS = (1400, 1000)

# What a page shows a reader, measured in the page: its widths, headings, and the links in its
# lists and tables whose text looks like an IRI or a record id (a slug) instead of a name.
AUDIT = """(() => {
  const doc = document.documentElement;
  const text = (el) => (el.textContent || "").trim();
  const headings = [...document.querySelectorAll("h1, h2, h3")].map(text);
  const raw = [];
  for (const a of document.querySelectorAll("h1 a, h2 a, h3 a, li a, td a, th a, dd a")) {
    const t = text(a);
    const href = a.getAttribute("href") || "";
    const id = decodeURIComponent(href.split("?")[0].replace(/\\/$/, "").split("/").pop() || "");
    const internal = href.startsWith("/") || href.startsWith(location.origin);
    const slug = internal && href.includes("/id/") && t === id && /[-_]/.test(id);
    if (/w3id\\.org\\/geokb/.test(t) || slug) {
      raw.push(t);
    }
  }
  for (const h of headings) {
    if (/^https?:\\/\\//.test(h) || /w3id\\.org\\/geokb/.test(h)) raw.push(h);
  }
  return {viewport: doc.clientWidth, page: doc.scrollWidth, headings, raw};
})()"""


VIEWS = [
    ("01-transfers-iran-to-russia", "table", ".yasr_results table"),
    ("01-transfers-iran-to-russia", "response", ".yasr_results .CodeMirror"),
    ("07-sources", "chart", ".yasr_results svg.geokb-chart"),
    ("04-facts-in-a-year", "timeline", ".yasr_results ol.geokb-timeline"),
    ("15-who-supplied-whom", "network", ".yasr_results svg.geokb-network"),
    ("16-disputed-territories-with-coordinates", "map", ".yasr_results .geokb-map-view svg"),
]


def _pages(site: str) -> list[tuple[str, str]]:
    """(url, a JavaScript condition true once it has drawn) for each kind of page."""
    pages = [(f"{site}/id/", "document.querySelector('h1')")]
    kinds = httpx.get(f"{site}/id/", params={"format": "json"}).json()["kinds"]
    for kind in kinds:
        listing = httpx.get(f"{site}{kind['url']}", params={"format": "json"}).json()
        pages.append((f"{site}{kind['url']}", "document.querySelector('h1')"))
        if listing["rows"]:
            pages.append((listing["rows"][0]["url"], "document.querySelector('h1')"))
    pages += [
        (f"{site}/search?q=iran", "document.querySelector('h1')"),
        (f"{site}/id/state/no-such-state", "document.querySelector('h1')"),
        (f"{site}/ontology", "document.querySelector('h1')"),
    ]
    return pages


@pytest.fixture()
def sized(browser: Browser) -> Iterator[Browser]:
    """The shared browser (tests/conftest.py) at the first width, back at WINDOW's after."""
    browser.resize(WIDTHS[0])
    yield browser
    browser.resize(*WINDOW)


def _check(browser: Browser, visit: Visit, site: str, not_found: bool = False) -> None:
    origin = urlsplit(site)
    for url in visit.requests:
        parts = urlsplit(url)
        assert parts.scheme in ("data", "blob", "about") or (
            (parts.scheme, parts.netloc) == (origin.scheme, origin.netloc)
        ), f"{visit.url} requested {url} from another origin"
    for width in WIDTHS:
        browser.resize(width)
        seen = browser.evaluate(AUDIT)
        where = f"{visit.url} at {width} px"
        assert seen["page"] <= seen["viewport"], (
            f"{where}: {seen['page']} px wide, wider than the window"
        )
        assert seen["headings"], f"{where}: no heading"
        assert not seen["raw"], (
            f"{where}: raw IRIs or ids shown where names belong: {seen['raw'][:5]}"
        )
    errors = visit.errors
    if not_found:  # the browser reports the page's own 404 status; that is what it is for
        errors = [e for e in errors if not e.endswith(f"404 (Not Found) {visit.url}")]
    assert not errors, f"{visit.url}: {errors}"
    browser.resize(WIDTHS[0])


def test_every_kind_of_page_reads_well_at_two_widths(live: LiveServer, sized: Browser) -> None:
    browser = sized
    pages = _pages(live.url)
    assert len(pages) > 20
    for url, ready in pages:
        _check(browser, browser.open(url, ready=ready), live.url, not_found="no-such" in url)


@pytest.mark.parametrize("example,view,drawn", VIEWS, ids=[v[1] for v in VIEWS])
def test_every_result_view_reads_well_at_two_widths(
    live: LiveServer, sized: Browser, example: str, view: str, drawn: str
) -> None:
    browser = sized
    # drawn, and measured by query.js (50 ms after the view's 'drawn' event) as that view
    measured = f"document.getElementById('yasgui').dataset.view === '{view}'"
    ready = f"document.querySelector('{drawn}') && {measured}"
    visit = browser.open(f"{live.url}/#example={example}&view={view}", ready=ready)
    for width in WIDTHS:
        browser.resize(width)
        # the view is on screen, within the window's width, also once the window has narrowed
        # after it was drawn (the table shares the new width out again)
        on_screen = (
            f"(() => {{ const b = document.querySelector('{drawn}').getBoundingClientRect();"
            " return b.width > 0 && b.height > 0 && b.left >= 0"
            " && b.right <= document.documentElement.clientWidth + 1; })()"
        )
        browser.wait(on_screen, 3.0, f"{view} view at {width} px: not within the window")
    _check(browser, visit, live.url)
