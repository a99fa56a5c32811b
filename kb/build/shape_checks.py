"""The SHACL shapes of ``ontology/shapes.ttl``, checked in one pass over the triples.

pyshacl walks an rdflib graph and takes minutes at a million triples; SPARQL queries over
pyoxigraph took ten seconds (a query per constraint, each a scan). This checks each node
once: it groups the triples by subject and applies each field's constraints, derived from
the same schema as the shapes (``kb.model.schema``, by the rules of ``kb.model.ontology``). A test
checks that it finds exactly what pyshacl finds — focus node, path and constraint — on
fifteen kinds of broken data and on the real data.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import pyoxigraph as ox
from rdflib import RDF, SH, XSD, URIRef

from kb.model import schema

Term = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple

_RDF_TYPE = str(RDF.type)
_XSD = str(XSD)
_NUMERIC = {
    _XSD + t
    for t in (
        "integer",
        "decimal",
        "double",
        "float",
        "long",
        "int",
        "short",
        "byte",
        "nonNegativeInteger",
        "positiveInteger",
        "nonPositiveInteger",
        "negativeInteger",
        "unsignedLong",
        "unsignedInt",
        "unsignedShort",
        "unsignedByte",
    )
}
_DATES = {str(t) for t in schema.DATE_TYPES}
_URL = re.compile(r"^https?://")


@dataclass(frozen=True)
class Violation:
    """One violation: the node, the property, the constraint, the value."""

    focus: str
    path: str | None
    component: URIRef
    message: str
    value: str | None


@dataclass(frozen=True)
class _Rule:
    """One field of one kind, ready to check."""

    path: str
    field: schema.Field
    datatype: str | None
    classes: frozenset[str]
    allowed: frozenset[str]
    pattern: re.Pattern[str] | None
    form: str  # which fast check applies (see _conforms)
    datatype_node: ox.NamedNode | None


def _datatype(rng: schema.Range) -> str | None:
    return {
        schema.LangText: str(RDF.langString),
        schema.Integer: str(XSD.integer),
        schema.Boolean: str(XSD.boolean),
        schema.Text: str(XSD.string),
        schema.Point: str(schema.GEO.wktLiteral),
    }.get(type(rng))


@cache
def _rules() -> dict[str, tuple[tuple[_Rule, ...], frozenset[str]]]:
    """For each class IRI: its rules, and the properties its closed shape allows."""
    out = {}
    for kind in schema.SHAPED:
        fields = list(kind.fields)
        if kind.name == "state":  # as in kb.model.ontology: the code derived from the id
            fields.append(schema.Field("id", schema.ALPHA3, required=True))
        rules = []
        for f in fields:
            rng = f.prop.range
            rules.append(
                _Rule(
                    path=str(f.prop.iri),
                    field=f,
                    datatype=_datatype(rng),
                    classes=_classes(rng),
                    allowed=frozenset(f"{schema.GK}{o.local}" for o in rng.options)
                    if isinstance(rng, schema.Choice)
                    else frozenset(),
                    pattern=re.compile(f"^{rng.pattern}$")
                    if isinstance(rng, schema.Text) and rng.pattern
                    else None,
                    form=_form(rng),
                    datatype_node=ox.NamedNode(dt) if (dt := _datatype(rng)) else None,
                )
            )
        allowed = frozenset({_RDF_TYPE, *(str(f.prop.iri) for f in fields)})
        out[str(kind.cls)] = (tuple(rules), allowed)
    return out


def _classes(rng: schema.Range) -> frozenset[str]:
    if isinstance(rng, schema.Ref):
        return frozenset(str(schema.KINDS_BY_NAME[k].cls) for k in rng.kinds)
    if isinstance(rng, schema.Nested):
        return frozenset({str(schema.STRUCTURES_BY_NAME[rng.structure].cls)})
    return frozenset()


def _form(rng: schema.Range) -> str:
    if isinstance(rng, schema.Date) and rng.day:
        return "day"
    for form, cls in (
        ("ref", schema.Ref),
        ("ref", schema.Nested),
        ("iri", schema.FieldName),
        ("date", schema.Date),
        ("url", schema.Url),
        ("choice", schema.Choice),
        ("integer", schema.Integer),
        ("lang", schema.LangText),
        ("text", schema.Text),
    ):
        if isinstance(rng, cls):
            return form
    return "literal"


def _text(term: Term) -> str:
    return term.value if isinstance(term, ox.NamedNode | ox.BlankNode | ox.Literal) else str(term)


def violations(
    data: Iterable[ox.Quad | ox.Triple], known_types: Mapping[str, Iterable[str]] | None = None
) -> list[Violation]:
    """Every violation of the shapes by the subjects of ``data``.

    ``known_types`` gives the class IRIs of nodes that are not checked themselves (records
    of other files, or not re-read by an incremental build) so that references to them
    check out.
    """
    return node_violations(group(data), known_types)


Nodes = Mapping[str, Mapping[str, Sequence[Term]]]  # subject IRI -> predicate IRI -> objects


def group(data: Iterable[ox.Quad | ox.Triple]) -> dict[str, dict[str, list[Term]]]:
    """The triples of ``data`` grouped by subject, then predicate."""
    # Plain dicts and .value lookups: this loop sees every triple of the dataset.
    nodes: dict[str, dict[str, list[Term]]] = {}
    for t in data:
        subject = t.subject
        key = subject.value if type(subject) is ox.NamedNode else _text(subject)
        props = nodes.get(key)
        if props is None:
            props = nodes[key] = {}
        predicate = t.predicate.value
        values = props.get(predicate)
        if values is None:
            props[predicate] = [t.object]
        else:
            values.append(t.object)
    return nodes


def node_violations(
    nodes: Nodes, known_types: Mapping[str, Iterable[str]] | None = None
) -> list[Violation]:
    """``violations`` for triples already grouped by subject (as ``kb.build.mapping`` makes
    them)."""
    types: dict[str, set[str]] = defaultdict(set)
    for key, props in nodes.items():
        for o in props.get(_RDF_TYPE, ()):
            if isinstance(o, ox.NamedNode):
                types[key].add(o.value)
    known = known_types or {}

    def type_of(iri: str) -> Iterable[str]:
        return types.get(iri) or known.get(iri, ())

    rules = _rules()
    found: list[Violation] = []
    for node, props in nodes.items():
        for cls in types.get(node, ()):
            shape = rules.get(cls)
            if shape is None:
                continue
            field_rules, allowed = shape
            for rule in field_rules:
                values = props.get(rule.path)
                if values is None:
                    if rule.field.required:
                        _check(node, [], rule, type_of, found)
                elif not _conforms(values, rule, type_of):
                    _check(node, values, rule, type_of, found)
            for prop, values in props.items():
                if prop not in allowed:
                    found += [
                        Violation(
                            node,
                            prop,
                            SH.ClosedConstraintComponent,
                            "property is not part of the model",
                            _text(v),
                        )
                        for v in set(values)
                    ]
    return found


_DATE_NODES = frozenset(ox.NamedNode(t) for t in _DATES)
_XSD_DATE_NODE = ox.NamedNode(str(XSD.date))
_URL_PREFIXES = ("http://", "https://")


def _conforms(values: Sequence[Term], rule: _Rule, type_of: Callable[[str], Iterable[str]]) -> bool:
    """True when ``values`` surely pass ``rule``: a quick test for the common, valid case.

    False means "not sure": ``_check`` then runs every constraint and says what is wrong.
    """
    if len(values) > 1 and (rule.form == "lang" or not rule.field.many):
        return False  # max count, unique languages: left to _check
    form = rule.form
    for v in values:
        if form == "ref" or form == "choice" or form == "url" or form == "iri":
            if type(v) is not ox.NamedNode:
                return False
            if form == "iri":
                continue
            if form == "ref":
                if rule.classes.isdisjoint(type_of(v.value)):
                    return False
            elif form == "choice":
                if v.value not in rule.allowed:
                    return False
            elif not v.value.startswith(_URL_PREFIXES):
                return False
        elif type(v) is not ox.Literal:
            return False
        elif form == "date":
            if v.datatype not in _DATE_NODES:
                return False
        elif form == "day":
            if v.datatype != _XSD_DATE_NODE:
                return False
        elif v.datatype != rule.datatype_node:
            return False
        elif form == "integer":
            if not (v.value.isascii() and v.value.isdigit()):
                return False
        elif form == "text" and (
            not v.value or (rule.pattern is not None and not rule.pattern.search(v.value))
        ):
            return False
    return True


def _check(
    focus: str,
    values: Sequence[Term],
    rule: _Rule,
    type_of: Callable[[str], Iterable[str]],
    found: list[Violation],
) -> None:
    f, rng, path = rule.field, rule.field.prop.range, rule.path

    def bad(component: URIRef, message: str, value: Term | None) -> None:
        found.append(
            Violation(focus, path, component, message, None if value is None else _text(value))
        )

    if f.required and not values:
        bad(SH.MinCountConstraintComponent, "required field missing", None)
    distinct = set(values)
    if not f.many and not isinstance(rng, schema.LangText) and len(distinct) > 1:
        bad(SH.MaxCountConstraintComponent, "more than one value; this field takes one", None)
    for v in distinct:
        literal = isinstance(v, ox.Literal)
        if isinstance(rng, schema.Ref):
            if not isinstance(v, ox.NamedNode):
                bad(SH.NodeKindConstraintComponent, "value must be an IRI", v)
            if rule.classes.isdisjoint(type_of(_text(v))):
                one = len(rng.kinds) == 1
                bad(
                    SH.ClassConstraintComponent if one else SH.OrConstraintComponent,
                    f"value must be a {' or '.join(rng.kinds)}",
                    v,
                )
        elif isinstance(rng, schema.Nested):
            if not isinstance(v, ox.NamedNode):
                bad(SH.NodeKindConstraintComponent, "value must be an IRI", v)
            if rule.classes.isdisjoint(type_of(_text(v))):
                bad(SH.ClassConstraintComponent, f"value must be a {rng.structure}", v)
        elif isinstance(rng, schema.FieldName):
            if not isinstance(v, ox.NamedNode):
                bad(SH.NodeKindConstraintComponent, "value must be an IRI", v)
        elif isinstance(rng, schema.Date) and rng.day:
            if not literal or v.datatype.value != str(XSD.date):  # type: ignore[union-attr]
                bad(SH.DatatypeConstraintComponent, f"value must have datatype {XSD.date}", v)
        elif isinstance(rng, schema.Date):
            if not literal or v.datatype.value not in _DATES:  # type: ignore[union-attr]
                bad(
                    SH.OrConstraintComponent,
                    "value must be an xsd:gYear, xsd:gYearMonth or xsd:date",
                    v,
                )
        elif isinstance(rng, schema.Url):
            if not isinstance(v, ox.NamedNode):
                bad(SH.NodeKindConstraintComponent, "value must be an IRI", v)
            if not _URL.search(_text(v)):
                bad(SH.PatternConstraintComponent, "value must be an http(s) URL", v)
        elif isinstance(rng, schema.Choice):
            if _text(v) not in rule.allowed or not isinstance(v, ox.NamedNode):
                bad(SH.InConstraintComponent, "value is not one of the allowed values", v)
        else:
            if not literal or v.datatype.value != rule.datatype:  # type: ignore[union-attr]
                bad(SH.DatatypeConstraintComponent, f"value must have datatype {rule.datatype}", v)
            if isinstance(rng, schema.Integer) and not _at_least_zero(v):
                bad(SH.MinInclusiveConstraintComponent, "value must be 0 or more", v)
            elif isinstance(rng, schema.Text):
                if len(_text(v)) < 1:
                    bad(SH.MinLengthConstraintComponent, "value must not be empty", v)
                if rule.pattern and not rule.pattern.search(_text(v)):
                    bad(
                        SH.PatternConstraintComponent, f"value must match {rule.pattern.pattern}", v
                    )
    if isinstance(rng, schema.LangText):
        languages = [v.language for v in distinct if isinstance(v, ox.Literal) and v.language]
        if len(languages) != len(set(languages)):
            bad(SH.UniqueLangConstraintComponent, "more than one value in the same language", None)


def _at_least_zero(term: Term) -> bool:
    # like SPARQL's ?v >= 0: only numbers compare; anything else fails the constraint
    if not isinstance(term, ox.Literal) or term.datatype.value not in _NUMERIC:
        return False
    try:
        return float(term.value) >= 0
    except ValueError:
        return False
