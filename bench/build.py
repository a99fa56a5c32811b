"""The whole path at scale against what a user could use instead, in one run, as ratios.

    .venv/bin/python bench/build.py [--sizes 10000,100000,1000000] [--no-queries] [--repeat 3]

For each size, synthetic data (bench/synthetic.py, ~100 files) is built and measured against
its anchor in the same run:

1. full build from YAML        vs  pyoxigraph bulk_load of the same quads (the store's named
                                    graphs and its default graph, as N-Quads), and of the
                                    same triples alone (N-Triples into the default graph); the
                                    share of the search index written with the build
2. rebuild after editing 1 file vs  the full build (and the search index's share of it)
3. validation of the dataset    vs  pyshacl over the whole graph (skipped where it would
                                    take minutes: above --pyshacl-max triples)
4. /sparql, 3 queries           vs  oxigraph serve on the same store (geokb's build, whose
                                    default graph holds the union of its named graphs), and
                                    rdflib-endpoint on the same data
                                    (above --rdflib-max triples: skipped); geokb twice: the
                                    same text repeated (its answer cache serves it) and a
                                    distinct text per request (every query runs)
5. server start, RSS serving    vs  oxigraph serve

Rows 1-3 are the median of --repeat timings, anchors alike. Prints one table per size.
rdflib-endpoint is installed with `pip install -e '.[bench]'`.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import httpx
import pyoxigraph as ox

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from load import free_port, rss_mb
from synthetic import generate

from kb.build import manifest
from kb.build.pipeline import compile_data
from kb.model.rdf import NTriples
from kb.stores import search_index
from kb.stores.local import current_build, write_build

BIN = Path(sys.executable).parent
GK = "PREFIX gk: <https://w3id.org/geokb/ontology#> "
QUERIES = {
    "point lookup": "SELECT ?p ?o WHERE { <https://w3id.org/geokb/id/transfer/transfer-7> ?p ?o }",
    "10k-row SELECT": GK + "SELECT ?t ?q WHERE { ?t gk:quantityOrdered ?q } LIMIT 10000",
    "aggregate": GK + "SELECT ?s (COUNT(?t) AS ?n) WHERE { ?t gk:supplier ?s } GROUP BY ?s",
}

Row = tuple[str, str, str, str, str]


def timed(fn: Callable[[], object]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_time(fn: Callable[[], object], repeat: int, setup: Callable[[], object]) -> float:
    """The median of ``repeat`` timings of ``fn``, each after an untimed ``setup``."""
    times = []
    for _ in range(repeat):
        setup()
        times.append(timed(fn))
    return statistics.median(times)


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def wait_ready(url: str, params: dict[str, str], proc: subprocess.Popen[bytes]) -> float:
    t0 = time.perf_counter()
    deadline = t0 + 600
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with status {proc.returncode}")
        try:
            if httpx.get(url, params=params, timeout=1).status_code == 200:
                return time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{url} did not start")


def query_stats(url: str, query: str, n: int, distinct: bool) -> tuple[float, float, float]:
    """Requests per second, p50 and p99 latency in ms, over ``n`` sequential requests.

    ``distinct`` makes each request's text unique (a comment), so that no answer is
    served from geokb's cache of repeated queries.
    """
    latencies = []
    with httpx.Client(timeout=120) as client:
        for i in range(n):
            text = f"{query}\n# request {i}" if distinct else query
            t0 = time.perf_counter()
            resp = client.post(
                url, data={"query": text}, headers={"Accept": "application/sparql-results+json"}
            )
            resp.raise_for_status()
            latencies.append(time.perf_counter() - t0)
    latencies.sort()
    return (
        n / sum(latencies),
        statistics.median(latencies) * 1000,
        latencies[min(n - 1, int(n * 0.99))] * 1000,
    )


class SearchIndexTimer:
    """Times the search index the build writes (``kb.stores.search_index.write``): the
    median of the ``median_time`` runs is reported beside the build's own."""

    def __init__(self) -> None:
        self.runs: list[float] = []
        self.write = search_index.write

    def __call__(
        self,
        store: ox.Store | None,
        folder: Path,
        changed: Sequence[str] | None = None,
        graphs: Iterable[NTriples] | None = None,
    ) -> Path:
        t0 = time.perf_counter()
        try:
            return self.write(store, folder, changed, graphs)
        finally:
            self.runs.append(time.perf_counter() - t0)

    def median(self) -> float:
        runs, self.runs = self.runs, []
        return statistics.median(runs) if runs else 0.0


