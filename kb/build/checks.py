"""Step 5 of the data path: check the RDF graph against the SHACL shapes.

``shape_problems`` checks each node once in a pass over the triples
(``kb.build.shape_checks``), fast at scale; the tests prove it finds exactly what pyshacl
finds (``kb.build.reference_checks``, not used by builds). Each finding is turned back into a
located problem: the focus node's record gives the file and line, the result path gives the
YAML field. Beside the shapes, the confidence rule (what high and medium require).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import pyoxigraph as ox
from rdflib import SH, URIRef

from kb.build.records import Part, Record, RefValue
from kb.build.shape_checks import Nodes, group, node_violations
from kb.errors import Location, Problem
from kb.model.schema import AUTHORITATIVE_SOURCE_TYPES, Option


def located_citations(record: Record) -> list[Part]:
    """The record's citations that say where in their source the fact is stated."""
    return [
        p for p in record.values.get("citations", ()) if type(p) is Part and "locator" in p.values
    ]


def cited_source_ids(part: Part) -> list[str]:
    """The id of the source a citation points into (one, or none if it failed to read)."""
    return [r.id for r in part.values.get("source", ()) if type(r) is RefValue]


def _key_of(record: Record, key: str) -> str | None:
    """The YAML key of the option ``record`` gives for field ``key``, if any."""
    for value in record.values.get(key, ()):
        if isinstance(value, Option):
            return value.key
    return None


def confidence_problems(
    records: Iterable[Record], source_types: Mapping[str, str]
) -> list[Problem]:
    """What each fact's confidence and status require of its citations, checked.

    - status ``inferred``: ``basis`` is required and confidence may not be ``high``;
    - confidence ``high``: a located citation (one with a ``locator``) of a source whose
      ``type`` is one of ``schema.AUTHORITATIVE_SOURCE_TYPES``, or located citations of at
      least two different sources;
    - confidence ``medium``: at least one located citation;
    - confidence ``low``, or none given: nothing more.

    ``source_types`` gives the type of each source by id; a source missing from it (defined
    in a file an incremental build did not re-read) counts as authoritative, unchecked:
    ``geokb validate`` reads every file and checks in full.
    """
    problems: list[Problem] = []
    for record in records:
        if not record.kind.is_fact:
            continue
        status = _key_of(record, "status")
        confidence = _key_of(record, "confidence")
        path = record.path or f"{record.kind.section}[?]"
        if status == "inferred":
            if "basis" not in record.values:
                problems.append(
                    Problem(
                        record.location_of("status"),
                        f"{path}.basis",
                        "an inferred fact must say what it is inferred from",
                        "add 'basis:' — the facts or citations it rests on, and how",
                    )
                )
            if confidence == "high":
                problems.append(
                    Problem(
                        record.location_of("confidence"),
                        f"{path}.confidence",
                        "an inferred fact cannot have high confidence",
                        "lower it to medium or low, or cite a source that states the fact "
                        "and change the status",
                    )
                )
                continue
        located = located_citations(record)
        if confidence == "medium" and not located:
            problems.append(
                Problem(
                    record.location_of("confidence"),
                    f"{path}.confidence",
                    "medium confidence needs at least one citation with a locator",
                    "add 'citations:' with 'source:' and 'locator:' (page, paragraph, "
                    "section, row), or lower the confidence to low",
                )
            )
        elif confidence == "high" and not _high_enough(located, source_types):
            sources = sorted({i for p in located for i in cited_source_ids(p)})
            found = (
                f"located citations of {len(sources)} source(s): {', '.join(sources)}"
                if sources
                else "no citation with a locator"
            )
            problems.append(
                Problem(
                    record.location_of("confidence"),
                    f"{path}.confidence",
                    f"high confidence is not supported by the citations ({found})",
                    "cite with a locator a source of type "
                    f"{', '.join(AUTHORITATIVE_SOURCE_TYPES)}, or two different sources "
                    "with locators; else lower the confidence to medium",
                )
            )
    return problems


def _high_enough(located: list[Part], source_types: Mapping[str, str]) -> bool:
    ids = {i for p in located for i in cited_source_ids(p)}
    if len(ids) >= 2:
        return True
    return any(
        source_types.get(i, AUTHORITATIVE_SOURCE_TYPES[0]) in AUTHORITATIVE_SOURCE_TYPES
        for i in ids
    )


def locate(
    focus: str, path: str | None, records: Mapping[URIRef, Record]
) -> tuple[Location, str | None, str]:
    """Where a finding about node ``focus`` and property ``path`` was written: its location,
    its YAML field (a field path such as 'arms_transfers[3].citations[0].locator' for a
    citation), and the record named for people."""
    base, _, fragment = focus.partition("#")
    record = records.get(URIRef(base))
    if record is None:
        return Location("<graph>"), None, focus
    subject = f"{record.kind.label} '{record.id}'"
    if fragment:
        for part in record.parts():
            if part.iri_text(base) == focus:
                key = part.structure.key_for(URIRef(path)) if path else None
                field = f"{part.path}.{key}" if key else part.path
                return part.location_of(key), field, f"{subject}, {fragment}"
        return record.location, None, subject
    key = record.kind.key_for(URIRef(path)) if path else None
    return record.location_of(key), key, subject


def shape_problems(
    data: Sequence[ox.Quad | ox.Triple],
    records: Callable[[], dict[URIRef, Record]],
    known_types: Mapping[str, Iterable[str]] | None = None,
) -> list[Problem]:
    """Every violation of the shapes in ``data``, located (what ``reference_checks`` finds).

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
        where, key, subject = locate(v.focus, v.path, by_iri)
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
        problems.append(
            Problem(
                where,
                field,
                f"{message} [SHACL, {subject}]",
                "see ontology/shapes.ttl for what a valid record holds",
            )
        )
    return sorted(set(problems))
