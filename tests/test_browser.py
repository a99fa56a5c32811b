"""A person's view, in a real browser: headless Chromium (Debian's package, installed by
`make test`) opens the query page, runs an example, opens an entity page. Screenshots of each
are saved in test-artifacts/.

Every check drives one Chromium, shared with the other page tests of the test process
(conftest's ``browser``): a start costs seconds. Each page is read once it has done what the
check looks at (a ``ready`` condition in JavaScript), then as the browser built it (``_dom``)
or by a JavaScript expression."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from chromium import WINDOW, Browser
from conftest import ROOT, LiveServer

from kb.sparql.examples import examples

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def site(live: LiveServer) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return live.url


@pytest.fixture()
def window(browser: Browser) -> Iterator[Browser]:
    """The shared browser, its window back at WINDOW's size after a check that resized it."""
    yield browser
    browser.resize(*WINDOW)


# The query page has drawn its results and measured them (query.js, 50 ms after YASR's 'drawn').
DRAWN = '"resultsRight" in document.getElementById("yasgui").dataset'
# An entity page's map, if it has one, has been drawn (static/map.js).
MAP_DONE = (
    "!document.querySelector('figure.geokb-map') || document.querySelector('figure[data-drawn]')"
)
# The page's script has made the header's search box a combobox (static/search.js).
SEARCH_READY = "document.querySelector('form.search input[role=\"combobox\"]')"


def _dom(browser: Browser, url: str, ready: str = "true") -> str:
    """The page at url as the browser built it, once it has loaded and ``ready`` is true."""
    browser.open(url, ready=ready)
    html: str = browser.evaluate("document.documentElement.outerHTML")
    return html


def test_query_page_runs_an_example_and_shows_rows(site: str, browser: Browser) -> None:
    url = f"{site}/#example=01-transfers-iran-to-russia"
    dom = _dom(browser, url, DRAWN)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", dom, re.DOTALL)
    text = " ".join(re.sub(r"<[^>]+>", " ", c) for c in cells)
    assert "Shahed-131" in text and "Shahed-136" in text, "the example's result rows show"
    assert "Al-Monitor" in text
    # as many rows as the endpoint answers for the same query
    example = next(e for e in examples() if e.name == "01-transfers-iran-to-russia")
    answer = httpx.post(
        f"{site}/sparql", data={"query": example.query}, headers={"Accept": "application/json"}
    )
    n = len(answer.json()["results"]["bindings"])
    assert f"{n} results" in dom or f"Showing 1 to {min(n, 10)} of {n} entries" in dom
    assert browser.screenshot(ARTIFACTS / "query-page.png") > 10_000


def test_entity_page_shows_its_timeline(site: str, browser: Browser) -> None:
    url = f"{site}/id/state/RUS"
    dom = _dom(browser, url, MAP_DONE)
    assert "<h1>Russian Federation</h1>" in dom
    entries = re.findall(r'<time datetime="([^"]+)">', dom)
    assert entries == sorted(entries) and "2014-03" in entries
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="network"' in dom
    # The templates' sections, in the page's order, as the browser built them.
    headings = re.findall(r"<h2>([^<]+)</h2>", dom)
    assert headings == [
        "Facts",
        "Sources",
        "Timeline",
        "Who supplied whom",
        "Arms transfers register",
        "Referenced by",
    ]
    assert '<table class="register">' in dom
    # only the site's own scripts (the map's from static/vendor/), none inline
    assert not re.findall(r'<script(?! src="/static/[a-z0-9./-]+" defer="">)', dom)
    assert browser.screenshot(ARTIFACTS / "entity-page.png") > 10_000


def test_api_docs_render_under_the_pages_content_security_policy(
    site: str, browser: Browser
) -> None:
    # /docs is served with script-src 'self': Swagger UI must start from its static files
    dom = _dom(browser, f"{site}/docs", "document.querySelector('.opblock-summary-path')")
    paths = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert {"/sparql", "/id/{path}"} <= paths, paths


def test_a_fact_page_shows_references_under_its_statements(site: str, browser: Browser) -> None:
    dom = _dom(browser, f"{site}/id/transfer/irn-rus-shahed-131-136")
    rows = re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", dom, re.DOTALL)
    supplier = next(td for th, td in rows if ">supplier<" in th)
    refs = re.findall(r'<li class="ref">(.*?)</li>', supplier, re.DOTALL)
    assert len(refs) >= 2, "the supplier statement lists its own references"
    assert any("Al-Monitor" in r or "Can Iran" in r for r in refs)
    assert all('class="locator"' in r and 'class="accessed"' in r for r in refs)


