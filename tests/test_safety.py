"""The endpoint is read-only, never reaches out, stops long queries and caps results.

These use real processes: the app's query workers, a real local TCP listener.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer

from api.settings import Settings

CARTESIAN = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
SIMPLE = "ASK { <https://w3id.org/geokb/id/state/IRN> ?p ?o }"


class Listener:
    """A TCP server on 127.0.0.1 that records every connection it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture()
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture(scope="module")
def strict(real_store: Path) -> Iterator[LiveServer]:
    """The app with a short timeout and a small row cap."""
    settings = Settings(store=real_store, timeout_s=2.0, max_rows=10, workers=2)
    with LiveServer(settings) as live:
        yield live


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:  # gone (ENOENT), or reaped between the open and the read (ESRCH)
        return False


def test_no_outbound_request_for_service_load_from_or_graph_params(
    http: httpx.Client, listener: Listener
) -> None:
    remote = f"http://127.0.0.1:{listener.port}/sparql"
    attempts = [
        {"query": f"SELECT * WHERE {{ SERVICE <{remote}> {{ ?s ?p ?o }} }}"},
        {"query": f"SELECT * WHERE {{ SERVICE SILENT <{remote}> {{ ?s ?p ?o }} }}"},
        {"query": f"LOAD <{remote}>"},
        {"query": f"LOAD SILENT <{remote}> INTO GRAPH <http://g>"},
        {"query": f"SELECT * FROM <{remote}> WHERE {{ ?s ?p ?o }}"},
        {"query": f"SELECT * FROM NAMED <{remote}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}"},
        {"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 1", "default-graph-uri": remote},
        {"query": "SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }", "named-graph-uri": remote},
        {"query": f"DESCRIBE <{remote}>"},
    ]
    for params in attempts:
        resp = http.get("/sparql", params=params)
        assert resp.status_code in (200, 403), (params, resp.text)
        if "SERVICE" in params["query"]:
            assert resp.status_code == 403 and "SERVICE is not allowed" in resp.text
        if "LOAD" in params["query"]:
            assert resp.status_code == 403 and "never fetches" in resp.text
    time.sleep(0.3)
    assert listener.connections == 0


def test_timeout_stops_the_query_frees_its_worker_and_others_still_answer(
    strict: LiveServer,
) -> None:
    pool = strict.server.config.app.state.pool  # type: ignore[attr-defined]
    before = {w.process.pid for w in pool._all}
    with ThreadPoolExecutor(2) as ex, httpx.Client(base_url=strict.url, timeout=30) as client:
        hostile = ex.submit(client.get, "/sparql", params={"query": CARTESIAN})
        time.sleep(0.3)  # let the hostile query start on a worker
        # another client: from its own address, since a client whose query ran long is
        # rationed (api/executor.py), and under load the first may have turned heavy already
        other = httpx.Client(
            base_url=strict.url,
            timeout=30,
            transport=httpx.HTTPTransport(local_address="127.0.0.2"),
        )
        t0 = time.monotonic()
        quick = other.get("/sparql", params={"query": SIMPLE})
        quick_s = time.monotonic() - t0
        other.close()
        resp = hostile.result()
    assert quick.status_code == 200 and quick.json()["boolean"] is True
    assert quick_s < 1.0, f"a simple query took {quick_s:.2f} s while another ran"
    assert resp.status_code == 503
    assert "ran longer than 2 s and was stopped" in resp.text
    killed = before - {w.process.pid for w in pool._all}
    assert len(killed) == 1
    victim = killed.pop()
    # SIGKILL reaches every thread of the worker at once, but the kernel takes a moment to
    # tear a threaded process down: look for a second, not at one instant
    gone_by = time.monotonic() + 1.0
    while _alive(victim) and time.monotonic() < gone_by:
        time.sleep(0.02)
    assert not _alive(victim), "the timed-out worker still runs"
    # the pool is whole again and answers
    deadline = time.monotonic() + 10
    while len(pool._all) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(pool._all) == 2
    with httpx.Client(base_url=strict.url) as client:
        assert client.get("/sparql", params={"query": SIMPLE}).status_code == 200


def test_result_cap_cuts_and_says_so(strict: LiveServer) -> None:
    with httpx.Client(base_url=strict.url) as client:
        resp = client.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o }"})
        assert resp.status_code == 200
        assert len(resp.json()["results"]["bindings"]) == 10
        assert resp.json()["truncated"] is True
        assert resp.headers["x-geokb-truncated"].startswith("true")
        csv = client.get(
            "/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o }", "format": "csv"}
        )
        assert len(csv.text.strip().splitlines()) == 11
        assert "x-geokb-truncated" in csv.headers
        small = client.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 3"})
        assert "x-geokb-truncated" not in small.headers
        assert "truncated" not in small.json()
        construct = client.get(
            "/sparql",
            params={"query": "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", "format": "ntriples"},
        )
        assert len(construct.text.strip().splitlines()) == 10
        assert "x-geokb-truncated" in construct.headers


def test_overlong_query_is_refused(http: httpx.Client) -> None:
    huge = "SELECT * WHERE { ?s ?p ?o } #" + "x" * 200_000
    resp = http.post("/sparql", content=huge, headers={"Content-Type": "application/sparql-query"})
    assert resp.status_code == 413
    resp = http.post("/sparql", data={"query": huge})
    assert resp.status_code == 413
    assert http.get("/sparql", params={"query": SIMPLE}).status_code == 200


def test_server_survives_garbage(http: httpx.Client) -> None:
    garbage = [b"\xff\xfe\x00", b"SELECT * WHERE {" * 1000, b"{" * 10000, b"\x00" * 100]
    for body in garbage:
        resp = http.post(
            "/sparql", content=body, headers={"Content-Type": "application/sparql-query"}
        )
        assert resp.status_code in (400, 413)
    assert http.get("/sparql", params={"query": SIMPLE}).json()["boolean"] is True


def test_workers_are_separate_processes(strict: LiveServer) -> None:
    pool = strict.server.config.app.state.pool  # type: ignore[attr-defined]
    pids = {w.process.pid for w in pool._all}
    assert os.getpid() not in pids and len(pids) == 2
