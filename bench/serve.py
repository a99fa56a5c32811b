"""What users feel: geokb serve against `oxigraph serve-read-only` at ~1M triples.

    .venv/bin/python bench/serve.py [--triples 1000000] [--work DIR] [--seconds 2] [--rounds 3]
                                    [--concurrency 1,4,16] [--classes point,describe,...]
                                    [--variant '--processes 2' ...]

Builds bench/synthetic.py data with geokb (kept in --work, reused when there: remove the
folder after a change to how builds write the store), then serves it four ways on 127.0.0.1:
geokb serve; `oxigraph serve-read-only --union-default-graph` on geokb's own build ("U", the
same store); Oxigraph on the same triples bulk-loaded into the default graph of a new store
("D", as `oxigraph load` leaves it); and on a copy of that store compacted as `oxigraph
optimize` does ("D*", what Oxigraph advises before a read-heavy workload; geokb's full builds
are compacted too). For each query class and concurrency it runs the four in turn, each for
--seconds, in --rounds paired rounds (q/s and ratios are their medians), every query text
distinct (a counter in the query or a comment), so geokb's answer cache never helps. Each
connection comes from its own loopback address (127.0.0.2, ...), as distinct users would:
geokb rations long queries per client address.

The client is a raw asyncio HTTP/1.1 keep-alive client (no library), cheap enough not to
hide the servers' own cost: its cost per request is measured first, against a trivial
asyncio server that answers every request with the same 2 KB. Prints each server's start
time and memory per process (RSS and its private part) after start and after a short
warm-up, p50/p99 latency, q/s, errors and resident memory under load, then the ratios
geokb/U, geokb/D and geokb/D*; a --variant (geokb with other flags) takes its turn in the
same rounds and gets rows of its own. Traffic goes only to 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pyoxigraph as ox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import free_port, process_tree, rss_mb
from synthetic import generate

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ID = "https://w3id.org/geokb/id/"
GK = "PREFIX gk: <https://w3id.org/geokb/ontology#> "
RDFS = "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
STATES = ["USA", "RUS", "FRA", "CHN", "DEU", "GBR", "ITA", "ISR", "ESP", "KOR", "TUR", "UKR"]


@dataclass(frozen=True)
class QueryClass:
    """A kind of query: ``text(n)`` is its n-th distinct text."""

    name: str
    text: Callable[[int], str]
    accept: str = "application/sparql-results+json"


def _classes(transfers: int) -> list[QueryClass]:
    def transfer(n: int) -> str:
        return f"<{ID}transfer/transfer-{(n * 7919) % transfers}>"

    def state(n: int) -> str:
        return f"<{ID}state/{STATES[n % len(STATES)]}>"

    return [
        QueryClass("point", lambda n: f"SELECT ?p ?o WHERE {{ {transfer(n)} ?p ?o }} # {n}"),
        QueryClass("describe", lambda n: f"DESCRIBE {transfer(n)} # {n}", "text/turtle"),
        QueryClass(
            "join",
            lambda n: (
                GK
                + RDFS
                + "SELECT ?t ?label WHERE { ?t gk:supplier "
                + state(n)
                + " ; gk:weaponSystem ?w . ?w rdfs:label ?label }"
                + f" # {n}"
            ),
        ),
        QueryClass(
            "aggregate",
            lambda n: (
                GK
                + "SELECT ?s ?d (COUNT(?t) AS ?n) (SUM(?q) AS ?ordered) WHERE { ?t gk:recipient "
                + state(n)
                + " ; gk:supplier ?s ; gk:orderDate ?d ; gk:quantityOrdered ?q } GROUP BY ?s ?d"
                + f" # {n}"
            ),
        ),
        QueryClass(
            "rows10k",
            lambda n: (
                GK + f"SELECT ?t ?s ?r WHERE {{ ?t gk:supplier ?s ; gk:recipient ?r }} "
                f"LIMIT 10000 # {n}"
            ),
        ),
        QueryClass(
            "everything",
            lambda n: f"SELECT ?p (COUNT(*) AS ?n) WHERE {{ ?s ?p ?o }} GROUP BY ?p # {n}",
        ),
    ]


# -- the client -----------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection: send a GET, read the whole response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, source: str) -> Connection:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(source, 0), limit=1 << 20
        )
        return cls(reader, writer)

    async def get(self, target: bytes, accept: bytes) -> tuple[int, int]:
        """The status and body size of ``GET target``."""
        self.writer.write(
            b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: " + accept + b"\r\n\r\n"
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"content-length:")
        if at >= 0:
            size = int(lower[at + 15 : lower.index(b"\r\n", at)])
            await self.reader.readexactly(size)
            return status, size
        size = 0  # chunked
        while True:
            line = await self.reader.readuntil(b"\r\n")
            n = int(line.split(b";")[0], 16)
            await self.reader.readexactly(n + 2)
            size += n
            if n == 0:
                return status, size

    def close(self) -> None:
        self.writer.close()


@dataclass
class Cell:
    """One server, one class, one concurrency."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    rss_mb: float = 0.0

    def q_s(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else 0.0


async def run_cell(
    port: int, path: str, qc: QueryClass, concurrency: int, seconds: float, start: int, pid: int
) -> Cell:
    """``concurrency`` connections asking distinct texts of ``qc`` for ``seconds`` (and at
    least one query each)."""
    cell = Cell()
    conns = [await Connection.open(port, f"127.0.0.{2 + i}") for i in range(concurrency)]
    counter = iter(range(start, start + 10**9))
    stop = time.perf_counter() + seconds
    accept = qc.accept.encode()

    async def client(conn: Connection) -> None:
        first = True
        while first or time.perf_counter() < stop:
            first = False
            target = f"{path}?query={quote(qc.text(next(counter)), safe='')}".encode()
            t0 = time.perf_counter()
            status, _ = await conn.get(target, accept)
            if status == 200:
                cell.latencies.append(time.perf_counter() - t0)
            else:
                cell.errors += 1

    t0 = time.perf_counter()
    tasks = [asyncio.ensure_future(client(c)) for c in conns]
    await asyncio.sleep(min(seconds / 2, 1.0))
    cell.rss_mb = rss_mb(pid)
    await asyncio.gather(*tasks)
    cell.seconds = time.perf_counter() - t0
    cell.rss_mb = max(cell.rss_mb, rss_mb(pid))
    for c in conns:
        c.close()
    return cell


async def client_cost(seconds: float) -> tuple[float, float]:
    """p50 latency (ms) and q/s of this client against a trivial server (2 KB answers)."""
    body = b"x" * 2048
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2048\r\n\r\n" + body

    class Trivial(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            for _ in range(data.count(b"\r\n\r\n")):
                self.transport.write(answer)  # type: ignore[attr-defined]

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Trivial, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cell = await run_cell(port, "/", QueryClass("trivial", str), 1, seconds, 0, 0)
    server.close()
    return cell.p(0.5), cell.q_s()


# -- the servers ----------------------------------------------------------------------------


def prepare(work: Path, triples: int) -> tuple[Path, Path, Path, int]:
    """geokb's store root, a default-graph store of the same triples as bulk_load leaves it
    and a compacted copy of that one, built if missing; and the number of transfers."""
    data, store, dstore = work / "data", work / "store", work / "default-graph"
    optimized = work / "default-graph-optimized"
    counts = generate(data, triples, files=100) if not data.exists() else None
    if not (store / "current").exists():
        subprocess.run(
            [BIN / "geokb", "build", "--data", str(data), "--store", str(store)], check=True
        )
    if not dstore.exists():
        nt = work / "union.nt"
        src = ox.Store.read_only(str((store / "current").resolve()))
        with nt.open("wb") as out:  # every triple of every graph; the load keeps one of each
            ox.serialize(
                (ox.Triple(q.subject, q.predicate, q.object) for q in src),
                out,
                format=ox.RdfFormat.N_TRIPLES,
            )
        del src
        ox.Store(str(dstore)).bulk_load(path=str(nt), format=ox.RdfFormat.N_TRIPLES)
        nt.unlink()
    if not optimized.exists():  # what `oxigraph optimize` makes (its `load` advises it)
        shutil.copytree(dstore, optimized)
        ox.Store(str(optimized)).optimize()
    transfers = counts["transfers"] if counts else len(list((data).glob("transfers-*.yaml")))
    if not counts:  # count the transfers in the data
        transfers = sum(
            p.read_text(encoding="utf-8").count("  - id: transfer-")
            for p in data.glob("transfers-*.yaml")
        )
    return store, dstore, optimized, transfers


def pss_mb(pid: int) -> float:
    """Proportional memory of a process and its descendants, in MB: shared pages (the
    libraries every worker maps) counted once in all, not once per process as RSS does."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except OSError:
            continue
    return total / 1024


def _smaps_kb(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return {line.split(":")[0]: int(line.split()[1]) for line in f if line.endswith("kB\n")}


def _role(pid: int, top: int) -> str:
    if pid == top:
        return "server"
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        line = f.read()
    if b"resource_tracker" in line:
        return "resource tracker"
    return "worker" if b"spawn_main" in line else "child"


def memory(pid: int) -> str:
    """Each process of a server (the server, its workers, any other child): RSS, and how
    much of it is its own (private pages) rather than shared with the others (libraries)."""
    parts, rss, private = [], 0, 0
    for p in process_tree(pid):
        try:
            m = _smaps_kb(p)
            role = _role(p, pid)
        except OSError:
            continue  # gone meanwhile
        own = m.get("Private_Clean", 0) + m.get("Private_Dirty", 0)
        rss += m.get("Rss", 0)
        private += own
        parts.append(f"{role} {m.get('Rss', 0) / 1024:.0f} ({own / 1024:.0f} own)")
    return (
        f"RSS {rss / 1024:.0f} MB, of which {private / 1024:.0f} MB private to one process: "
        + ", ".join(parts)
    )


def port_open(port: int, proc: subprocess.Popen[bytes], t0: float) -> float:
    """Seconds from ``t0`` until ``port`` accepts connections."""
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return time.perf_counter() - t0
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("the server exited") from None
            time.sleep(0.002)


def start(command: list[str], url: str) -> tuple[subprocess.Popen[bytes], float, float]:
    """Start a server; return it, the seconds until its port opened and until it answered
    ``ASK {}``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host, port = url.split("//")[1].split("/")[0].split(":")
    opened = port_open(int(port), proc, t0)
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=1) as s:
                path = url.split(port, 1)[1]
                s.sendall(f"GET {path}?query=ASK%7B%7D HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                if s.recv(12).startswith(b"HTTP/1.1 200"):
                    return proc, opened, time.perf_counter() - t0
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{command[0]} exited")
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triples", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/geokb-bench-serve"))
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--classes", default="point,describe,join,aggregate,rows10k,everything")
    parser.add_argument("--geokb-flags", default="", help="more 'geokb serve' flags")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="FLAGS",
        help="also serve geokb with these flags (e.g. '--processes 2'), in the same rounds; "
        "its rows follow geokb's (repeatable)",
    )
    args = parser.parse_args()
    assert shutil.which("oxigraph", path=str(BIN)), f"no oxigraph in {BIN}: make install"
    args.work.mkdir(parents=True, exist_ok=True)
    store, dstore, optimized, transfers = prepare(args.work, args.triples)
    classes = [c for c in _classes(transfers) if c.name in args.classes.split(",")]
    levels = [int(c) for c in args.concurrency.split(",")]

    cost_p50, cost_qs = asyncio.run(client_cost(2.0))
    print(f"client alone (trivial server, 2 KB): p50 {cost_p50:.3f} ms, {cost_qs:,.0f} q/s")

    variants = {f"geokb {flags}": flags for flags in args.variant}
    ports = {"geokb": free_port(), "U": free_port(), "D": free_port(), "D*": free_port()}
    ports.update({name: free_port() for name in variants})
    oxi = str(BIN / "oxigraph")
    geokb = [str(BIN / "geokb"), "serve", "--store", str(store), "--port", str(ports["geokb"])]
    build = str((store / "current").resolve())
    u_bind = f"127.0.0.1:{ports['U']}"
    d_bind = f"127.0.0.1:{ports['D']}"
    o_bind = f"127.0.0.1:{ports['D*']}"
    commands = {
        "geokb": [*geokb, *args.geokb_flags.split()],
        "U": [oxi, "serve-read-only", "-l", build, "--union-default-graph", "-b", u_bind],
        "D": [oxi, "serve-read-only", "-l", str(dstore), "-b", d_bind],
        "D*": [oxi, "serve-read-only", "-l", str(optimized), "-b", o_bind],
    }
    for name, flags in variants.items():
        commands[name] = [*geokb[:-1], str(ports[name]), *args.geokb_flags.split(), *flags.split()]
    paths = {"geokb": "/sparql", "U": "/query", "D": "/query", "D*": "/query"}
    paths.update({name: "/sparql" for name in variants})
    procs: dict[str, subprocess.Popen[bytes]] = {}
    counter = 0
    try:
        for name, command in commands.items():
            url = f"http://127.0.0.1:{ports[name]}{paths[name]}"
            procs[name], opened, took = start(command, url)
            time.sleep(2.0)  # settled
            pid = procs[name].pid
            print(
                f"{name}: port open after {opened:.2f} s, first answer after {took:.2f} s; "
                f"idle RSS {rss_mb(pid):.0f} MB (PSS {pss_mb(pid):.0f} MB) with "
                f"{len(process_tree(pid)) - 1} child processes"
            )
            print(f"  idle after start: {memory(pid)}")
            # a warm-up: 1 s each of point lookups, DESCRIBE and joins on 2 connections (both
            # workers), then idle again: what a server that answered a few queries holds
            for qc in [c for c in _classes(transfers) if c.name in ("point", "describe", "join")]:
                counter += 1_000_000
                asyncio.run(run_cell(ports[name], paths[name], qc, 2, 1.0, counter, pid))
            time.sleep(1.0)
            print(f"  idle after a warm-up: {memory(pid)} (PSS {pss_mb(pid):.0f} MB)")
        # rounds[(class, concurrency, server)]: one Cell per round; the servers take turns
        # within a round, in a rotating order, so a noisy moment hits each in turn
        rounds: dict[tuple[str, int, str], list[Cell]] = {}
        names = list(procs)
        for qc in classes:
            for c in levels:
                for r in range(args.rounds):
                    for name in names[r % len(names) :] + names[: r % len(names)]:
                        counter += 1_000_000
                        pid = procs[name].pid
                        cell = asyncio.run(
                            run_cell(ports[name], paths[name], qc, c, args.seconds, counter, pid)
                        )
                        rounds.setdefault((qc.name, c, name), []).append(cell)
                        print(
                            f"{qc.name:10} c={c:<3} {name:5} {cell.q_s():9.1f} q/s  "
                            f"p50 {cell.p(0.5):8.2f} ms  p99 {cell.p(0.99):8.2f} ms  "
                            f"errors {cell.errors}  RSS {cell.rss_mb:.0f} MB",
                            flush=True,
                        )
        print()
        print(f"client alone: p50 {cost_p50:.3f} ms per request ({cost_qs:,.0f} q/s)")
        print(f"{args.rounds} rounds of {args.seconds:g} s per cell; q/s and ratios: medians")
        print()
        print(
            "| query class | conc. | server | q/s | p50 / p99 ms | D p50 / p99 ms "
            "| D* p50 / p99 ms | / U | / D | / D* | errors | RSS server / D MB |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for qc in classes:
            for c in levels:
                u, d, o = (rounds[(qc.name, c, n)] for n in ("U", "D", "D*"))
                for name in ["geokb", *variants]:
                    g = rounds[(qc.name, c, name)]

                    def ratio(other: list[Cell], g: list[Cell] = g) -> float:
                        return statistics.median(
                            x.q_s() / max(y.q_s(), 1e-9) for x, y in zip(g, other, strict=True)
                        )

                    def pooled(cells: list[Cell]) -> str:
                        every = Cell()
                        for x in cells:
                            every.latencies += x.latencies
                        return f"{every.p(0.5):.2f} / {every.p(0.99):.1f}"

                    print(
                        f"| {qc.name} | {c} | {name} | {statistics.median(x.q_s() for x in g):.1f} "
                        f"| {pooled(g)} | {pooled(d)} | {pooled(o)} "
                        f"| {ratio(u):.2f} | {ratio(d):.2f} | {ratio(o):.2f} "
                        f"| {sum(x.errors for x in g)} "
                        f"| {max(x.rss_mb for x in g):.0f} / {max(x.rss_mb for x in d):.0f} |"
                    )
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
