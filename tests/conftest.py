"""Shared fixtures: small real data folders, real stores, and the real app over real HTTP."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest
import uvicorn
from chromium import WINDOW, Browser
from rdflib import Graph
from virtuoso_server import virtuoso, virtuoso_server  # noqa: F401 - fixtures for all tests

from api.app import create_app
from kb.build.pipeline import compile_data
from kb.stores.local import write_build

ROOT = Path(__file__).resolve().parent.parent
OXIGRAPH = shutil.which("oxigraph", path=str(Path(sys.executable).parent)) or shutil.which(
    "oxigraph"
)
DATA = ROOT / "data"

# A query whose answer is large and needs no data: 10^5 rows of ~110 bytes, cut at the default
# 50,000 rows (MBs as CSV): more than the server holds from a worker (executor.HOLD_BYTES) and
# the socket buffers before a client, so a client that stops reading leaves it half sent.
LARGE_ANSWER = (
    "SELECT ?x WHERE { "
    + " ".join(f"VALUES ?{v} {{ 0 1 2 3 4 5 6 7 8 9 }}" for v in "abcde")
    + ' BIND(CONCAT(STR(?a), STR(?b), STR(?c), STR(?d), STR(?e), "'
    + "x" * 100
    + '") AS ?x) }'
)


def unread_get(port: int, query: str, address: str = "127.0.0.1") -> socket.socket:
    """A GET of ``query`` as CSV to /sparql on ``port``, from ``address``, on a socket with a
    small receive buffer, which the caller reads slowly or not at all."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((address, 0))
    sock.connect(("127.0.0.1", port))
    target = httpx.URL("/sparql", params={"query": query}).raw_path
    sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nAccept: text/csv\r\n\r\n")
    return sock


MINI = {
    "sources.yaml": """\
        sources:
          - id: test-source
            title: A test source
            publisher: Test Publisher
        """,
    "states.yaml": """\
        states:
          - id: IRN
            label: Iran
            alpha2: IR
          - id: RUS
            label: Russia
            alpha2: RU
        """,
    "transfers.yaml": """\
        weapon_systems:
          - id: drone-x
            label: Drone X
            category: UAV
        arms_transfers:
          - id: t1
            supplier: IRN
            recipient: RUS
            weapon_systems: [drone-x]
            delivery_start_date: 2022-10
            sources: [test-source]
        """,
}


def as_rdflib(data: list[ox.Quad] | list[ox.Triple]) -> Graph:
    """pyoxigraph quads or triples as an rdflib graph, for membership tests and pyshacl."""
    triples = [ox.Triple(t.subject, t.predicate, t.object) for t in data]
    written = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES)
    assert written is not None  # (None only when given a file to write to)
    g = Graph()
    g.parse(data=written.decode(), format="nt")
    return g


def write_data(folder: Path, files: dict[str, str]) -> Path:
    """Write YAML files (dedented) into ``folder`` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def real_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store built from the real data/ folder."""
    root = tmp_path_factory.mktemp("real-store")
    write_build(root, compile_data(DATA))
    return root


class LiveServer:
    """The real app served by uvicorn on a free local port, in a thread."""

    def __init__(self, store_root: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(
            create_app(store_root), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class OxigraphServer:
    """`oxigraph serve` on a free local port, with its data in a folder."""

    def __init__(self, folder: Path, *options: str) -> None:
        self.folder = folder
        self.options = options  # more 'oxigraph serve' options, e.g. "--timeout-s", "1"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/query"

    def start(self) -> None:
        assert OXIGRAPH, "the oxigraph server is installed with the dev dependencies"
        self.process = subprocess.Popen(
            [
                OXIGRAPH,
                "serve",
                "--location",
                str(self.folder),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--union-default-graph",
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(self.query_url, params={"query": "ASK {}"}, timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("oxigraph server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="session")
def live(real_store: Path) -> Iterator[LiveServer]:
    """The app serving the real data over HTTP."""
    with LiveServer(real_store) as server:
        yield server


@pytest.fixture()
def http(live: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client for the live app."""
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium (one tab, WINDOW's size) for every page check of a test process:
    a start costs seconds. Started at the first check that asks for it."""
    with Browser(*WINDOW) as shared:
        yield shared
