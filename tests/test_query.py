from pathlib import Path

import pytest
from rdflib import XSD, Literal, URIRef

from kb.build.manifest import Compiled, Manifest
from kb.errors import QueryError, QueryRefused
from kb.model.rdf import NTriples, new_graph, ox_quads
from kb.model.schema import GK
from kb.sparql.examples import examples
from kb.sparql.query import run
from kb.sparql.reading import read
from kb.sparql.table import table
from kb.stores.local import open_current, write_build


@pytest.mark.parametrize(
    "update",
    [
        "INSERT DATA { <a:b> <a:c> <a:d> }",
        "PREFIX x: <http://x/> DELETE WHERE { ?s ?p ?o }",
        "LOAD <http://127.0.0.1:9/data.ttl>",
        "clear all",
        "DROP GRAPH <http://g>",
        "WITH <http://g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }",
    ],
)
def test_updates_are_refused(update: str) -> None:
    with pytest.raises(QueryRefused, match="read-only"):
        read(update)


def test_service_is_refused_but_the_word_in_a_string_is_fine() -> None:
    with pytest.raises(QueryRefused, match="SERVICE"):
        read("SELECT * WHERE { service <http://127.0.0.1:9/sparql> { ?s ?p ?o } }")
    assert (
        read('SELECT * WHERE { ?s ?p "SERVICE INSERT" . ?service <http://x/DELETE> ?o }').shape
        == "solutions"
    )
    assert read("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } # INSERT").shape == "graph"


def test_syntax_error_says_where(real_store: Path) -> None:
    store, _ = open_current(real_store)
    with pytest.raises(QueryError, match=r"1:25"):
        run(store, "SELECT * WHERE { ?s ?p }")


def test_year_filter_works_at_every_date_precision(tmp_path: Path) -> None:
    g = new_graph(URIRef("https://w3id.org/geokb/graph/test"))
    dates = {
        "a": ("2022", XSD.gYear),
        "b": ("2022-10", XSD.gYearMonth),
        "c": ("2022-10-13", XSD.date),
        "d": ("2021-12-31", XSD.date),
    }
    for name, (text, dtype) in dates.items():
        s = URIRef(f"https://w3id.org/geokb/id/event/{name}")
        g.add((s, URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"), GK.Fact))
        g.add((s, GK.date, Literal(text, datatype=dtype)))
    write_build(
        tmp_path,
        Compiled(
            {g.identifier: NTriples.of([q.triple for q in ox_quads(g)])},
            (),
            Manifest("-"),
            records=0,
            full=True,
        ),
    )
    store, _ = open_current(tmp_path)
    [example] = [e for e in examples() if "given year" in e.title]
    query = example.query.replace("= 1971", "= 2022")
    found = {sol["fact"].value.rsplit("/", 1)[1] for sol in run(store, query)}  # type: ignore[index,union-attr]
    assert found == {"a", "b", "c"}


@pytest.mark.parametrize("example", examples(), ids=lambda e: e.name)
def test_every_example_query_answers_on_the_real_data(real_store: Path, example) -> None:  # type: ignore[no-untyped-def]
    store, _ = open_current(real_store)
    text = table(run(store, example.query))
    assert "(0 rows)" not in text


def test_at_least_three_examples() -> None:
    assert len(examples()) >= 3


@pytest.mark.parametrize(
    "query,limit",
    [
        ("SELECT * WHERE { ?s ?p ?o } LIMIT 10", 10),
        ("SELECT * WHERE { ?s ?p ?o } limit 10 offset 5", 10),
        ("SELECT * WHERE { ?s ?p ?o } OFFSET 5 LIMIT 7", 7),
        ("SELECT * WHERE { { SELECT * WHERE { ?s ?p ?o } LIMIT 3 } }", None),  # a subquery's
        # a trailing VALUES joins before the solution modifiers (SPARQL 1.1 §18.2.4.3)
        ("SELECT * WHERE { ?s ?p ?o } LIMIT 10 VALUES ?s { <a:b> }", 10),
        ('SELECT * WHERE { ?s ?p "LIMIT 5" }', None),
        ("SELECT * WHERE { ?s ?p ?o } LIMIT 10 # LIMIT 99999", 10),
    ],
)
def test_declared_limit_is_the_top_level_one(query: str, limit: int | None) -> None:
    from kb.sparql.reading import read

    assert read(query).limit == limit
