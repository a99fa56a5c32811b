"""SPARQL 1.1 Protocol behaviour of /sparql, over real HTTP against the running app."""

import asyncio
import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import DATA, MINI, LiveServer, OxigraphServer, write_data
from rdflib import Graph

from api.app import create_app
from api.settings import Settings
from kb.build.pipeline import compile_data
from kb.stores.local import write_build
from kb.stores.remote import RemoteStore


@pytest.fixture(scope="module", params=["embedded", "remote"])
def live(
    request: pytest.FixtureRequest, real_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The app over the embedded store, and over a real Oxigraph server holding the same data."""
    if request.param == "embedded":
        with LiveServer(real_store) as server:
            yield server
        return
    oxigraph = OxigraphServer(tmp_path_factory.mktemp("oxigraph"))
    oxigraph.start()
    try:
        remote = RemoteStore.from_urls(oxigraph.query_url)
        remote.push(compile_data(DATA))
        with LiveServer(Settings(remote=remote)) as server:
            yield server
    finally:
        oxigraph.stop()


SELECT = """PREFIX gk: <https://w3id.org/geokb/ontology#>
SELECT ?s WHERE { ?s a gk:State ; gk:unMembership gk:UNObserverState } ORDER BY ?s"""
CONSTRUCT = """PREFIX gk: <https://w3id.org/geokb/ontology#>
CONSTRUCT { ?s a gk:State } WHERE { ?s a gk:State ; gk:unMembership gk:UNObserverState }"""
STATES = 2  # the UN observer states: the Holy See and Palestine


def test_get_post_form_and_post_body_all_answer(http: httpx.Client) -> None:
    for resp in (
        http.get("/sparql", params={"query": SELECT}),
        http.post("/sparql", data={"query": SELECT}),
        http.post(
            "/sparql",
            content=SELECT,
            headers={"Content-Type": "application/sparql-query; charset=utf-8"},
        ),
    ):
        assert resp.status_code == 200
        assert len(resp.json()["results"]["bindings"]) == STATES


@pytest.mark.parametrize(
    "accept,ctype",
    [
        (None, "application/sparql-results+json"),
        ("application/sparql-results+json", "application/sparql-results+json"),
        ("application/sparql-results+xml", "application/sparql-results+xml"),
        ("text/csv", "text/csv"),
        ("text/tab-separated-values", "text/tab-separated-values"),
        ("text/csv;q=0.5, application/sparql-results+xml;q=0.9", "application/sparql-results+xml"),
        ("*/*", "application/sparql-results+json"),
        ("application/json", "application/sparql-results+json"),
        ("text/*", "text/csv"),
    ],
)
def test_select_result_formats_by_accept(
    http: httpx.Client, accept: str | None, ctype: str
) -> None:
    headers = {"Accept": accept} if accept else {}
    resp = http.get("/sparql", params={"query": SELECT}, headers=headers)
    assert resp.status_code == 200
    assert resp.headers["content-type"].split(";")[0] == ctype
    assert "Accept" in resp.headers["vary"]


def test_select_formats_carry_the_same_rows(http: httpx.Client) -> None:
    get = lambda fmt: http.get("/sparql", params={"query": SELECT, "format": fmt})  # noqa: E731
    from_json = [b["s"]["value"] for b in get("json").json()["results"]["bindings"]]
    ns = {"r": "http://www.w3.org/2005/sparql-results#"}
    root = ET.fromstring(get("xml").content)
    from_xml = [u.text for u in root.iterfind(".//r:result/r:binding/r:uri", ns)]
    from_csv = [row["s"] for row in csv.DictReader(io.StringIO(get("csv").text))]
    tsv_lines = get("tsv").text.splitlines()
    assert tsv_lines[0] == "?s"
    from_tsv = [line.strip("<>") for line in tsv_lines[1:]]
    assert from_json == from_xml == from_csv == from_tsv
    assert len(from_json) == STATES


def test_ask_in_every_solution_format(http: httpx.Client) -> None:
    ask = "ASK { ?s a <https://w3id.org/geokb/ontology#ArmsTransfer> }"
    assert http.get("/sparql", params={"query": ask}).json()["boolean"] is True
    xml = http.get("/sparql", params={"query": ask, "format": "xml"}).text
    assert "<boolean>true</boolean>" in xml


@pytest.mark.parametrize(
    "accept,ctype",
    [
        (None, "text/turtle"),
        ("text/turtle", "text/turtle"),
        ("application/n-triples", "application/n-triples"),
        ("application/n-quads", "application/n-quads"),
        ("application/rdf+xml", "application/rdf+xml"),
        ("application/ld+json", "application/ld+json"),
    ],
)
def test_construct_formats_parse_to_the_same_graph(
    http: httpx.Client, accept: str | None, ctype: str
) -> None:
    headers = {"Accept": accept} if accept else {}
    resp = http.post("/sparql", data={"query": CONSTRUCT}, headers=headers)
    assert resp.status_code == 200
    assert resp.headers["content-type"].split(";")[0] == ctype
    rdflib_format = {
        "text/turtle": "turtle",
        "application/n-triples": "nt",
        "application/n-quads": "nquads",
        "application/rdf+xml": "xml",
        "application/ld+json": "json-ld",
    }[ctype]
    g = Graph().parse(data=resp.text, format=rdflib_format)
    assert len(g) == STATES


def test_describe_returns_the_entity(http: httpx.Client) -> None:
    resp = http.get("/sparql", params={"query": "DESCRIBE <https://w3id.org/geokb/id/state/IRN>"})
    assert resp.status_code == 200
    g = Graph().parse(data=resp.text, format="turtle")
    assert len(g) >= 4


def test_format_parameter_beats_accept(http: httpx.Client) -> None:
    resp = http.get(
        "/sparql",
        params={"query": SELECT, "format": "csv"},
        headers={"Accept": "application/sparql-results+xml"},
    )
    assert resp.headers["content-type"].startswith("text/csv")


@pytest.mark.parametrize(
    "params,status,words",
    [
        ({"query": [SELECT, SELECT]}, 400, "given 2 times"),
        ({"query": "SELECT * WHERE { ?s ?p }"}, 400, "1:"),
        ({"query": "this is not sparql"}, 400, "not a SPARQL query"),
        ({"query": SELECT, "format": "turtle"}, 406, "cannot carry"),
    ],
)
def test_bad_get_requests(http: httpx.Client, params: dict, status: int, words: str) -> None:
    resp = http.get("/sparql", params=params)
    assert resp.status_code == status
    assert words in resp.text
    assert resp.headers["content-type"].startswith("text/plain")


def test_query_in_body_and_url_is_400(http: httpx.Client) -> None:
    resp = http.post(
        "/sparql",
        params={"query": SELECT},
        content=SELECT,
        headers={"Content-Type": "application/sparql-query"},
    )
    assert resp.status_code == 400
    resp = http.post("/sparql", params={"query": SELECT}, data={"query": SELECT})
    assert resp.status_code == 400


def test_missing_query_in_post_is_400(http: httpx.Client) -> None:
    assert http.post("/sparql", data={"default-graph-uri": "http://x"}).status_code == 400


def test_an_accept_of_thousands_of_ranges_reads_the_first_64(http: httpx.Client) -> None:
    refused = ", ".join(f"x/y{i};q=0" for i in range(6000))  # 110 KB, none acceptable
    resp = http.get("/sparql", params={"query": SELECT}, headers={"Accept": refused})
    assert resp.status_code == 406
    assert len(resp.content) < 1000  # the header is not copied back whole
    # a range past the 64th is not read: CSV, asked for only there, is not chosen
    late = ", ".join([*(f"x/y{i}" for i in range(64)), "text/csv"])
    resp = http.get("/sparql", params={"query": SELECT}, headers={"Accept": late})
    assert resp.status_code == 406
    early = ", ".join(["text/csv", *(f"x/y{i}" for i in range(6000))])
    resp = http.get("/sparql", params={"query": SELECT}, headers={"Accept": early})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")


def test_unacceptable_accept_is_406(http: httpx.Client) -> None:
    resp = http.get("/sparql", params={"query": SELECT}, headers={"Accept": "image/png"})
    assert resp.status_code == 406
    resp = http.get(
        "/sparql",
        params={"query": SELECT},
        headers={"Accept": "application/sparql-results+json;q=0, text/csv;q=0"},
    )
    assert resp.status_code in (200, 406)
    if resp.status_code == 200:
        assert not resp.headers["content-type"].startswith(
            ("text/csv", "application/sparql-results+json")
        )


def test_unsupported_content_type_is_415(http: httpx.Client) -> None:
    resp = http.post("/sparql", content=SELECT, headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415
    resp = http.post(
        "/sparql",
        content=json.dumps({"query": SELECT}),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 415


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(http: httpx.Client, method: str) -> None:
    assert http.request(method, "/sparql", content=SELECT).status_code == 405


def test_default_graph_uri_selects_a_file_graph(http: httpx.Client) -> None:
    count = (
        "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a <https://w3id.org/geokb/ontology#State> ;"
        " <https://w3id.org/geokb/ontology#unMembership>"
        " <https://w3id.org/geokb/ontology#UNObserverState> }"
    )
    states_graph = "https://w3id.org/geokb/graph/data/states.yaml"
    other_graph = "https://w3id.org/geokb/graph/data/disputes.yaml"

    def n(g):
        return int(
            http.get("/sparql", params={"query": count, "default-graph-uri": g}).json()["results"][
                "bindings"
            ][0]["n"]["value"]
        )

    assert n(states_graph) == STATES
    assert n(other_graph) == 0


def test_named_graph_uri_limits_graph_patterns(http: httpx.Client) -> None:
    q = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"
    graph = "https://w3id.org/geokb/graph/data/states.yaml"
    resp = http.get("/sparql", params={"query": q, "named-graph-uri": graph})
    assert [b["g"]["value"] for b in resp.json()["results"]["bindings"]] == [graph]


def test_cors_allows_queries_from_other_origins(http: httpx.Client) -> None:
    resp = http.get("/sparql", params={"query": SELECT}, headers={"Origin": "https://example.org"})
    assert resp.headers["access-control-allow-origin"] == "*"
    pre = http.options(
        "/sparql",
        headers={
            "Origin": "https://example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert pre.status_code == 200
    assert "POST" in pre.headers["access-control-allow-methods"]


_NOW = ("date", "x-geokb-cache")  # the clock, and the answer cache the GET filled


@pytest.mark.parametrize(
    "params,headers",
    [
        ({"query": SELECT}, {}),
        ({"query": SELECT}, {"Origin": "https://example.org", "Accept": "text/csv"}),
        ({"query": CONSTRUCT}, {"If-None-Match": "*"}),  # a 304
        ({"query": SELECT}, {"If-Modified-Since": "Sun, 01 Jan 2090 00:00:00 GMT"}),
        ({"query": "SELECT (STRLEN(STRUUID()) AS ?n) {}"}, {"Origin": "null"}),  # not stored
        ({"query": "SELECT WHERE {"}, {}),  # 400
        ({"query": SELECT}, {"Accept": "text/turtle"}),  # 406
        ({"query": SELECT, "update": "x"}, {}),  # 403
        ({}, {"Accept": "text/html"}),  # a person: sent to the query page (303)
    ],
)
def test_head_has_the_status_and_headers_of_the_get(
    http: httpx.Client, params: dict[str, str], headers: dict[str, str]
) -> None:
    """GET /sparql is answered in front of the app's middleware, HEAD through them: either
    way a client sees the same status and headers (validators, CORS, security headers)."""
    got = http.get("/sparql", params=params, headers=headers)
    head = http.head("/sparql", params=params, headers=headers)
    assert head.status_code == got.status_code
    assert head.content == b""
    seen = [(k, v) for k, v in got.headers.multi_items() if k not in _NOW]
    assert seen == [(k, v) for k, v in head.headers.multi_items() if k not in _NOW]


def test_a_query_string_that_is_not_utf8_is_400_and_not_stored(real_store: Path) -> None:
    # (uvicorn's parser refuses such bytes itself; another ASGI server may pass them on)
    app = create_app(real_store)
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/sparql",
        "raw_path": b"/sparql",
        "query_string": b"query=ASK%7B%7D&x=\xff",
        "headers": [(b"host", b"localhost")],
        "scheme": "http",
        "server": ("localhost", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }
    asyncio.run(app(scope, receive, send))
    start, body = sent[0], sent[1]
    assert start["status"] == 400
    assert (b"cache-control", b"no-store") in start["headers"]  # type: ignore[operator]
    assert b"not valid UTF-8" in body["body"]  # type: ignore[operator]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * WHERE { ?s ?p ?o . ?a ?b ?c }",  # read row by row under the cap
        "SELECT * WHERE { ?s ?p ?o . ?a ?b ?c } LIMIT 20000",  # its own limit: written natively
    ],
)
def test_large_results_stream_in_chunks(http: httpx.Client, query: str) -> None:
    with http.stream("GET", "/sparql", params={"query": query}) as resp:
        assert resp.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in resp.headers
        body = b"".join(resp.iter_bytes())
    assert len(body) > 1024 * 1024
    assert len(json.loads(body)["results"]["bindings"]) >= 20000


# -- the query's own dataset clause and relative IRIs (SPARQL 1.1 §13.2, Protocol tests) -----


@pytest.fixture(scope="module")
def mini_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("mini-protocol")
    write_build(root / "store", compile_data(write_data(root / "data", MINI)))
    with LiveServer(root / "store") as live, httpx.Client(base_url=live.url) as client:
        yield client


def _count(client: httpx.Client, query: str) -> int:
    resp = client.post("/sparql", data={"query": query}, headers={"Accept": "application/json"})
    assert resp.status_code == 200, resp.text
    return int(resp.json()["results"]["bindings"][0]["n"]["value"])


def test_from_in_the_query_names_the_default_graph(mini_http: httpx.Client) -> None:
    graph = "https://w3id.org/geokb/graph/data/transfers.yaml"
    everything = _count(mini_http, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    in_graph = _count(
        mini_http,
        f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}",
    )
    assert 0 < in_graph < everything
    assert _count(mini_http, f"SELECT (COUNT(*) AS ?n) FROM <{graph}> WHERE {{ ?s ?p ?o }}") == (
        in_graph
    )
    # FROM NAMED alone: the default graph is empty, GRAPH sees the named one
    named = f"SELECT (COUNT(*) AS ?n) FROM NAMED <{graph}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}"
    assert _count(mini_http, named) == in_graph
    assert _count(mini_http, f"SELECT (COUNT(*) AS ?n) FROM NAMED <{graph}> {{ ?s ?p ?o }}") == 0
    # the protocol's default-graph-uri wins over the query's FROM (Protocol §2.1.4)
    other = "https://w3id.org/geokb/graph/data/sources.yaml"
    in_other = _count(
        mini_http, f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{other}> {{ ?s ?p ?o }} }}"
    )
    assert in_other != in_graph
    resp = mini_http.post(
        "/sparql",
        data={
            "query": f"SELECT (COUNT(*) AS ?n) FROM <{graph}> WHERE {{ ?s ?p ?o }}",
            "default-graph-uri": other,
        },
        headers={"Accept": "application/json"},
    )
    assert int(resp.json()["results"]["bindings"][0]["n"]["value"]) == in_other


def test_relative_iris_resolve_against_the_endpoint(mini_http: httpx.Client) -> None:
    # the W3C SPARQL 1.1 Protocol test query_content_type_construct
    resp = mini_http.post(
        "/sparql",
        content="CONSTRUCT { <s> <p> 1 } WHERE {}",
        headers={"Content-Type": "application/sparql-query", "Accept": "application/n-triples"},
    )
    assert resp.status_code == 200, resp.text
    base = str(mini_http.base_url).rstrip("/")
    assert resp.text.strip() == (
        f'<{base}/s> <{base}/p> "1"^^<http://www.w3.org/2001/XMLSchema#integer> .'
    )
