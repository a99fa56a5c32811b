"""What reading a query costs, against what an uncached point lookup costs over HTTP.

    .venv/bin/python bench/reading.py [--store .geokb] [--requests 400]

Every query is read once per request by ``kb.sparql.reading`` (the server keeps readings of
repeated texts, so only distinct texts pay). The target: reading adds at most 5% to the
latency of an uncached point lookup. Both are measured in this run, on distinct query texts
(so neither the reading cache nor the answer cache helps), and the table prints the ratio.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.sparql.reading import read  # noqa: E402

QUERIES = {
    "point lookup": "SELECT ?p ?o WHERE {{ <https://w3id.org/geokb/id/state/IRN> ?p ?o }} "
    "LIMIT {n}",
    "join with labels": (
        "PREFIX gk: <https://w3id.org/geokb/ontology#> "
        "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
        "SELECT ?t ?w ?label WHERE {{ ?t a gk:ArmsTransfer ; gk:supplier ?s ; "
        "gk:weaponSystem ?w . ?w rdfs:label ?label FILTER(LANG(?label) = 'en' && ?t != <x:{n}>) "
        "}} ORDER BY ?t LIMIT 100"
    ),
    "aggregate": (
        "PREFIX gk: <https://w3id.org/geokb/ontology#> "
        "SELECT ?s (COUNT(?t) AS ?n) WHERE {{ ?t gk:supplier ?s }} GROUP BY ?s "
        "HAVING (COUNT(?t) > {n}) ORDER BY DESC(?n)"
    ),
}


def _per_read_us(template: str, rounds: int) -> float:
    texts = [template.format(n=i) for i in range(rounds)]
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for text in texts:
            read(text)
        best = min(best, (time.perf_counter() - t0) / rounds)
    return best * 1e6


def _serve(store: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    geokb = str(Path(sys.executable).parent / "geokb")
    process = subprocess.Popen(
        [geokb, "serve", "--store", store, "--port", str(port), "--cache-mb", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/sparql"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, params={"query": "ASK {}"}, timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("geokb serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", default=".geokb")
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()

    process, url = _serve(args.store)
    try:
        with httpx.Client(timeout=30) as client:
            latency: dict[str, float] = {}
            for name, template in QUERIES.items():
                times = []
                for i in range(args.requests):
                    text = template.format(n=1_000_000 + i)  # distinct: no cache helps
                    t0 = time.perf_counter()
                    resp = client.get(url, params={"query": text})
                    times.append(time.perf_counter() - t0)
                    assert resp.status_code == 200, resp.text
                latency[name] = statistics.median(times) * 1e6
    finally:
        process.terminate()
        process.wait(timeout=20)

    print(f"reading cost vs. uncached request latency ({args.requests} distinct texts each)")
    print()
    print("| query | characters | read (us) | HTTP p50 (us) | read / request |")
    print("|---|---|---|---|---|")
    for name, template in QUERIES.items():
        text = template.format(n=1_000_000)
        per_read = _per_read_us(template, 2000)
        ratio = per_read / latency[name]
        print(
            f"| {name} | {len(text)} | {per_read:.1f} | {latency[name]:.0f} | {ratio:.1%} |"
        )


if __name__ == "__main__":
    main()
