"""Tools for reviewers: geokb diff between git revisions, geokb check --contradictions."""

import json
import subprocess
from pathlib import Path

import pytest
from conftest import MINI, write_data

from kb.cli import main

MORE = """\
    arms_transfers:
      - id: t2
        supplier: IRN
        recipient: RUS
        weapon_systems: [drone-x]
        quantity_delivered: 400
        sources: [test-source]
      - id: t3
        supplier: IRN
        recipient: RUS
        weapon_systems: [drone-x]
        quantity_delivered: 1700
        sources: [other-source]
    sources:
      - id: other-source
        title: Another report
        publisher: Other Publisher
    """


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_data(tmp_path / "data", MINI)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "-c", "user.email=t@example.org", "-c", "user.name=T", "add", ".")
    _git(tmp_path, "-c", "user.email=t@example.org", "-c", "user.name=T", "commit", "-qm", "one")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_diff_lists_added_removed_and_changed_facts(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transfers = repo / "data" / "transfers.yaml"
    transfers.write_text(transfers.read_text().replace("2022-10", "2022-11"))
    write_data(repo / "data", {"more.yaml": MORE})
    assert main(["diff", "HEAD"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "+ transfer/t2" in out and "+ transfer/t3" in out and "+ source/other-source" in out
    assert "~ transfer/t1" in out
    assert "    deliveryStartDate: 2022-10 -> 2022-11" in out
    assert out[-1] == "3 added, 0 removed, 1 changed"
    assert main(["diff", "HEAD", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["added"] == sorted(data["added"]) and len(data["added"]) == 3
    assert main(["diff", "HEAD", "--format", "turtle"]) == 0
    assert "# removed" in capsys.readouterr().out
    assert main(["diff", "no-such-rev"]) == 1
    assert "git has no data/ at 'no-such-rev'" in capsys.readouterr().err


def test_contradictions_list_both_sides_with_sources(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_data(repo / "data", {"more.yaml": MORE})
    assert main(["build"]) == 0
    capsys.readouterr()
    assert main(["check", "--contradictions"]) == 0
    out = capsys.readouterr().out
    assert "transfers of the same weapons give different numbers" in out
    assert "400" in out and "1700" in out
    assert "[A test source]" in out and "[Another report]" in out
    assert main(["check", "--contradictions", "--json"]) == 0
    [found] = json.loads(capsys.readouterr().out)
    assert {found["first_says"], found["second_says"]} == {"400", "1700"}


def test_real_data_contradictions_are_the_drone_denials(
    real_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--contradictions", "--store", str(real_store)]) == 0
    out = capsys.readouterr().out
    assert "a party denies what others report or confirm" in out
    assert "iran-denies-wartime-drone-supply" in out


DISPUTED = """\
    states:
      - id: ARE
        label: United Arab Emirates
        alpha2: AE
    territories:
      - id: island
        label: An island
    disputes:
      - id: island-dispute
        territories: [island]
        claimants: [IRN, ARE]
        sources: [test-source]
    sovereignty_claims:
      - id: iran-claims-island
        dispute: island-dispute
        claimant: IRN
        start_date: "1971"
        sources: [test-source]
      - id: iran-claims-island-too
        dispute: island-dispute
        claimant: IRN
        start_date: "1992"
        sources: [other-source]
      - id: uae-claims-island
        dispute: island-dispute
        claimant: ARE
        sources: [other-source]
    administrations:
      - id: island-north-under-iran
        territory: island
        administered_by: IRN
        start_date: "1971"
        note: partial, the north
        sources: [test-source]
      - id: island-south-under-uae
        territory: island
        administered_by: ARE
        start_date: "1971-12"
        note: partial, the south
        sources: [other-source]
    """


def test_contradictions_list_overlaps_and_disagreeing_claims(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a claimant with no claim record is refused by the build itself (test_consistency.py)
    write_data(repo / "data", {"more.yaml": MORE, "island.yaml": DISPUTED})
    assert main(["build"]) == 0
    capsys.readouterr()
    assert main(["check", "--contradictions"]) == 0
    out = capsys.readouterr().out
    assert (
        "administrations of one territory overlap (both marked partial or contested): "
        "https://w3id.org/geokb/id/territory/island" in out
    )
    assert "state/IRN, 1971 to now  [A test source]" in out
    assert "state/ARE, 1971-12 to now  [Another report]" in out
    assert "claims of one claimant in a dispute disagree: " in out
    assert "startDate 1971  [A test source]" in out and "startDate 1992  [Another report]" in out
    assert "warning" not in out
    assert out.rstrip().endswith("3 contradictions")
    assert main(["check", "--contradictions", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [c["level"] for c in found].count("warning") == 0


def test_real_data_overlaps_and_claim_gaps_are_reported(
    real_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--contradictions", "--store", str(real_store), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    overlaps = {
        (c["first"].rsplit("/", 1)[1], c["second"].rsplit("/", 1)[1])
        for c in found
        if c["kind"].startswith("administrations of one territory overlap")
    }
    # the zones of Abu Musa (1971-1992) and of Bakassi (2006-2008), among others (Kashmir's
    # parts, the Spratlys' features ...): marked partial, reported
    assert {
        ("abu-musa-iranian-zone-under-iran", "abu-musa-sharjah-zone-under-uae"),
        ("bakassi-remaining-zone-under-nigeria", "bakassi-under-cameroon"),
        ("jammu-and-kashmir-part-under-india", "jammu-and-kashmir-part-under-pakistan"),
    } <= overlaps
    # a territory held by one state after another is no overlap (the Falklands: 1982)
    assert not any(a.startswith("falkland") for a, _ in overlaps)
    # every claimant of every dispute has its claim record (the build refuses a gap)
    assert [c for c in found if c["level"] == "warning"] == []
