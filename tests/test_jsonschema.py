"""The generated JSON Schema accepts every real data file and rejects what the loader rejects."""

import datetime
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import DATA

from kb.derive.jsonschema import data_schema

ROOT = Path(__file__).resolve().parent.parent


def _as_editor_sees(value: Any) -> Any:
    # PyYAML reads 2022-10-13 as a date; a YAML 1.2 editor keeps it a string
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _as_editor_sees(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_editor_sees(v) for v in value]
    return value


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(data_schema())


def test_the_published_file_is_the_generated_schema() -> None:
    published = json.loads((ROOT / "ontology" / "geokb-data.schema.json").read_text())
    assert published == data_schema()
    jsonschema.Draft202012Validator.check_schema(published)


@pytest.mark.parametrize("path", sorted(DATA.glob("*.yaml")), ids=lambda p: p.name)
def test_every_data_file_conforms(path: Path) -> None:
    document = _as_editor_sees(yaml.safe_load(path.read_text(encoding="utf-8")))
    errors = list(_validator().iter_errors(document))
    assert errors == [], [e.message for e in errors[:3]]


@pytest.mark.parametrize(
    "text",
    [
        "arms_transfers:\n  - id: t1\n    supplier: IRN\n",  # required fields missing
        "states:\n  - id: IRN\n    label: Iran\n    alpha2: IR\n    colour: red\n",  # unknown
        "states:\n  - id: Iran\n    label: Iran\n    alpha2: IR\n",  # bad id
        "diplomatic_events:\n  - {id: e, event_type: x, actors: [IRN], sources: [s],"
        " date: 2022-13}\n",
        "transfers: []\n",  # unknown section
        # a kind the field cannot refer to, and an actor type outside the list
        "arms_transfers:\n  - {id: t, supplier: IRN, recipient: weapon/x, weapon_systems: [x],"
        " sources: [s]}\n",
        "non_state_actors:\n  - {id: a, label: A, actor_type: terrorists}\n",
    ],
)
def test_what_the_loader_refuses_the_schema_refuses(text: str) -> None:
    document = _as_editor_sees(yaml.safe_load(text))
    assert list(_validator().iter_errors(document))


def test_the_citation_contract_conforms_and_bad_citations_do_not() -> None:
    good = """\
sources:
  - {id: s1, title: T, publisher: P, type: un-document, identifier: A/RES/68/262, edition: "1"}
arms_transfers:
  - id: t1
    supplier: IRN
    recipient: RUS
    weapon_systems: [x]
    citations:
      - source: s1
        locator: para. 2
        says: One line.
        supports: [delivery_start_date]
        accessed: 2026-11-25
        archived_url: https://web.archive.org/x
    status: inferred
    basis: from t0
    as_of: 2026-11-25
    confidence: low
"""
    assert list(_validator().iter_errors(_as_editor_sees(yaml.safe_load(good)))) == []
    for bad in (
        good.replace("      - source: s1\n        locator", "      - locator"),  # no source
        good.replace("accessed: 2026-11-25", "accessed: 2026-11"),
        good.replace("locator:", "page:"),
        good.replace("type: un-document", "type: blog"),
        good.replace("    citations:", "    quotes:"),  # neither sources nor citations
    ):
        document = _as_editor_sees(yaml.safe_load(bad))
        assert list(_validator().iter_errors(document)), bad


def test_actors_in_every_role_conform() -> None:
    document = yaml.safe_load("""\
non_state_actors:
  - {id: ansar-allah, label: Ansar Allah, actor_type: armed-group}
international_organizations:
  - {id: nato, label: NATO}
arms_transfers:
  - {id: t, supplier: IRN, recipient: actor/ansar-allah, weapon_systems: [x], sources: [s]}
administrations:
  - {id: a, territory: nk, administered_by: actor/artsakh, sources: [s]}
diplomatic_events:
  - {id: e, event_type: x, actors: [igo/nato], targets: [RUS, ansar-allah], sources: [s]}
""")
    assert list(_validator().iter_errors(document)) == []