# ---- the query page's layout, labels, views and links ----------------------------------------


def _evaluate(browser: Browser, url: str, width: int, expression: str, ready: str) -> object:
    """Open url in a window of width x 1000 px and return the value of a JavaScript expression
    (awaited), run as soon as the loaded page makes ``ready`` true (polled, at most 20 s)."""
    browser.resize(width, 1000)
    browser.open(url, ready=ready)
    return browser.evaluate(expression)


# After a window resize (the column resizer's trigger), the layout numbers query.js writes.
AFTER_RESIZE = """new Promise((ok) => {
  window.dispatchEvent(new Event("resize"));
  setTimeout(() => window.dispatchEvent(new Event("resize")), 200);
  setTimeout(() => ok({...document.getElementById("yasgui").dataset}), 1500);
})"""


# Each width once, with the example whose long IRIs pushed the table widest at it (a run
# costs ~16 s of Chromium: the suite's time is budgeted).
@pytest.mark.parametrize(
    "example,width", [("01-transfers-iran-to-russia", 1000), ("07-sources", 1400)]
)
def test_query_results_stay_within_the_window(
    site: str, window: Browser, width: int, example: str
) -> None:
    url = f"{site}/#example={example}"
    for numbers in (
        _evaluate(window, url, width, '({...document.getElementById("yasgui").dataset})', DRAWN),
        _evaluate(window, url, width, AFTER_RESIZE, DRAWN),
    ):
        assert isinstance(numbers, dict) and "resultsRight" in numbers, numbers
        viewport = int(numbers["viewportWidth"])
        assert int(numbers["pageWidth"]) <= viewport, numbers
        assert 0 <= int(numbers["resultsLeft"]) < int(numbers["resultsRight"]) <= viewport, numbers


def test_query_results_name_entities_and_show_plain_literals(site: str, browser: Browser) -> None:
    dom = _dom(browser, f"{site}/#example=01-transfers-iran-to-russia", DRAWN)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", dom, re.DOTALL)
    assert cells
    text = " ".join(re.sub(r"<[^>]+>", " ", c) for c in cells)
    assert "^^" not in text and "@en" not in text and "<http" not in text.replace("&lt;", "<")
    assert '"Shahed' not in text, "literals without quotes"
    # the transfer's label, linked to its page, its IRI on hover
    label = httpx.post(
        f"{site}/sparql",
        data={"query": "SELECT ?l { <https://w3id.org/geokb/id/transfer/irn-rus-shahed-131-136> "
              "<http://www.w3.org/2000/01/rdf-schema#label> ?l }"},
        headers={"Accept": "application/sparql-results+json"},
    ).json()["results"]["bindings"][0]["l"]["value"]  # fmt: skip
    link = (
        f'<a class="iri entity" href="{site}/id/transfer/irn-rus-shahed-131-136" '
        f'title="https://w3id.org/geokb/id/transfer/irn-rus-shahed-131-136">{label}</a>'
    )
    assert link in dom
    # a literal's language on hover; the row number in a cell of its own
    assert '<span class="nonIri" title="@en">Shahed-131</span>' in dom
    assert re.search(r'<td class="dt-type-numeric"><div class="rowNumber">1</div></td>', dom)
    # columns sort
    assert 'aria-label="transfer: Activate to sort"' in dom


def test_a_link_to_a_query_reopens_and_runs_it(site: str, window: Browser) -> None:
    from urllib.parse import quote

    query = (
        "SELECT ?state ?name WHERE { ?state a <https://w3id.org/geokb/ontology#State> ; "
        "<http://www.w3.org/2000/01/rdf-schema#label> ?name "
        "FILTER(?state = <https://w3id.org/geokb/id/state/RUS> && lang(?name) = 'en') }"
    )
    for url in (f"{site}/#query={quote(query)}", f"{site}/?query={quote(query)}"):
        dom = _dom(window, url, DRAWN)
        assert re.search(r'yasr_response_chip">1 results? in', dom), url
        assert f'href="{site}/id/state/RUS"' in dom and "Russian Federation" in dom
    # running an example puts the query and the view in the URL; that link reruns it
    link = _evaluate(
        window, f"{site}/#example=04-facts-in-a-year&view=timeline", 1000, "location.href",
        "location.href.includes('#query=')",
    )  # fmt: skip
    assert isinstance(link, str) and "#query=" in link and "view=timeline" in link
    dom = _dom(window, link, "document.querySelector('ol.geokb-timeline time')")
    assert '<ol class="timeline geokb-timeline">' in dom
    assert re.search(r'<time datetime="1971" title="xsd:gYear">1971</time>', dom)


