"""Step 4 of the data path: map linked records to RDF, one graph per data file."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyoxigraph as ox
from rdflib import RDF, XSD, BNode, Graph, Literal, URIRef
from rdflib.term import Node

from kb import schema
from kb.records import DateValue, LangString, Record, RefValue, UrlValue, Value


def new_graph(identifier: URIRef | None = None) -> Graph:
    """An empty graph with geokb's prefixes bound."""
    graph = Graph(identifier=identifier, bind_namespaces="none")
    for prefix, ns in schema.PREFIXES.items():
        graph.bind(prefix, ns, override=True)
    return graph


@dataclass(frozen=True)
class NTriples:
    """The triples of one graph, serialised as N-Triples: compact to keep, to send between
    processes and to load (pyoxigraph's bulk loader parses it without holding the GIL)."""

    data: bytes
    count: int

    @classmethod
    def of(cls, triples: list[ox.Triple]) -> NTriples:
        """Serialise ``triples``."""
        return cls(ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) or b"", len(triples))

    def triples(self) -> list[ox.Triple]:
        """The triples, parsed back."""
        return [q.triple for q in ox.parse(self.data, format=ox.RdfFormat.N_TRIPLES)]


def to_triples(records: Iterable[Record], resolved: Mapping[RefValue, str]) -> list[ox.Triple]:
    """The RDF of ``records`` as pyoxigraph triples; ``resolved`` gives the IRI each
    reference names (``kb.linking.resolve_refs``).

    Built straight as pyoxigraph terms (not rdflib ones): at a million triples the rdflib
    detour, then the conversion for the store, cost more than the YAML.
    """
    out: list[ox.Triple] = []
    append = out.append
    for record in records:
        kind = record.kind
        subject = ox.NamedNode(kind.iri_text(record.id))
        append(ox.Triple(subject, _RDF_TYPE, _named(str(kind.cls))))
        if kind.is_fact:
            append(ox.Triple(subject, _RDF_TYPE, _FACT))
        if kind.name == "state":
            append(ox.Triple(subject, _ALPHA3, ox.Literal(record.id)))
        for key, values in record.values.items():
            fld = kind.field(key)
            assert fld is not None  # records only hold keys of their kind
            predicate = _named(str(fld.prop.iri))
            for value in values:
                append(ox.Triple(subject, predicate, _term(value, resolved)))
    return out


_NAMED: dict[str, ox.NamedNode] = {}


def _named(iri: str) -> ox.NamedNode:
    node = _NAMED.get(iri)
    if node is None:
        node = ox.NamedNode(iri)
        if len(_NAMED) < 100_000:  # classes, predicates, datatypes, states ...
            _NAMED[iri] = node
    return node


_RDF_TYPE = ox.NamedNode(str(RDF.type))
_FACT = ox.NamedNode(str(schema.FACT))
_ALPHA3 = ox.NamedNode(str(schema.GK.iso3166Alpha3))
_XSD_INTEGER = ox.NamedNode(str(XSD.integer))
_XSD_BOOLEAN = ox.NamedNode(str(XSD.boolean))
_TRUE = ox.Literal("true", datatype=_XSD_BOOLEAN)
_FALSE = ox.Literal("false", datatype=_XSD_BOOLEAN)


def _term(value: Value, resolved: Mapping[RefValue, str]) -> ox.NamedNode | ox.Literal:
    if isinstance(value, RefValue):
        return _named(resolved[value])
    if isinstance(value, LangString):
        return ox.Literal(value.text, language=value.lang)
    if isinstance(value, DateValue):
        return ox.Literal(value.text, datatype=_named(str(value.datatype)))
    if isinstance(value, UrlValue):
        return ox.NamedNode(value.url)
    if isinstance(value, schema.Option):
        return _named(f"{schema.GK}{value.local}")
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, int):
        return ox.Literal(str(value), datatype=_XSD_INTEGER)
    return ox.Literal(value)


def ox_quads(
    graph: Graph,
    name: ox.NamedNode | ox.DefaultGraph = ox.DefaultGraph(),  # noqa: B008 - immutable
) -> list[ox.Quad]:
    """The triples of an rdflib graph as pyoxigraph quads in graph ``name``."""
    return [ox.Quad(to_ox(s), to_ox(p), to_ox(o), name) for s, p, o in graph]  # type: ignore[arg-type]


def to_ox(term: Node) -> ox.NamedNode | ox.BlankNode | ox.Literal:
    """The pyoxigraph term for an rdflib term."""
    if isinstance(term, URIRef):
        return ox.NamedNode(str(term))
    if isinstance(term, BNode):
        return ox.BlankNode(str(term))
    if isinstance(term, Literal):
        if term.language:
            return ox.Literal(str(term), language=term.language)
        if term.datatype:
            return ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype)))
        return ox.Literal(str(term))
    raise TypeError(f"cannot convert term {term!r}")
