"""``geokb serve`` runs on uvloop: large answers arrive whole, as the embedded store gives them.

(Under uvloop, answers over ~64 KiB once broke on the worker pipe: a 1,000-row SELECT got a
500 and a 10,000-row one an empty 200.)
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kb.sparql import formats
from kb.sparql import query as kbquery
from kb.stores.local import open_current

GEOKB = Path(sys.executable).parent / "geokb"
# Rows from a join of every triple with every triple: more rows than the data has triples.
ROWS = "SELECT ?s ?p ?o ?x WHERE {{ ?s ?p ?o . ?x a ?c }} LIMIT {}"


@pytest.fixture(scope="module")
def served(real_store: Path) -> Iterator[tuple[str, int]]:
    """A real ``geokb serve`` process over the real data: its URL and pid."""
    assert GEOKB.exists(), f"{GEOKB} is missing: run 'make install'"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    process = subprocess.Popen(
        [str(GEOKB), "serve", "--store", str(real_store), "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/sparql"
    deadline = time.monotonic() + 60
    try:
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                httpx.get(url, params={"query": "ASK {}"}, timeout=10)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "geokb serve did not start"
                time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_geokb_serve_runs_on_uvloop(served: tuple[str, int]) -> None:
    _, pid = served
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert "/uvloop/" in maps, "geokb serve did not load uvloop"
    assert "/httptools/" in maps, "geokb serve did not load httptools"


@pytest.mark.parametrize("rows", [1_000, 10_000])
def test_large_answers_arrive_whole_under_uvloop(
    served: tuple[str, int], real_store: Path, rows: int
) -> None:
    url, _ = served
    query = ROWS.format(rows)
    resp = httpx.get(url, params={"query": query, "format": "json"}, timeout=60)
    assert resp.status_code == 200, resp.text
    got = resp.json()
    store, _ = open_current(real_store)
    fmt = formats.lookup("json")
    assert fmt is not None
    expected = json.loads(kbquery.serialize(kbquery.run(store, query), fmt))
    assert len(got["results"]["bindings"]) == rows
    assert got == expected
