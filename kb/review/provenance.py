"""``geokb check --provenance``: how much of the data is traceable to the place in a source
that states it.

Read from the YAML files through the build's reader (``kb.build.records``); no store is
needed. ``data/states.yaml`` is left out: its states are generated from a country list,
not curated facts.

A fact is **backed** when all of these hold:

1. its status is not ``inferred`` (an inference rests on its ``basis``, not on a place in a
   source that states the fact);
2. it has at least one *located citation*: an entry of ``citations:`` with a ``locator:``
   (page, paragraph, section, table row, record id);
3. every *value field* it gives is backed by a located citation. The value fields are those
   of ``kb.model.schema.value_fields``: all but the curators' bookkeeping (label, status,
   basis, as_of, confidence, sources, citations, note) and their classification (an event's
   CAMEO code, assigned from the CAMEO codebook to what the citations state). A located
   citation that lists ``supports:`` backs the fields it lists; one that lists none backs the
   whole fact.

Every other fact is listed with its file, line and what is missing. Machine-coded facts
(``status: machine-coded``, brought by ``geokb import events``) are not counted: their citation
locates a row of a coded dataset, not a passage stating the fact, so they are counted apart and
the share is of the curated facts only — an import of a million events cannot raise it.

Entities (weapons, non-state actors, organisations, territories, facilities) are counted apart
from facts, under the same rule 3: an entity is **backed** when every value field it gives is
backed by a located citation of the entity (``supports:`` naming the field, or none for the
whole entity). Its value fields are those of ``value_fields`` but for ``label`` (a name, not a
claim a source makes about the world), ``wikidata`` (our link to the same thing elsewhere, a
curators' identification, not a value a source states) and ``geometry``, which carries its own
citations: a place's geometry is backed when one of *its* citations has a locator. An entity
that gives no value field but these (an organisation known by its name only) has nothing to
back and is counted apart as "name only".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kb.build.checks import located_citations
from kb.build.pipeline import data_files
from kb.build.records import FieldValue, Part, Record, records_from_yaml
from kb.build.yamlfile import read_yaml
from kb.errors import DataError, Location, Problem, relative
from kb.model import schema

#: Data files not counted: generated, not curated.
GENERATED_FILES = ("states.yaml",)
#: An entity's fields that are not counted: its name and our Wikidata link (see above).
ENTITY_NAME_FIELDS = ("label", "wikidata")


@dataclass(frozen=True)
class Unbacked:
    """A fact or entity not every value of which is backed by a located citation, and why."""

    kind: str  # the kind's name, e.g. 'transfer'
    id: str
    location: Location
    reason: str
    fields: tuple[str, ...] = ()  # the value fields given that no located citation backs

    def as_dict(self) -> dict[str, object]:
        """The finding as plain data."""
        return {
            "kind": self.kind,
            "id": self.id,
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "reason": self.reason,
            "fields": list(self.fields),
        }


@dataclass(frozen=True)
class KindCount:
    """How many facts (or entities) of one kind there are, and how many are backed."""

    kind: str
    facts: int  # the records counted: facts, or entities in the entities' counts
    backed: int

    @property
    def share(self) -> float:
        """The backed share, 0 to 1 (1 when there are no records)."""
        return self.backed / self.facts if self.facts else 1.0


def _counts_as_dict(kinds: tuple[KindCount, ...], noun: str) -> dict[str, object]:
    return {
        k.kind: {
            noun: k.facts,
            "backed": k.backed,
            "share": round(k.share, 4) if k.facts else None,
        }
        for k in kinds
    }


@dataclass(frozen=True)
class _Tally:
    """Backed records per kind and overall, and the records that are not."""

    kinds: tuple[KindCount, ...]
    unbacked: tuple[Unbacked, ...]

    @property
    def counted(self) -> int:
        """Every record counted."""
        return sum(k.facts for k in self.kinds)

    @property
    def backed(self) -> int:
        """The records whose every value is backed by a located citation."""
        return sum(k.backed for k in self.kinds)

    @property
    def share(self) -> float:
        """The backed share, 0 to 1 (1 when none is counted)."""
        return self.backed / self.counted if self.counted else 1.0

    def _as_dict(self, noun: str) -> dict[str, object]:
        return {
            noun: self.counted,
            "backed": self.backed,
            "share": round(self.share, 4) if self.counted else None,
            "kinds": _counts_as_dict(self.kinds, noun),
            "unbacked": [u.as_dict() for u in self.unbacked],
        }


@dataclass(frozen=True)
class EntityReport(_Tally):
    """Backed entities per kind and overall, the entities that are not, and how many give
    nothing but a name."""

    name_only: int = 0

    @property
    def entities(self) -> int:
        """Every entity counted (those giving a value field besides their name)."""
        return self.counted

    def as_dict(self) -> dict[str, object]:
        """The entities' part of the report as plain data."""
        return {**self._as_dict("entities"), "name_only": self.name_only}


