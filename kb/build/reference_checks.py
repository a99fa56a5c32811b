"""The reference SHACL engine: pyshacl over rdflib, which geokb's own checker
(``kb.build.checks``, ``kb.build.shape_checks``) is proven equal to by the tests.

geokb never runs it when building: pyshacl takes minutes at a million triples. It needs the
optional ``reference`` extra (``pip install geokb[reference]``; the dev extra includes it).
"""

from __future__ import annotations

from rdflib import RDF, SH, Graph, URIRef
from rdflib.term import Node

from kb.build.checks import locate
from kb.build.records import Record
from kb.errors import Problem
from kb.model.ontology import ontology_graph, shapes_graph


def shacl_problems(data: Graph, records: dict[URIRef, Record]) -> list[Problem]:
    """Every SHACL violation in ``data`` found by pyshacl, located through ``records``."""
    from pyshacl import validate  # the reference engine only: slow to import, builds skip it

    # pyshacl adds triples to the graphs it is given: hand it copies of the cached ones
    shapes, ontology = Graph(), Graph()
    shapes += shapes_graph()
    ontology += ontology_graph()
    conforms, report, _ = validate(
        data,
        shacl_graph=shapes,
        ont_graph=ontology,
        inference="none",
        abort_on_first=False,
        allow_warnings=True,
        advanced=False,
    )
    if conforms:
        return []
    assert isinstance(report, Graph)
    problems = [
        _problem(report, result, records)
        for result in report.subjects(RDF.type, SH.ValidationResult)
    ]
    return sorted(problems)


def _problem(report: Graph, result: Node, records: dict[URIRef, Record]) -> Problem:
    focus = report.value(result, SH.focusNode)
    path = report.value(result, SH.resultPath)
    message = str(report.value(result, SH.resultMessage) or "does not match its shape")
    value = report.value(result, SH.value)
    component = report.value(result, SH.sourceConstraintComponent)
    where, key, subject = locate(
        str(focus), str(path) if isinstance(path, URIRef) else None, records
    )
    field = key or (report.namespace_manager.normalizeUri(path) if isinstance(path, URIRef) else "")
    if component == SH.MinCountConstraintComponent:
        message = "required field missing"
    elif component == SH.MaxCountConstraintComponent:
        message = "more than one value; this field takes one"
    elif component == SH.UniqueLangConstraintComponent:
        message = "more than one value in the same language"
    elif component == SH.ClosedConstraintComponent and isinstance(path, URIRef):
        message = f"property {path} is not part of the model"
    elif value is not None:
        message = f"{message} (value: {value})"
    return Problem(
        where,
        field,
        f"{message} [SHACL, {subject}]",
        "see ontology/shapes.ttl for what a valid record holds",
    )
