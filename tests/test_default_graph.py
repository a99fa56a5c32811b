"""The default graph: each build writes the union of its data and ontology graphs there, each
triple once; queries that name no graph read it and answer as the union of the named graphs
did; incremental builds keep it exact; a build made before it existed still answers right."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyoxigraph as ox
import pytest
from conftest import MINI, write_data
from rdflib import URIRef

from kb.build import manifest
from kb.build.manifest import Compiled, Manifest
from kb.build.pipeline import compile_data
from kb.model.rdf import NTriples
from kb.model.schema import GRAPH_BASE, ONTOLOGY_GRAPH
from kb.sparql.examples import Example, examples
from kb.sparql.query import Dataset, QueryResult, run
from kb.stores.local import current_build, facts_graph, open_current, write_build

DEFAULT = ox.DefaultGraph()
STATES = f"{GRAPH_BASE}data/states.yaml"
DISPUTES = f"{GRAPH_BASE}data/disputes.yaml"


def _default(store: ox.Store) -> set[ox.Triple]:
    return {q.triple for q in store.quads_for_pattern(None, None, None, DEFAULT)}


def _union(store: ox.Store) -> set[ox.Triple]:
    """The union of the named graphs, recomputed from scratch."""
    return {
        q.triple for q in store.quads_for_pattern(None, None, None, None) if q.graph_name != DEFAULT
    }


@pytest.fixture(scope="module")
def stores(real_store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[ox.Store, ox.Store]:
    """The real build, and the same named graphs in a store laid out as builds were before
    the default graph was written (none)."""
    new, _ = open_current(real_store)
    old = ox.Store(str(tmp_path_factory.mktemp("old-layout") / "store"))
    old.bulk_extend(
        q for q in new.quads_for_pattern(None, None, None, None) if q.graph_name != DEFAULT
    )
    return new, old


def test_the_default_graph_is_the_union_of_the_data_and_ontology_graphs(
    stores: tuple[ox.Store, ox.Store],
) -> None:
    new, _ = stores
    names = {g.value for g in new.named_graphs()}  # type: ignore[union-attr]
    assert str(ONTOLOGY_GRAPH) in names
    assert all(n == str(ONTOLOGY_GRAPH) or n.startswith(f"{GRAPH_BASE}data/") for n in names)
    assert _default(new) == _union(new)
    assert facts_graph(new) == DEFAULT


def test_a_query_with_no_dataset_sees_each_triple_once_and_no_manifest(
    stores: tuple[ox.Store, ox.Store],
) -> None:
    new, _ = stores
    result = run(new, "SELECT ?s ?p ?o WHERE { ?s ?p ?o }")
    assert isinstance(result, ox.QuerySolutions)
    rows = Counter((r["s"], r["p"], r["o"]) for r in result)
    assert max(rows.values()) == 1
    assert {ox.Triple(*t) for t in rows} == _union(new)
    # the build's manifest is a file beside the store, never a graph in it
    assert not any("manifest" in str(t.subject) for t in _default(new))


def _answers(result: QueryResult) -> object:
    """A query's answers, comparable whatever order they came in."""
    if isinstance(result, ox.QueryBoolean):
        return bool(result)
    if isinstance(result, ox.QuerySolutions):
        names = [v.value for v in result.variables]
        return names, sorted(
            tuple(str(row[n]) if row[n] is not None else "" for n in names) for row in result
        )
    return sorted(str(t) for t in result)


@pytest.mark.parametrize("example", examples(), ids=lambda e: e.name)
def test_every_example_answers_as_over_the_union_of_named_graphs(
    stores: tuple[ox.Store, ox.Store], example: Example
) -> None:
    new, old = stores
    query = example.query
    before = _answers(old.query(query, use_default_graph_as_union=True))
    assert _answers(run(new, query)) == before
    assert _answers(run(old, query)) == before  # a build without the default graph


