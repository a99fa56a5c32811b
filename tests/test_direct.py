"""Lookups answered from the store's index (kb.sparql.direct) give the engine's answer, byte
for byte, and the endpoint answers them without a query worker."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pyoxigraph as ox
import pytest
from conftest import LiveServer
from fastapi import FastAPI

from kb.errors import QueryError
from kb.sparql import direct, formats, results
from kb.sparql.reading import read
from kb.stores.local import current_build, open_build

_DEFAULT = ox.DefaultGraph()


@pytest.fixture(scope="module")
def store(real_store: Path) -> ox.Store:
    build = current_build(real_store)
    assert build is not None
    return open_build(build)


# what the server passes the engine: relative IRIs resolve against the endpoint's own URL
BASE = "http://127.0.0.1:8000/sparql"


def engine(store: ox.Store, query: str, fmt: formats.Format) -> bytes:
    """The engine's answer, written as a query worker writes it."""
    result = store.query(query, base_iri=BASE)
    if isinstance(result, ox.QuerySolutions):
        data = result.serialize(format=fmt.ox_format)  # type: ignore[arg-type]
        assert data is not None
        return data
    bounded = results.write_bounded(results.cap(result, 10**6), fmt, 1 << 30)
    return b"".join(bounded.parts)


def direct_answer(store: ox.Store, query: str, fmt: formats.Format, **caps: int) -> bytes | None:
    found = read(query).lookup
    assert found is not None, query
    bounded = direct.answer(
        store, found, fmt, caps.get("max_rows", 50_000), caps.get("max_bytes", 1 << 26)
    )
    return None if bounded is None else b"".join(bounded.parts)


def named_subjects(store: ox.Store) -> list[ox.NamedNode]:
    found = {q.subject for q in store.quads_for_pattern(None, None, None, _DEFAULT)}
    return sorted((s for s in found if isinstance(s, ox.NamedNode)), key=str)


def test_every_entity_lookup_and_describe_is_the_engines(store: ox.Store) -> None:
    json, xml, turtle = formats.lookup("json"), formats.lookup("xml"), formats.lookup("turtle")
    assert json is not None and xml is not None and turtle is not None
    subjects = named_subjects(store)
    assert len(subjects) > 1000
    given_up = 0
    for subject in subjects:
        for query, fmt in [
            (f"SELECT ?p ?o WHERE {{ {subject} ?p ?o }}", json),
            (f"SELECT ?o ?p WHERE {{ {subject} ?p ?o }}", xml),
            (f"DESCRIBE {subject}", turtle),  # ontology terms reach blank nodes
        ]:
            answer = direct_answer(store, query, fmt)
            if answer is None:
                given_up += 1  # more than direct.MOST triples
            else:
                assert answer == engine(store, query, fmt), query
    assert given_up < 15


def test_every_pattern_shape_and_graph_format_is_the_engines(store: ox.Store) -> None:
    rng = random.Random(7)
    quads = [
        q
        for q in store.quads_for_pattern(None, None, None, _DEFAULT)
        if isinstance(q.subject, ox.NamedNode) and isinstance(q.object, ox.NamedNode)
    ]
    json = formats.lookup("json")
    assert json is not None
    answered = 0
    for quad in rng.sample(quads, 60):
        s, p, o = quad.subject, quad.predicate, quad.object
        for query in [
            f"SELECT * WHERE {{ {s} {p} ?o }}",
            f"SELECT ?s WHERE {{ ?s {p} {o} }}",
            f"SELECT ?p ?s WHERE {{ ?s ?p {o} }}",
            f"SELECT ?p WHERE {{ {s} ?p {o} }}",
            f"SELECT ?o ?s {{ ?s {p} ?o . }} LIMIT 40",
            "SELECT * WHERE { ?s ?p ?o } LIMIT 3",
        ]:
            answer = direct_answer(store, query, json)
            if answer is not None:
                answered += 1
                assert answer == engine(store, query, json), query
        for name in ("ntriples", "rdfxml", "jsonld", "turtle"):
            fmt = formats.lookup(name)
            assert fmt is not None
            assert direct_answer(store, f"DESCRIBE {s}", fmt) == engine(store, f"DESCRIBE {s}", fmt)
    assert answered > 250


def test_a_lookup_past_its_bounds_is_left_to_the_engine(store: ox.Store) -> None:
    json, csv = formats.lookup("json"), formats.lookup("csv")
    assert json is not None and csv is not None
    everything = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"
    assert direct_answer(store, everything, json) is None  # past direct.MOST
    subject = named_subjects(store)[0]
    one = f"SELECT ?p ?o WHERE {{ {subject} ?p ?o }}"
    assert direct_answer(store, one, json) is not None
    assert direct_answer(store, one, json, max_rows=1) is None  # the worker cuts and says so
    assert direct_answer(store, one, json, max_bytes=10) is None
    assert direct_answer(store, one, csv) is None  # pyoxigraph writes CSV its own way


