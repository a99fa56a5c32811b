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

Every other fact is listed with its file, line and what is missing. Entities (states,
weapons, organisations ...) are not facts and are not counted. Nor are machine-coded facts
(``status: machine-coded``, brought by ``geokb import events``): their citation locates a row
of a coded dataset, not a passage stating the fact, so they are counted apart and the share is
of the curated facts only — an import of a million events cannot raise it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kb.build.checks import located_citations
from kb.build.pipeline import data_files
from kb.build.records import FieldValue, Record, records_from_yaml
from kb.build.yamlfile import read_yaml
from kb.errors import DataError, Location, Problem, relative
from kb.model import schema

#: Data files not counted: generated, not curated.
GENERATED_FILES = ("states.yaml",)


@dataclass(frozen=True)
class Unbacked:
    """A fact not every value of which is backed by a located citation, and why."""

    kind: str  # the kind's name, e.g. 'transfer'
    id: str
    location: Location
    reason: str

    def as_dict(self) -> dict[str, object]:
        """The finding as plain data."""
        return {
            "kind": self.kind,
            "id": self.id,
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class KindCount:
    """How many facts of one kind there are, and how many are backed."""

    kind: str
    facts: int
    backed: int

    @property
    def share(self) -> float:
        """The backed share, 0 to 1 (1 when there are no facts)."""
        return self.backed / self.facts if self.facts else 1.0


@dataclass(frozen=True)
class ProvenanceReport:
    """Backed facts per kind and overall, and the facts that are not."""

    kinds: tuple[KindCount, ...]
    unbacked: tuple[Unbacked, ...]
    machine_coded: int = 0  # facts left out of the counts (see the module's docstring)

    @property
    def facts(self) -> int:
        """Every fact counted."""
        return sum(k.facts for k in self.kinds)

    @property
    def backed(self) -> int:
        """The facts whose every value is backed by a located citation."""
        return sum(k.backed for k in self.kinds)

    @property
    def share(self) -> float:
        """The backed share overall, 0 to 1 (1 when there are no facts)."""
        return self.backed / self.facts if self.facts else 1.0

    def as_dict(self) -> dict[str, object]:
        """The report as plain data (``--json``)."""
        return {
            "facts": self.facts,
            "backed": self.backed,
            "share": round(self.share, 4) if self.facts else None,
            "kinds": {
                k.kind: {
                    "facts": k.facts,
                    "backed": k.backed,
                    "share": round(k.share, 4) if k.facts else None,
                }
                for k in self.kinds
            },
            "unbacked": [u.as_dict() for u in self.unbacked],
            "machine_coded": self.machine_coded,
        }


def _status(record: Record) -> str | None:
    found = next((v for v in record.values.get("status", ()) if isinstance(v, schema.Option)), None)
    return found.key if found is not None else None


def missing_backing(record: Record) -> str | None:
    """Why ``record`` (a fact) is not backed, or None if it is (see the module's rules)."""
    if _status(record) == "inferred":
        return "inferred: rests on its basis, not on a source stating it"
    located = located_citations(record)
    if not located:
        return "no citation with a locator" if "citations" in record.values else "no citations"
    if any("supports" not in p.values for p in located):
        return None  # a located citation of the whole fact backs every field
    covered = {v.key for p in located for v in p.values["supports"] if isinstance(v, FieldValue)}
    given = [f.key for f in schema.value_fields(record.kind) if f.key in record.values]
    uncovered = [key for key in given if key not in covered]
    if uncovered:
        return f"no located citation supports: {', '.join(uncovered)}"
    return None


def report(data_dir: Path) -> ProvenanceReport:
    """The provenance report of the data under ``data_dir`` (a DataError if a file does not
    read as records)."""
    problems: list[Problem] = []
    counts = {k.name: [0, 0] for k in schema.KINDS if k.is_fact}
    unbacked: list[Unbacked] = []
    machine_coded = 0
    for path in data_files(data_dir):
        if path.relative_to(data_dir).as_posix() in GENERATED_FILES:
            continue
        records, found = records_from_yaml(relative(path), read_yaml(path))
        problems += found
        for record in records:
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
                unbacked.append(Unbacked(record.kind.name, record.id, record.location, reason))
    if problems:
        raise DataError(problems)
    kinds = tuple(KindCount(name, n, ok) for name, (n, ok) in counts.items())
    return ProvenanceReport(kinds, tuple(unbacked), machine_coded)


def as_text(found: ProvenanceReport) -> str:
    """The report for people."""
    lines = [
        f"{found.backed} of {found.facts} facts ({found.share:.1%}) have every value backed by "
        "a located citation (outside data/states.yaml)",
        "",
    ]
    if found.machine_coded:
        lines[1:1] = [
            f"{found.machine_coded} machine-coded facts (imported event data) are not counted: "
            "each cites a row of its dataset, not a source stating it"
        ]
    width = max(len(k.label) for k in schema.KINDS)
    for count in found.kinds:
        if count.facts:
            label = schema.KINDS_BY_NAME[count.kind].label
            lines.append(
                f"  {label:<{width}}  {count.backed:>6} of {count.facts:<6} {count.share:7.1%}"
            )
    if found.unbacked:
        lines += ["", f"not backed ({len(found.unbacked)}):"]
        for u in found.unbacked:
            lines.append(f"  {u.location}: {u.kind} '{u.id}': {u.reason}")
    return "\n".join(lines)


def as_json(found: ProvenanceReport) -> str:
    """The report as JSON."""
    return json.dumps(found.as_dict(), indent=2, ensure_ascii=False)
