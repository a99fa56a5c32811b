import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyoxigraph as ox
import pytest
from conftest import DATA, MINI, write_data

from api.state import ServedStore
from kb.build.pipeline import compile_data
from kb.errors import StoreDamaged, StoreError
from kb.sparql.query import run
from kb.stores.local import FILES_NAME, current_build, lease, open_current, release, write_build

ASK_T1 = "ASK { <https://w3id.org/geokb/id/transfer/t1> ?p ?o }"


def test_build_writes_a_store_that_opens_read_only(tmp_path: Path) -> None:
    root = tmp_path / "store"
    report = write_build(root, compile_data(write_data(tmp_path / "data", MINI)))
    assert current_build(root) == report.path.resolve()
    store, _ = open_current(root)
    assert bool(run(store, ASK_T1))
    assert report.triples == sum(report.written.values()) > 0


def test_new_build_is_swapped_in_and_previous_kept(tmp_path: Path) -> None:
    root = tmp_path / "store"
    first = write_build(root, compile_data(write_data(tmp_path / "d1", MINI)))
    second = write_build(root, compile_data(write_data(tmp_path / "d2", MINI)))
    third = write_build(root, compile_data(write_data(tmp_path / "d3", MINI)))
    assert current_build(root) == third.path.resolve()
    assert second.path.exists(), "the build before the current one stays for running servers"
    assert not first.path.exists(), "older builds are removed"


def test_killed_build_leftovers_are_ignored_and_cleaned(tmp_path: Path) -> None:
    root = tmp_path / "store"
    good = write_build(root, compile_data(write_data(tmp_path / "d1", MINI)))
    leftover = root / "builds" / "20990101T000000-000000000.partial"
    leftover.mkdir()
    (leftover / "junk").write_text("half a store")
    assert current_build(root) == good.path.resolve()
    write_build(root, compile_data(write_data(tmp_path / "d2", MINI)))
    assert not leftover.exists()


def test_opening_before_any_build_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="run 'geokb build' first"):
        open_current(tmp_path / "nothing")


def test_the_store_holds_exactly_the_compiled_graphs_and_their_union(tmp_path: Path) -> None:
    # graphs are loaded two at a time: nothing may be lost, doubled or put in another graph;
    # the default graph holds each triple of every graph once
    compiled = compile_data(DATA)
    write_build(tmp_path / "store", compiled)
    store, _ = open_current(tmp_path / "store")
    named = {
        ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(str(iri)))
        for iri, graph in compiled.graphs.items()
        for t in graph.triples()
    }
    union = {ox.Quad(q.subject, q.predicate, q.object) for q in named}
    assert len(compiled.graphs) > 5
    assert set(store.quads_for_pattern(None, None, None, None)) == named | union
    assert len(store) == compiled.triple_count() + len(union)


def test_data_files_with_spaces_and_accents_in_their_names_build(tmp_path: Path) -> None:
    files = {("my transfers é.yaml" if k == "transfers.yaml" else k): v for k, v in MINI.items()}
    compiled = compile_data(write_data(tmp_path / "data", files))
    write_build(tmp_path / "store", compiled)
    store, _ = open_current(tmp_path / "store")
    graphs = {g.value for g in store.named_graphs()}  # type: ignore[union-attr]
    assert "https://w3id.org/geokb/graph/data/my%20transfers%20%C3%A9.yaml" in graphs
    assert bool(run(store, ASK_T1))


def test_literals_that_look_like_line_ends_survive_batched_loading(tmp_path: Path) -> None:
    from rdflib import URIRef

    from kb.model.rdf import NTriples
    from kb.stores.local import _bulk_load

    s, p = ox.NamedNode("https://example.org/s"), ox.NamedNode("https://example.org/p")
    tricky = [ox.Literal(t) for t in ("a .\nb", 'c" .\n<d> .', "e .", " .\n")]
    graphs = {
        URIRef(f"https://example.org/g{i}"): NTriples.of([ox.Triple(s, p, o)])
        for i, o in enumerate(tricky)
    }
    store = ox.Store(str(tmp_path / "s"))
    _bulk_load(store, graphs, into_default=True)
    assert {(q.object, str(q.graph_name)) for q in store} == {
        (o, f"<https://example.org/g{i}>") for i, o in enumerate(tricky)
    } | {(o, str(ox.DefaultGraph())) for o in tricky}