def bench_size(triples: int, work: Path, args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    data = work / "data"
    generate(data, triples, files=100)
    store_root = work / "store"
    index = SearchIndexTimer()
    search_index.write = index

    # 1. full build vs bulk_load of the same quads, and of the same triples
    compiled_holder: dict[str, object] = {}

    def full_build() -> None:
        compiled = compile_data(data)
        compiled_holder["n"] = compiled.triple_count()
        write_build(store_root, compiled)

    build_s = median_time(full_build, args.repeat, lambda: shutil.rmtree(store_root, True))
    build_index_s = index.median()
    n = int(compiled_holder["n"])  # type: ignore[call-overload]
    nt, nq = work / "all.nt", work / "all.nq"
    store = ox.Store.read_only(str(current_build(store_root)))
    store.dump(str(nt), ox.RdfFormat.N_TRIPLES, from_graph=ox.DefaultGraph())
    store.dump(str(nq), ox.RdfFormat.N_QUADS)
    del store
    bulk_dir = work / "bulk"

    def bulk_load(path: Path, fmt: ox.RdfFormat) -> float:
        return median_time(
            lambda: ox.Store(str(bulk_dir)).bulk_load(path=str(path), format=fmt),
            args.repeat,
            lambda: shutil.rmtree(bulk_dir, True),
        )

    quads_s = bulk_load(nq, ox.RdfFormat.N_QUADS)
    triples_s = bulk_load(nt, ox.RdfFormat.N_TRIPLES)
    shutil.rmtree(bulk_dir, ignore_errors=True)
    rows += [
        (
            "full build from YAML / pyoxigraph bulk_load of the same quads",
            fmt_s(build_s),
            fmt_s(quads_s),
            ratio(build_s, quads_s),
            "<= 2x",
        ),
        (
            "full build from YAML / bulk_load of the same triples (default graph only)",
            fmt_s(build_s),
            fmt_s(triples_s),
            ratio(build_s, triples_s),
            "-",
        ),
        (
            # a full build writes it in a thread while the store loads: it overlaps the load,
            # so the build minus the index is no longer a time of its own
            "the search index (written during the load) / the full build",
            fmt_s(build_index_s),
            fmt_s(build_s),
            f"{100 * build_index_s / build_s:.0f}%",
            "-",
        ),
    ]

    # 2. one file of 100 edited, incremental rebuild vs full build
    victim = sorted(data.glob("transfers-*.yaml"))[0]

    def edit() -> None:
        text = victim.read_text()
        victim.write_text(text.replace("quantity_ordered: ", "quantity_ordered: 1", 1))

    def rebuild() -> None:
        previous = manifest.load(current_build(store_root))
        write_build(store_root, compile_data(data, previous))

    rebuild_s = median_time(rebuild, args.repeat, edit)
    rebuild_index_s = index.median()
    search_index.write = index.write
    rows += [
        (
            "rebuild after editing 1 of 100 files / full build",
            fmt_s(rebuild_s),
            fmt_s(build_s),
            f"{100 * rebuild_s / build_s:.1f}%",
            "<= 5%",
        ),
        (
            "of which the search index update / the rebuild",
            fmt_s(rebuild_index_s),
            fmt_s(rebuild_s),
            f"{100 * rebuild_index_s / rebuild_s:.0f}%",
            "-",
        ),
    ]

    # 3. validation vs pyshacl
    validate_s = median_time(lambda: compile_data(data), args.repeat, lambda: None)
    if n <= args.pyshacl_max:
        from pyshacl import validate
        from rdflib import Graph

        from kb.model.ontology import ontology_graph, shapes_graph

        graph = Graph().parse(str(nt), format="nt")
        shapes, ont = Graph(), Graph()
        shapes += shapes_graph()
        ont += ontology_graph()
        shacl_s = timed(
            lambda: validate(graph, shacl_graph=shapes, ont_graph=ont, inference="none")
        )
        rows.append(
            (
                "validation (whole dataset) / pyshacl",
                fmt_s(validate_s),
                fmt_s(shacl_s),
                ratio(validate_s, shacl_s),
                "<= 10 s",
            )
        )
    else:
        rows.append(
            (
                "validation (whole dataset) / pyshacl",
                fmt_s(validate_s),
                f"not run (> {args.pyshacl_max:,} triples)",
                "-",
                "<= 10 s",
            )
        )

    if args.no_queries:
        return rows

    # 4 and 5. servers
    procs: list[subprocess.Popen[bytes]] = []
    try:
        gport, oport = free_port(), free_port()
        # The same store: oxigraph serves geokb's own build, whose default graph is the
        # union of its named graphs (as geokb answers a query that names no graph).
        oxi_dir = current_build(store_root)
        assert oxi_dir is not None
        procs.append(
            subprocess.Popen(
                [
                    BIN / "geokb",
                    "serve",
                    "--store",
                    str(store_root),
                    "--port",
                    str(gport),
                    "--max-rows",
                    "100000",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        g_start = wait_ready(f"http://127.0.0.1:{gport}/sparql", {"query": "ASK {}"}, procs[-1])
        procs.append(
            subprocess.Popen(
                [
                    BIN / "oxigraph",
                    "serve-read-only",
                    "--location",
                    str(oxi_dir),
                    "--bind",
                    f"127.0.0.1:{oport}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        o_start = wait_ready(f"http://127.0.0.1:{oport}/query", {"query": "ASK {}"}, procs[-1])
        endpoints = {
            "geokb": f"http://127.0.0.1:{gport}/sparql",
            "oxigraph": f"http://127.0.0.1:{oport}/query",
        }
        has_rdflib_endpoint = importlib.util.find_spec("rdflib_endpoint") is not None
        if not has_rdflib_endpoint:
            print(
                "rdflib-endpoint is not installed (pip install -e '.[bench]'): skipped",
                file=sys.stderr,
            )
        if n <= args.rdflib_max and has_rdflib_endpoint:
            rport = free_port()
            script = (
                "import sys, uvicorn; from rdflib import Graph; "
                "from rdflib_endpoint import SparqlEndpoint; "
                f"g = Graph().parse({str(nt)!r}, format='nt'); "
                f"uvicorn.run(SparqlEndpoint(graph=g), host='127.0.0.1', port={rport}, "
                "log_level='warning')"
            )
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", script],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_ready(f"http://127.0.0.1:{rport}/", {"query": "ASK {}"}, procs[-1])
            endpoints["rdflib-endpoint"] = f"http://127.0.0.1:{rport}/"
        for name, query in QUERIES.items():
            # the anchors have no cache: the same query text, asked again, is the same work
            stats = {
                k: query_stats(url, query, args.requests, False) for k, url in endpoints.items()
            }
            o_rps = stats["oxigraph"][0]
            for how, distinct in (("repeated", False), ("distinct, uncached", True)):
                g_rps, g50, g99 = query_stats(endpoints["geokb"], query, args.requests, distinct)
                rows.append(
                    (
                        f"/sparql {name} ({how}): req/s (p50/p99 ms) / oxigraph serve",
                        f"{g_rps:.1f} ({g50:.0f}/{g99:.0f})",
                        f"{o_rps:.1f}",
                        ratio(g_rps, o_rps),
                        ">= 0.8x",
                    )
                )
                if "rdflib-endpoint" in stats:
                    r_rps = stats["rdflib-endpoint"][0]
                    rows.append(
                        (
                            f"/sparql {name} ({how}): req/s / rdflib-endpoint",
                            f"{g_rps:.1f}",
                            f"{r_rps:.1f}",
                            ratio(g_rps, r_rps),
                            ">= 20x",
                        )
                    )
        rows.append(
            (
                "server start on a built store / oxigraph serve",
                fmt_s(g_start),
                fmt_s(o_start),
                ratio(g_start, o_start),
                "<= 1 s",
            )
        )
        g_rss, o_rss = rss_mb(procs[0].pid), rss_mb(procs[1].pid)
        rows.append(
            (
                "RSS while serving (server + workers) / oxigraph serve",
                f"{g_rss:.0f} MB",
                f"{o_rss:.0f} MB",
                ratio(g_rss, o_rss),
                "<= 300 MB",
            )
        )
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--no-queries", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="timings per row (median)")
    parser.add_argument("--pyshacl-max", type=int, default=150_000)
    parser.add_argument("--rdflib-max", type=int, default=150_000)
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        work = Path(tempfile.mkdtemp(prefix="geokb-bench-"))
        try:
            rows = bench_size(size, work, args)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"\n### ~{size:,} triples\n")
        print("| measure | geokb | anchor | ratio | target |")
        print("|---|---|---|---|---|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
