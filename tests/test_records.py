import textwrap

import yaml

from kb.build.records import LangString, RefValue, parse_date, records_from_yaml
from kb.build.yamlfile import Loader


def _read(text: str) -> tuple[list, list[str]]:
    root = yaml.compose(textwrap.dedent(text), Loader=Loader)
    records, problems = records_from_yaml("data/x.yaml", root)
    return records, [str(p) for p in problems]


def test_valid_transfer_becomes_a_typed_record() -> None:
    records, problems = _read("""\
        arms_transfers:
          - id: t1
            supplier: IRN
            recipient: RUS
            weapon_systems: [shahed-136]
            quantity_delivered: 120
            licensed_production: false
            delivery_start_date: 2022-09
            sources: [s1]
        """)
    assert problems == []
    [r] = records
    assert r.kind.name == "transfer"
    assert str(r.iri) == "https://w3id.org/geokb/id/transfer/t1"
    assert r.values["quantity_delivered"] == (120,)
    assert r.values["licensed_production"] == (False,)
    assert r.values["delivery_start_date"][0].text == "2022-09"
    assert isinstance(r.values["supplier"][0], RefValue)


def test_unknown_field_suggests_the_right_one() -> None:
    _, problems = _read("""\
        states:
          - id: IRN
            label: Iran
            alpha2: IR
            alpha_2: IR
        """)
    assert problems == [
        "data/x.yaml:5:5: states[0].alpha_2: unknown field for a state\n"
        "  did you mean 'alpha2'? "
        "(fields: id, label, alpha2, un_membership, wikidata, sources, note)"
    ]


def test_missing_required_fields_are_all_reported() -> None:
    _, problems = _read("""\
        arms_transfers:
          - id: t1
            supplier: IRN
        """)
    text = "\n".join(problems)
    assert "arms_transfers[0].recipient: required field missing" in text
    assert "arms_transfers[0].weapon_systems: required field missing" in text
    assert "arms_transfers[0].sources: required field missing" in text
    assert all(p.startswith("data/x.yaml:2:5:") for p in problems)


def test_wrong_types_say_what_is_expected() -> None:
    _, problems = _read("""\
        arms_transfers:
          - id: t1
            supplier: IRN
            recipient: RUS
            weapon_systems: [w]
            quantity_ordered: many
            licensed_production: yes
            sources: [s]
        """)
    assert any(
        ":6:23: arms_transfers[0].quantity_ordered: 'many' is not a whole number" in p
        for p in problems
    )
    assert any("licensed_production: 'yes' is not true or false" in p for p in problems)


def test_impossible_and_malformed_dates_are_errors() -> None:
    _, problems = _read("""\
        disputes:
          - id: d1
            territories: [t]
            claimants: [IRN, ARE]
            start_date: 2023-02-30
            end_date: 22/10/2023
            sources: [s]
        """)
    assert len(problems) == 2
    assert "start_date: '2023-02-30' is not a valid date" in problems[0]
    assert "YYYY, YYYY-MM or YYYY-MM-DD" in problems[0]
    assert "end_date: '22/10/2023' is not a valid date" in problems[1]


def test_dates_keep_their_precision() -> None:
    assert parse_date("2022").datatype.endswith("gYear")
    assert parse_date("2022-10").datatype.endswith("gYearMonth")
    assert parse_date("2022-10-13").datatype.endswith("#date")
    assert parse_date("2022-13") is None
    assert parse_date("2022-10-13T10:00:00") is None


def test_bad_state_id_explains_iso_codes() -> None:
    _, problems = _read("""\
        states:
          - id: Iran
            label: Iran
            alpha2: IR
        """)
    assert problems == [
        "data/x.yaml:2:9: states[0].id: 'Iran' is not a valid state id\n"
        "  ids are an ISO 3166-1 alpha-3 code: three capital letters, e.g. 'IRN'"
    ]


def test_labels_in_several_languages() -> None:
    records, problems = _read("""\
        states:
          - id: IRN
            label: {en: Iran, fa: ایران}
            alpha2: IR
        """)
    assert problems == []
    assert records[0].values["label"] == (LangString("Iran", "en"), LangString("ایران", "fa"))


def test_unknown_section_and_empty_file() -> None:
    _, problems = _read("transfers:\n  - id: x\n")
    assert problems[0].startswith("data/x.yaml:1:1: transfers: unknown section")
    assert "did you mean 'arms_transfers'?" in problems[0]
    records, problems = records_from_yaml("data/empty.yaml", None)
    assert records == [] and "file is empty" in str(problems[0])
