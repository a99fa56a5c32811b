"""Step 4 of the data path: map linked records to RDF, one graph per data file."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pyoxigraph as ox
from rdflib import RDF, XSD, URIRef

from kb.build.linking import Target
from kb.build.records import (
    DateValue,
    FieldValue,
    LangString,
    Part,
    PointValue,
    Record,
    RefValue,
    UrlValue,
    Value,
)
from kb.model import schema
from kb.model.rdf import NTriples

Nodes = dict[str, dict[str, list[ox.NamedNode | ox.Literal]]]  # subject -> predicate -> objects


def to_nodes(records: Iterable[Record], resolved: Mapping[Target, str]) -> Nodes:
    """The RDF of ``records``, grouped by subject IRI and predicate IRI; ``resolved`` gives
    the IRI each reference names (``kb.build.linking.resolve_refs``).

    Grouped as the shape checks read it, and made of pyoxigraph terms but no triple
    objects: at a million triples making ``ox.Triple``s cost more than the rest of the
    mapping, and N-Triples text is written from the terms directly (``ntriples``).
    """
    nodes: Nodes = {}
    # Terms by value: references, dates, numbers and choices repeat across records, and
    # making a pyoxigraph term costs more than looking one up.
    refs: dict[Target, ox.NamedNode] = {}
    others: dict[Value, ox.NamedNode | ox.Literal] = {}

    def add(
        subject: str,
        props: dict[str, list[ox.NamedNode | ox.Literal]],
        predicates: dict[str, str],
        values_by_key: Mapping[str, tuple[Value, ...]],
    ) -> None:
        for key, values in values_by_key.items():
            terms = props.setdefault(predicates[key], [])  # records hold keys of their kind
            for value in values:
                kind_of = type(value)
                if kind_of is str:
                    terms.append(ox.Literal(value))  # type: ignore[arg-type]
                elif kind_of is LangString:
                    terms.append(ox.Literal(value.text, language=value.lang))  # type: ignore[union-attr]
                elif kind_of is RefValue:
                    target = (value.kinds, value.id)  # type: ignore[union-attr]
                    node = refs.get(target)
                    if node is None:
                        node = refs[target] = ox.NamedNode(resolved[target])
                    terms.append(node)
                elif kind_of is Part:
                    part: Part = value  # type: ignore[assignment]
                    iri = part.iri_text(subject)
                    terms.append(ox.NamedNode(iri))
                    part_props = nodes.setdefault(iri, {})
                    part_props.setdefault(_RDF_TYPE_IRI, []).append(_named(str(part.structure.cls)))
                    add(iri, part_props, _predicates(part.structure), part.values)
                else:
                    term = others.get(value)
                    if term is None:
                        term = others[value] = _term(value, resolved)
                    terms.append(term)

    for record in records:
        kind = record.kind
        subject = kind.iri_text(record.id)
        props = nodes.setdefault(subject, {})
        types = props.setdefault(_RDF_TYPE_IRI, [])
        types.append(_named(str(kind.cls)))
        if kind.is_fact:
            types.append(_FACT)
        elif kind.parent is not None:  # gk:Actor for states, non-state actors, organisations
            types.append(_named(str(kind.parent)))
        if kind.name == "state":
            props.setdefault(_ALPHA3_IRI, []).append(ox.Literal(record.id))
        add(subject, props, _predicates(kind), record.values)
    return nodes


def ntriples(nodes: Nodes) -> NTriples:
    """``nodes`` as N-Triples, written as pyoxigraph's serialiser writes them."""
    lines: list[str] = []
    append = lines.append
    for subject, props in nodes.items():
        s = str(ox.NamedNode(subject))  # checks the IRI, as making a triple would
        for predicate, values in props.items():
            head = f"{s} <{predicate}> "
            for value in values:
                append(f"{head}{value} .\n")  # str() of a term is its N-Triples form
    return NTriples("".join(lines).encode(), len(lines))


_PREDICATES: dict[URIRef, dict[str, str]] = {}


def _predicates(kind: schema.Kind | schema.Structure) -> dict[str, str]:
    """The predicate of each YAML key of ``kind`` (a kind of record or of nested part)."""
    found = _PREDICATES.get(kind.cls)
    if found is None:
        found = _PREDICATES[kind.cls] = {f.key: str(f.prop.iri) for f in kind.fields}
    return found


_NAMED: dict[str, ox.NamedNode] = {}


def _named(iri: str) -> ox.NamedNode:
    node = _NAMED.get(iri)
    if node is None:
        node = ox.NamedNode(iri)
        if len(_NAMED) < 100_000:  # classes, predicates, datatypes, states ...
            _NAMED[iri] = node
    return node


_RDF_TYPE_IRI = str(RDF.type)
_ALPHA3_IRI = str(schema.GK.iso3166Alpha3)
_FACT = ox.NamedNode(str(schema.FACT))
_XSD_INTEGER = ox.NamedNode(str(XSD.integer))
_XSD_BOOLEAN = ox.NamedNode(str(XSD.boolean))
_WKT = ox.NamedNode(str(schema.GEO.wktLiteral))
_TRUE = ox.Literal("true", datatype=_XSD_BOOLEAN)
_FALSE = ox.Literal("false", datatype=_XSD_BOOLEAN)


def _term(value: Value, resolved: Mapping[Target, str]) -> ox.NamedNode | ox.Literal:
    if isinstance(value, RefValue):
        return _named(resolved[value.kinds, value.id])
    if isinstance(value, LangString):
        return ox.Literal(value.text, language=value.lang)
    if isinstance(value, DateValue):
        return ox.Literal(value.text, datatype=_named(str(value.datatype)))
    if isinstance(value, UrlValue):
        return ox.NamedNode(value.url)
    if isinstance(value, FieldValue):
        return _named(value.iri)
    if isinstance(value, PointValue):
        return ox.Literal(value.wkt, datatype=_WKT)
    if isinstance(value, schema.Option):
        return _named(f"{schema.GK}{value.local}")
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, int):
        return ox.Literal(str(value), datatype=_XSD_INTEGER)
    assert isinstance(value, str)  # parts are mapped in to_nodes
    return ox.Literal(value)
