"""Search and facet timings at scale: the search index a build writes, read as the server does.

    .venv/bin/python bench/search.py [--triples 1000000] [--rounds 30] [--repeat 3]

Generates the synthetic data (``bench/synthetic.py``), builds it in full and again after a
one-file edit, each with and without writing the search index (``--repeat`` times, medians;
the index timed inside the build too), times the index alone from the build's N-Triples (as a
full build writes it) and from the built store (as the server writes one for a build that
has none), and, on the index the build wrote, with the server's reader (``api.lookup``):
searches (whole names, prefixes, misspellings), two-letter autocompletion, and a transfers
list page with its facets (rows, count, facet counts, each row's facet values: what
/id/transfer/ computes) without and with filters. Prints a Markdown table: p50 and p99 in
milliseconds against the issue's targets (search <= 50 ms, facet page <= 200 ms).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pyoxigraph as ox  # noqa: E402
from synthetic import generate  # noqa: E402

from api.lookup import ListQuery, SearchIndex, Sort  # noqa: E402
from api.pagework import Deadline  # noqa: E402
from kb.build.manifest import load as load_manifest  # noqa: E402
from kb.build.pipeline import compile_data  # noqa: E402
from kb.model.rdf import NTriples  # noqa: E402
from kb.stores import search_index  # noqa: E402
from kb.stores.local import current_build, open_build, write_build  # noqa: E402

SEARCHES = ["Iran", "Russian Federation", "Weapon 1234", "Territory 7", "Synthetic report"]
MISSPELT = ["Wepon 1234", "Russain Federation", "Teritory 7", "Ukrane"]
PREFIXES = ["ir", "ru", "we", "tr", "sy", "un"]


def _times(fn: Callable[[], object], rounds: int) -> list[float]:
    fn()  # once to warm the page cache
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _page(index: SearchIndex, query: ListQuery) -> None:
    assert index.list_page(query, 100, Deadline(30)) is not None


def _build(data: Path, root: Path, with_index: bool) -> tuple[float, float]:
    """Seconds to build ``data`` into ``root`` (in full if nothing is there, else only what
    changed), writing the search index or not; and the seconds of the index within it."""
    write = search_index.write
    spent: list[float] = []

    def timed(
        store: ox.Store,
        folder: Path,
        changed: Sequence[str] | None = None,
        graphs: Iterable[NTriples] | None = None,
    ) -> Path:
        t0 = time.perf_counter()
        if with_index:
            write(store, folder, changed, graphs)
        spent.append(time.perf_counter() - t0)
        return folder

    search_index.write = timed
    try:
        previous = load_manifest(current_build(root))
        t0 = time.perf_counter()
        write_build(root, compile_data(data, previous))
        return time.perf_counter() - t0, sum(spent)
    finally:
        search_index.write = write


def _builds(data: Path, work: Path, repeat: int) -> list[list[float]]:
    """Per build, the median over ``repeat`` rounds: [full, its index, rebuild after an edit,
    its index] with the index, then without. The two alternate, so that a change of the
    machine's load falls on both."""
    runs: dict[bool, list[list[float]]] = {True: [], False: []}
    for n in range(repeat):
        for with_index in (True, False):
            root = work / f"store-{with_index}-{n}"
            full = _build(data, root, with_index)
            _edit_one_file(data)
            again = _build(data, root, with_index)
            runs[with_index].append([*full, *again])
            if n < repeat - 1:
                shutil.rmtree(root)
    return [[statistics.median(r[i] for r in runs[w]) for i in range(4)] for w in (True, False)]


def _edit_one_file(data: Path) -> None:
    path = sorted(data.glob("*.yaml"))[-1]
    path.write_text(path.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triples", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3, help="builds of each kind timed")
    parser.add_argument("--work", type=Path, default=None, help="folder for data and store")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="geokb-bench-search-"))
    data = work / "data"
    generate(data, args.triples)
    (build_s, build_index_s, edit_s, edit_index_s), (plain_s, _, plain_edit_s, _) = _builds(
        data, work, args.repeat
    )
    root = work / f"store-True-{args.repeat - 1}"
    build = current_build(root)
    assert build is not None
    graphs = compile_data(data).graphs.values()
    t0 = time.perf_counter()
    search_index.write(open_build(build), work, None, graphs)
    from_graphs_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    search_index.write(open_build(build), work)
    index_s = time.perf_counter() - t0
    index = SearchIndex(build / search_index.INDEX_NAME)
    size_mb = (build / search_index.INDEX_NAME).stat().st_size / 2**20
    kinds = dict(index.kinds(Deadline(30)))
    entities = sum(kinds.values())
    triples = len(open_build(build))

    def search_times(queries: list[str], limit: int) -> list[float]:
        out: list[float] = []
        for q in queries:
            out += _times(partial(index.search, q, limit, Deadline(30)), args.rounds)
        return out

    usa = ("supplier", "state/USA")
    rows = [
        ("search, whole names (/search.json, 10 results)", search_times(SEARCHES, 10), 50),
        ("search, misspelt names (10 results)", search_times(MISSPELT, 10), 50),
        ("autocomplete, two letters (10 results)", search_times(PREFIXES, 10), 50),
        ("search page (100 results)", search_times(SEARCHES, 100), 50),
        (
            "transfers list page with facets, no filter",
            _times(lambda: _page(index, ListQuery("transfer")), args.rounds),
            200,
        ),
        (
            "... filtered by supplier",
            _times(lambda: _page(index, ListQuery("transfer", filters=(usa,))), args.rounds),
            200,
        ),
        (
            "... by supplier and category, sorted by year",
            _times(
                lambda: _page(
                    index,
                    ListQuery(
                        "transfer",
                        filters=(usa, ("category", "frigate")),
                        sort=Sort("year", desc=True),
                    ),
                ),
                args.rounds,
            ),
            200,
        ),
        (
            "... with a text filter ('weapon 12')",
            _times(lambda: _page(index, ListQuery("transfer", q="weapon 12")), args.rounds),
            200,
        ),
    ]
    print(
        f"\n{triples:,} quads in the store, {entities:,} entities "
        f"({kinds.get('transfer', 0):,} transfers); index {size_mb:.0f} MB\n"
    )
    print("| measure | p50 ms | p99 ms | target ms |")
    print("|---|---|---|---|")
    for name, times, target in rows:
        print(f"| {name} | {statistics.median(times):.1f} | {_p(times, 0.99):.1f} | ≤ {target} |")
    print(
        f"\n| build (median of {args.repeat}) | with the index | of which the index | without "
        "| index's share |\n|---|---|---|---|---|\n"
        f"| full build | {build_s:.2f} s | {build_index_s:.2f} s | {plain_s:.2f} s "
        f"| {build_index_s / build_s:.0%} |\n"
        f"| rebuild after editing 1 file | {edit_s:.2f} s | {edit_index_s:.2f} s "
        f"| {plain_edit_s:.2f} s | {edit_index_s / edit_s:.0%} |\n"
        f"| the index alone, from the build's N-Triples (a full build) | | {from_graphs_s:.2f} s "
        "| | |\n"
        f"| the index alone, read from the store (a build that had none) | | {index_s:.2f} s "
        "| | |"
    )


if __name__ == "__main__":
    main()