@dataclass(frozen=True)
class ProvenanceReport(_Tally):
    """Backed facts per kind and overall, and the facts that are not; entities apart."""

    machine_coded: int = 0  # facts left out of the counts (see the module's docstring)
    entities: EntityReport = EntityReport((), ())

    @property
    def facts(self) -> int:
        """Every fact counted."""
        return self.counted

    def as_dict(self) -> dict[str, object]:
        """The report as plain data (``--json``)."""
        return {
            **self._as_dict("facts"),
            "machine_coded": self.machine_coded,
            "entities": self.entities.as_dict(),
        }


def _status(record: Record) -> str | None:
    found = next((v for v in record.values.get("status", ()) if isinstance(v, schema.Option)), None)
    return found.key if found is not None else None


def _supported(located: list[Part]) -> set[str] | None:
    """The fields the located citations back, or None if one backs the whole record."""
    if any("supports" not in p.values for p in located):
        return None
    return {v.key for p in located for v in p.values["supports"] if isinstance(v, FieldValue)}


def missing_backing(record: Record) -> str | None:
    """Why ``record`` (a fact) is not backed, or None if it is (see the module's rules)."""
    if _status(record) == "inferred":
        return "inferred: rests on its basis, not on a source stating it"
    located = located_citations(record)
    if not located:
        return "no citation with a locator" if "citations" in record.values else "no citations"
    covered = _supported(located)
    if covered is None:
        return None  # a located citation of the whole fact backs every field
    given = [f.key for f in schema.value_fields(record.kind) if f.key in record.values]
    uncovered = [key for key in given if key not in covered]
    if uncovered:
        return f"no located citation supports: {', '.join(uncovered)}"
    return None


def _unbacked_fields(record: Record) -> tuple[str, ...]:
    """The value fields ``record`` (a fact) gives that no located citation backs."""
    given = tuple(f.key for f in schema.value_fields(record.kind) if f.key in record.values)
    if _status(record) == "inferred":
        return given
    covered = _supported(located_citations(record))
    return () if covered is None else tuple(k for k in given if k not in covered)


def entity_value_fields(record: Record) -> tuple[str, ...]:
    """The value fields an entity gives: all it gives but its name, Wikidata link and
    bookkeeping (see the module's docstring); its geometry included."""
    return tuple(
        f.key
        for f in schema.value_fields(record.kind)
        if f.key in record.values and f.key not in ENTITY_NAME_FIELDS
    )


def _geometry_located(record: Record) -> bool:
    """Whether the entity's geometry has a citation with a locator (its own, not the
    entity's: the point is read where its citations say)."""
    return any(
        type(c) is Part and "locator" in c.values
        for g in record.values.get("geometry", ())
        if type(g) is Part
        for c in g.values.get("citations", ())
    )


def unbacked_entity_fields(record: Record) -> tuple[str, ...]:
    """The value fields of ``record`` (an entity) that no located citation backs."""
    covered = _supported(located_citations(record))
    missing = []
    for key in entity_value_fields(record):
        if key == "geometry":
            backed = _geometry_located(record)
        else:
            backed = covered is None or key in covered
        if not backed:
            missing.append(key)
    # a whole-entity citation needs a locator to back anything: with none, _supported([])
    # is the empty set, so every field but a cited geometry is missing, as it should be
    return tuple(missing)


