"""The Service Description at GET /sparql and the VoID description."""

import httpx
import pytest
from rdflib import Graph, Namespace, URIRef

from kb.model.countries import OTHER_STATES, UN_MEMBERS, UN_OBSERVERS

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


def test_a_browser_at_sparql_gets_the_query_page(http: httpx.Client) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    resp = http.get("/sparql", headers={"Accept": browser}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/"
    assert http.get("/sparql", headers={"Accept": "text/turtle"}).status_code == 200
    assert http.get("/sparql").headers["content-type"].startswith("text/turtle")
