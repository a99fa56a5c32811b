import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MINI, ROOT, write_data

from kb.cli import main


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder laid out like the repository: data/ here, the store in .geokb/."""
    write_data(tmp_path / "data", MINI)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_validate_ok(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 0
    assert "ok: 5 records in 3 files" in capsys.readouterr().out


def test_build_then_query_as_table_and_json(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build"]) == 0
    capsys.readouterr()
    q = "SELECT ?t WHERE { ?t <https://w3id.org/geokb/ontology#supplier> ?s }"
    assert main(["query", q]) == 0
    assert "<https://w3id.org/geokb/id/transfer/t1>" in capsys.readouterr().out
    assert main(["query", q, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["results"]["bindings"][0]["t"]["value"].endswith("/id/transfer/t1")


def test_query_from_a_file_and_wrong_format(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["build"])
    capsys.readouterr()
    (project / "q.rq").write_text("ASK { ?s ?p ?o }")
    assert main(["query", "q.rq"]) == 0
    assert capsys.readouterr().out.strip() == "yes"
    assert main(["query", "q.rq", "--format", "turtle"]) == 2
    assert "does not fit this query" in capsys.readouterr().err


def test_broken_yaml_fails_with_file_line_and_keeps_old_store(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build"]) == 0
    before = sorted((project / ".geokb" / "builds").iterdir())
    (project / "data" / "states.yaml").write_text(
        "states:\n  - id: IRN\n    label: Iran\n    alpha2: IR\n    capital: Tehran\n"
    )
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert "data/states.yaml:5:5: states[0].capital: unknown field for a state" in err
    assert "nothing was built" in err
    assert sorted((project / ".geokb" / "builds").iterdir()) == before


@pytest.mark.parametrize(
    "fmt,marker",
    [
        ("turtle", "gk:ArmsTransfer"),
        ("nquads", "<https://w3id.org/geokb/graph/data/"),
        ("jsonld", '"@id"'),
    ],
)
def test_export_formats(project: Path, fmt: str, marker: str) -> None:
    main(["build"])
    out = project / f"out.{fmt}"
    assert main(["export", "--format", fmt, "-o", str(out)]) == 0
    assert marker in out.read_text()


def test_query_without_a_build_explains(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "ASK {}"]) == 1
    assert "run 'geokb build' first" in capsys.readouterr().err


def test_installed_command_runs_from_the_repo_root() -> None:
    done = subprocess.run(
        [Path(sys.executable).parent / "geokb", "validate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: ")


def test_new_appends_a_skeleton_that_validate_points_at(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "transfer", "--id", "t9"]) == 0
    out = capsys.readouterr().out
    assert "appended to data/transfers.yaml" in out
    text = (project / "data" / "transfers.yaml").read_text()
    assert "  - id: t9" in text
    assert "supplier:  # required." in text and "E.g. IRN, RUS." in text
    assert "# quantity_ordered:" in text  # optional fields are commented out
    assert main(["validate"]) == 1
    err = capsys.readouterr().err
    assert "arms_transfers[1].supplier: expected an id, found nothing (empty value)" in err
    filled = (
        text.replace("    supplier:  #", "    supplier: IRN  #")
        .replace("    recipient:  #", "    recipient: RUS  #")
        .replace("    weapon_systems: []  #", "    weapon_systems: [drone-x]  #")
        .replace("    sources: []  #", "    sources: [test-source]  #")
    )
    (project / "data" / "transfers.yaml").write_text(filled)
    assert main(["validate"]) == 0, capsys.readouterr().err


def test_new_for_a_kind_without_a_file_starts_one(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "event"]) == 0
    assert (
        (project / "data" / "diplomatic-events.yaml").read_text().startswith("diplomatic_events:\n")
    )
    assert main(["new", "nonsense"]) == 1
    assert "no kind 'nonsense'" in capsys.readouterr().err


def test_build_json_and_quiet_for_scripts(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["full"] is True and summary["records_checked"] == 5
    assert summary["written"]["https://w3id.org/geokb/graph/data/states.yaml"]["after"] > 0
    assert main(["build", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    (project / "data" / "states.yaml").write_text("states:\n  - id: XX\n")
    assert main(["build", "--json"]) == 1
    errors = json.loads(capsys.readouterr().out)["errors"]
    assert errors[0]["file"] == "data/states.yaml" and errors[0]["line"] == 2


def test_the_cli_and_the_store_agree_on_the_default_store() -> None:
    from kb import cli
    from kb.stores import local as store

    assert cli.DEFAULT_STORE == store.DEFAULT_STORE


def test_jobs_runs_the_file_steps_in_workers_with_the_same_result(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--jobs", "2"]) == 0
    assert "ok: 5 records in 3 files" in capsys.readouterr().out
    assert main(["build", "--jobs", "2", "--json"]) == 0
    two = json.loads(capsys.readouterr().out)
    assert main(["build", "--full", "--jobs", "1", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert two["written"] == one["written"] and two["records_checked"] == one["records_checked"]
    with pytest.raises(SystemExit):
        main(["validate", "--jobs", "0"])
    assert "'0' is not a whole number of 1 or more" in capsys.readouterr().err
