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
from kb.stores.local import open_current

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
).filter(lambda query: not ("UNION" in query and "ORDER BY" in query))  # see ENGINE_PANIC


# Valid queries get a server of their own with room to answer: some generated ones are honest
# but heavy (ASK { ?s ?p ?o OPTIONAL { ?o ?q ?r } } ORDER BY ?s takes ~1.5 s alone on the real
# data), and beside another test process they passed the 2 s limit of the hostile server.
VALID_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def roomy(real_store: Path) -> Iterator[httpx.Client]:
    settings_ = Settings(store=real_store, timeout_s=VALID_TIMEOUT_S, max_rows=1000, workers=2)
    with LiveServer(settings_) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        yield client


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(query=VALID)
def test_generated_valid_queries_succeed(roomy: httpx.Client, query: str) -> None:
    status, elapsed = _ask(roomy, query)
    assert status == 200, query
    assert elapsed < VALID_TIMEOUT_S + 1.0


# Oxigraph 0.5's ORDER BY over IRIs, blank nodes and literals of many types mixed (a union of
# subjects and objects) can panic in Rust's sort ("user-provided comparison function does not
# correctly implement a total order"), which aborts the worker; whether it does depends on
# the order the rows come in (on the real data of 2026-11-26 it did). An upstream fault: the
# valid-query test above leaves such queries out, and this one checks it is contained.
ENGINE_PANIC = "SELECT ?s WHERE { { ?s ?p ?o } UNION { ?o ?p ?s } } ORDER BY ?s LIMIT 3"


def test_a_query_the_engine_fails_on_is_contained(real_store: Path) -> None:
    settings_ = Settings(store=real_store, timeout_s=VALID_TIMEOUT_S, workers=2)
    with LiveServer(settings_) as live:
        with httpx.Client(base_url=live.url, timeout=30) as client:
            answer = client.post("/sparql", data={"query": ENGINE_PANIC})
            assert answer.status_code in (200, 503), answer.text
            if answer.status_code == 503:  # the engine aborted: said so, and barred a while
                assert "stopped its worker process (SIGABRT)" in answer.text
                assert "retry-after" in answer.headers
        # the server goes on answering, the next client too
        transport = httpx.HTTPTransport(local_address="127.0.0.3")
        with httpx.Client(base_url=live.url, timeout=30, transport=transport) as other:
            after = other.post("/sparql", data={"query": "SELECT ?s WHERE { ?s a ?c } LIMIT 2"})
            assert after.status_code == 200, after.text


# -- the breaks an outside security test found, each over real HTTP --------------------------


@pytest.fixture(scope="module")
def capped(real_store: Path) -> Iterator[httpx.Client]:
    """A server with a small row cap (100) and byte cap (1 MB)."""
    settings_ = Settings(store=real_store, timeout_s=5.0, max_rows=100, max_answer_mb=1, workers=2)
    with LiveServer(settings_) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        yield client


def test_service_spellings_that_slipped_past_the_old_guard_are_refused(
    capped: httpx.Client,
) -> None:
    listener = Listener()
    remote = f"<http://127.0.0.1:{listener.port}/x>"
    try:
        for query in [
            f"SELECT ?secret WHERE {{ ?a ?b ?c .SERVICE {remote} {{ ?x ?y ?secret }} }} LIMIT 1",
            "PREFIX ex: <http://a/> SELECT * WHERE { VALUES ?z { ex:a\\# } "
            f"SERVICE {remote} {{ ?x ?y ?z }} }}",
        ]:
            resp = capped.post("/sparql", data={"query": query})
            assert resp.status_code == 403 and "SERVICE" in resp.text
        time.sleep(0.3)
        assert listener.connections == 0
    finally:
        listener.close()


