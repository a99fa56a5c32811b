"""Mixed abusive load on 127.0.0.1: heavy queries, many simple ones, idle sockets.

    .venv/bin/python bench/abuse.py [--clients 50] [--seconds 60] [--heavy 3] [--idle 2000]
                                    [--engine 0] [--stalled 0]
                                    [--store DIR] [--serve-args "--workers 3 ..."]

Builds data/ into a temporary store (or uses --store), starts `geokb serve` on a free local
port and, for a fixed time:

* ``--heavy`` clients loop on a 4-way cartesian COUNT (runs until the query timeout);
* ``--engine`` clients loop on a small join (the engine, in a worker, answers it);
* the other clients loop on point lookups, each text different (a LIMIT that counts up), so
  the answer cache does not help; each client connects from its own loopback address;
* ``--stalled`` sockets, each from its own address, ask for a large answer (50,000 rows of
  ~110 bytes, made from nothing) and never read it; each one the server drops is opened
  again (at most once a second);
* ``--idle`` sockets connect and send nothing; each one the server closes is opened again
  (at most once a second per socket), as a slowloris attacker would.

Prints p50/p99 latency of the simple queries, answers by status for simple and heavy
clients, what became of the idle sockets, the server's memory (its process and its query
workers, from /proc) and the size of its log. Traffic goes only to 127.0.0.1; every loop
stops at the deadline. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from load import free_port, rss_mb, wait_ready

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HEAVY = "SELECT (COUNT(*) AS ?n) WHERE {{ ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }} LIMIT {n}"
STATES = ["IRN", "RUS", "UKR", "USA", "CHN", "ISR", "PRK", "TUR"]
SIMPLE = "SELECT ?p ?o WHERE {{ <https://w3id.org/geokb/id/state/{state}> ?p ?o }} LIMIT {n}"
JSON = "application/sparql-results+json"
ENGINE = (
    "SELECT ?s ?l WHERE {{ ?s a ?t . ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l }} "
    "LIMIT {n}"
)
DIGITS = "{ 0 1 2 3 4 5 6 7 8 9 }"
LARGE = (
    "SELECT ?x WHERE { "
    + " ".join(f"VALUES ?{v} {DIGITS}" for v in "abcde")
    + ' BIND(CONCAT(STR(?a), STR(?b), STR(?c), STR(?d), STR(?e), "'
    + "x" * 100
    + '") AS ?x) } # '
)


@dataclass
class Tally:
    """What the clients saw."""

    simple_latency: list[float] = field(default_factory=list)
    simple: Counter[str] = field(default_factory=Counter)
    heavy_latency: list[float] = field(default_factory=list)
    heavy: Counter[str] = field(default_factory=Counter)
    engine_latency: list[float] = field(default_factory=list)
    engine: Counter[str] = field(default_factory=Counter)
    idle: Counter[str] = field(default_factory=Counter)
    stalled: Counter[str] = field(default_factory=Counter)
    memory: list[float] = field(default_factory=list)


def established(sock: socket.socket) -> bool:
    """Whether the kernel holds ``sock`` as connected (for a socket never read, an EOF or a
    reset from the server is seen only here)."""
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == 1)


def outcome(exc: BaseException) -> str:
    """A short name for a failed request."""
    if isinstance(exc, httpx.TimeoutException):
        return "client timeout"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "closed by server"
    if isinstance(exc, httpx.ConnectError):
        return "connect failed"
    return type(exc).__name__


async def run_load(url: str, pid: int, args: argparse.Namespace) -> Tally:
    """All clients and idle sockets at once until the deadline."""
    tally = Tally()
    stop = time.monotonic() + args.seconds
    host, port = "127.0.0.1", int(url.split(":")[2].split("/")[0])

    async def query_loop(n: int, kind: str) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        # each client from its own loopback address (127.0.0.2, ...), so the server, which
        # tells clients apart by address, sees 50 clients and not one
        source = f"127.0.{(n + 2) // 256}.{(n + 2) % 256}" if args.own_addresses else None
        transport = httpx.AsyncHTTPTransport(limits=limits, local_address=source)
        async with httpx.AsyncClient(timeout=args.client_timeout, transport=transport) as http:
            i = 0
            while time.monotonic() < stop:
                i += 1
                unique = 1_000_000 + n * 100_000 + i  # a new query text every time
                if kind == "heavy":
                    text = HEAVY.format(n=unique)
                elif kind == "engine":
                    text = ENGINE.format(n=unique)
                else:
                    text = SIMPLE.format(state=STATES[(n + i) % len(STATES)], n=unique)
                t0 = time.perf_counter()
                try:
                    resp = await http.get(url, params={"query": text}, headers={"Accept": JSON})
                    status = str(resp.status_code)
                except httpx.HTTPError as exc:
                    status = outcome(exc)
                    await asyncio.sleep(0.1)  # a refused client does not spin
                elapsed = time.perf_counter() - t0
                counts, latency = {
                    "heavy": (tally.heavy, tally.heavy_latency),
                    "engine": (tally.engine, tally.engine_latency),
                    "simple": (tally.simple, tally.simple_latency),
                }[kind]
                counts[status] += 1
                if status == "200":
                    latency.append(elapsed)

    async def idle_socket() -> None:
        while time.monotonic() < stop:
            opened = time.monotonic()
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                tally.idle["connect failed"] += 1
                await asyncio.sleep(1)
                continue
            try:
                # wait for the server to close it (EOF), or for the end of the run
                left = stop - time.monotonic()
                await asyncio.wait_for(reader.read(1), timeout=max(left, 0.01))
                lived = time.monotonic() - opened
                tally.idle["closed at once (<1 s)" if lived < 1 else "closed after >=1 s"] += 1
            except TimeoutError:
                tally.idle["still open at the end"] += 1
            except OSError:
                tally.idle["closed at once (<1 s)"] += 1  # reset
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            await asyncio.sleep(max(0.0, 1 - (time.monotonic() - opened)))  # <= 1 reopen/s

    async def stalled_socket(n: int) -> None:
        source = f"127.1.{n // 256}.{n % 256}"  # apart from the query clients' addresses
        i = 0
        while time.monotonic() < stop:
            i += 1
            opened = time.monotonic()
            try:
                _, writer = await asyncio.open_connection(
                    host, port, local_addr=(source, 0), limit=4096
                )
            except OSError:
                tally.stalled["connect failed"] += 1
                await asyncio.sleep(1)
                continue
            target = httpx.URL(url, params={"query": f"{LARGE}{n}-{i}"}).raw_path
            writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nAccept: text/csv\r\n\r\n")
            writer.transport.pause_reading()  # never read: the answer waits in the buffers
            sock = writer.get_extra_info("socket")
            try:
                while time.monotonic() < stop and established(sock):
                    await asyncio.sleep(0.2)
                if not established(sock):
                    lived = time.monotonic() - opened
                    tally.stalled[f"dropped by the server after {5 * (int(lived) // 5)}+ s"] += 1
                else:
                    tally.stalled["still open at the end"] += 1
            finally:
                writer.close()
            await asyncio.sleep(max(0.0, 1 - (time.monotonic() - opened)))

    async def sample() -> None:
        while time.monotonic() < stop:
            tally.memory.append(rss_mb(pid))
            await asyncio.sleep(1)

    tasks = [idle_socket() for _ in range(args.idle)]
    kinds = ["heavy"] * args.heavy + ["engine"] * args.engine
    tasks += [query_loop(n, kinds[n] if n < len(kinds) else "simple") for n in range(args.clients)]
    tasks += [stalled_socket(n) for n in range(args.stalled)]
    await asyncio.gather(sample(), *tasks)
    return tally


def percentile(values: list[float], q: float) -> float:
    """The q-th quantile (0..1) of values, in ms; 0 if none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def report(tally: Tally, args: argparse.Namespace, log: Path) -> None:
    """The tables."""
    print(
        f"\n{args.clients} clients ({args.heavy} heavy, {args.engine} engine) + {args.idle} "
        f"idle sockets + {args.stalled} stalled readers, "
        f"{args.seconds:g} s, {os.cpu_count()} cores, serve args: {args.serve_args or '-'}\n"
    )
    print("| clients | answers | p50 ms | p99 ms | by status |")
    print("|---|---|---|---|---|")
    for name, counts, latency in (
        ("simple", tally.simple, tally.simple_latency),
        ("heavy", tally.heavy, tally.heavy_latency),
        ("engine", tally.engine, tally.engine_latency),
    ):
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        print(
            f"| {name} | {sum(counts.values())} | {percentile(latency, 0.5):.0f} | "
            f"{percentile(latency, 0.99):.0f} | {statuses or '-'} |"
        )
    if args.idle:
        print("\n| idle sockets | count |\n|---|---|")
        for k, v in sorted(tally.idle.items()):
            print(f"| {k} | {v} |")
    if args.stalled:
        print("\n| stalled readers | count |\n|---|---|")
        for k, v in sorted(tally.stalled.items()):
            print(f"| {k} | {v} |")
    m = tally.memory
    memory = f"{m[0]:.0f} / {m[-1]:.0f} / {max(m):.0f}" if m else "-"
    print(f"\nserver + workers RSS MB (start / end / peak): {memory}")
    print(f"server log: {log.stat().st_size} bytes")


