"""Derive the OWL ontology and the SHACL shapes from ``kb.model.schema``.

``geokb generate`` writes them to ``ontology/``; validation and the store use the same graphs
built here, so the published files and what geokb checks can never differ (a test compares them).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cache

from rdflib import DCTERMS, OWL, RDF, RDFS, SH, SKOS, XSD, BNode, Graph, Literal, URIRef
from rdflib.term import Node

from kb.model import schema
from kb.model.rdf import new_graph

VERSION = "0.1.0"

# Blank nodes get ids in creation order, so the generated Turtle is the same on every run
# (rdflib sorts by id) and a stale-file test or a git diff shows only real changes.
_ids = itertools.count()


def _bnode() -> BNode:
    return BNode(f"n{next(_ids):05d}")


@cache
def ontology_graph() -> Graph:
    """The OWL 2 ontology: classes and properties with labels, definitions, domains, ranges."""
    global _ids
    _ids = itertools.count()
    g = new_graph(schema.ONTOLOGY_GRAPH)
    g.bind("skos", SKOS)
    o = schema.ONTOLOGY_IRI
    g.add((o, RDF.type, OWL.Ontology))
    g.add((o, RDFS.label, Literal("geokb ontology", lang="en")))
    g.add(
        (
            o,
            DCTERMS.description,
            Literal(
                "Terms for a knowledge base of geopolitical facts: states, territories and their "
                "disputes, arms transfers, military cooperation and diplomatic events, each fact "
                "with its sources.",
                lang="en",
            ),
        )
    )
    g.add((o, OWL.versionInfo, Literal(VERSION)))
    g.add((o, DCTERMS.license, URIRef("https://creativecommons.org/licenses/by/4.0/")))

    _class(
        g,
        schema.FACT,
        "fact",
        "A sourced statement about the world: a dispute, transfer, event, cooperation or use. "
        "Every fact has at least one dcterms:source.",
    )
    _class(g, schema.ACTOR_CLASS, "actor", schema.ACTOR_DEFINITION)
    for kind in schema.KINDS:
        _class(g, kind.cls, kind.label, kind.definition)
        if kind.parent is not None:
            g.add((kind.cls, RDFS.subClassOf, kind.parent))
    for structure in schema.STRUCTURES:
        _class(g, structure.cls, structure.label, structure.definition)

    for choice in schema.CHOICES:
        cls = schema.GK[choice.cls_name]
        _class(g, cls, choice.cls_name, choice.definition)
        for option in choice.options:
            ind = schema.GK[option.local]
            g.add((ind, RDF.type, OWL.NamedIndividual))
            g.add((ind, RDF.type, cls))
            g.add((ind, RDFS.label, Literal(option.label, lang="en")))
            g.add((ind, RDFS.isDefinedBy, schema.ONTOLOGY_IRI))
            if option.definition:
                g.add((ind, SKOS.definition, Literal(option.definition, lang="en")))
            if option.notation:
                g.add((ind, SKOS.notation, Literal(option.notation)))

    # gk:iso3166Alpha3 is derived from a state's id, so no kind lists it as a field.
    for prop in [*schema.properties(), schema.ALPHA3]:
        if prop.iri.startswith(str(schema.GK)):
            _property(g, prop)
    return g


@cache
def shapes_graph() -> Graph:
    """The SHACL shapes: what a valid record of each kind looks like, as RDF."""
    global _ids
    _ids = itertools.count(50_000)
    g = new_graph()
    g.bind("sh", SH)
    for kind in schema.SHAPED:
        shape = URIRef(f"{schema.GK}{kind.cls.split('#')[-1]}Shape")
        g.add((shape, RDF.type, SH.NodeShape))
        g.add((shape, SH.targetClass, kind.cls))
        g.add((shape, RDFS.label, Literal(f"valid {kind.label}", lang="en")))
        g.add((shape, SH.closed, Literal(True)))
        g.add((shape, SH.ignoredProperties, _list(g, [RDF.type])))
        fields = list(kind.fields)
        if kind.name == "state":
            fields.append(schema.Field("id", schema.ALPHA3, required=True))
        for order, fld in enumerate(fields):
            g.add((shape, SH.property, _property_shape(g, fld, order)))
    return g


def _class(g: Graph, cls: URIRef, label: str, definition: str) -> None:
    g.add((cls, RDF.type, OWL.Class))
    g.add((cls, RDFS.label, Literal(label, lang="en")))
    g.add((cls, SKOS.definition, Literal(definition, lang="en")))
    # geo:Geometry is GeoSPARQL's: described here for readers, defined there
    outside = cls.startswith(str(schema.GEO))
    g.add((cls, RDFS.isDefinedBy, schema.GEO_ONTOLOGY if outside else schema.ONTOLOGY_IRI))


def _property(g: Graph, prop: schema.Property) -> None:
    rng = prop.range
    is_object = isinstance(
        rng, schema.Ref | schema.Url | schema.Choice | schema.Nested | schema.FieldName
    )
    g.add((prop.iri, RDF.type, OWL.ObjectProperty if is_object else OWL.DatatypeProperty))
    g.add((prop.iri, RDFS.label, Literal(prop.label, lang="en")))
    g.add((prop.iri, SKOS.definition, Literal(prop.definition, lang="en")))
    g.add((prop.iri, RDFS.isDefinedBy, schema.ONTOLOGY_IRI))
    domains = [k.cls for k in schema.SHAPED if any(f.prop.iri == prop.iri for f in k.fields)]
    if prop is schema.ALPHA3:
        domains = [schema.GK.State]
    g.add((prop.iri, RDFS.domain, _union(g, domains, OWL.Class)))
    if isinstance(rng, schema.Ref):
        classes = [schema.KINDS_BY_NAME[k].cls for k in rng.kinds]
        g.add((prop.iri, RDFS.range, _union(g, classes, OWL.Class)))
    elif isinstance(rng, schema.Nested):
        g.add((prop.iri, RDFS.range, schema.STRUCTURES_BY_NAME[rng.structure].cls))
    elif isinstance(rng, schema.FieldName):
        g.add((prop.iri, RDFS.range, RDF.Property))
    elif isinstance(rng, schema.Date) and rng.day:
        g.add((prop.iri, RDFS.range, XSD.date))
    elif isinstance(rng, schema.Date):
        g.add((prop.iri, RDFS.range, _union(g, list(schema.DATE_TYPES), RDFS.Datatype)))
    elif isinstance(rng, schema.Choice):
        g.add((prop.iri, RDFS.range, schema.GK[rng.cls_name]))
    elif not isinstance(rng, schema.Url):
        g.add((prop.iri, RDFS.range, _datatype(rng)))


def _union(g: Graph, members: list[URIRef], kind: URIRef) -> Node:
    if len(members) == 1:
        return members[0]
    node = _bnode()
    g.add((node, RDF.type, kind))
    g.add((node, OWL.unionOf, _list(g, members)))
    return node


def _list(g: Graph, items: Sequence[Node]) -> Node:
    head: Node = RDF.nil
    for item in reversed(items):
        cell = _bnode()
        g.add((cell, RDF.first, item))
        g.add((cell, RDF.rest, head))
        head = cell
    return head


def _datatype(rng: schema.Range) -> URIRef:
    if isinstance(rng, schema.LangText):
        return RDF.langString
    if isinstance(rng, schema.Integer):
        return XSD.integer
    if isinstance(rng, schema.Boolean):
        return XSD.boolean
    if isinstance(rng, schema.Point):
        return schema.GEO.wktLiteral
    return XSD.string


def _property_shape(g: Graph, fld: schema.Field, order: int) -> Node:
    ps = _bnode()
    rng = fld.prop.range
    g.add((ps, SH.path, fld.prop.iri))
    g.add((ps, SH.name, Literal(fld.key)))
    g.add((ps, SH.order, Literal(order)))
    if fld.required:
        g.add((ps, SH.minCount, Literal(1)))
    if not fld.many and not isinstance(rng, schema.LangText):  # one per language instead
        g.add((ps, SH.maxCount, Literal(1)))
    if isinstance(rng, schema.Ref):
        g.add((ps, SH.nodeKind, SH.IRI))
        classes = [schema.KINDS_BY_NAME[k].cls for k in rng.kinds]
        if len(classes) == 1:
            g.add((ps, SH["class"], classes[0]))
        else:
            g.add((ps, SH["or"], _alternatives(g, SH["class"], classes)))
    elif isinstance(rng, schema.Nested):
        g.add((ps, SH.nodeKind, SH.IRI))
        g.add((ps, SH["class"], schema.STRUCTURES_BY_NAME[rng.structure].cls))
    elif isinstance(rng, schema.FieldName):
        g.add((ps, SH.nodeKind, SH.IRI))
    elif isinstance(rng, schema.Date) and rng.day:
        g.add((ps, SH.datatype, XSD.date))
    elif isinstance(rng, schema.Date):
        g.add((ps, SH["or"], _alternatives(g, SH.datatype, list(schema.DATE_TYPES))))
    elif isinstance(rng, schema.Url):
        g.add((ps, SH.nodeKind, SH.IRI))
        g.add((ps, SH.pattern, Literal("^https?://")))
    elif isinstance(rng, schema.Choice):
        g.add((ps, SH["in"], _list(g, [schema.GK[o.local] for o in rng.options])))
    else:
        g.add((ps, SH.datatype, _datatype(rng)))
        if isinstance(rng, schema.LangText):
            g.add((ps, SH.uniqueLang, Literal(True)))
        elif isinstance(rng, schema.Integer):
            g.add((ps, SH.minInclusive, Literal(0)))
        elif isinstance(rng, schema.Text):
            g.add((ps, SH.minLength, Literal(1)))
            if rng.pattern:
                g.add((ps, SH.pattern, Literal(f"^{rng.pattern}$")))
    return ps


def _alternatives(g: Graph, predicate: URIRef, objects: list[URIRef]) -> Node:
    shapes: list[Node] = []
    for obj in objects:
        alt = _bnode()
        g.add((alt, predicate, obj))
        shapes.append(alt)
    return _list(g, shapes)
