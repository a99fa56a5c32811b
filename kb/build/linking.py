"""Step 3 of the data path: index the ids of all files, find duplicate and unknown ids,
and resolve every reference to the IRI of the record it names.

Split in two so that files can be read and mapped in separate processes: ``index_ids``
needs only the ids of every file (small, cheap to send between processes), and
``resolve_refs`` needs only one file's records and that index.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from kb.build import suggest
from kb.build.records import Record, RefValue
from kb.errors import Location, Problem
from kb.model.schema import ID_BASE, KINDS_BY_NAME, Option

IdEntry = tuple[str, str, Location]  # kind, id, where the id is written
Target = tuple[tuple[str, ...], str]  # what a reference names: the kinds it may be, the id


@dataclass
class IdIndex:
    """Every record of a dataset as "kind/id" (its IRI after ``ID_BASE``), with where it is
    defined (for messages)."""

    defined: dict[str, str] = field(default_factory=dict)
    # the gk:sourceType key of each source read this time, by source id (for the confidence
    # rule, ``kb.build.checks.confidence_problems``); sources of files an incremental build
    # did not re-read are missing
    source_types: dict[str, str] = field(default_factory=dict)

    def types(self) -> Mapping[str, frozenset[str]]:
        """The class IRI of every indexed record, by its IRI (for the shape checks)."""
        return _Types(self.defined)


class _Types(Mapping[str, frozenset[str]]):
    # Looked up, not built: an incremental build checks a few records against thousands.
    def __init__(self, defined: dict[str, str]) -> None:
        self.defined = defined

    def __getitem__(self, iri: str) -> frozenset[str]:
        key = iri[len(ID_BASE) :] if iri.startswith(ID_BASE) else None
        if key is None or key not in self.defined:
            raise KeyError(iri)
        return _CLASSES[key.partition("/")[0]]

    def __iter__(self) -> Iterator[str]:
        return (ID_BASE + key for key in self.defined)

    def __len__(self) -> int:
        return len(self.defined)


_CLASSES = {name: frozenset({str(kind.cls)}) for name, kind in KINDS_BY_NAME.items()}


def index_ids(
    entries: Iterable[IdEntry], known: dict[str, str] | None = None
) -> tuple[IdIndex, list[Problem]]:
    """Index the ids of newly read records, in file order, reporting duplicates.

    ``known`` holds the "kind/id" of records defined in files not re-read this time, each
    with the name of its file: references may point to them, and new records may not reuse
    their ids.
    """
    known = known or {}
    index = IdIndex(dict(known))
    problems: list[Problem] = []
    firsts: dict[str, Location] = {}
    for kind, record_id, where in entries:
        key = f"{kind}/{record_id}"
        first = index.defined.get(key)
        if first is None:
            index.defined[key] = f"at {where}"
            firsts[key] = where
            continue
        label = KINDS_BY_NAME[kind].label
        here, shown, verb = where, f"in {known[key]}" if key in known else first, "first"
        earlier = firsts.get(key)
        if earlier is not None and _edited_later(earlier.file, where.file):
            # the file changed last is the one being edited: the duplicate is reported there
            here, shown, verb = earlier, f"at {where}", "also"
        problems.append(
            Problem(
                here,
                "id",
                f"duplicate {label} id '{record_id}' ({verb} defined {shown})",
                "ids must be unique within a kind; rename this record, or merge it with the "
                f"one {shown}",
            )
        )
    return index, problems


def _edited_later(file: str, other: str) -> bool:
    """Whether data file ``file`` was modified after ``other`` (by more than a second: files
    written together are not told apart)."""
    if file == other:
        return False
    try:
        return os.stat(file).st_mtime > os.stat(other).st_mtime + 1.0
    except OSError:
        return False


def id_entries(records: Iterable[Record]) -> list[IdEntry]:
    """The (kind, id, location of the id) of each record."""
    return [(r.kind.name, r.id, r.location_of("id")) for r in records]


def source_types(records: Iterable[Record]) -> dict[str, str]:
    """The source type ('official', 'news' ...) of each source in ``records`` by source id;
    '' for a source that gives none."""
    out = {}
    for r in records:
        if r.kind.name == "source":
            out[r.id] = next((v.key for v in r.values.get("type", ()) if isinstance(v, Option)), "")
    return out


def resolve_refs(
    records: Iterable[Record], index: IdIndex
) -> tuple[dict[Target, str], list[Problem]]:
    """The IRI each reference in ``records`` names, by its target (kinds, id), and a
    problem for each reference that names no record or more than one."""
    resolved: dict[Target, str] = {}
    problems: list[Problem] = []
    for record in records:
        for value in record.refs():
            target = (value.kinds, value.id)  # many references share a target
            if target not in resolved:
                iri = _resolve(index, value, problems)
                if iri is not None:
                    resolved[target] = iri
    return resolved, problems


def _resolve(index: IdIndex, ref: RefValue, problems: list[Problem]) -> str | None:
    found = [k for k in ref.kinds if f"{k}/{ref.id}" in index.defined]
    if len(found) == 1:
        return KINDS_BY_NAME[found[0]].iri_text(ref.id)
    if len(found) > 1:
        problems.append(
            Problem(
                ref.location,
                ref.path,
                f"'{ref.id}' is ambiguous: it is the id of a {' and a '.join(found)}",
                f"write the kind before the id: {' or '.join(f'{k}/{ref.id}' for k in found)}",
            )
        )
        return None
    # an id shaped for only some of the kinds ('RUR': a state's) is reported as theirs
    wanted = tuple(k for k in ref.kinds if KINDS_BY_NAME[k].id_matches(ref.id)) or ref.kinds
    by_kind: dict[str, list[str]] = {}
    for key in index.defined:
        k, _, i = key.partition("/")
        if k in ref.kinds:
            by_kind.setdefault(k, []).append(i)
    kind, close, why = _suggest(ref.id, ref.kinds, wanted, by_kind)
    if kind is not None and kind not in wanted:
        wanted = ref.kinds  # 'tur' is shaped like an actor's id, but meant the state TUR
    kinds = " or ".join(wanted)
    hint = f"did you mean '{close}'? " if close else ""
    if kind == "state" or wanted == ("state",):
        hint += f"({why}state ids are ISO 3166-1 alpha-3 codes, declared under 'states:')"
    else:
        section = KINDS_BY_NAME[kind or wanted[0]].section
        hint += f"({why}declare it under '{section}:' or fix the spelling)"
    problems.append(Problem(ref.location, ref.path, f"unknown {kinds} id '{ref.id}'", hint))
    return None


def _suggest(
    word: str, kinds: tuple[str, ...], wanted: tuple[str, ...], ids: dict[str, list[str]]
) -> tuple[str | None, str | None, str]:
    """The kind and id ``word`` most likely meant, and why, if it is not plain."""
    lower = word.lower()
    for k in kinds:  # the right id in the wrong case, of any kind the field takes
        for i in ids.get(k, ()):
            if i.lower() == lower:
                return k, i, "ids are case-sensitive; "
    if "state" in kinds and (code := suggest.state_code(word)) is not None:
        name = suggest.state_name(code)
        if code in ids.get("state", ()):
            return "state", code, f"'{code}' is the code of {name}; "
        return "state", None, f"{name}'s code '{code}' is not declared; "
    found = [(k, i) for k in wanted for i in ids.get(k, ())]
    close = suggest.closest(word, (i for _, i in found))
    if close is None:
        return None, None, ""
    return next(k for k, i in found if i == close), close, ""