# --- leases: a build handed to a reader is not pruned under it ---


def _builds(root: Path, tmp_path: Path, n: int) -> list[Path]:
    made = []
    for i in range(n):
        data = write_data(tmp_path / f"data-{len(list(tmp_path.iterdir()))}-{i}", MINI)
        made.append(write_build(root, compile_data(data)).path)
    return made


def test_prune_skips_a_leased_build_and_removes_it_once_released(tmp_path: Path) -> None:
    root = tmp_path / "store"
    [first] = _builds(root, tmp_path, 1)
    held = lease(first)
    assert held is not None
    _builds(root, tmp_path, 3)  # would have removed it after the second
    assert (first / "CURRENT").exists(), "a leased build stays whole"
    assert bool(run(ox.Store.read_only(str(first)), ASK_T1))
    release(held)
    _builds(root, tmp_path, 1)
    assert not first.exists(), "released, it goes with the next build"


def test_a_build_being_pruned_cannot_be_leased(tmp_path: Path) -> None:
    root = tmp_path / "store"
    [first] = _builds(root, tmp_path, 1)
    with _exclusive(first):  # what _prune holds while deleting it
        assert lease(first) is None
    assert lease(tmp_path / "no-such-build") is None


@contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def test_served_store_keeps_the_builds_it_handed_out_for_the_grace_period(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    _builds(root, tmp_path, 1)
    served = ServedStore(root, grace_s=3600)
    handed = served.current_path()
    _builds(root, tmp_path, 1)
    second = served.current_path()  # the server follows the swap; the first stays leased
    assert second != handed
    _builds(root, tmp_path, 3)
    assert (handed / "CURRENT").exists() and (second / "CURRENT").exists()
    served.close()
    _builds(root, tmp_path, 1)
    assert not handed.exists() and not second.exists()


def test_served_store_gives_back_leases_after_the_grace_period(tmp_path: Path) -> None:
    root = tmp_path / "store"
    _builds(root, tmp_path, 1)
    served = ServedStore(root, grace_s=0)
    handed = served.current_path()
    _builds(root, tmp_path, 1)
    served.get()  # swapped: the old lease expires at once with no grace
    served.get()
    _builds(root, tmp_path, 2)
    assert not handed.exists()
    served.close()


# --- a damaged build: a clear error, with no path, for pages ---


def test_served_store_says_the_build_is_damaged_without_a_path(tmp_path: Path) -> None:
    root = tmp_path / "store"
    [build] = _builds(root, tmp_path, 1)
    table = max(build.glob("*.sst"), key=lambda p: p.stat().st_size)
    os.truncate(table, 100)
    served = ServedStore(root)  # starts, so that it can follow the build that repairs it
    with pytest.raises(StoreDamaged) as caught:
        served.get()
    assert "damaged" in str(caught.value) and "geokb build" in str(caught.value)
    assert "/" not in str(caught.value).replace("geokb build", "")
    assert table.name in caught.value.detail  # the operator's log says which file
    with pytest.raises(StoreDamaged):
        served.current_path()
    _builds(root, tmp_path, 1)  # a new build is swapped in: served again
    assert bool(run(served.get(), ASK_T1))
    served.close()


def test_damage_found_while_reading_becomes_store_damaged(tmp_path: Path) -> None:
    root = tmp_path / "store"
    [build] = _builds(root, tmp_path, 1)
    (build / FILES_NAME).unlink()  # as a build from before files were listed: not checked
    for table in build.glob("*.sst"):  # a block garbled in every table file
        with table.open("r+b") as f:
            f.seek(table.stat().st_size // 3)
            f.write(b"\xff" * 64)
    served = ServedStore(root)
    with pytest.raises(StoreDamaged), served.reading() as store:
        for index in range(4):  # every index: one holds the garbled block
            pattern = [None] * 4
            list(store.quads_for_pattern(*pattern))
            list(store.query(QUERIES[index]))
    served.close()


QUERIES = [
    "SELECT * { GRAPH ?g { ?s ?p ?o } }",
    "SELECT * { ?s ?p ?o }",
    "SELECT ?o (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } } GROUP BY ?o",
    "SELECT ?p (COUNT(*) AS ?n) { ?s ?p ?o } GROUP BY ?p",
]