def _pool(live: LiveServer) -> Any:
    return cast(FastAPI, live.server.config.app).state.pool


@pytest.fixture()
def no_workers(real_store: Path) -> Iterator[httpx.Client]:
    """The live app whose query workers all refuse to take anything."""
    with LiveServer(real_store) as live:
        pool = _pool(live)

        async def refuse(*args: object) -> None:
            raise AssertionError("a query worker was asked")

        pool.execute = refuse
        with httpx.Client(base_url=live.url, timeout=30) as client:
            yield client


def test_the_endpoint_answers_lookups_without_a_worker(
    no_workers: httpx.Client, http: httpx.Client
) -> None:
    iri = "https://w3id.org/geokb/id/state/IRN"
    json = {"Accept": "application/sparql-results+json"}
    lookup = f"SELECT ?p ?o WHERE {{ <{iri}> ?p ?o }}"
    nested = f"SELECT ?p ?o WHERE {{ {{ <{iri}> ?p ?o }} }}"  # the same, not a lookup
    direct_answer = no_workers.get("/sparql", params={"query": lookup}, headers=json)
    assert direct_answer.status_code == 200
    assert direct_answer.headers["content-type"].startswith("application/sparql-results+json")
    by_engine = http.get("/sparql", params={"query": nested}, headers=json)
    assert by_engine.status_code == 200
    assert direct_answer.content == by_engine.content
    assert len(direct_answer.json()["results"]["bindings"]) > 5
    posted = no_workers.post("/sparql", data={"query": f"DESCRIBE <{iri}>"})
    assert posted.status_code == 200 and f"<{iri}>" in posted.text
    # what is not a lookup still needs a worker
    assert no_workers.get("/sparql", params={"query": nested}, headers=json).status_code == 500


def _spelled(rng: random.Random, parts: list[str]) -> str:
    """``parts`` joined by random white space, comments or nothing, in random letter case for
    the keywords (the engine reads them all alike)."""
    out = []
    for part in parts:
        if part.isalpha() and part.upper() in ("SELECT", "WHERE", "LIMIT", "PREFIX", "DESCRIBE"):
            part = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in part)
        out.append(part)
        out.append(rng.choice([" ", "\n", "\t", " # }{ <x> LIMIT 1\n", "  "]))
    return "".join(out)


def test_generated_lookup_spellings_answer_as_the_engine_does(store: ox.Store) -> None:
    """Queries near the recognised grammar, inside and outside it: whatever is answered from
    the index is exactly what the engine answers (and never where the engine refuses)."""
    rng = random.Random(2026)
    gk = "https://w3id.org/geokb/ontology#"
    subjects = [str(s) for s in named_subjects(store)[::40]]
    terms = {
        "s": [*subjects, "?s", "$s", "gk:x", "id:state/IRN", "<relative>", "_:b"],
        "p": ["?p", "a", "A", "gk:name", "gk:supplier", "<http://www.w3.org/2000/01/rdf-schema#label>",
              "?s", "gk:"],
        "o": ["?o", "?p", f"<{gk}State>", "gk:State", '"Iran"@en', "42", *subjects[:3]],
    }  # fmt: skip
    json = formats.lookup("json")
    assert json is not None
    recognised = answered = 0
    for _ in range(1500):
        parts: list[str] = []
        if rng.random() < 0.6:
            parts += ["PREFIX", "gk:", f"<{gk}>"]
        if rng.random() < 0.2:
            parts += ["PREFIX", "id:", "<https://w3id.org/geokb/id/>"]
        s, p, o = (rng.choice(terms[k]) for k in "spo")
        variables = [t for t in (s, p, o) if t.startswith(("?", "$"))]
        columns = rng.choice([["*"], variables, variables[::-1], variables[:1], ["?x"], []])
        parts += ["SELECT", *columns]
        if rng.random() < 0.7:
            parts.append("WHERE")
        parts += ["{", s, p, o] + (["."] if rng.random() < 0.3 else []) + ["}"]
        if rng.random() < 0.4:
            parts += ["LIMIT", rng.choice(["0", "3", "007", "2.5", "18446744073709551616"])]
        query = _spelled(rng, parts)
        try:
            reading = read(query)
        except Exception:
            continue  # refused by the reader: never reaches either
        if reading.lookup is None:
            continue
        recognised += 1
        bounded = direct.answer(store, reading.lookup, json, 50_000, 1 << 26)
        if bounded is not None:
            answered += 1
            assert b"".join(bounded.parts) == engine(store, query, json), query
    assert recognised > 200 and answered > 180


