"""The curated data gives every disputed territory an administration history.

Validation does not require this (importers may bring disputes whose histories come later);
this test holds the data as shipped to it: every territory of every dispute has at least one
administration record, and every administration record's period is dated or says why not.
"""

from __future__ import annotations

from functools import cache

from conftest import DATA

from kb.build.pipeline import data_files
from kb.build.records import Record, RefValue, records_from_yaml
from kb.build.yamlfile import read_yaml
from kb.errors import relative


@cache
def _records() -> tuple[Record, ...]:
    """Every record of the curated data files (not those written by ``geokb import``), read
    once for this module's tests."""
    out: list[Record] = []
    for path in data_files(DATA):
        if path.relative_to(DATA).parts[0] == "imported":
            continue
        records, problems = records_from_yaml(relative(path), read_yaml(path))
        assert problems == []
        out += records
    return tuple(out)


def _refs(record: Record, key: str) -> list[str]:
    return [v.id for v in record.values.get(key, ()) if isinstance(v, RefValue)]


def test_every_territory_of_every_dispute_has_an_administration_record() -> None:
    records = _records()
    administered = {
        t for r in records if r.kind.name == "administration" for t in _refs(r, "territory")
    }
    missing = {
        f"{r.id}: {t}"
        for r in records
        if r.kind.name == "dispute"
        for t in _refs(r, "territories")
        if t not in administered
    }
    assert sorted(missing) == []


def test_an_administration_without_a_start_says_why_in_its_note() -> None:
    undated = [
        r.id
        for r in _records()
        if r.kind.name == "administration"
        and "start_date" not in r.values
        and "left out" not in " ".join(str(v) for v in r.values.get("note", ()))
        and "end_date" not in r.values
    ]
    assert undated == []
