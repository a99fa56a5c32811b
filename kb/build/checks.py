"""Step 5 of the data path: check the RDF graph against the SHACL shapes.

Two engines give the same findings: ``shape_problems`` checks each node once in a pass
over the triples (``kb.build.shape_checks``) and is what builds use, because it is fast at scale;
``shacl_problems`` runs pyshacl over rdflib, the reference the tests compare it with. Each
finding is turned back into a located problem: the focus node's record gives the file and
line, the result path gives the YAML field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import pyoxigraph as ox
from rdflib import RDF, SH, Graph, URIRef
from rdflib.term import Node

from kb.build.records import Record
from kb.build.shape_checks import Nodes, group, node_violations
from kb.errors import Location, Problem
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
    record = records.get(focus) if isinstance(focus, URIRef) else None
    key = None
    if record is not None and isinstance(path, URIRef):
        key = record.kind.key_for(path)
    where = record.location_of(key) if record is not None else Location("<graph>")
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
    subject = f"{focus}" if record is None else f"{record.kind.label} '{record.id}'"
    return Problem(
        where,
        field,
        f"{message} [SHACL, {subject}]",
        "see ontology/shapes.ttl for what a valid record holds",
    )


def shape_problems(
    data: Sequence[ox.Quad | ox.Triple],
    records: Callable[[], dict[URIRef, Record]],
    known_types: Mapping[str, Iterable[str]] | None = None,
) -> list[Problem]:
    """Every violation of the shapes in ``data``, located; see ``shacl_problems``.

    ``records`` gives the records by IRI; it is called only when there is something to
    locate, because building that index costs seconds at a million triples.
    ``known_types`` gives the class IRIs of records outside ``data`` (other files, or
    files an incremental build did not re-read), so that references to them check out;
    they are not checked themselves.
    """
    return node_problems(group(data), records, known_types)


def node_problems(
    nodes: Nodes,
    records: Callable[[], dict[URIRef, Record]],
    known_types: Mapping[str, Iterable[str]] | None = None,
) -> list[Problem]:
    """``shape_problems`` for triples already grouped by subject (as ``kb.build.mapping``
    makes them)."""
    found = node_violations(nodes, known_types)
    if not found:
        return []
    by_iri = records()
    problems = []
    for v in found:
        focus = URIRef(v.focus)
        record = by_iri.get(focus)
        key = record.kind.key_for(URIRef(v.path)) if record is not None and v.path else None
        where = record.location_of(key) if record is not None else Location("<graph>")
        field = key or (v.path or "")
        message = v.message
        if v.component == SH.ClosedConstraintComponent:
            message = f"property {v.path} is not part of the model"
        elif v.value is not None and v.component not in (
            SH.MinCountConstraintComponent,
            SH.MaxCountConstraintComponent,
            SH.UniqueLangConstraintComponent,
        ):
            message = f"{message} (value: {v.value})"
        subject = v.focus if record is None else f"{record.kind.label} '{record.id}'"
        problems.append(
            Problem(
                where,
                field,
                f"{message} [SHACL, {subject}]",
                "see ontology/shapes.ttl for what a valid record holds",
            )
        )
    return sorted(set(problems))
