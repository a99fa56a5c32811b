"""Hostile and generated queries: every one gets a well-formed answer in time, nothing changes,
nothing reaches out, and the server lives on."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_safety import Listener

from api.settings import Settings
from kb.store import open_current

TIMEOUT_S = 2.0
SIMPLE = "ASK { <https://w3id.org/geokb/id/state/IRN> ?p ?o }"
ANSWERS = {200, 400, 403, 406, 413, 503}


def _digest(store_root: Path) -> str:
    store, _ = open_current(store_root)
    quads = sorted(str(q) for q in store.quads_for_pattern(None, None, None, None))
    return hashlib.sha256("\n".join(quads).encode()).hexdigest()


@pytest.fixture(scope="module")
def hostile(real_store: Path) -> Iterator[tuple[LiveServer, httpx.Client]]:
    settings_ = Settings(store=real_store, timeout_s=TIMEOUT_S, max_rows=1000, workers=2)
    with LiveServer(settings_) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        yield live, client


def _hostile_queries(listener_port: int) -> list[str]:
    remote = f"http://127.0.0.1:{listener_port}/x"
    updates = [
        "INSERT DATA { <http://a> <http://b> <http://c> }",
        "DELETE DATA { <http://a> <http://b> <http://c> }",
        "DELETE WHERE { ?s ?p ?o }",
        "DELETE { ?s ?p ?o } INSERT { ?s ?p 1 } WHERE { ?s ?p ?o }",
        "WITH <http://g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }",
        f"LOAD <{remote}>",
        f"LOAD SILENT <{remote}> INTO GRAPH <http://g>",
        "CLEAR ALL",
        "CLEAR DEFAULT",
        "CLEAR SILENT GRAPH <http://g>",
        "CREATE GRAPH <http://g>",
        "DROP ALL",
        "DROP NAMED",
        "COPY DEFAULT TO <http://g>",
        "MOVE DEFAULT TO <http://g>",
        "ADD DEFAULT TO <http://g>",
        "PREFIX x: <http://x/> INSERT DATA { x:a x:b x:c } ; DROP ALL",
    ]
    return [
        *updates,
        "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }",
        "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }",
        "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?c ?f ?i",
        "SELECT * WHERE { ?s (<http://x>|!<http://x>)* ?o }",
        "SELECT (COUNT(*) AS ?n) WHERE { ?s (!<http://x>)+ ?o . ?o (!<http://y>)* ?z }",
        "SELECT * WHERE { ?s ((((<http://a>)*)*)*)* ?o }",
        "SELECT * WHERE { ?s ?p ?o } OFFSET 9223372036854775807 LIMIT 9223372036854775807",
        "SELECT * WHERE { ?s ?p ?o } OFFSET 99999999999999999999999 LIMIT 1",
        'SELECT * WHERE { ?s ?p ?o FILTER(REGEX(STR(?o), "^(a+)+$")) }',
        "SELECT * WHERE { ?s ?p ?o . ?a ?b ?c FILTER(REGEX(STR(?o), STR(?c))) }",
        "SELECT * WHERE { ?s ?p ?o } #" + "x" * 1_000_000,
        "SELECT * WHERE " + "{" * 5000 + " ?s ?p ?o " + "}" * 5000,
        "SELECT * WHERE { FILTER(" + "(" * 3000 + "1" + ")" * 3000 + ") }",
        f"SELECT * WHERE {{ SERVICE <{remote}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ SERVICE SILENT <{remote}> {{ ?s ?p ?o }} }}",
        f"SELECT * FROM <{remote}> WHERE {{ ?s ?p ?o }}",
        f"SELECT * FROM NAMED <{remote}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}",
        f"DESCRIBE <{remote}>",
        f'SELECT * WHERE {{ BIND(IRI("{remote}") AS ?x) ?x ?p ?o }}',
        "SELECT * WHERE { ?s ?p ?o } GROUP BY ?s",
        "SELECT (SUM(?x) AS ?y) WHERE { VALUES ?x { 1 2 } } GROUP BY ?z HAVING (?y > 1)",
        "CONSTRUCT { ?a ?b ?c . ?d ?e ?f } WHERE { ?a ?b ?c . ?d ?e ?f }",
        "\x00\x01\x02 SELECT",
        "SELECT * WHERE { ?s ?p '\udcff' }".encode("utf-8", "surrogatepass").decode("latin-1"),
    ]


def _ask(
    client: httpx.Client, query: str, params: dict[str, str] | None = None
) -> tuple[int, float]:
    t0 = time.monotonic()
    resp = client.post("/sparql", data={"query": query, **(params or {})})
    elapsed = time.monotonic() - t0
    resp.read()
    return resp.status_code, elapsed


def test_hostile_queries_answer_in_time_change_nothing_and_reach_nobody(
    hostile: tuple[LiveServer, httpx.Client], real_store: Path
) -> None:
    _, client = hostile
    listener = Listener()
    before = _digest(real_store)
    try:
        for query in _hostile_queries(listener.port):
            status, elapsed = _ask(client, query)
            assert status in ANSWERS, (query[:80], status)
            assert elapsed < TIMEOUT_S + 1.0, (query[:80], elapsed)
            assert _ask(client, SIMPLE)[0] == 200, f"server unwell after {query[:80]!r}"
        for param in ("default-graph-uri", "named-graph-uri"):
            status, _ = _ask(
                client,
                "SELECT * WHERE { ?s ?p ?o } LIMIT 1",
                {param: f"http://127.0.0.1:{listener.port}/g"},
            )
            assert status == 200
        time.sleep(0.3)
        assert listener.connections == 0
    finally:
        listener.close()
    assert _digest(real_store) == before


_FRAGMENTS = st.sampled_from(
    [
        "SELECT",
        "ASK",
        "CONSTRUCT",
        "DESCRIBE",
        "WHERE",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ".",
        ";",
        ",",
        "?s",
        "?p",
        "?o",
        "$x",
        "*",
        "+",
        "|",
        "/",
        "^",
        "!",
        "a",
        "FILTER",
        "OPTIONAL",
        "UNION",
        "MINUS",
        "GRAPH",
        "BIND",
        "AS",
        "VALUES",
        "LIMIT",
        "OFFSET",
        "ORDER BY",
        "GROUP BY",
        "HAVING",
        "COUNT",
        "REGEX",
        "STR",
        "DISTINCT",
        "PREFIX",
        "BASE",
        "FROM",
        "NAMED",
        "SERVICE",
        "INSERT",
        "DELETE",
        "DATA",
        "LOAD",
        "CLEAR",
        "DROP",
        "1",
        "-2.5e3",
        '"text"',
        "'x'@en",
        '"""long"""',
        "<http://x/y>",
        "gk:State",
        "rdfs:label",
        "true",
        "<https://w3id.org/geokb/id/state/IRN>",
        "# comment\n",
        "\n",
        " ",
        "\t",
        "\\",
        '"',
        "'",
    ]
)


@settings(max_examples=1200, deadline=None, suppress_health_check=list(HealthCheck))
@given(parts=st.lists(_FRAGMENTS | st.text(max_size=8), max_size=40))
def test_generated_queries_get_well_formed_answers(
    hostile: tuple[LiveServer, httpx.Client], parts: list[str]
) -> None:
    _, client = hostile
    query = " ".join(parts)
    status, elapsed = _ask(client, query)
    assert status in ANSWERS
    assert elapsed < TIMEOUT_S + 1.0


VALID = st.builds(
    lambda form, pattern, tail: f"{form} WHERE {{ {pattern} }} {tail}",
    st.sampled_from(
        [
            "SELECT *",
            "SELECT DISTINCT ?s",
            "ASK",
            "CONSTRUCT { ?s ?p ?o }",
            "SELECT (COUNT(*) AS ?n)",
        ]
    ),
    st.sampled_from(
        [
            "?s ?p ?o",
            "?s a ?c",
            "?s ?p ?o FILTER(isLiteral(?o))",
            "?s ?p ?o OPTIONAL { ?o ?q ?r }",
            "{ ?s ?p ?o } UNION { ?o ?p ?s }",
            "?s <http://www.w3.org/2000/01/rdf-schema#label> ?l",
        ]
    ),
    st.sampled_from(["", "LIMIT 5", "ORDER BY ?s LIMIT 3", "OFFSET 2 LIMIT 2"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(query=VALID)
def test_generated_valid_queries_succeed(
    hostile: tuple[LiveServer, httpx.Client], query: str
) -> None:
    _, client = hostile
    status, elapsed = _ask(client, query)
    assert status == 200, query
    assert elapsed < TIMEOUT_S + 1.0