def test_the_row_cap_holds_whatever_the_query_seems_to_say(capped: httpx.Client) -> None:
    resp = capped.get(
        "/sparql",
        params={"query": "SELECT * WHERE { ?s ?p ?o } ORDER BY(1<2)#> LIMIT 5"},
        headers={"Accept": "application/sparql-results+json"},
    )
    assert resp.status_code == 200
    assert len(resp.json()["results"]["bindings"]) == 100
    assert "100 rows" in resp.headers["X-Geokb-Truncated"]


def test_a_volatile_query_hidden_by_a_comment_is_not_kept(capped: httpx.Client) -> None:
    query = "SELECT ?r WHERE { BIND(RAND #\n() AS ?r) }"
    answers = [capped.post("/sparql", data={"query": query}) for _ in range(2)]
    assert [a.headers["X-Geokb-Cache"] for a in answers] == ["bypass", "bypass"]
    assert answers[0].text != answers[1].text


def test_an_answer_over_the_byte_cap_is_cut_and_says_so(capped: httpx.Client) -> None:
    binds = "".join(f"BIND(CONCAT(?a{i}, ?a{i}) AS ?a{i + 1}) " for i in range(14))
    # 16 bytes doubled 14 times: 256 KiB per row; three rows fit in 1 MB, not all ten
    query = (
        'SELECT ?n ?a14 WHERE { VALUES ?n { 1 2 3 4 5 6 7 8 9 10 } BIND("aaaaaaaaaaaaaaaa" AS ?a0) '
        + binds
        + "}"
    )
    resp = capped.post(
        "/sparql", data={"query": query}, headers={"Accept": "application/sparql-results+json"}
    )
    assert resp.status_code == 200
    assert len(resp.content) <= 1024 * 1024
    assert "1 MB" in resp.headers["X-Geokb-Truncated"]
    body = resp.json()
    assert body["truncated"] is True and 0 < len(body["results"]["bindings"]) < 10


def test_queries_that_crashed_workers_are_refused_before_the_engine(
    capped: httpx.Client,
) -> None:
    for query in [
        "ASK { FILTER(" + "!" * 50_000 + "true) }",
        "ASK { FILTER(" + "+" * 30_000 + "1) }",
        "PREFIX ex: <http://a/> ASK { VALUES ?x { ex:a\\# } " + "{" * 5000 + "}" * 5000 + "}",
    ]:
        resp = capped.post("/sparql", data={"query": query})
        assert resp.status_code == 400 and "crash" in resp.text
    assert capped.post("/sparql", data={"query": SIMPLE}).status_code == 200


def test_an_invalid_dataset_graph_is_a_client_error(capped: httpx.Client) -> None:
    for param in ("default-graph-uri", "named-graph-uri"):
        resp = capped.post("/sparql", data={"query": "ASK {}", param: "not an iri"})
        assert resp.status_code == 400 and param in resp.text


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["SELECT", "*", "WHERE", "{", "}", "?s ?p ?o", ".", "(", ")", "1<2", "#>",
                 "LIMIT 5", "ORDER BY", "SERVICE", "<http://127.0.0.1:PORT/x>", "ex:a\\#",
                 '"x#y"', "'''a'b'''", "RAND()", "BIND(", "AS ?r", "FILTER", "OPTIONAL"]
            ),
            st.sampled_from(["", " ", "#c\n", "\n", "\t", "#<\n"]),
        ),
        max_size=16,
    )
)  # fmt: skip
def test_fragments_glued_any_way_never_break_the_endpoint(
    capped: httpx.Client, parts: list[tuple[str, str]]
) -> None:
    query = "PREFIX ex: <http://a/> " + "".join(f + g for f, g in parts)
    query = query.replace("PORT", str(_HTTP_LISTENER.port))
    resp = capped.post(
        "/sparql", data={"query": query}, headers={"Accept": "application/sparql-results+json"}
    )
    assert resp.status_code in ANSWERS, (query, resp.status_code, resp.text[:200])
    if resp.status_code == 200 and resp.text.startswith('{"head"'):
        assert len(resp.json().get("results", {}).get("bindings", [])) <= 100
    assert _HTTP_LISTENER.connections == 0, query


_HTTP_LISTENER = Listener()
