"""Pages, VoID and /transfers.csv are bounded in the server: caps, a deadline, render slots.

A generated build where one state (USA) supplies 30,000 transfers: before these bounds its
page took 20 s and 22 MB of HTML, five at once over a minute and near 1 GB of memory.
"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from conftest import LiveServer
from rdflib import Graph
from rdflib.compare import isomorphic

from api import description
from api.app import create_app
from api.entities import LIMIT
from api.pagework import PagesBusy, PageWork
from api.settings import Settings
from kb.build.pipeline import compile_data
from kb.stores.local import current_build, write_build

TRANSFERS = 30_000
USA = "https://w3id.org/geokb/id/state/USA"
STATES = [
    ("USA", "United States", "US"),
    ("GBR", "United Kingdom", "GB"),
    ("FRA", "France", "FR"),
    ("DEU", "Germany", "DE"),
    ("POL", "Poland", "PL"),
    ("ISL", "Iceland", "IS"),  # no transfers
]
HTML = {"Accept": "text/html"}


def write_big_state(folder: Path, transfers: int) -> Path:
    """YAML where USA supplies ``transfers`` transfers, a quarter to each of four states."""
    folder.mkdir(parents=True)
    (folder / "sources.yaml").write_text(
        "sources:\n  - id: s1\n    title: A source\n    publisher: P\n", encoding="utf-8"
    )
    (folder / "states.yaml").write_text(
        "states:\n"
        + "".join(f"  - id: {i}\n    label: {name}\n    alpha2: {a2}\n" for i, name, a2 in STATES),
        encoding="utf-8",
    )
    lines = ["weapon_systems:"]
    for w in range(50):
        lines += [f"  - id: w{w}", f"    label: Weapon {w}", "    category: UAV"]
    lines.append("arms_transfers:")
    for i in range(transfers):
        year = 1990 + i % 35
        lines += [
            f"  - id: t{i}",
            "    supplier: USA",
            f"    recipient: {STATES[1 + i % 4][0]}",
            f"    weapon_systems: [w{i % 50}]",
            f'    order_date: "{year}"',
            f"    delivery_start_date: {year + 1}-{1 + i % 12:02d}",
            "    sources: [s1]",
        ]
    (folder / "transfers.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


class Server(LiveServer):
    """LiveServer with chosen Settings."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.store)
        self.app = create_app(settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build where one state has 30,000 transfers."""
    root = tmp_path_factory.mktemp("big-state")
    write_build(root / "store", compile_data(write_big_state(root / "data", TRANSFERS)))
    return root / "store"


@pytest.fixture(scope="module")
def big(big_store: Path) -> Iterator[Server]:
    """The app serving it with the default settings."""
    server = Server(Settings(store=big_store))
    with server:
        yield server


def _sparql_link(page: str, notice: str) -> str:
    """The query of the /sparql link in the cap notice that starts with ``notice``."""
    start = page.index(f'<p class="capped">Showing {notice}')
    href = page[page.index('href="', start) + 6 : page.index('"', page.index('href="', start) + 6)]
    parts = urlsplit(href.replace("&amp;", "&"))
    assert parts.path == "/"  # the query page, which runs it
    [query] = parse_qs(parts.query)["query"]
    return query


def test_a_state_with_30000_transfers_gets_a_capped_page(big: Server) -> None:
    with httpx.Client(base_url=big.url, timeout=60) as client:
        page = client.get("/id/state/USA", headers=HTML)
        assert page.status_code == 200
        text = page.text
        assert len(page.content) < 2_000_000  # was 22 MB
        # Each cut section says so, and links to the query that lists all of it.
        assert f"Showing the first {LIMIT:,} references" in text
        incoming = _sparql_link(text, f"the first {LIMIT:,} references")
        assert incoming == f"SELECT ?s ?p WHERE {{ ?s ?p <{USA}> }}"
        assert text.count("<li>", text.index('<ul class="incoming">')) == LIMIT
        assert f"Showing the dated facts among the first {LIMIT:,} references" in text
        assert f"Showing counts from the first {LIMIT:,} transfers each way" in text
        register = text[text.index("<h2>Arms transfers register</h2>") :]
        exports = register[: register.index("<h3>Imports")]
        assert f"Showing the first {LIMIT:,} rows" in exports
        assert exports.count("<tr>") == LIMIT + 1  # and its header
        assert "<h3>Imports" in register and "None recorded." in register
        # The link's query runs, and finds all of them.
        full = client.get("/sparql", params={"query": incoming, "format": "csv"})
        assert full.status_code == 200
        assert len(full.text.strip().splitlines()) == TRANSFERS + 1
        # A small page is not cut.
        small = client.get("/id/state/ISL", headers=HTML).text
        assert 'class="capped"' not in small


def test_rdf_of_a_capped_entity_says_it_was_cut(big: Server) -> None:
    with httpx.Client(base_url=big.url, timeout=60) as client:
        ttl = client.get("/id/state/USA", headers={"Accept": "application/n-triples"})
        assert ttl.status_code == 200
        assert "true" in ttl.headers["x-geokb-truncated"]
        assert len(ttl.text.strip().splitlines()) <= 2 * LIMIT
        small = client.get("/id/state/ISL", headers={"Accept": "text/turtle"})
        assert "x-geokb-truncated" not in small.headers


def test_five_pages_at_once_all_answer(big: Server) -> None:
    def fetch(_: int) -> httpx.Response:
        with httpx.Client(base_url=big.url, timeout=120) as client:
            return client.get("/id/state/USA", headers=HTML)

    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(fetch, range(5)))
    assert [a.status_code for a in answers] == [200] * 5
    assert all("Showing the first 1,000 references" in a.text for a in answers)


def test_void_statistics_are_kept_per_build(big: Server, big_store: Path) -> None:
    build = current_build(big_store)
    assert build is not None
    with httpx.Client(base_url=big.url, timeout=60) as client:
        first = client.get("/.well-known/void")
        assert first.status_code == 200
        kept = description._kept[build]
        assert kept.done()
        second = client.get("/.well-known/void")
        assert second.status_code == 200
        assert isomorphic(
            Graph().parse(data=first.text, format="turtle"),
            Graph().parse(data=second.text, format="turtle"),
        )
        assert description._kept[build] is kept  # not computed again
        graphs = kept.result().graphs
        assert graphs["https://w3id.org/geokb/graph/data/transfers.yaml"] > 7 * TRANSFERS
        # The Service Description at /sparql reads the same kept statistics.
        assert client.get("/sparql", headers={"Accept": "text/turtle"}).status_code == 200
        assert description._kept[build] is kept


def test_transfers_csv_is_cut_at_max_rows_and_says_so(big_store: Path) -> None:
    with (
        Server(Settings(store=big_store, max_rows=500)) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        for params in ({}, {"supplier": "USA"}, {"supplier": "USA", "recipient": "FRA"}):
            resp = client.get("/transfers.csv", params=params)
            assert resp.status_code == 200
            assert resp.headers["x-geokb-truncated"].startswith("true")
            assert resp.headers["x-geokb-max-rows"] == "500"
            rows = list(csv.DictReader(io.StringIO(resp.text)))
            assert len(rows) == 500
            if "recipient" in params:
                assert {r["Recipient"] for r in rows} == {"France"}
            keys = [(r["Supplier"], r["Recipient"], r["Order year"]) for r in rows]
            assert keys == sorted(keys)  # in register order
        whole = client.get("/transfers.csv", params={"supplier": "GBR"})
        assert "x-geokb-truncated" not in whole.headers
        assert whole.text.strip().splitlines() == [whole.text.splitlines()[0]]  # header only


def test_transfers_csv_under_the_limit_is_whole(big: Server) -> None:
    with httpx.Client(base_url=big.url, timeout=120) as client:
        resp = client.get("/transfers.csv", params={"recipient": "POL"})
        assert resp.status_code == 200
        assert "x-geokb-truncated" not in resp.headers
        rows = list(csv.DictReader(io.StringIO(resp.text)))
        assert len(rows) == TRANSFERS // 4
        keys = [(r["Supplier"], r["Recipient"], r["Order year"]) for r in rows]
        assert keys == sorted(keys)


def test_a_page_past_its_deadline_is_503_with_retry_after(big_store: Path) -> None:
    # No page can be rendered in a microsecond: the first check between steps stops it.
    with (
        Server(Settings(store=big_store, timeout_s=1e-6)) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        for path in ("/id/state/USA", "/transfers.csv"):
            resp = client.get(path, headers=HTML)
            assert resp.status_code == 503
            assert resp.headers["retry-after"] == "5"
            assert resp.headers["content-type"].startswith("text/plain")
            assert "limit of 1e-06 s" in resp.text


def test_a_request_waiting_too_long_for_a_render_slot_is_refused() -> None:
    work = PageWork(Settings(queue_timeout_s=0.2), slots=1)

    async def scenario() -> None:
        holding, release = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with work.slot():
                holding.set()
                await release.wait()

        holder = asyncio.create_task(hold())
        await holding.wait()
        with pytest.raises(PagesBusy):
            await work.run(lambda deadline: "rendered")
        release.set()
        await holder
        assert await work.run(lambda deadline: "rendered") == "rendered"  # the slot is free

    asyncio.run(scenario())


def test_one_client_leaves_a_render_slot_for_the_others() -> None:
    # two slots: a client looping on a long page holds one at most; another's page renders
    work = PageWork(Settings(queue_timeout_s=0.2), slots=2)

    async def scenario() -> None:
        holding, release = asyncio.Event(), asyncio.Event()

        async def hold(client: str) -> None:
            async with work.slot(client=client):
                holding.set()
                await release.wait()

        first = asyncio.create_task(hold("192.0.2.1"))
        await holding.wait()
        with pytest.raises(PagesBusy):  # the same client's second page waits for its first
            await work.run(lambda deadline: "rendered", client="192.0.2.1")
        assert await work.run(lambda deadline: "rendered", client="192.0.2.9") == "rendered"
        release.set()
        await first
        assert await work.run(lambda deadline: "rendered", client="192.0.2.1") == "rendered"
        assert not work._clients  # no client is remembered once its pages are done

    asyncio.run(scenario())
