from pathlib import Path

import pytest
from conftest import MINI, write_data

from kb.build.pipeline import compile_data
from kb.errors import DataError


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # errors name files relative to where geokb runs


def _errors(tmp_path: Path, files: dict[str, str]) -> list[str]:
    with pytest.raises(DataError) as info:
        compile_data(write_data(Path("data"), files))
    return [str(p) for p in info.value.problems]


def test_unknown_state_id_names_file_line_and_suggests(tmp_path: Path) -> None:
    files = {
        **MINI,
        "transfers.yaml": MINI["transfers.yaml"].replace("recipient: RUS", "recipient: RUR"),
    }
    [error] = _errors(tmp_path, files)
    assert error.startswith(
        "data/transfers.yaml:8:16: arms_transfers[0].recipient: unknown state id 'RUR'\n"
    )
    assert "did you mean 'RUS'?" in error
    assert "ISO 3166-1 alpha-3" in error


def test_duplicate_id_across_files_points_to_the_first(tmp_path: Path) -> None:
    files = {
        **MINI,
        "zz-more.yaml": """\
        states:
          - id: IRN
            label: Iran again
            alpha2: IR
        """,
    }
    [error] = _errors(tmp_path, files)
    assert error.startswith(
        "data/zz-more.yaml:2:5: id: duplicate state id 'IRN' "
        "(first defined at data/states.yaml:2:5)"
    )


def test_ambiguous_reference_asks_for_the_kind(tmp_path: Path) -> None:
    files = {
        **MINI,
        "orgs.yaml": """\
        organizations:
          - id: shared
            label: An organisation
        territories:
          - id: shared
            label: A territory
        diplomatic_events:
          - id: e1
            event_type: public statement
            actors: [IRN]
            about: [shared]
            sources: [test-source]
        """,
    }
    [error] = _errors(tmp_path, files)
    assert "about: 'shared' is ambiguous" in error
    assert "territory/shared" in error and "organization/shared" in error


def test_all_errors_of_a_run_are_reported_sorted(tmp_path: Path) -> None:
    files = {
        **MINI,
        "b.yaml": "states:\n  - id: XX\n    label: Bad\n    alpha2: XX\n",
        "a.yaml": "weapon_systems:\n  - id: W\n    label: w\n",
    }
    errors = _errors(tmp_path, files)
    assert [e.split(": ")[0] for e in errors] == [
        "data/a.yaml:2:5",  # weapon_systems[0].category missing
        "data/a.yaml:2:9",  # 'W' is not a valid id
        "data/b.yaml:2:9",  # 'XX' is not a valid state id
    ]
