"""The bridge between rdflib (the ontology, SHACL shapes, Turtle pages) and pyoxigraph (the
store), and the N-Triples bytes in which a graph travels between build steps and processes."""

from __future__ import annotations

from dataclasses import dataclass

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Node

from kb.model import schema


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
