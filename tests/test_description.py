"""The Service Description at GET /sparql and the VoID description."""

from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest
from conftest import MINI, LiveServer, write_data
from rdflib import Graph, Namespace, URIRef
from rdflib.compare import isomorphic

from kb.build.pipeline import compile_data
from kb.model.countries import OTHER_STATES, UN_MEMBERS, UN_OBSERVERS
from kb.model.schema import GRAPH_BASE, ID_BASE
from kb.stores.local import FILES_NAME, current_build, write_build

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
VOID = Namespace("http://rdfs.org/ns/void#")
GK = Namespace("https://w3id.org/geokb/ontology#")


def _graph(resp: httpx.Response, fmt: str) -> Graph:
    assert resp.status_code == 200, resp.text
    return Graph().parse(data=resp.text, format=fmt)


@pytest.mark.parametrize(
    "accept,fmt", [(None, "turtle"), ("text/turtle", "turtle"), ("application/ld+json", "json-ld")]
)
def test_service_description_names_endpoint_formats_and_language(
    http: httpx.Client, accept: str | None, fmt: str
) -> None:
    headers = {"Accept": accept} if accept else {}
    g = _graph(http.get("/sparql", headers=headers), fmt)
    endpoint = URIRef(f"{str(http.base_url).rstrip('/')}/sparql")
    assert (endpoint, SD.endpoint, endpoint) in g
    assert (endpoint, SD.supportedLanguage, SD.SPARQL11Query) in g
    assert (endpoint, SD.supportedLanguage, SD.SPARQL11Update) not in g
    result_formats = set(g.objects(endpoint, SD.resultFormat))
    assert URIRef("http://www.w3.org/ns/formats/SPARQL_Results_JSON") in result_formats
    assert URIRef("http://www.w3.org/ns/formats/Turtle") in result_formats
    assert len(result_formats) == 9


def test_void_counts_triples_entities_and_graphs(http: httpx.Client) -> None:
    for path in ("/sparql", "/.well-known/void"):
        g = _graph(http.get(path), "turtle")
        [dataset] = g.subjects(VOID.sparqlEndpoint, None)
        assert int(g.value(dataset, VOID.triples)) > 500
        partitions = {
            g.value(p, VOID["class"]): int(g.value(p, VOID.entities))
            for p in g.objects(dataset, VOID.classPartition)
        }
        assert partitions[GK.State] == len(UN_MEMBERS | UN_OBSERVERS | OTHER_STATES)
        assert partitions[GK.ArmsTransfer] >= 51
        graphs = {g.value(s, SD.name) for s in g.objects(dataset, VOID.subset)}
        assert URIRef("https://w3id.org/geokb/graph/data/states.yaml") in graphs
        assert URIRef("https://w3id.org/geokb/graph/ontology") in graphs


BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    "accept,media,fmt",
    [
        (None, "text/turtle", "turtle"),
        ("text/turtle", "text/turtle", "turtle"),
        ("application/rdf+xml", "application/rdf+xml", "xml"),
        ("application/ld+json", "application/ld+json", "json-ld"),
        ("application/n-triples", "application/n-triples", "nt"),
        ("*/*", "text/turtle", "turtle"),
    ],
)
def test_void_gives_rdf_clients_the_format_they_ask_for(
    http: httpx.Client, accept: str | None, media: str, fmt: str
) -> None:
    resp = http.get("/.well-known/void", headers={"Accept": accept} if accept else {})
    assert resp.headers["content-type"].split(";")[0] == media
    assert (None, VOID.sparqlEndpoint, None) in _graph(resp, fmt)


