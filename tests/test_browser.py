"""A person's view, in a real browser: headless Chromium (Debian's package, installed by
`make test`) opens the query page, runs an example, opens an entity page. Screenshots of each
are saved in test-artifacts/."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

import httpx
import pytest
from conftest import ROOT, LiveServer

from kb.sparql.examples import examples

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1300,1100",
    "--virtual-time-budget=15000",
]


def _chromium(*args: str) -> str:
    assert CHROMIUM, "chromium is installed by 'make test' (Debian package 'chromium')"
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def site(live: LiveServer) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return live.url


def test_query_page_runs_an_example_and_shows_rows(site: str) -> None:
    url = f"{site}/#example=01-transfers-iran-to-russia"
    dom = _chromium("--dump-dom", url)
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
    _chromium(f"--screenshot={ARTIFACTS / 'query-page.png'}", url)
    assert (ARTIFACTS / "query-page.png").stat().st_size > 10_000


def test_entity_page_shows_its_timeline(site: str) -> None:
    url = f"{site}/id/state/RUS"
    dom = _chromium("--dump-dom", url)
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
    assert '<table class="register">' in dom and "<script" not in dom
    _chromium(f"--screenshot={ARTIFACTS / 'entity-page.png'}", url)
    assert (ARTIFACTS / "entity-page.png").stat().st_size > 10_000


def test_api_docs_render_under_the_pages_content_security_policy(site: str) -> None:
    # /docs is served with script-src 'self': Swagger UI must start from its static files
    dom = _chromium("--dump-dom", f"{site}/docs")
    paths = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert {"/sparql", "/id/{path}"} <= paths, paths


def test_a_fact_page_shows_references_under_its_statements(site: str) -> None:
    dom = _chromium("--dump-dom", f"{site}/id/transfer/irn-rus-shahed-131-136")
    rows = re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", dom, re.DOTALL)
    supplier = next(td for th, td in rows if ">supplier<" in th)
    refs = re.findall(r'<li class="ref">(.*?)</li>', supplier, re.DOTALL)
    assert len(refs) >= 2, "the supplier statement lists its own references"
    assert any("Al-Monitor" in r or "Can Iran" in r for r in refs)
    assert all('class="locator"' in r and 'class="accessed"' in r for r in refs)