def _is_entity(kind: schema.Kind) -> bool:
    return not kind.is_fact and kind.name != "source"


def report(data_dir: Path) -> ProvenanceReport:
    """The provenance report of the data under ``data_dir`` (a DataError if a file does not
    read as records)."""
    problems: list[Problem] = []
    counts = {k.name: [0, 0] for k in schema.KINDS if k.is_fact}
    entity_counts = {k.name: [0, 0] for k in schema.KINDS if _is_entity(k)}
    unbacked: list[Unbacked] = []
    entities_unbacked: list[Unbacked] = []
    machine_coded = name_only = 0
    for path in data_files(data_dir):
        if path.relative_to(data_dir).as_posix() in GENERATED_FILES:
            continue
        records, found = records_from_yaml(relative(path), read_yaml(path))
        problems += found
        for record in records:
            if _is_entity(record.kind):
                if not entity_value_fields(record):
                    name_only += 1
                    continue
                entity_counts[record.kind.name][0] += 1
                missing = unbacked_entity_fields(record)
                if not missing:
                    entity_counts[record.kind.name][1] += 1
                    continue
                why = f"no located citation supports: {', '.join(missing)}"
                entities_unbacked.append(
                    Unbacked(record.kind.name, record.id, record.location, why, missing)
                )
                continue
            if not record.kind.is_fact:
                continue
            if _status(record) == "machine-coded":
                machine_coded += 1
                continue
            counts[record.kind.name][0] += 1
            reason = missing_backing(record)
            if reason is None:
                counts[record.kind.name][1] += 1
            else:
                unbacked.append(
                    Unbacked(
                        record.kind.name,
                        record.id,
                        record.location,
                        reason,
                        _unbacked_fields(record),
                    )
                )
    if problems:
        raise DataError(problems)
    kinds = tuple(KindCount(name, n, ok) for name, (n, ok) in counts.items())
    entities = EntityReport(
        tuple(KindCount(name, n, ok) for name, (n, ok) in entity_counts.items()),
        tuple(entities_unbacked),
        name_only,
    )
    return ProvenanceReport(kinds, tuple(unbacked), machine_coded, entities)


def _kind_lines(kinds: tuple[KindCount, ...]) -> list[str]:
    width = max(len(k.label) for k in schema.KINDS)
    return [
        f"  {schema.KINDS_BY_NAME[c.kind].label:<{width}}  {c.backed:>6} of {c.facts:<6} "
        f"{c.share:7.1%}"
        for c in kinds
        if c.facts
    ]


def _unbacked_lines(title: str, unbacked: tuple[Unbacked, ...]) -> list[str]:
    if not unbacked:
        return []
    return ["", f"{title} ({len(unbacked)}):"] + [
        f"  {u.location}: {u.kind} '{u.id}': {u.reason}" for u in unbacked
    ]


def as_text(found: ProvenanceReport) -> str:
    """The report for people: facts first, then entities, each with its per-kind counts,
    then the facts and the entities not backed, with file, line and what is missing."""
    ents = found.entities
    lines = [
        f"{found.backed} of {found.facts} facts ({found.share:.1%}) have every value backed by "
        "a located citation (outside data/states.yaml)",
        f"entities: {ents.backed} of {ents.entities} backed ({ents.share:.1%}): every value "
        "but the name backed by a located citation"
        + (f"; {ents.name_only} more give only a name" if ents.name_only else ""),
        "",
    ]
    if found.machine_coded:
        lines[2:2] = [
            f"{found.machine_coded} machine-coded facts (imported event data) are not counted: "
            "each cites a row of its dataset, not a source stating it"
        ]
    lines += _kind_lines(found.kinds)
    if ents.entities:
        lines += ["", "entities:", *_kind_lines(ents.kinds)]
    lines += _unbacked_lines("not backed", found.unbacked)
    lines += _unbacked_lines("entities not backed", ents.unbacked)
    return "\n".join(lines)


def as_json(found: ProvenanceReport) -> str:
    """The report as JSON."""
    return json.dumps(found.as_dict(), indent=2, ensure_ascii=False)
