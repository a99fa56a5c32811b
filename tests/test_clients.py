"""Standard SPARQL clients, unchanged, against the running app: SPARQLWrapper and rdflib."""

from pathlib import Path

import httpx
import pytest
from conftest import MINI, LiveServer, write_data
from rdflib import Graph, URIRef
from rdflib.plugins.stores.sparqlstore import SPARQLStore
from SPARQLWrapper import CSV, JSON, JSONLD, N3, POST, RDFXML, TSV, TURTLE, XML, SPARQLWrapper
from SPARQLWrapper.SPARQLExceptions import QueryBadFormed, Unauthorized
from virtuoso_server import VirtuosoServer

from api.settings import Settings
from kb.cli import main
from kb.stores.remote import RemoteStore

TRANSFERS = """PREFIX gk: <https://w3id.org/geokb/ontology#>
SELECT ?t ?w WHERE {
  ?t gk:supplier <https://w3id.org/geokb/id/state/IRN> ;
     gk:recipient <https://w3id.org/geokb/id/state/RUS> ; gk:weaponSystem ?w }
ORDER BY ?w"""
CONSTRUCT = """PREFIX gk: <https://w3id.org/geokb/ontology#>
CONSTRUCT { ?s a gk:State } WHERE { ?s a gk:State ; gk:unMembership gk:UNObserverState }"""
SHAHEDS = [
    "https://w3id.org/geokb/id/weapon/shahed-131",
    "https://w3id.org/geokb/id/weapon/shahed-136",
]


def _wrapper(live: LiveServer, method: str = "GET") -> SPARQLWrapper:
    sw = SPARQLWrapper(f"{live.url}/sparql")
    sw.setMethod(method)
    return sw


@pytest.mark.parametrize("method", ["GET", POST])
def test_sparqlwrapper_select_json(live: LiveServer, method: str) -> None:
    sw = _wrapper(live, method)
    sw.setQuery(TRANSFERS)
    sw.setReturnFormat(JSON)
    rows = sw.queryAndConvert()["results"]["bindings"]  # type: ignore[index]
    assert [r["w"]["value"] for r in rows] == SHAHEDS


@pytest.mark.parametrize("fmt", [XML, CSV])
def test_sparqlwrapper_select_xml_and_csv(live: LiveServer, fmt: str) -> None:
    sw = _wrapper(live)
    sw.setQuery(TRANSFERS)
    sw.setReturnFormat(fmt)
    result = sw.query()
    converted = result.convert()
    text = converted.toxml() if fmt == XML else converted.decode()  # type: ignore[union-attr]
    assert all(w in text for w in SHAHEDS)


def test_sparqlwrapper_ask_and_construct(live: LiveServer) -> None:
    sw = _wrapper(live)
    sw.setQuery("ASK { ?s a <https://w3id.org/geokb/ontology#TerritorialDispute> }")
    sw.setReturnFormat(JSON)
    assert sw.queryAndConvert()["boolean"] is True  # type: ignore[index]
    for fmt in (TURTLE, XML):
        sw = _wrapper(live)
        sw.setQuery(CONSTRUCT)
        sw.setReturnFormat(fmt)
        result = sw.queryAndConvert()
        graph = result if isinstance(result, Graph) else Graph().parse(data=result, format="turtle")
        assert len(graph) == 2


@pytest.mark.parametrize(
    ("query", "fmt"),
    [(TRANSFERS, f) for f in (JSON, XML, CSV, TSV)]
    + [(CONSTRUCT, f) for f in (TURTLE, N3, RDFXML, JSONLD, XML)],
)
def test_sparqlwrapper_every_return_format(live: LiveServer, query: str, fmt: str) -> None:
    # SPARQLWrapper repeats format= with each name of the format it wants
    # (format=rdf+xml&format=application/rdf+xml, a comma list for JSON-LD): one format.
    sw = _wrapper(live)
    sw.setQuery(query)
    sw.setReturnFormat(fmt)
    answer = sw.query()
    body = answer.response.read().decode()
    if query is TRANSFERS:
        assert all(w in body for w in SHAHEDS)
    else:
        graph = Graph().parse(
            data=body, format={RDFXML: "xml", XML: "xml", JSONLD: "json-ld"}.get(fmt, "turtle")
        )
        assert len(graph) == 2


def test_format_given_twice_naming_two_formats_is_refused(live: LiveServer) -> None:
    answer = httpx.get(
        f"{live.url}/sparql",
        params=[("query", TRANSFERS), ("format", "json"), ("format", "csv")],
    )
    assert answer.status_code == 400
    assert "naming different formats (json, csv)" in answer.text


def test_sparqlwrapper_sees_errors(live: LiveServer) -> None:
    sw = _wrapper(live)
    sw.setQuery("SELECT * WHERE { ?s ?p }")
    with pytest.raises(QueryBadFormed):
        sw.query()
    sw = _wrapper(live, POST)
    sw.setQuery("INSERT DATA { <http://a> <http://b> <http://c> }")
    sw.setReturnFormat(JSON)
    with pytest.raises((Unauthorized, Exception)) as info:
        sw.query()
    assert "403" in str(info.value) or isinstance(info.value, Unauthorized)


def test_rdflib_sparqlstore_select_ask_construct(live: LiveServer) -> None:
    graph = Graph(store=SPARQLStore(f"{live.url}/sparql"))
    rows = list(graph.query(TRANSFERS))
    assert [str(r.w) for r in rows] == SHAHEDS  # type: ignore[union-attr]
    assert graph.query("ASK { ?s ?p ?o }").askAnswer is True
    constructed = graph.query(CONSTRUCT).graph
    assert constructed is not None and len(constructed) == 2
    iran = URIRef("https://w3id.org/geokb/id/state/IRN")
    assert len(list(graph.triples((iran, None, None)))) >= 5


def test_rdflib_sparqlstore_with_post(live: LiveServer) -> None:
    graph = Graph(store=SPARQLStore(f"{live.url}/sparql", method="POST"))
    assert [str(r.w) for r in graph.query(TRANSFERS)] == SHAHEDS  # type: ignore[union-attr]


def test_rdflib_sparqlstore_is_refused_updates(live: LiveServer) -> None:
    resp = httpx.post(f"{live.url}/sparql", data={"update": "CLEAR ALL"})
    assert resp.status_code == 403


def test_sparqlwrapper_through_geokb_to_virtuoso(
    virtuoso: VirtuosoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # geokb serve --store: a standard client sees Virtuoso's answers in the standard forms
    write_data(tmp_path / "data", MINI)
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--store", virtuoso.query_url, "--quiet"]) == 0
    settings = Settings(remote=RemoteStore.from_urls(virtuoso.query_url))
    with LiveServer(settings) as live:
        sw = SPARQLWrapper(f"{live.url}/sparql")
        sw.setReturnFormat(JSON)
        sw.setQuery("ASK { ?t <https://w3id.org/geokb/ontology#supplier> ?s }")
        assert sw.queryAndConvert()["boolean"] is True  # type: ignore[index]
        sw.setQuery("SELECT ?s WHERE { ?s a <https://w3id.org/geokb/ontology#State> } ORDER BY ?s")
        rows = sw.queryAndConvert()["results"]["bindings"]  # type: ignore[index]
        assert [r["s"]["value"].rsplit("/", 1)[1] for r in rows] == ["IRN", "RUS"]
        sw.setQuery("SELECT * WHERE { ?s ?p ?o ?x }")  # Virtuoso refuses it
        with pytest.raises(QueryBadFormed, match="SP030"):
            sw.query()
