"""Step 3 of the data path: index the records of all files, find duplicate and unknown ids,
and resolve every reference to the IRI of the record it names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from rdflib import URIRef

from kb.errors import Problem
from kb.records import Record, RefValue
from kb.schema import KINDS_BY_NAME


@dataclass
class Catalog:
    """Every record of a dataset by (kind, id), with its references resolved."""

    records: dict[tuple[str, str], Record] = field(default_factory=dict)
    resolved: dict[RefValue, str] = field(default_factory=dict)  # the IRI each names
    known: dict[tuple[str, str], str] = field(default_factory=dict)  # ids in files not re-read

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records.values())

    def __len__(self) -> int:
        return len(self.records)

    def resolve(self, ref: RefValue) -> str:
        """The IRI that ``ref`` names; only valid after ``link`` reported no problems."""
        return self.resolved[ref]

    def by_iri(self) -> dict[URIRef, Record]:
        """Every record by its IRI."""
        return {r.iri: r for r in self.records.values()}


def link(
    records: Iterable[Record], known: dict[tuple[str, str], str] | None = None
) -> tuple[Catalog, list[Problem]]:
    """Index ``records`` and resolve their references, reporting duplicates and unknown ids.

    ``known`` holds the (kind, id) of records defined in files not re-read this time, each
    with the name of its file: references may point to them, and new records may not reuse
    their ids.
    """
    catalog = Catalog(known=dict(known or {}))
    problems: list[Problem] = []
    for record in records:
        key = (record.kind.name, record.id)
        if key in catalog.known:
            problems.append(
                Problem(
                    record.location_of("id"),
                    "id",
                    f"duplicate {record.kind.label} id '{record.id}' "
                    f"(first defined in {catalog.known[key]})",
                    "ids must be unique within a kind; rename one or merge the two records",
                )
            )
            continue
        first = catalog.records.get(key)
        if first is not None:
            problems.append(
                Problem(
                    record.location_of("id"),
                    "id",
                    f"duplicate {record.kind.label} id '{record.id}' "
                    f"(first defined at {first.location})",
                    "ids must be unique within a kind; rename one or merge the two records",
                )
            )
            continue
        catalog.records[key] = record
    for record in catalog:
        for values in record.values.values():
            for value in values:
                if isinstance(value, RefValue):
                    _resolve(catalog, value, problems)
    return catalog, problems


def _resolve(catalog: Catalog, ref: RefValue, problems: list[Problem]) -> None:
    found = [k for k in ref.kinds if (k, ref.id) in catalog.records or (k, ref.id) in catalog.known]
    if len(found) == 1:
        catalog.resolved[ref] = KINDS_BY_NAME[found[0]].iri_text(ref.id)
        return
    if len(found) > 1:
        problems.append(
            Problem(
                ref.location,
                ref.path,
                f"'{ref.id}' is ambiguous: it is the id of a {' and a '.join(found)}",
                f"write the kind before the id: {' or '.join(f'{k}/{ref.id}' for k in found)}",
            )
        )
        return
    known = [i for (k, i) in [*catalog.records, *catalog.known] if k in ref.kinds]
    close = difflib.get_close_matches(ref.id, known, n=1, cutoff=0.6)
    kinds = " or ".join(ref.kinds)
    hint = f"did you mean '{close[0]}'? " if close else ""
    if ref.kinds == ("state",):
        hint += "(state ids are ISO 3166-1 alpha-3 codes, declared under 'states:')"
    else:
        hint += f"(declare it under '{KINDS_BY_NAME[ref.kinds[0]].section}:' or fix the spelling)"
    problems.append(Problem(ref.location, ref.path, f"unknown {kinds} id '{ref.id}'", hint))
