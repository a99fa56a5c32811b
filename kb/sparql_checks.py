"""The SHACL shapes of ``ontology/shapes.ttl`` as SPARQL queries over a pyoxigraph store.

pyshacl walks an rdflib graph in Python and takes minutes at a million triples; the same
constraints as SPARQL over pyoxigraph take seconds. The queries are derived from the same
schema as the shapes (``kb.schema``, via the rules of ``kb.ontology``), and a test checks that
both engines find the same violations — focus node, path and constraint — on broken data.
Each query returns ``?f`` (focus node) and ``?v`` (the offending value, if any).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pyoxigraph as ox
from rdflib import RDF, SH, XSD, URIRef

from kb import schema

_RDF_LANG = str(RDF.langString)
KNOWN_TYPES = "urn:geokb:known-types"


@dataclass(frozen=True)
class Check:
    """One SHACL constraint of one property shape, as a SPARQL query."""

    kind: schema.Kind
    path: URIRef | None  # None for the closed-shape check
    component: URIRef
    message: str
    query: str


def _iri(term: URIRef | str) -> str:
    return f"<{term}>"


def _values_of(kind: schema.Kind, path: URIRef) -> str:
    return f"?f a {_iri(kind.cls)} ; {_iri(path)} ?v ."


def _property_checks(kind: schema.Kind, fld: schema.Field) -> list[Check]:
    p, rng = fld.prop.iri, fld.prop.range
    cls = _iri(kind.cls)
    has = _values_of(kind, p)
    out: list[Check] = []

    def add(component: URIRef, message: str, where: str, select: str = "?f ?v") -> None:
        out.append(
            Check(kind, p, component, message, f"SELECT DISTINCT {select} WHERE {{ {where} }}")
        )

    if fld.required:
        add(
            SH.MinCountConstraintComponent,
            "required field missing",
            f"?f a {cls} FILTER NOT EXISTS {{ ?f {_iri(p)} ?any }}",
            "?f",
        )
    if not fld.many and not isinstance(rng, schema.LangText):
        add(
            SH.MaxCountConstraintComponent,
            "more than one value; this field takes one",
            f"?f a {cls} ; {_iri(p)} ?a , ?b FILTER(?a != ?b)",
            "?f",
        )
    if isinstance(rng, schema.Ref):
        add(SH.NodeKindConstraintComponent, "value must be an IRI", f"{has} FILTER(!isIRI(?v))")
        classes = [schema.KINDS_BY_NAME[k].cls for k in rng.kinds]
        allowed = ", ".join(_iri(c) for c in classes)
        component = SH.ClassConstraintComponent if len(classes) == 1 else SH.OrConstraintComponent
        add(
            component,
            f"value must be a {' or '.join(rng.kinds)}",
            f"{has} FILTER NOT EXISTS {{ {{ ?v a ?c }} UNION {{ GRAPH {_iri(KNOWN_TYPES)} "
            f"{{ ?v a ?c }} }} FILTER(?c IN ({allowed})) }}",
        )
    elif isinstance(rng, schema.Date):
        types = ", ".join(_iri(t) for t in schema.DATE_TYPES)
        add(
            SH.OrConstraintComponent,
            "value must be an xsd:gYear, xsd:gYearMonth or xsd:date",
            f"{has} FILTER(!isLiteral(?v) || DATATYPE(?v) NOT IN ({types}))",
        )
    elif isinstance(rng, schema.Url):
        add(SH.NodeKindConstraintComponent, "value must be an IRI", f"{has} FILTER(!isIRI(?v))")
        add(
            SH.PatternConstraintComponent,
            "value must be an http(s) URL",
            f'{has} FILTER(!REGEX(STR(?v), "^https?://"))',
        )
    elif isinstance(rng, schema.Choice):
        allowed = ", ".join(_iri(schema.GK[o.local]) for o in rng.options)
        add(
            SH.InConstraintComponent,
            "value is not one of the allowed values",
            f"{has} FILTER(?v NOT IN ({allowed}))",
        )
    else:
        datatype = {
            schema.LangText: _RDF_LANG,
            schema.Integer: str(XSD.integer),
            schema.Boolean: str(XSD.boolean),
            schema.Text: str(XSD.string),
        }[type(rng)]
        add(
            SH.DatatypeConstraintComponent,
            f"value must have datatype {datatype}",
            f"{has} FILTER(!isLiteral(?v) || DATATYPE(?v) != {_iri(datatype)})",
        )
        if isinstance(rng, schema.LangText):
            add(
                SH.UniqueLangConstraintComponent,
                "more than one value in the same language",
                f'{has} ?f {_iri(p)} ?w FILTER(?v != ?w && LANG(?v) != "" && LANG(?v) = LANG(?w))',
                "?f",
            )
        elif isinstance(rng, schema.Integer):
            add(
                SH.MinInclusiveConstraintComponent,
                "value must be 0 or more",
                f"{has} FILTER(!COALESCE(?v >= 0, false))",
            )
        elif isinstance(rng, schema.Text):
            add(
                SH.MinLengthConstraintComponent,
                "value must not be empty",
                f"{has} FILTER(STRLEN(STR(?v)) < 1)",
            )
            if rng.pattern:
                add(
                    SH.PatternConstraintComponent,
                    f"value must match ^{rng.pattern}$",
                    f'{has} FILTER(!REGEX(STR(?v), "^{rng.pattern}$"))',
                )
    return out


def _fields(kind: schema.Kind) -> list[schema.Field]:
    fields = list(kind.fields)
    if kind.name == "state":  # as in kb.ontology: the code derived from the id
        fields.append(schema.Field("id", schema.ALPHA3, required=True))
    return fields


@cache
def checks() -> tuple[Check, ...]:
    """Every check, for every kind."""
    out: list[Check] = []
    for kind in schema.KINDS:
        fields = _fields(kind)
        for fld in fields:
            out += _property_checks(kind, fld)
        allowed = ", ".join(_iri(f.prop.iri) for f in fields)
        out.append(
            Check(
                kind,
                None,
                SH.ClosedConstraintComponent,
                "property is not part of the model",
                f"SELECT DISTINCT ?f ?v ?p WHERE {{ ?f a {_iri(kind.cls)} ; ?p ?v "
                f"FILTER(?p NOT IN ({_iri(RDF.type)}, {allowed})) }}",
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class Violation:
    """One violation: the node, the property, the constraint, the value."""

    focus: str
    path: str | None
    component: URIRef
    message: str
    value: str | None


def violations(store: ox.Store) -> list[Violation]:
    """Every violation of the shapes by the nodes of ``store``'s default graph.

    References may also point to nodes typed in the graph ``KNOWN_TYPES``: records an
    incremental build did not re-read. Those are not themselves checked.
    """
    found: list[Violation] = []
    for check in checks():
        result = store.query(check.query)
        assert isinstance(result, ox.QuerySolutions)
        names = {v.value for v in result.variables}
        for sol in result:
            focus = sol["f"]
            value = sol["v"] if "v" in names else None
            path = check.path
            if check.component == SH.ClosedConstraintComponent:
                predicate = sol["p"]
                assert isinstance(predicate, ox.NamedNode)
                path = URIRef(predicate.value)
            found.append(
                Violation(
                    focus.value if isinstance(focus, ox.NamedNode | ox.BlankNode) else str(focus),
                    str(path) if path is not None else None,
                    check.component,
                    check.message,
                    value.value if isinstance(value, ox.NamedNode | ox.Literal) else None,
                )
            )
    return found