def test_void_opened_in_a_browser_shows_its_turtle_as_text(http: httpx.Client) -> None:
    # a browser ranks application/xml above */*: it got RDF/XML, which browsers download
    shown = http.get("/.well-known/void", headers={"Accept": BROWSER})
    assert shown.headers["content-type"] == "text/plain; charset=utf-8"
    assert "content-disposition" not in shown.headers
    assert "void:sparqlEndpoint" in shown.text  # Turtle, prefixes and all, for reading
    asked = _graph(http.get("/.well-known/void", headers={"Accept": "text/turtle"}), "turtle")
    assert isomorphic(_graph(shown, "turtle"), asked)  # the triples a Turtle client gets
    # an explicit format= is taken as asked, from a browser too
    for name, media in (("rdfxml", "application/rdf+xml"), ("turtle", "text/turtle")):
        resp = http.get("/.well-known/void", params={"format": name}, headers={"Accept": BROWSER})
        assert resp.headers["content-type"].split(";")[0] == media


def test_a_browser_at_sparql_gets_the_query_page(http: httpx.Client) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    resp = http.get("/sparql", headers={"Accept": browser}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/"
    assert http.get("/sparql", headers={"Accept": "text/turtle"}).status_code == 200
    assert http.get("/sparql").headers["content-type"].startswith("text/turtle")


def test_void_counts_a_triple_two_files_state_once(tmp_path: Path) -> None:
    """The dataset, and the Service Description's default graph, hold as many triples as a
    query over the default graph counts: a triple two files state is one triple, though each
    file's graph counts it."""
    root = tmp_path / "store"
    write_build(root, compile_data(write_data(tmp_path / "data", MINI)))
    build = current_build(root)
    assert build is not None
    # states.yaml says too that Iran supplied t1, as transfers.yaml does
    said = ox.Triple(
        ox.NamedNode(f"{ID_BASE}transfer/t1"),
        ox.NamedNode(f"{GK}supplier"),
        ox.NamedNode(f"{ID_BASE}state/IRN"),
    )
    store = ox.Store(str(build))
    assert ox.Quad(*said, ox.NamedNode(f"{GRAPH_BASE}data/transfers.yaml")) in store
    store.add(ox.Quad(*said, ox.NamedNode(f"{GRAPH_BASE}data/states.yaml")))
    store.flush()
    del store  # closes it
    (build / FILES_NAME).unlink()  # the files changed; a build without the list is trusted
    with LiveServer(root) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        answer = client.post(
            "/sparql",
            data={"query": "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"},
            headers={"Accept": "application/sparql-results+json"},
        )
        counted = int(answer.json()["results"]["bindings"][0]["n"]["value"])
        void = _graph(client.get("/.well-known/void"), "turtle")
        sd = _graph(client.get("/sparql", headers={"Accept": "text/turtle"}), "turtle")
    [dataset] = void.subjects(VOID.sparqlEndpoint, None)
    assert int(void.value(dataset, VOID.triples)) == counted
    [default] = sd.objects(None, SD.defaultGraph)
    assert int(sd.value(default, VOID.triples)) == counted
    # each file's graph counts the triple: their sum, the count these gave before, is one more
    per_graph = [int(void.value(s, VOID.triples)) for s in void.objects(dataset, VOID.subset)]
    assert sum(per_graph) == counted + 1


@pytest.mark.parametrize("path", ["/sparql", "/.well-known/void"])
@pytest.mark.parametrize("accept", ["text/turtle", "application/rdf+xml", "application/ld+json"])
def test_each_host_gets_descriptions_in_its_own_base(
    http: httpx.Client, path: str, accept: str
) -> None:
    # rendered once and kept: each answer must still name the endpoint as its client did
    bodies = {}
    for host in ("one.example", "two.example:8080", "[::1]:8000"):
        answer = http.get(path, headers={"Host": host, "Accept": accept})
        assert answer.status_code == 200, answer.text
        assert f"http://{host}/sparql" in answer.text
        assert "geokb-base.invalid" not in answer.text
        bodies[host] = answer.text
    assert bodies["one.example"].replace("one.example", "two.example:8080") == (
        bodies["two.example:8080"]
    )
