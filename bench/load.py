"""Bounded load test on 127.0.0.1: geokb's /sparql against `oxigraph serve` on the same data.

    .venv/bin/python bench/load.py [--clients 16] [--seconds 10]

Builds the knowledge base from data/ into a temporary store, starts `geokb serve` and
`oxigraph serve` (with the same quads) on free local ports, and for each runs N concurrent
clients for a fixed time over a mix of queries. Prints requests/s, p50/p99 latency, errors
and the server's resident memory (its whole process tree: geokb's query workers count) at the
start, end and peak, and geokb's throughput as a ratio of Oxigraph's measured in the same run.
Traffic goes only to 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QUERIES = [
    "ASK { <https://w3id.org/geokb/id/state/IRN> ?p ?o }",
    "SELECT ?p ?o WHERE { <https://w3id.org/geokb/id/transfer/irn-rus-shahed-131-136> ?p ?o }",
    "PREFIX gk: <https://w3id.org/geokb/ontology#> SELECT ?s ?r WHERE "
    "{ ?t a gk:ArmsTransfer ; gk:supplier ?s ; gk:recipient ?r }",
    "SELECT ?c (COUNT(?s) AS ?n) WHERE { ?s a ?c } GROUP BY ?c ORDER BY DESC(?n)",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from the parent pids in /proc/*/stat.

    (/proc/PID/task/PID/children lists only the children of the main thread: the query
    workers, started from another thread, were missing from it.)
    """
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        # the command name (field 2) may hold spaces and ')': the parent pid follows the last ')'
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    return tree


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (e.g. query workers), in MB."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, params={"query": "ASK {}"}, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    memory: list[float] = field(default_factory=list)


async def load(url: str, pid: int, clients: int, seconds: float) -> Result:
    result = Result()
    stop = time.monotonic() + seconds

    async def client(n: int) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            i = n
            while time.monotonic() < stop:
                query = QUERIES[i % len(QUERIES)]
                i += 1
                t0 = time.perf_counter()
                try:
                    resp = await http.post(
                        url,
                        data={"query": query},
                        headers={"Accept": "application/sparql-results+json"},
                    )
                    ok = resp.status_code == 200
                except httpx.HTTPError:
                    ok = False
                result.latencies.append(time.perf_counter() - t0)
                result.errors += not ok

    async def sample() -> None:
        while time.monotonic() < stop:
            result.memory.append(rss_mb(pid))
            await asyncio.sleep(0.5)

    await asyncio.gather(sample(), *(client(n) for n in range(clients)))
    return result


def row(name: str, r: Result, seconds: float) -> tuple[str, float, float, float, int, str]:
    lat = sorted(r.latencies)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0.0
    memory = f"{r.memory[0]:.0f} / {r.memory[-1]:.0f} / {max(r.memory):.0f}" if r.memory else "-"
    return (
        name,
        len(lat) / seconds,
        statistics.median(lat) * 1000 if lat else 0.0,
        p99 * 1000,
        r.errors,
        memory,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="geokb-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        store = work / "store"
        subprocess.run(
            [BIN / "geokb", "build", "--store", str(store)],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        nquads = work / "all.nq"
        subprocess.run(
            [
                BIN / "geokb",
                "export",
                "--format",
                "nquads",
                "--store",
                str(store),
                "-o",
                str(nquads),
            ],
            cwd=ROOT,
            check=True,
        )
        subprocess.run(
            [BIN / "oxigraph", "load", "--location", str(work / "oxigraph"), "--file", str(nquads)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        geokb_port, oxigraph_port, uncached_port = free_port(), free_port(), free_port()

        def start(command: list[str | Path]) -> None:
            procs.append(
                subprocess.Popen(
                    command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )

        serve: list[str | Path] = [BIN / "geokb", "serve", "--store", str(store), "--port"]
        start([*serve, str(geokb_port)])
        start(
            [
                BIN / "oxigraph",
                "serve-read-only",
                "--location",
                str(work / "oxigraph"),
                "--bind",
                f"127.0.0.1:{oxigraph_port}",
                "--union-default-graph",
            ]
        )
        # the same queries come round again and again: geokb answers them from its cache of
        # answers, so it is also measured without one
        start([*serve, str(uncached_port), "--cache-mb", "0"])
        geokb_url = f"http://127.0.0.1:{geokb_port}/sparql"
        oxigraph_url = f"http://127.0.0.1:{oxigraph_port}/query"
        uncached_url = f"http://127.0.0.1:{uncached_port}/sparql"
        for url in (geokb_url, oxigraph_url, uncached_url):
            wait_ready(url)

        results = {
            "geokb /sparql": asyncio.run(load(geokb_url, procs[0].pid, args.clients, args.seconds)),
            "oxigraph serve (baseline)": asyncio.run(
                load(oxigraph_url, procs[1].pid, args.clients, args.seconds)
            ),
            "geokb /sparql --cache-mb 0": asyncio.run(
                load(uncached_url, procs[2].pid, args.clients, args.seconds)
            ),
        }
        print(
            f"\n{args.clients} clients x {args.seconds:g} s each, {len(QUERIES)} queries "
            f"in turn, {os.cpu_count()} cores\n"
        )
        header = ("server", "req/s", "p50 ms", "p99 ms", "errors", "RSS MB start/end/peak")
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        rows = [row(name, r, args.seconds) for name, r in results.items()]
        for name, rps, p50, p99, errors, memory in rows:
            print(f"| {name} | {rps:.0f} | {p50:.1f} | {p99:.1f} | {errors} | {memory} |")
        base = rows[1][1] or float("nan")
        print(
            f"\ngeokb throughput = {rows[0][1] / base:.2f} x oxigraph serve, "
            f"{rows[2][1] / base:.2f} x without its answer cache (same run, same data)"
        )
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
