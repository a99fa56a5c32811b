"""The query page's result views beyond the table, in headless Chromium (conftest's shared
``browser``, as in test_browser)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import httpx
from chromium import Browser
from conftest import LiveServer

# The Network view has drawn its figure, caption included (static/query-network.js appends it
# whole, once the labels have come).
NETWORK_DRAWN = "document.querySelector('figure.geokb-network-view figcaption')"


def test_rows_pairing_two_entities_can_be_seen_as_a_network(
    live: LiveServer, browser: Browser
) -> None:
    browser.open(f"{live.url}/#example=15-who-supplied-whom&view=network", ready=NETWORK_DRAWN)
    dom: str = browser.evaluate("document.documentElement.outerHTML")
    svg = re.search(r'<svg class="geokb-network".*?</svg>', dom, re.DOTALL)
    assert svg, "the Network view is drawn when the link names it"
    pairs = httpx.post(
        f"{live.url}/sparql",
        data={"query": "PREFIX gk: <https://w3id.org/geokb/ontology#> SELECT DISTINCT ?s ?r "
              "{ ?t a gk:ArmsTransfer ; gk:supplier ?s ; gk:recipient ?r }"},
        headers={"Accept": "application/sparql-results+json"},
    ).json()["results"]["bindings"]  # fmt: skip
    states = {b[k]["value"] for b in pairs for k in ("s", "r")}
    # a circle per entity, an arrow per supplier-recipient pair
    assert len(re.findall(r'<circle class="node"', svg.group(0))) == len(states)
    assert len(re.findall(r'<line class="edge"', svg.group(0))) == len(pairs)
    # entities are named by their labels and link to their pages; no raw IRIs are shown
    labels = re.findall(r'<text[^>]*class="node-label">([^<]+)</text>', svg.group(0))
    assert "Iran" in labels and "Russian Federation" in labels
    assert not any(label.startswith("http") for label in labels)
    assert f'<a href="{live.url}/id/state/IRN">' in svg.group(0)
    assert f"{len(states)} entities, {len(pairs)} links" in dom


def test_names_give_records_without_a_label_the_title_their_pages_have(live: LiveServer) -> None:
    base = "https://w3id.org/geokb/id/"
    asked = [f"{base}state/IRN", f"{base}administration/abu-musa-iranian-zone-under-iran",
             f"{base}state/no-such-state", "https://example.org/not-ours"]  # fmt: skip
    names = httpx.post(f"{live.url}/names", data={"iri": asked}).json()
    assert names[f"{base}state/IRN"] == "Iran"
    title = names[f"{base}administration/abu-musa-iranian-zone-under-iran"]
    assert "Iran" in title and "Abu Musa" in title  # composed from its fields, as its page is
    page = httpx.get(f"{live.url}/id/administration/abu-musa-iranian-zone-under-iran").text
    assert f"<h1>{title}</h1>" in page.replace("&#x27;", "'")
    assert set(names) == set(asked[:2]), "unknown and foreign IRIs are left out"
    too_many = httpx.post(
        f"{live.url}/names", data={"iri": [f"{base}state/{n}" for n in range(1001)]}
    )
    assert too_many.status_code == 400 and "at most 1,000" in too_many.text


def test_names_refuse_a_body_past_the_limit_without_holding_it(live: LiveServer) -> None:
    # declared too long: refused before any of it is sent (no "100 Continue" invites it)
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /names HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000000000\r\n\r\n"
        )
        sock.settimeout(20)
        assert sock.recv(65536).startswith(b"HTTP/1.1 413")

    # not declared (chunked): cut as it arrives, past 1 MiB
    def endless() -> Iterator[bytes]:
        yield b"iri=https%3A%2F%2Fw3id.org%2Fgeokb%2Fid%2Fstate%2FIRN"
        for _ in range(10_000):  # 640 MB if it were all read
            yield b"&x=" + b"a" * 65536

    answer = httpx.post(
        f"{live.url}/names",
        content=endless(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=60,
    )
    assert answer.status_code == 413 and "at most 1,048,576 bytes" in answer.text