# Characters a mutation puts into a lookup's text: the grammar's punctuation and white space,
# and what the engine's parser reads differently from the W3C grammar (names with characters
# past U+FFFF) or refuses in an IRI (a bad %-escape, a second '#', private use).
_MUTATIONS = [
    *"<>{}()[].;,*?$:#_-%\\\"' \t\n\r0a", "\u00a0", "\u00e9", "\u0301", "\ue000", "\U0001f600",
    "\U00010000", "%4", "%zz", "a ", "gk:", "?x", "LIMIT",
]  # fmt: skip


def test_mutated_lookups_are_answered_only_as_the_engine_answers(store: ox.Store) -> None:
    """Lookup texts with characters put in, dropped or replaced at random: whatever the index
    answers is the engine's answer for that text, and a text the engine refuses (a syntax
    error) is never answered from the index."""
    rng = random.Random(18)
    gk = "PREFIX gk: <https://w3id.org/geokb/ontology#>"
    iri = "<https://w3id.org/geokb/id/state/IRN>"
    seeds = [
        f"{gk} SELECT ?s WHERE {{ ?s a gk:State }} LIMIT 3",
        f"SELECT ?p ?o WHERE {{ {iri} ?p ?o }}",
        "PREFIX id: <https://w3id.org/geokb/id/state/> SELECT * { ?t ?p id:IRN . } LIMIT 9",
        f"{gk} DESCRIBE gk:Transfer",
        f"{gk} SELECT $o {{ {iri} gk:name $o }}",
        f"{gk} PREFIX x: <http://example.org/x#> SELECT ?o ?p {{ {iri} ?p ?o }}",  # x: unused
    ]
    json, xml, turtle = (formats.lookup(name) for name in ("json", "xml", "turtle"))
    assert json is not None and xml is not None and turtle is not None
    answered = 0
    for _ in range(4000):
        query = rng.choice(seeds)
        for _ in range(rng.choice([1, 1, 2, 3])):
            at = rng.randrange(len(query) + 1)
            cut = rng.choice([0, 1]) if rng.random() < 0.8 else 1
            put = rng.choice(_MUTATIONS) if rng.random() < 0.7 else ""
            query = query[:at] + put + query[at + cut :]
        try:
            found = read(query).lookup
        except QueryError:
            continue  # refused by the reader: never reaches either
        if found is None:
            continue
        fmt = turtle if found.form == "DESCRIBE" else rng.choice([json, xml])
        bounded = direct.answer(store, found, fmt, 50_000, 1 << 26)
        if bounded is None:
            continue
        answered += 1
        try:
            expected = engine(store, query, fmt)
        except SyntaxError:
            pytest.fail(f"answered from the index, but the engine refuses it: {query!r}")
        assert b"".join(bounded.parts) == expected, query
    assert answered > 800


# Texts the reader reads and the engine refuses (a syntax error), near the lookup grammar.
REFUSED = [
    # names with a character past U+FFFF: the W3C grammar allows them, Oxigraph's parser not
    "SELECT * WHERE { <https://w3id.org/geokb/id/state/IRN> ?p ?o\U0001f600 }",
    "SELECT ?p WHERE { <https://w3id.org/geokb/id/state/IRN> ?p ?\U00010000 }",
    "PREFIX s: <https://w3id.org/geokb/id/state/> SELECT * WHERE { s:IRN\U0001f600 ?p ?o }",
    "PREFIX \U0001f600: <https://w3id.org/geokb/id/state/> DESCRIBE \U0001f600:IRN",
    # a prefix's IRI that is no IRI, though the prefix is unused, or its names are IRIs
    "PREFIX x: <http://a/%zz> SELECT * WHERE { <https://w3id.org/geokb/id/state/IRN> ?p ?o }",
    "PREFIX x: <http://a/b#c#d> DESCRIBE <https://w3id.org/geokb/id/state/IRN>",
    "PREFIX x: <http://a/\ue000> SELECT ?p WHERE { <https://w3id.org/geokb/id/state/IRN> ?p ?o }",
    "PREFIX s: <https://w3id.org/geokb/id/state/%> SELECT * WHERE { s:49RN ?p ?o }",
    # a prefixed name where a prefix is declared
    "PREFIX x:y: <http://a/> SELECT * WHERE { <https://w3id.org/geokb/id/state/IRN> ?p ?o }",
]


@pytest.mark.parametrize("query", REFUSED)
def test_what_the_engine_refuses_is_never_answered_from_the_index(
    store: ox.Store, query: str
) -> None:
    assert read(query).lookup is None
    with pytest.raises(SyntaxError):
        store.query(query, base_iri=BASE)


def test_the_endpoint_refuses_them_as_the_engine_does(http: httpx.Client) -> None:
    for query in (REFUSED[0], REFUSED[4]):
        answer = http.get("/sparql", params={"query": query})
        assert answer.status_code == 400, query
        assert answer.text.startswith("SPARQL syntax error"), answer.text
