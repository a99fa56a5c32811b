"""The SPARQL 1.1 Service Description of ``/sparql`` and the VoID description of the dataset.

Statistics (triples in the default graph and per named graph, entities per class) are computed
once per build, in one background thread, and kept: every request after the first costs
nothing. A request waits for them at most ``Settings.timeout_s`` (then 503 with Retry-After;
the computation goes on).

The dataset is the default graph, the union of the named graphs with each triple once; the
named graphs are its subsets, and they may overlap (two files may state the same triple), so
their counts may add up to more than the dataset's.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
from fastapi import Request, Response
from rdflib import DCTERMS, RDF, XSD, BNode, Graph, Literal, Namespace, URIRef

from api import responses
from api.negotiation import wants_html
from api.pagework import RETRY_AFTER
from api.settings import Settings
from api.state import ServedStore
from kb.model import schema
from kb.model.rdf import new_graph, to_ox
from kb.sparql import formats
from kb.stores.local import facts_graph

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
    # the default graph holds each triple once; a build made before it was written has it
    # empty, and the union of the graphs is then the same triples
    result = store.query(query, use_default_graph_as_union=facts_graph(store) is None)
    assert isinstance(result, ox.QuerySolutions)
    names = [v.value for v in result.variables]
    return [{n: t.value for n in names if (t := sol[n]) is not None} for sol in result]


@dataclass(frozen=True)
class Statistics:
    """What the descriptions count in one build."""

    graphs: dict[str, int]  # named graph -> its triples
    classes: dict[str, int]  # class -> its entities
    entities: int  # subjects with an IRI under schema.ID_BASE
    triples: int  # the default graph's triples: each once, however many graphs state it


# The default graph counted as queries read it. A build made before builds wrote it has it
# empty, and Oxigraph's union of the graphs, read instead, repeats a triple once per graph
# that holds it: DISTINCT counts such a triple once there too (~0.3 s at 1M triples for the
# default graph's count; the old layout's DISTINCT is dearer, and only old builds pay it).
_TRIPLES = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
_DISTINCT_TRIPLES = "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }"
_KEEP = 4  # builds whose statistics are kept (the served one, and a few it replaced)
_kept: dict[Path, Future[Statistics]] = {}
_kept_lock = threading.Lock()
# One thread: statistics are computed once per build, never twice at the same time.
_computer = ThreadPoolExecutor(1, thread_name_prefix="geokb-void")


def _compute(build: Path) -> Statistics:
    """The statistics of one build."""
    store = ox.Store.read_only(str(build))
    [total] = _select(store, _TRIPLES if facts_graph(store) is not None else _DISTINCT_TRIPLES)
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
    return Statistics(graphs, classes, int(row["n"]), int(total["n"]))


def _statistics_future(build: Path) -> Future[Statistics]:
    """The kept statistics of ``build``, or their computation, started if need be."""
    with _kept_lock:
        future = _kept.get(build)
        if future is None or (future.done() and future.exception() is not None):
            future = _computer.submit(_compute, build)  # (a failure is tried again)
            _kept.pop(build, None)
            _kept[build] = future
            while len(_kept) > _KEEP:
                del _kept[next(iter(_kept))]  # the oldest build first
        return future


def _timed_out(timeout: float) -> TimeoutError:
    return TimeoutError(
        f"the dataset's statistics are still being computed (waited {timeout:g} s); "
        "try again shortly"
    )


def statistics(build: Path, timeout: float) -> Statistics:
    """The statistics of ``build``, waiting at most ``timeout`` s (else TimeoutError)."""
    future = _statistics_future(build)
    try:
        return future.result(timeout)
    except TimeoutError:
        raise _timed_out(timeout) from None


async def statistics_async(build: Path, timeout: float) -> Statistics:
    """Like ``statistics``, without blocking the event loop while it waits."""
    future = asyncio.wrap_future(_statistics_future(build))
    try:
        # shield: a request that gives up must not cancel the computation others wait for
        return await asyncio.wait_for(asyncio.shield(future), timeout)
    except TimeoutError:
        raise _timed_out(timeout) from None


def _void(g: Graph, dataset: URIRef, endpoint: URIRef, stats: Statistics) -> None:
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
    # In VoID, void:triples counts every triple a dataset holds, and a dataset is a set of
    # triples that one provider publishes or aggregates: a triple is in it once, whichever
    # graphs state it ("Describing Linked Datasets with the VoID Vocabulary": the definition
    # of a dataset under "Datasets and Linksets", and the void:triples row of the table in
    # "Providing statistics about datasets"; the vocabulary's own comment on void:Dataset,
    # http://rdfs.org/ns/void#, agrees). This endpoint's dataset is what a query naming no
    # graph reads, the default graph; the named graphs below are its subsets, and overlap.
    g.add((dataset, VOID.triples, Literal(stats.triples, datatype=XSD.integer)))
    g.add((dataset, VOID.entities, Literal(stats.entities, datatype=XSD.integer)))
    g.add((dataset, VOID.classes, Literal(len(stats.classes), datatype=XSD.integer)))
    for cls, count in sorted(stats.classes.items()):
        part = BNode()
        g.add((dataset, VOID.classPartition, part))
        g.add((part, VOID["class"], URIRef(cls)))
        g.add((part, VOID.entities, Literal(count, datatype=XSD.integer)))
    for name, count in sorted(stats.graphs.items()):
        subset = BNode()
        g.add((dataset, VOID.subset, subset))
        g.add((subset, RDF.type, VOID.Dataset))
        g.add((subset, SD.name, URIRef(name)))
        g.add((subset, VOID.triples, Literal(count, datatype=XSD.integer)))


#: The base the descriptions are rendered with once per build and format; each answer then
#: puts the request's own base (from its Host) in its place. Rendering them for every
#: request took ~22 ms of the server's one thread, and a long Host made each answer as
#: long as ~200 copies of it.
PLACEHOLDER_BASE = "http://geokb-base.invalid/"
RENDERED_KEPT = 32  # renderings kept (per kind, build, Accept and format= asked)
_RENDERED: OrderedDict[tuple[object, ...], tuple[int, bytes, dict[str, str]]] = OrderedDict()


def _rendered(
    request: Request, key: tuple[object, ...], render: Callable[[], Response]
) -> Response:
    """The answer ``render`` gives with PLACEHOLDER_BASE, kept under ``key`` (and the
    request's Accept), with the request's own base put in the placeholder's place."""
    key = (*key, request.headers.get("accept"))
    kept = _RENDERED.get(key)
    if kept is None:
        response = render()
        headers = {k: v for k, v in response.headers.items() if k != "content-length"}
        kept = (response.status_code, bytes(response.body), headers)
        _RENDERED[key] = kept
        if len(_RENDERED) > RENDERED_KEPT:
            _RENDERED.popitem(last=False)
    else:
        _RENDERED.move_to_end(key)
    status, body, headers = kept
    # the base (scheme, Host, root path) is plain IRI characters: the Host is checked for
    # that by the HTTP layer (api.http_server), so it needs no escaping in any format
    body = body.replace(PLACEHOLDER_BASE.encode(), str(request.base_url).encode())
    return Response(body, status_code=status, headers=headers)


def service_description(request: Request, base: str) -> Graph:
    """The Service Description of this endpoint at ``base``, with the VoID description of
    its dataset."""
    served: ServedStore | None = request.app.state.store
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
    settings: Settings = request.app.state.settings
    stats = statistics(served.current_path(), settings.timeout_s)
    g.add((default, VOID.triples, Literal(stats.triples, datatype=XSD.integer)))
    for name, count in sorted(stats.graphs.items()):
        named, inner = BNode(), BNode()
        g.add((dataset, SD.namedGraph, named))
        g.add((named, RDF.type, SD.NamedGraph))
        g.add((named, SD.name, URIRef(name)))
        g.add((named, SD.graph, inner))
        g.add((inner, RDF.type, SD.Graph))
        g.add((inner, VOID.triples, Literal(count, datatype=XSD.integer)))
    _void(g, dataset, endpoint, stats)
    return g


def void_description(base: str, stats: Statistics) -> Graph:
    """The VoID description of the dataset alone, from its statistics."""
    g = new_graph()
    g.bind("void", VOID)
    g.bind("sd", SD)
    _void(g, URIRef(base + ".well-known/void#dataset"), URIRef(base + "sparql"), stats)
    return g


async def void_response(
    request: Request, served: ServedStore, format_param: str | None
) -> Response:
    """The VoID description, negotiated; 503 while the statistics take too long."""
    settings: Settings = request.app.state.settings
    folder = served.current_path()
    try:
        stats = await statistics_async(folder, settings.timeout_s)
    except TimeoutError as exc:
        return responses.plain(503, str(exc), {"Retry-After": RETRY_AFTER})
    return _rendered(
        request,
        ("void", folder, format_param),
        lambda: graph_response(request, void_description(PLACEHOLDER_BASE, stats), format_param),
    )


def graph_response(request: Request, graph: Graph, format_param: str | None) -> Response:
    """``graph`` in the RDF format the client asked for (Turtle by default); a browser
    (``wants_html``, no ``format=``) gets the Turtle as plain text, which it shows.

    A browser's Accept ranks application/xml above */*, so plain negotiation gave it RDF/XML,
    which browsers download. A page of its own would be a second rendering of a dozen
    triples; Datasette answers the same need for its CSV by serving it as text/plain unless
    a download is asked for. RDF clients name an RDF type (or none) and get what they ask."""
    accept = request.headers.get("accept")
    for_person = not format_param and wants_html(accept)
    response = responses.rdf(
        (ox.Triple(to_ox(s), to_ox(p), to_ox(o)) for s, p, o in graph),  # type: ignore[arg-type]
        "text/turtle" if for_person else accept,
        format_param,
        {p: str(ns) for p, ns in graph.namespaces() if p},
    )
    if for_person and response.status_code == 200:
        response.headers["content-type"] = "text/plain; charset=utf-8"
    return response


def service_description_response(request: Request, format_param: str | None) -> Response:
    """The Service Description, negotiated."""
    served: ServedStore | None = request.app.state.store
    folder = served.current_path() if served is not None else None
    return _rendered(
        request,
        ("service", folder, format_param),
        lambda: graph_response(
            request, service_description(request, PLACEHOLDER_BASE), format_param
        ),
    )