def test_a_count_per_label_can_be_seen_as_a_bar_chart(site: str, window: Browser) -> None:
    url = f"{site}/#example=07-sources&view=chart"
    window.resize(1000, 1100)
    dom = _dom(window, url, "document.querySelector('.geokb-chart rect.bar')")
    assert '<svg viewBox="0 0 750' in dom and 'class="geokb-chart"' in dom
    assert len(re.findall(r'<rect [^>]*class="bar"', dom)) == 40
    assert "The first 40 of" in dom
    assert window.screenshot(ARTIFACTS / "query-chart.png") > 5_000


def test_search_page_shows_results_and_every_page_has_the_search_box(
    site: str, browser: Browser
) -> None:
    dom = _dom(browser, f"{site}/search?q=crim", SEARCH_READY)
    headings = re.findall(r"<h2>([^<]+)</h2>", dom)
    assert headings[0] == "Territorial disputes" and "Territories" in headings
    assert '<a href="/id/territory/crimea">Crimea</a>' in dom
    # the script set up the header's box as a combobox with a (closed) list of suggestions
    assert re.search(r'<input[^>]*name="q"[^>]*value="crim"', dom)
    assert 'role="combobox"' in dom and 'id="search-suggestions"' in dom
    entity = _dom(browser, f"{site}/id/state/RUS", SEARCH_READY)
    assert re.search(r'<form class="search" action="/search" method="get" role="search">', entity)
    assert 'role="combobox"' in entity
    listed = _dom(browser, f"{site}/id/state/")
    assert '<a href="/id/state/AFG">Afghanistan</a>' in listed
    browser.open(f"{site}/search?q=crim", ready=SEARCH_READY)
    assert browser.screenshot(ARTIFACTS / "search-page.png") > 5_000


def test_two_letters_in_the_header_box_show_suggestions(site: str, window: Browser) -> None:
    # Typing, as the page sees it: the box's value changes and an input event fires.
    found = _evaluate(
        window,
        f"{site}/id/state/RUS",
        1300,
        """(async () => {
          const box = document.querySelector('form.search input[name="q"]');
          box.focus();
          box.value = 'ir';
          box.dispatchEvent(new Event('input', {bubbles: true}));
          await new Promise(r => setTimeout(r, 1500));
          box.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowDown', bubbles: true}));
          const list = document.getElementById('search-suggestions');
          const items = [...list.querySelectorAll('li')];
          return {
            labels: items.map(li => li.querySelector('a').firstChild.textContent),
            hrefs: items.map(li => li.querySelector('a').getAttribute('href')),
            hidden: list.hidden,
            expanded: box.getAttribute('aria-expanded'),
            selected: items.findIndex(li => li.getAttribute('aria-selected') === 'true'),
          };
        })()""",
        SEARCH_READY,
    )
    assert isinstance(found, dict), found
    assert found["labels"][0] == "Iran" and found["hrefs"][0] == "/id/state/IRN"
    assert found["hidden"] is False and found["expanded"] == "true"
    assert found["selected"] == 0  # the arrow key moved to the first suggestion


# On the unfiltered list: note the first supplier's label and count, then click it; true once
# the page shown is the filtered one. (Polled: it runs again on the page the click opened.)
CLICK_FIRST_SUPPLIER = """location.search.includes('supplier=') || (() => {
  const link = document.querySelector('section.facet[data-facet="supplier"] li a');
  if (link && !sessionStorage.getItem('supplier')) {
    sessionStorage.setItem('supplier', link.textContent);
    sessionStorage.setItem('count', link.parentElement.querySelector('.count').textContent);
    sessionStorage.setItem('before', String(document.querySelectorAll('table.list tr').length - 1));
    link.click();
  }
  return false;
})()"""


