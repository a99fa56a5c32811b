from pathlib import Path

import pyoxigraph as ox
import pytest
from conftest import DATA, MINI, write_data

from kb.errors import StoreError
from kb.pipeline import compile_data
from kb.query import run
from kb.store import current_build, open_current, write_build

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


def test_the_store_holds_exactly_the_compiled_graphs(tmp_path: Path) -> None:
    # graphs are loaded two at a time: nothing may be lost, doubled or put in another graph
    compiled = compile_data(DATA)
    write_build(tmp_path / "store", compiled)
    store, _ = open_current(tmp_path / "store")
    expected = {
        ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(str(iri)))
        for iri, graph in compiled.graphs.items()
        for t in graph.triples()
    }
    assert len(compiled.graphs) > 5
    assert set(store.quads_for_pattern(None, None, None, None)) == expected
    assert len(store) == compiled.triple_count()


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

    from kb.mapping import NTriples
    from kb.store import _load

    s, p = ox.NamedNode("https://example.org/s"), ox.NamedNode("https://example.org/p")
    tricky = [ox.Literal(t) for t in ("a .\nb", 'c" .\n<d> .', "e .", " .\n")]
    graphs = {
        URIRef(f"https://example.org/g{i}"): NTriples.of([ox.Triple(s, p, o)])
        for i, o in enumerate(tricky)
    }
    store = ox.Store(str(tmp_path / "s"))
    _load(store, graphs)
    assert {(q.object, q.graph_name.value) for q in store} == {  # type: ignore[union-attr]
        (o, f"https://example.org/g{i}") for i, o in enumerate(tricky)
    }