def main() -> None:
    """Parse the arguments, start the server, run the load, print the tables."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="query clients in all")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--heavy", type=int, default=3, help="of the clients, heavy ones")
    parser.add_argument("--idle", type=int, default=2000, help="idle sockets (0: none)")
    parser.add_argument("--engine", type=int, default=0, help="of the clients, small joins")
    parser.add_argument(
        "--stalled", type=int, default=0, help="sockets that never read a large answer"
    )
    parser.add_argument("--client-timeout", type=float, default=90.0)
    parser.add_argument(
        "--one-address",
        dest="own_addresses",
        action="store_false",
        help="all clients from 127.0.0.1 (default: each from its own 127.0.x.y)",
    )
    parser.add_argument("--store", type=Path, help="a built store (default: build data/)")
    parser.add_argument("--serve-args", default="", help="more 'geokb serve' flags")
    args = parser.parse_args()
    args.seconds = min(args.seconds, 600.0)  # bounded, whatever is asked
    args.idle = min(args.idle, 10_000)

    # this process holds the idle sockets and the clients' connections
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work = Path(tempfile.mkdtemp(prefix="geokb-abuse-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        store = args.store
        if store is None:
            store = work / "store"
            subprocess.run(
                [BIN / "geokb", "build", "--store", str(store), "--quiet"], cwd=ROOT, check=True
            )
        port = free_port()
        log = work / "serve.log"
        serve = [str(BIN / "geokb"), "serve", "--store", str(store), "--port", str(port)]
        with log.open("wb") as err:
            server = subprocess.Popen(
                [*serve, *shlex.split(args.serve_args)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        url = f"http://127.0.0.1:{port}/sparql"
        wait_ready(url)
        tally = asyncio.run(run_load(url, server.pid, args))
        report(tally, args, log)
        still = httpx.get(url, params={"query": "ASK {}"}, timeout=30).status_code
        print(f"a query after the run: {still}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