def test_a_facet_click_narrows_the_list(site: str, window: Browser) -> None:
    window.open(f"{site}/id/")
    window.evaluate("sessionStorage.clear()")  # the tab's, kept across the module's checks
    found = _evaluate(
        window,
        f"{site}/id/transfer/",
        1300,
        """({
          supplier: sessionStorage.getItem('supplier'),
          count: Number(sessionStorage.getItem('count')),
          before: Number(sessionStorage.getItem('before')),
          rows: document.querySelectorAll('table.list tr').length - 1,
          suppliers: [...document.querySelectorAll('table.list tr td:nth-child(3)')]
            .map(td => td.textContent),
          chip: document.querySelector('ul.filters li strong')?.textContent,
          facetsLeft: document.querySelector('aside.facets').getBoundingClientRect().right,
          rowsLeft: document.querySelector('table.list').getBoundingClientRect().left,
        })""",
        CLICK_FIRST_SUPPLIER,
    )
    assert isinstance(found, dict), found
    assert found["supplier"] and found["rows"] == found["count"] < found["before"]
    assert set(found["suppliers"]) == {found["supplier"]}  # every row is that supplier's
    assert found["chip"] == found["supplier"]  # the filter in force, with a way to remove it
    assert found["facetsLeft"] <= found["rowsLeft"]  # facets beside the rows, not over them


# ---- maps: entity pages and the query page's Map view -----------------------------------------

# What a drawn map shows, measured in the page (static/map.js draws into the figure).
MAP_FACTS = """(() => {
  const figure = document.querySelector("figure.geokb-map, figure.geokb-map-view");
  const svg = figure && figure.querySelector("svg.geokb-map-svg");
  if (!svg) return null;
  const box = svg.getBoundingClientRect();
  return {
    drawn: figure.dataset.drawn,
    viewport: document.documentElement.clientWidth,
    left: box.left, right: box.right, width: box.width, height: box.height,
    countries: svg.querySelectorAll("path.country").length,
    states: [...svg.querySelectorAll("path.state")].map((p) => p.getAttribute("class")),
    places: [...svg.querySelectorAll("g.places a")].map((a) => [a.getAttribute("href"),
      a.querySelector("text") ? a.querySelector("text").textContent : ""]),
  };
})()"""
MAP_DRAWN = "document.querySelector('figure[data-drawn]')"


def test_maps_show_places_and_outlines_and_load_nothing_from_elsewhere(
    site: str, window: Browser
) -> None:
    from urllib.parse import urlsplit

    example = next(e for e in examples() if e.name == "16-disputed-territories-with-coordinates")
    rows = httpx.post(
        f"{site}/sparql", data={"query": example.query}, headers={"Accept": "application/json"}
    ).json()["results"]["bindings"]
    territories = {r["territory"]["value"] for r in rows}
    assert len(territories) >= 15, "the example finds the territories with a point"
    origin = urlsplit(site)[:2]
    seen = {}
    window.resize(1000)
    for path in (
        "/id/territory/abu-musa",
        "/id/state/IRN",
        "/#example=16-disputed-territories-with-coordinates&view=map",
    ):
        visit = window.open(site + path, ready=MAP_DRAWN)
        facts = window.evaluate(MAP_FACTS)
        assert facts and facts["drawn"] not in ("failed", "0"), (path, facts)
        # within the window, big enough to read, the world's outlines behind
        assert 0 <= facts["left"] < facts["right"] <= facts["viewport"], (path, facts)
        assert facts["width"] > 300 and facts["height"] > 150, (path, facts)
        assert facts["countries"] > 150, (path, facts)
        assert not visit.errors, (path, visit.errors)
        for url in visit.requests:  # the atlas and scripts too: all from this server
            assert urlsplit(url).scheme in ("data", "blob") or urlsplit(url)[:2] == origin, url
        assert any(u.endswith("/countries-110m.json") for u in visit.requests), path
        seen[path] = facts
    island = seen["/id/territory/abu-musa"]
    assert island["places"] == [["/id/territory/abu-musa", "Abu Musa"]]
    assert sorted(island["states"]) == ["state role-claimant"] * 2  # Iran and the UAE
    iran = seen["/id/state/IRN"]
    assert "state role-subject" in iran["states"]
    assert {href for href, _ in iran["places"]} >= {
        "/id/territory/abu-musa",
        "/id/territory/greater-tunb",
        "/id/territory/lesser-tunb",
    }
    view = seen["/#example=16-disputed-territories-with-coordinates&view=map"]
    assert len(view["places"]) == len(territories)  # a point per territory, each linked
    assert all(href.startswith(f"{site}/id/territory/") for href, _ in view["places"])
    assert "Crimea" in {label for _, label in view["places"]}


