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
        "(fields: id, label, alpha2, un_membership, wikidata, sources, citations, note)"
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


def test_citations_are_nested_records_and_their_sources_are_sources() -> None:
    records, problems = _read("""\
        arms_transfers:
          - id: t1
            supplier: IRN
            recipient: RUS
            weapon_systems: [shahed-136]
            delivery_start_date: 2022-09
            sources: [s1]
            citations:
              - source: s2
                locator: para. 2
                says: The first drones arrived in September 2022.
                supports: [delivery_start_date]
                accessed: 2026-11-25
              - source: s1
        """)
    assert problems == []
    [r] = records
    first, second = r.values["citations"]
    assert first.path == "arms_transfers[0].citations[0]" and second.index == 1
    assert first.values["locator"] == ("para. 2",)
    assert first.values["supports"][0].iri == "https://w3id.org/geokb/ontology#deliveryStartDate"
    # each cited source once among the sources, after those of the short form
    assert [v.id for v in r.values["sources"]] == ["s1", "s2"]
    assert [v.path for v in r.refs() if v.id == "s2"] == ["arms_transfers[0].citations[0].source"]


def test_bad_citation_fields_are_located_by_their_path() -> None:
    _, problems = _read("""\
        arms_transfers:
          - id: t1
            supplier: IRN
            recipient: RUS
            weapon_systems: [shahed-136]
            citations:
              - source: s1
                locator: ""
                supports: [delivery_start]
                accessed: 2026-11
                page: 3
              - locator: p. 2
              - s1
        """)
    assert problems == [
        "data/x.yaml:8:18: arms_transfers[0].citations[0].locator: empty text\n"
        "  give a value or leave the field out",
        "data/x.yaml:9:20: arms_transfers[0].citations[0].supports: 'delivery_start' is not a "
        "value field of the arms transfer\n  did you mean 'delivery_start_date'? (fields a "
        "citation can support: supplier, recipient, weapon_systems, quantity_ordered, "
        "quantity_delivered, order_date, delivery_start_date, delivery_end_date, "
        "licensed_production, production_sites, transfer_status, status_by)",
        "data/x.yaml:10:19: arms_transfers[0].citations[0].accessed: '2026-11' is not a full "
        "date\n  write YYYY-MM-DD, e.g. 2026-11-25",
        "data/x.yaml:11:9: arms_transfers[0].citations[0].page: unknown field for a citation\n"
        "  fields: source, locator, says, supports, accessed, archived_url, quote",
        "data/x.yaml:12:9: arms_transfers[0].citations[1].source: required field missing\n"
        "  add 'source:' (The source a citation points into.)",
        "data/x.yaml:13:9: arms_transfers[0].citations[2]: expected a citation (a mapping of "
        "fields), found 's1'\n  write '- source: s1' and the other fields under it",
    ]


def test_citations_stand_in_for_sources_but_one_of_them_is_required() -> None:
    records, problems = _read("""\
        arms_transfers:
          - {id: t1, supplier: IRN, recipient: RUS, weapon_systems: [x], citations: [{source: s}]}
          - {id: t2, supplier: IRN, recipient: RUS, weapon_systems: [x]}
        """)
    assert [r.id for r in records] == ["t1"]
    assert problems == [
        "data/x.yaml:3:5: arms_transfers[1].sources: required field missing\n"
        "  add 'sources:' or 'citations:' (A source that states this fact.)"
    ]


def test_entity_citations_support_its_own_fields_and_add_their_sources() -> None:
    records, problems = _read("""\
        weapon_systems:
          - id: s-400
            label: S-400 Triumf
            category: air defence system
            developed_by: [state/RUS]
            citations:
              - source: s1
                locator: para. 3
                says: A Russian-made long-range air defence system.
                supports: [category, developed_by]
        """)
    assert problems == []
    [weapon] = records
    [cited] = weapon.values["citations"]
    assert [v.key for v in cited.values["supports"]] == ["category", "developed_by"]
    assert [v.id for v in weapon.values["sources"]] == ["s1"]


def test_entity_citation_supporting_a_field_its_kind_lacks_names_file_line_and_field() -> None:
    _, problems = _read("""\
        weapon_systems:
          - id: s-400
            label: S-400 Triumf
            category: air defence system
            citations:
              - source: s1
                locator: para. 3
                supports: [located_in, sources]
        """)
    assert problems == [
        "data/x.yaml:8:20: weapon_systems[0].citations[0].supports[0]: 'located_in' is not a "
        "value field of the weapon system\n  fields a citation can support: label, category, "
        "developed_by, wikidata",
        "data/x.yaml:8:32: weapon_systems[0].citations[0].supports[1]: 'sources' is not a "
        "value field of the weapon system\n  fields a citation can support: label, category, "
        "developed_by, wikidata",
    ]
