"""The SPARQL 1.1 Service Description of ``/sparql`` and the VoID description of the dataset.

Statistics (triples per graph, entities per class) are computed once per build and cached.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pyoxigraph as ox
from fastapi import Request, Response
from rdflib import DCTERMS, RDF, XSD, BNode, Graph, Literal, Namespace, URIRef

from api import responses
from api.state import ServedStore
from kb import formats, schema
from kb.mapping import new_graph, to_ox

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
VOID = Namespace("http://rdfs.org/ns/void#")
FORMATS_NS = Namespace("http://www.w3.org/ns/formats/")

# W3C's IRIs for result formats (http://www.w3.org/ns/formats/)
_FORMAT_IRIS = {
    "json": FORMATS_NS.SPARQL_Results_JSON,
    "xml": FORMATS_NS.SPARQL_Results_XML,
    "csv": FORMATS_NS.SPARQL_Results_CSV,
    "tsv": FORMATS_NS.SPARQL_Results_TSV,
    "turtle": FORMATS_NS.Turtle,
    "ntriples": FORMATS_NS["N-Triples"],
    "nquads": FORMATS_NS["N-Quads"],
    "rdfxml": FORMATS_NS.RDF_XML,
    "jsonld": FORMATS_NS["JSON-LD"],
}


def _select(store: ox.Store, query: str) -> list[dict[str, str]]:
    result = store.query(query, use_default_graph_as_union=True)
    assert isinstance(result, ox.QuerySolutions)
    names = [v.value for v in result.variables]
    return [{n: t.value for n in names if (t := sol[n]) is not None} for sol in result]


@lru_cache(maxsize=4)
def _statistics(build: Path) -> tuple[dict[str, int], dict[str, int], int]:
    """Triples per named graph, entities per class and entities, of one build."""
    store = ox.Store.read_only(str(build))
    graphs = {
        r["g"]: int(r["n"])
        for r in _select(
            store, "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"
        )
    }
    classes = {
        r["c"]: int(r["n"])
        for r in _select(
            store, "SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?c } GROUP BY ?c"
        )
    }
    [row] = _select(
        store,
        "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o "
        f'FILTER(STRSTARTS(STR(?s), "{schema.ID_BASE}")) }}',
    )
    return graphs, classes, int(row["n"])


def _void(g: Graph, dataset: URIRef, endpoint: URIRef, served: ServedStore) -> None:
    graphs, classes, entities = _statistics(served.current_path())
    g.add((dataset, RDF.type, VOID.Dataset))
    g.add((dataset, DCTERMS.title, Literal("geokb", lang="en")))
    g.add(
        (
            dataset,
            DCTERMS.description,
            Literal(
                "Curated, sourced facts about states, territorial disputes, arms transfers, "
                "military cooperation and diplomatic events.",
                lang="en",
            ),
        )
    )
    g.add((dataset, VOID.sparqlEndpoint, endpoint))
    g.add((dataset, VOID.uriSpace, Literal(schema.ID_BASE)))
    g.add((dataset, VOID.vocabulary, URIRef(str(schema.GK))))
    g.add((dataset, VOID.triples, Literal(sum(graphs.values()), datatype=XSD.integer)))
    g.add((dataset, VOID.entities, Literal(entities, datatype=XSD.integer)))
    g.add((dataset, VOID.classes, Literal(len(classes), datatype=XSD.integer)))
    for cls, count in sorted(classes.items()):
        part = BNode()
        g.add((dataset, VOID.classPartition, part))
        g.add((part, VOID["class"], URIRef(cls)))
        g.add((part, VOID.entities, Literal(count, datatype=XSD.integer)))
    for name, count in sorted(graphs.items()):
        subset = BNode()
        g.add((dataset, VOID.subset, subset))
        g.add((subset, RDF.type, VOID.Dataset))
        g.add((subset, SD.name, URIRef(name)))
        g.add((subset, VOID.triples, Literal(count, datatype=XSD.integer)))


def service_description(request: Request) -> Graph:
    """The Service Description of this endpoint, with the VoID description of its dataset."""
    served: ServedStore | None = request.app.state.store
    base = str(request.base_url)
    endpoint = URIRef(base + "sparql")
    dataset = URIRef(base + ".well-known/void#dataset")
    g = new_graph()
    g.bind("sd", SD)
    g.bind("void", VOID)
    g.bind("formats", FORMATS_NS)
    g.add((endpoint, RDF.type, SD.Service))
    g.add((endpoint, SD.endpoint, endpoint))
    g.add((endpoint, DCTERMS.title, Literal("geokb SPARQL endpoint (read-only)", lang="en")))
    g.add((endpoint, SD.supportedLanguage, SD.SPARQL11Query))
    g.add((endpoint, SD.feature, SD.UnionDefaultGraph))
    g.add((endpoint, SD.defaultEntailmentRegime, URIRef("http://www.w3.org/ns/entailment/Simple")))
    for fmt in formats.FORMATS:
        g.add((endpoint, SD.resultFormat, _FORMAT_IRIS[fmt.name]))
    g.add((endpoint, SD.defaultDataset, dataset))
    g.add((dataset, RDF.type, SD.Dataset))
    default = BNode()
    g.add((dataset, SD.defaultGraph, default))
    g.add((default, RDF.type, SD.Graph))
    if served is None:  # a remote store: its statistics are its own business
        return g
    graphs, _, _ = _statistics(served.current_path())
    g.add((default, VOID.triples, Literal(sum(graphs.values()), datatype=XSD.integer)))
    for name, count in sorted(graphs.items()):
        named, inner = BNode(), BNode()
        g.add((dataset, SD.namedGraph, named))
        g.add((named, RDF.type, SD.NamedGraph))
        g.add((named, SD.name, URIRef(name)))
        g.add((named, SD.graph, inner))
        g.add((inner, RDF.type, SD.Graph))
        g.add((inner, VOID.triples, Literal(count, datatype=XSD.integer)))
    _void(g, dataset, endpoint, served)
    return g


def void_description(request: Request) -> Graph:
    """The VoID description of the dataset alone."""
    base = str(request.base_url)
    g = new_graph()
    g.bind("void", VOID)
    g.bind("sd", SD)
    _void(
        g,
        URIRef(base + ".well-known/void#dataset"),
        URIRef(base + "sparql"),
        request.app.state.store,
    )
    return g


def graph_response(request: Request, graph: Graph, format_param: str | None) -> Response:
    """``graph`` in the RDF format the client asked for (Turtle by default)."""
    return responses.rdf(
        (ox.Triple(to_ox(s), to_ox(p), to_ox(o)) for s, p, o in graph),  # type: ignore[arg-type]
        request.headers.get("accept"),
        format_param,
        {p: str(ns) for p, ns in graph.namespaces() if p},
    )


def service_description_response(request: Request, format_param: str | None) -> Response:
    """The Service Description, negotiated."""
    return graph_response(request, service_description(request), format_param)
