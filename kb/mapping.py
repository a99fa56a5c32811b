"""Step 4 of the data path: map linked records to RDF, one graph per data file."""

from __future__ import annotations

from collections.abc import Iterable

from rdflib import RDF, XSD, Graph, Literal, URIRef
from rdflib.term import Node

from kb import schema
from kb.linking import Catalog
from kb.records import DateValue, LangString, Record, RefValue, UrlValue, Value


def new_graph(identifier: URIRef | None = None) -> Graph:
    """An empty graph with geokb's prefixes bound."""
    graph = Graph(identifier=identifier, bind_namespaces="none")
    for prefix, ns in schema.PREFIXES.items():
        graph.bind(prefix, ns, override=True)
    return graph


def to_graph(
    records: Iterable[Record], catalog: Catalog, identifier: URIRef | None = None
) -> Graph:
    """The RDF triples of ``records``; references are resolved through ``catalog``."""
    graph = new_graph(identifier)
    for record in records:
        add_record(graph, record, catalog)
    return graph


def add_record(graph: Graph, record: Record, catalog: Catalog) -> None:
    """Add the triples of one record to ``graph``."""
    subject = record.iri
    graph.add((subject, RDF.type, record.kind.cls))
    if record.kind.is_fact:
        graph.add((subject, RDF.type, schema.FACT))
    if record.kind.name == "state":
        graph.add((subject, schema.GK.iso3166Alpha3, Literal(record.id)))
    for key, values in record.values.items():
        fld = record.kind.field(key)
        assert fld is not None  # records only hold keys of their kind
        for value in values:
            graph.add((subject, fld.prop.iri, _term(value, catalog)))


def _term(value: Value, catalog: Catalog) -> Node:
    if isinstance(value, RefValue):
        return catalog.resolve(value)
    if isinstance(value, LangString):
        return Literal(value.text, lang=value.lang)
    if isinstance(value, DateValue):
        return Literal(value.text, datatype=value.datatype)
    if isinstance(value, UrlValue):
        return URIRef(value.url)
    if isinstance(value, schema.Option):
        return schema.GK[value.local]
    if isinstance(value, bool):
        return Literal(value)
    if isinstance(value, int):
        return Literal(value, datatype=XSD.integer)
    return Literal(value)
