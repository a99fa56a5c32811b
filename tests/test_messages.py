"""Messages that used to mislead, as a person sees them: each one's new text, place and hint
(issue "Some messages mislead")."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from conftest import MINI, write_data

from kb.build.pipeline import compile_data
from kb.build.yamlfile import read_yaml
from kb.errors import DataError


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # messages name files relative to where geokb runs


def _yaml_error(text: str) -> str:
    path = Path("a.yaml")
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_yaml(path)
    [problem] = info.value.problems
    return str(problem)


def _errors(files: dict[str, str]) -> list[str]:
    with pytest.raises(DataError) as info:
        compile_data(write_data(Path("data"), files))
    return [str(p) for p in info.value.problems]


# --- YAML indentation and brackets ---------------------------------------------------------


def test_one_space_too_many_is_an_indentation_error_not_a_quoting_one() -> None:
    # before: "a.yaml:4:15: YAML syntax error: mapping values are not allowed in this context
    #   a value containing ': ' must be quoted, e.g. title: "A: B""
    error = _yaml_error(
        """\
        arms_transfers:
          - id: t1
            supplier: IRN
             recipient: RUS
        """
    )
    assert error == (
        "a.yaml:4:6: YAML syntax error: wrong indentation (mapping values are not allowed "
        "in this context)\n"
        "  this line is indented 5 spaces; its siblings at line 3 use 4 spaces: indent it "
        "4 spaces, or it is read as part of the value above"
    )


def test_a_colon_inside_a_value_still_asks_for_quotes() -> None:
    error = _yaml_error("sources:\n  - id: s\n    title: A: B\n")
    assert error.startswith("a.yaml:3:13: YAML syntax error: mapping values are not allowed")
    assert "a value containing ': ' must be quoted" in error


def test_a_field_indented_too_little_names_its_siblings() -> None:
    # before: "a.yaml:4:4: YAML syntax error: did not find expected '-' indicator" (no hint)
    error = _yaml_error(
        """\
        arms_transfers:
          - id: t1
            supplier: IRN
           recipient: RUS
        """
    )
    assert error == (
        "a.yaml:4:4: YAML syntax error: wrong indentation (did not find expected '-' "
        "indicator)\n"
        "  this line is indented 3 spaces; its siblings at line 3 use 4 spaces: indent it "
        "4 spaces"
    )


def test_a_list_item_indented_wrongly_names_the_item_before() -> None:
    error = _yaml_error("states:\n  - id: AAA\n   - id: BBB\n")
    assert error.startswith("a.yaml:3:4: YAML syntax error: wrong indentation")
    assert "this line is indented 3 spaces; its siblings at line 2 use 2 spaces" in error


def test_an_unclosed_bracket_is_reported_where_it_opens() -> None:
    # before: "a.yaml:4:12: YAML syntax error: did not find expected ',' or ']'" (no hint)
    error = _yaml_error(
        """\
        arms_transfers:
          - id: t1
            weapon_systems: [drone-x, drone-y
            sources: [s]
        """
    )
    assert error == (
        "a.yaml:3:21: YAML syntax error: this '[' is never closed\n"
        "  close it with ']' on the same line, e.g. weapon_systems: [drone-x, drone-y]; "
        "YAML noticed it at line 4"
    )


def test_an_unclosed_brace_is_reported_where_it_opens() -> None:
    error = _yaml_error("states:\n  - id: IRN\n    label: {en: Iran\n    alpha2: IR\n")
    assert error.startswith("a.yaml:3:12: YAML syntax error: this '{' is never closed\n")
    assert "close it with '}'" in error


# --- suggestions for unknown ids -------------------------------------------------------------

STATES = """\
    states:
      - id: AZE
        label: Azerbaijan
        alpha2: AZ
      - id: IRN
        label: Iran
        alpha2: IR
      - id: MAR
        label: Morocco
        alpha2: MA
      - id: RUS
        label: Russia
        alpha2: RU
      - id: TUR
        label: Türkiye
        alpha2: TR
    """


def _unknown_ref(field: str, value: str) -> str:
    files = {
        **MINI,
        "states.yaml": STATES,
        "transfers.yaml": MINI["transfers.yaml"].replace(f"{field}: ", f"{field}: {value} #"),
    }
    [error] = _errors(files)
    return error


def test_a_neighbouring_key_is_suggested_before_a_look_alike() -> None:
    # before: "did you mean 'MAR'?"
    error = _unknown_ref("recipient", "AZR")
    assert error == (
        "data/transfers.yaml:8:16: arms_transfers[0].recipient: unknown state id 'AZR'\n"
        "  did you mean 'AZE'? (state ids are ISO 3166-1 alpha-3 codes, declared under "
        "'states:')"
    )


def test_the_right_id_in_the_wrong_case_is_suggested() -> None:
    # before: no suggestion ('tur' is shaped like an actor's id, and no actor was close)
    error = _unknown_ref("supplier", "tur")
    assert error.startswith("data/transfers.yaml:7:15: arms_transfers[0].supplier: unknown ")
    assert "id 'tur'\n  did you mean 'TUR'? (ids are case-sensitive; state ids are ISO" in error


def test_a_country_name_suggests_its_code() -> None:
    # before: no suggestion
    error = _unknown_ref("supplier", "Turkey")
    assert "supplier: unknown state or actor id 'Turkey'" in error
    assert "did you mean 'TUR'? ('TUR' is the code of Türkiye; state ids are ISO" in error
    error = _unknown_ref("recipient", "Iran")
    assert "did you mean 'IRN'? ('IRN' is the code of Iran; " in error


def test_a_country_name_whose_code_is_not_declared_says_so() -> None:
    error = _unknown_ref("recipient", "Syria")
    assert "did you mean" not in error
    assert "(Syria's code 'SYR' is not declared; state ids are ISO 3166-1 alpha-3 codes" in error


# --- CAMEO codes ---------------------------------------------------------------------------


def _cameo(code: str) -> str:
    files = {
        **MINI,
        "events.yaml": f"""\
            diplomatic_events:
              - id: e1
                event_type: public statement
                actors: [IRN]
                cameo: "{code}"
                sources: [test-source]
            """,
    }
    [error] = _errors(files)
    return error


def test_a_cameo_code_suggests_its_own_root_not_another() -> None:
    # before: "'057' is not one of the allowed values\n  did you mean '07'? (allowed: 01, ...)"
    assert _cameo("057") == (
        "data/events.yaml:5:12: diplomatic_events[0].cameo: '057' is not one of the allowed "
        "codes\n"
        "  did you mean '05' (Engage in diplomatic cooperation)? the codes under 05 are: 05"
    )


def test_a_cameo_sub_code_suggests_the_nearest_under_its_root() -> None:
    error = _cameo("063")
    assert "did you mean '06' (Engage in material cooperation)? the codes under 06 are: " in error
    assert "06, 062, 064" in error


def test_a_cameo_code_that_lost_its_zero() -> None:
    error = _cameo("72")
    assert "did you mean '072' (Provide military aid)?" in error
    assert "CAMEO codes keep their leading zero" in error


def test_a_cameo_code_under_no_root_suggests_none() -> None:
    error = _cameo("257")
    assert "did you mean" not in error
    assert "give a code listed in the schema; the roots are 01, 02," in error


# --- duplicate ids -------------------------------------------------------------------------


IRN_AGAIN = "states:\n  - id: IRN\n    label: Iran again\n    alpha2: IR\n"


def test_a_reused_id_is_reported_in_the_file_being_edited() -> None:
    # before: "data/states.yaml:2:5: id: duplicate state id 'IRN' (first defined at
    # data/aa-new.yaml:2:5)": reported against the file that was not touched
    data = write_data(Path("data"), MINI)
    hour_ago = os.stat(data / "states.yaml").st_mtime - 3600
    for path in data.iterdir():
        os.utime(path, (hour_ago, hour_ago))
    (data / "aa-new.yaml").write_text(IRN_AGAIN)
    [error] = _errors({})
    assert error == (
        "data/aa-new.yaml:2:5: id: duplicate state id 'IRN' (also defined at "
        "data/states.yaml:2:5)\n"
        "  ids must be unique within a kind; rename this record, or merge it with the one at "
        "data/states.yaml:2:5"
    )


def test_a_reused_id_in_files_written_together_is_reported_in_the_later_file() -> None:
    files = {**MINI, "zz-more.yaml": IRN_AGAIN}
    [error] = _errors(files)
    assert error.startswith(
        "data/zz-more.yaml:2:5: id: duplicate state id 'IRN' (first defined at "
        "data/states.yaml:2:5)\n"
    )
    assert "merge it with the one at data/states.yaml:2:5" in error


# --- geokb new -----------------------------------------------------------------------------

TRANSFERS_FIRST = """\
    arms_transfers:
      - id: t1
        supplier: IRN
        recipient: RUS
        weapon_systems: [drone-x]
        sources: [test-source]

    # the weapons the transfers name
    weapon_systems:
      - id: drone-x
        label: Drone X
        category: UAV
    """

MANY_STATES = "states:\n" + "".join(
    f"  - id: {code}\n    label: {code}\n    alpha2: {code[:2]}\n"
    for code in ("AAA", "ABC", "ACD", "ADE", "IRN", "RUS")
)


def _fill(text: str) -> str:
    return (
        text.replace("    supplier:  #", "    supplier: IRN  #")
        .replace("    recipient:  #", "    recipient: RUS  #")
        .replace("    weapon_systems: []  #", "    weapon_systems: [drone-x]  #")
        .replace("    sources: []  #", "    sources: [test-source]  #")
    )


def test_new_adds_to_a_section_that_is_not_last() -> None:
    # before: "data/transfers.yaml: the 'arms_transfers:' section is not the last in the
    # file, so a record cannot be appended to it; give --file, or move the section to the end"
    from kb.review.skeleton import add_skeleton

    data = write_data(Path("data"), {**MINI, "transfers.yaml": TRANSFERS_FIRST})
    target, text = add_skeleton(data, "transfer", "t2")
    assert target == data / "transfers.yaml"
    written = target.read_text()
    before, after = written.split("\n\n# the weapons the transfers name\n")
    assert before.endswith("    sources: [test-source]\n\n" + text.rstrip("\n"))
    assert after.startswith("weapon_systems:\n  - id: drone-x\n")
    target.write_text(_fill(written))
    compile_data(data)  # the filled-in record is read as an arms transfer


def test_new_shows_ids_that_already_play_the_role() -> None:
    # before: "E.g. AAA, ABC, ACD, ADE." (the first ids alphabetically)
    from kb.review.skeleton import add_skeleton

    data = write_data(Path("data"), {**MINI, "states.yaml": MANY_STATES})
    _, text = add_skeleton(data, "transfer", "t2")
    supplier = next(line for line in text.splitlines() if line.startswith("    supplier:"))
    recipient = next(line for line in text.splitlines() if line.startswith("    recipient:"))
    assert supplier.endswith(" E.g. IRN, RUS.")  # IRN supplies; RUS is named elsewhere
    assert recipient.endswith(" E.g. RUS, IRN.")
    assert "AAA" not in text


def test_the_placeholder_id_fails_validation_until_replaced() -> None:
    # before: "  - id: new-transfer" validated as a real id once the fields were filled in
    from kb.review.skeleton import add_skeleton

    data = write_data(Path("data"), MINI)
    target, text = add_skeleton(data, "transfer")
    assert "  - id: replace-me  # replace the placeholder id: lower-case letters" in text
    target.write_text(_fill(target.read_text()))
    [error] = _errors({})
    assert error == (
        "data/transfers.yaml:14:9: arms_transfers[1].id: 'replace-me' is the placeholder id "
        "of a 'geokb new' skeleton\n"
        "  replace the placeholder id with the record's own: lower-case letters, digits and "
        "single hyphens, e.g. 'abu-musa'"
    )
    target.write_text(target.read_text().replace("id: replace-me", "id: t2"))
    compile_data(data)


def test_a_second_placeholder_is_numbered_and_a_state_placeholder_is_xxx() -> None:
    from kb.review.skeleton import add_skeleton

    data = write_data(Path("data"), MINI)
    add_skeleton(data, "transfer")
    _, text = add_skeleton(data, "transfer")
    assert "  - id: replace-me-2  #" in text
    _, text = add_skeleton(data, "state")
    assert "  - id: XXX  # replace the placeholder id: an ISO 3166-1 alpha-3 code" in text
