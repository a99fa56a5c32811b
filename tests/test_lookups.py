"""Which queries are one-pattern lookups (kb.sparql.lookups), read from the reader's tokens."""

from __future__ import annotations

import pytest

from kb.sparql.lookups import RDF_TYPE, Lookup, Position
from kb.sparql.reading import read

T = "https://w3id.org/geokb/id/transfer/t1"
GK = "https://w3id.org/geokb/ontology#"


def lookup(query: str) -> Lookup | None:
    return read(query).lookup


def test_an_entity_lookup_is_recognised() -> None:
    found = lookup(f"SELECT ?p ?o WHERE {{ <{T}> ?p ?o }}")
    assert found == Lookup(
        "SELECT", Position(iri=T), Position(var="p"), Position(var="o"), ("p", "o"), None
    )


@pytest.mark.parametrize(
    ("query", "columns", "limit"),
    [
        (f"select ?o where {{ <{T}> ?p ?o . }}", ("o",), None),  # a final dot, lower case
        (f"SELECT $o ?p {{ <{T}> ?p ?o }} LIMIT 5", ("o", "p"), 5),  # no WHERE; $ and ?
        (f"SELECT * WHERE {{ <{T}> ?p ?o }}", ("o", "p"), None),  # '*': sorted by name
        ("SELECT * { ?b ?a ?c } LIMIT 3", ("a", "b", "c"), 3),
        (f"#{T}\nSELECT ?p # a comment {{\n WHERE {{ <{T}> ?p ?o }}", ("p",), None),
    ],
)
def test_spellings_of_a_lookup(query: str, columns: tuple[str, ...], limit: int | None) -> None:
    found = lookup(query)
    assert found is not None
    assert (found.columns, found.limit) == (columns, limit)


def test_prefixed_names_and_a_resolve() -> None:
    found = lookup(f"PREFIX gk: <{GK}> PREFIX : <{GK}> SELECT ?t WHERE {{ ?t a :Transfer }}")
    assert found is not None
    assert found.predicate == Position(iri=RDF_TYPE)
    assert found.object == Position(iri=GK + "Transfer")
    found = lookup(f"PREFIX gk: <{GK}> SELECT ?t {{ ?t gk:supplier <{T}> }}")
    assert found is not None and found.predicate == Position(iri=GK + "supplier")


def test_describe_of_one_iri() -> None:
    found = lookup(f"DESCRIBE <{T}>")
    assert found is not None and found.form == "DESCRIBE" and found.subject.iri == T


@pytest.mark.parametrize(
    "query",
    [
        f"SELECT DISTINCT ?p WHERE {{ <{T}> ?p ?o }}",
        f"SELECT ?p WHERE {{ <{T}> ?p ?p }}",  # the same variable twice: a join
        f"SELECT ?x WHERE {{ <{T}> ?p ?o }}",  # a column the pattern does not bind
        f"SELECT ?p ?p WHERE {{ <{T}> ?p ?o }}",
        f"SELECT ?p WHERE {{ <{T}> ?p ?o ; ?q ?r }}",  # two patterns
        f"SELECT ?p WHERE {{ <{T}> ?p ?o . ?o ?q ?r }}",
        f"SELECT ?p WHERE {{ {{ <{T}> ?p ?o }} }}",  # a nested group
        f"SELECT ?p WHERE {{ <{T}> ?p 'x' }}",  # literals go to the engine
        "SELECT ?p WHERE { _:b ?p ?o }",
        f"SELECT ?p WHERE {{ <{T}> ?p ?o FILTER(?o) }}",
        f"SELECT ?p WHERE {{ <{T}> ?p ?o }} LIMIT 5 OFFSET 2",
        f"SELECT ?p WHERE {{ <{T}> ?p ?o }} ORDER BY ?p",
        f"SELECT ?p FROM <{T}> WHERE {{ <{T}> ?p ?o }}",  # its own dataset
        f"SELECT ?p WHERE {{ GRAPH ?g {{ <{T}> ?p ?o }} }}",
        f"SELECT (?p AS ?q) WHERE {{ <{T}> ?p ?o }}",
        f"BASE <{T}> SELECT ?p WHERE {{ <x> ?p ?o }}",
        "SELECT ?p WHERE { <relative> ?p ?o }",  # resolved against the endpoint: the engine's
        f"SELECT ?p WHERE {{ <{T}\\u0041> ?p ?o }}",  # escapes: the engine decodes them
        f"PREFIX gk: <{GK}> SELECT ?t WHERE {{ ?t gk:a\\.b ?o }}",
        "SELECT ?t WHERE { ?t gk:supplier ?o }",  # an undeclared prefix: the engine's error
        f"PREFIX gk: <{GK}> PREFIX gk: <{T}> SELECT ?t WHERE {{ ?t gk:x ?o }}",
        f"SELECT ?t WHERE {{ ?t A <{T}> }}",  # only the lower-case 'a' is rdf:type
        f"ASK {{ <{T}> ?p ?o }}",
        f"CONSTRUCT WHERE {{ <{T}> ?p ?o }}",
        f"DESCRIBE <{T}> <{T}>",
        "DESCRIBE ?s WHERE { ?s ?p ?o }",
        f"SELECT ?p WHERE {{ <{T}> ?p ?o }} LIMIT 5.0",
        f"SELECT ?p WHERE {{ <{T}> ?p ?o }} LIMIT 18446744073709551616",  # the engine: an error
    ],
)
def test_anything_else_goes_to_the_engine(query: str) -> None:
    assert lookup(query) is None


def test_a_long_query_is_never_a_lookup() -> None:
    prefixes = " ".join(f"PREFIX p{i}: <{GK}>" for i in range(30))
    assert lookup(f"{prefixes} SELECT ?p WHERE {{ <{T}> ?p ?o }}") is None