# What sticks out of the window, sideways, outside any element that scrolls on its own.
STICKING_OUT = """(() => {
  const width = document.documentElement.clientWidth, out = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || (box.left >= -1 && box.right <= width + 1)) continue;
    let up = el.parentElement, scrolls = false;
    for (; up && up !== document.body; up = up.parentElement) {
      if (/auto|scroll|hidden/.test(getComputedStyle(up).overflowX)) { scrolls = true; break; }
    }
    const where = `${Math.round(box.left)}..${Math.round(box.right)}`;
    if (!scrolls) out.push(`${el.tagName}.${el.className} ${where}`);
  }
  return {width, page: document.documentElement.scrollWidth, out: out.slice(0, 5)};
})()"""


def test_pages_fit_a_phones_width(site: str, window: Browser) -> None:
    """On a 390 px screen the header's search box stays on screen and wide tables (facts with
    long URLs, a dispute's claims, a state's register, a list) scroll within themselves:
    the page itself never scrolls sideways."""
    window.resize(390, 900)
    for path in ("/id/state/RUS", "/id/dispute/crimea", "/id/transfer/", "/id/territory/crimea"):
        visit = window.open(site + path, ready=SEARCH_READY)
        fit = window.evaluate(STICKING_OUT)
        assert fit["page"] <= fit["width"] and not fit["out"], (path, fit)
        assert not visit.errors, (path, visit.errors)
    # the header box's suggestions too
    window.evaluate(
        """(() => { const box = document.querySelector('form.search input[name="q"]');
        box.focus(); box.value = 'cr'; box.dispatchEvent(new Event('input', {bubbles: true}));
        })()"""
    )
    window.wait("document.querySelectorAll('#search-suggestions li').length > 0")
    fit = window.evaluate(STICKING_OUT)
    assert fit["page"] <= fit["width"] and not fit["out"], ("suggestions", fit)


def test_the_example_buttons_show_where_the_keyboard_is(site: str, browser: Browser) -> None:
    """The examples are buttons styled as links ('all: unset'): focused from the keyboard,
    each still shows an outline, or a person tabbing through them cannot see where they are."""
    browser.open(f"{site}/", ready="document.querySelectorAll('#example-list button').length")
    focused = browser.evaluate(
        """(() => { const button = document.querySelector('#example-list button');
        button.focus(); const style = getComputedStyle(button);
        return {focused: document.activeElement === button, outline: style.outlineStyle,
                width: parseFloat(style.outlineWidth)}; })()"""
    )
    assert focused["focused"] and focused["outline"] != "none" and focused["width"] >= 1, focused


# Each text's colour against the first background behind it: contrast ratios below 4.5:1
# (WCAG 2's AA level for text), with how often each (element, colour, ratio) occurs.
LOW_CONTRAST = r"""(() => {
  const luminance = (colour) => {
    const [r, g, b] = colour.match(/[\d.]+/g).slice(0, 3).map((v) => {
      v = Number(v) / 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const behind = (el) => {
    for (; el; el = el.parentElement) {
      const colour = getComputedStyle(el).backgroundColor;
      if (!/rgba\(0, 0, 0, 0\)|transparent/.test(colour)) return colour;
    }
    return "rgb(255, 255, 255)";
  };
  const low = {};
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node; (node = walker.nextNode()); ) {
    const el = node.parentElement;
    if (!node.textContent.trim() || !el.getClientRects().length || el.closest("svg")) continue;
    const style = getComputedStyle(el);
    const [a, b] = [luminance(style.color), luminance(behind(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const key = `${el.tagName}.${el.className} ${style.color} ${ratio.toFixed(2)}`;
    if (ratio < 4.5) low[key] = (low[key] || 0) + 1;
  }
  return low;
})()"""


def test_the_pages_text_stands_out_from_its_background(site: str, browser: Browser) -> None:
    """Ids, counts, tags and credits in grey are still readable: every text on an entity
    page, a list and the search page has a contrast of at least 4.5:1 (WCAG AA)."""
    for path in ("/id/state/RUS", "/id/transfer/", "/search?q=crimea"):
        browser.open(site + path, ready=MAP_DONE)
        assert browser.evaluate(LOW_CONTRAST) == {}, path