DATASET_QUERIES = [
    (
        "GRAPH ?g",
        "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g",
        Dataset(),
    ),
    ("FROM", f"SELECT (COUNT(*) AS ?n) FROM <{STATES}> WHERE {{ ?s ?p ?o }}", Dataset()),
    (
        "FROM NAMED",
        f"SELECT ?g (COUNT(*) AS ?n) FROM NAMED <{STATES}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }} "
        "GROUP BY ?g",
        Dataset(),
    ),
    ("FROM NAMED, default", f"SELECT * FROM NAMED <{STATES}> WHERE {{ ?s ?p ?o }}", Dataset()),
    ("default-graph-uri", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", Dataset((STATES,))),
    (
        "named-graph-uri",
        "SELECT ?g (COUNT(*) AS ?n) (COUNT(?x) AS ?d) WHERE "
        "{ { GRAPH ?g { ?s ?p ?o } } UNION { ?x ?y ?z } } GROUP BY ?g",
        Dataset(named_graphs=(STATES,)),
    ),
    (
        "both",
        "SELECT ?g (COUNT(*) AS ?n) WHERE { { GRAPH ?g { ?s ?p ?o } } UNION { ?s ?p ?o } } "
        "GROUP BY ?g",
        Dataset((DISPUTES,), (STATES,)),
    ),
]


@pytest.mark.parametrize(
    ("name", "query", "dataset"), DATASET_QUERIES, ids=[q[0] for q in DATASET_QUERIES]
)
def test_queries_naming_graphs_answer_as_before(
    stores: tuple[ox.Store, ox.Store], name: str, query: str, dataset: Dataset
) -> None:
    new, old = stores
    answers = _answers(run(new, query, dataset))
    assert answers == _answers(run(old, query, dataset))
    # FROM NAMED alone leaves the default graph empty (SPARQL 1.1 §13.2), as before
    assert bool(answers[1]) != (name == "FROM NAMED, default")  # type: ignore[index]


def test_graph_variable_with_no_dataset_sees_every_named_graph(
    stores: tuple[ox.Store, ox.Store],
) -> None:
    new, _ = stores
    result = run(new, "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }")
    assert isinstance(result, ox.QuerySolutions)
    assert {r["g"] for r in result} == set(new.named_graphs())


# --- incremental builds keep the default graph exact ---


def _compiled(graphs: dict[str, list[ox.Triple]], removed: tuple[str, ...], full: bool) -> Compiled:
    return Compiled(
        {URIRef(g): NTriples.of(ts) for g, ts in graphs.items()},
        tuple(URIRef(g) for g in removed),
        Manifest("test"),
        0,
        full,
    )


def _t(s: str, p: str, o: str | ox.Literal) -> ox.Triple:
    ex = "https://example.org/"
    obj = o if isinstance(o, ox.Literal) else ox.NamedNode(ex + o)
    return ox.Triple(ox.NamedNode(ex + s), ox.NamedNode(ex + p), obj)


def test_incremental_builds_keep_the_default_graph_the_union(tmp_path: Path) -> None:
    root = tmp_path / "store"
    typed = _t("x", "type", "Thing")  # in a and b
    label = _t("y", "label", ox.Literal("Y", language="en"))  # in b and c
    a, b, c = (f"https://example.org/g/{n}" for n in "abc")

    def check() -> None:
        store, _ = open_current(root)
        assert _default(store) == _union(store)

    write_build(
        root,
        _compiled(
            {
                a: [typed, _t("x", "p", "1")],
                b: [typed, label, _t("b", "p", "2")],
                c: [label, _t("c", "p", "3")],
            },
            (),
            True,
        ),
    )
    check()
    steps: list[tuple[dict[str, list[ox.Triple]], tuple[str, ...]]] = [
        ({a: [_t("x", "p", "changed")]}, ()),  # a no longer says x is a Thing; b still does
        ({}, (b,)),  # b is gone: x is no Thing any more; y keeps its label, c has it
        ({a: [typed, label]}, (c,)),  # c is gone, but a now says both
        ({a: [], b: [typed]}, ()),  # a empties: y's label goes, x is a Thing by b
    ]
    for graphs, removed in steps:
        write_build(root, _compiled(graphs, removed, False))
        check()
    store, _ = open_current(root)
    assert _default(store) == {typed}
    # a graph with a blank node (the ontology's are) arrives, changes and goes
    node = ox.BlankNode("list1")
    d = "https://example.org/g/d"
    listed = ox.Triple(node, ox.NamedNode("https://example.org/first"), ox.Literal("1"))
    for graphs, removed in [
        ({d: [listed, typed]}, ()),
        ({d: [listed, _t("d", "p", "4")]}, ()),
        ({}, (d,)),
    ]:
        write_build(root, _compiled(graphs, removed, False))
        check()
    store, _ = open_current(root)
    assert _default(store) == {typed}


def test_edits_to_yaml_files_keep_the_default_graph_as_a_full_build_makes_it(
    tmp_path: Path,
) -> None:
    data = write_data(tmp_path / "data", MINI)
    root = tmp_path / "store"
    write_build(root, compile_data(data))
    more = (
        "arms_transfers:\n  - id: t2\n    supplier: RUS\n    recipient: IRN\n"
        "    weapon_systems: [drone-x]\n    sources: [test-source]\n"
    )
    transfers = data / "transfers.yaml"
    edits = [
        lambda: transfers.write_text(transfers.read_text().replace("2022-10", "2022-11")),
        lambda: (data / "more.yaml").write_text(more),
        lambda: (data / "more.yaml").unlink(),
    ]
    for edit in edits:
        edit()
        write_build(root, compile_data(data, manifest.load(current_build(root))))
        store, _ = open_current(root)
        assert _default(store) == _union(store)
    write_build(tmp_path / "full", compile_data(data))
    full, _ = open_current(tmp_path / "full")
    assert _default(store) == _union(store) == _default(full)


def test_a_build_made_before_the_default_graph_is_rebuilt_in_full(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data", MINI)
    root = tmp_path / "store"
    write_build(root, compile_data(data))
    build = current_build(root)
    assert build is not None
    path = build / manifest.MANIFEST_NAME
    saved = json.loads(path.read_text(encoding="utf-8"))
    saved["version"] = 3  # the version before builds wrote the default graph
    path.write_text(json.dumps(saved), encoding="utf-8")
    assert manifest.load(build) is None
    compiled = compile_data(data, manifest.load(build))
    assert compiled.full


def test_export_of_the_dataset_holds_the_named_graphs_only(
    real_store: Path, stores: tuple[ox.Store, ox.Store], tmp_path: Path
) -> None:
    from kb.cli import main

    out = tmp_path / "all.nq"
    assert main(["export", "--store", str(real_store), "--format", "nquads", "-o", str(out)]) == 0
    graphs = Counter(q.graph_name for q in ox.parse(path=str(out), format=ox.RdfFormat.N_QUADS))
    new, old = stores  # the named graphs alone
    assert DEFAULT not in graphs
    assert set(graphs) == set(new.named_graphs()) and sum(graphs.values()) == len(old)
