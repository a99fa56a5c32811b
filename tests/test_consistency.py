"""Facts that must agree with each other (kb/build/consistency.py): each inconsistency is
refused by the build with file:line:col, the YAML path, what is wrong and what would be
right; dates are compared at the precision given."""

from __future__ import annotations

import datetime
import textwrap
from pathlib import Path

import pytest
from conftest import DATA, MINI, write_data

from kb.build import consistency
from kb.build.consistency import Summary, cross_problems
from kb.build.pipeline import compile_data
from kb.errors import DataError, Problem

STATES = """\
    states:
      - id: ARE
        label: United Arab Emirates
        alpha2: AE
    territories:
      - id: island
        label: An island
    """


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # problems name files as data/<name>


def _data(tmp_path: Path, files: dict[str, str]) -> Path:
    return write_data(tmp_path / "data", {**MINI, "more-states.yaml": STATES, **files})


def _problems(tmp_path: Path, files: dict[str, str]) -> list[Problem]:
    with pytest.raises(DataError) as caught:
        compile_data(_data(tmp_path, files), jobs=1)
    return caught.value.problems


def _accepted(tmp_path: Path, files: dict[str, str]) -> None:
    compile_data(_data(tmp_path, files), jobs=1)


def _line(text: str, needle: str, nth: int = 1) -> int:
    """The line of the ``nth`` line of ``text`` (dedented, as written) holding ``needle``."""
    lines = [i for i, t in enumerate(textwrap.dedent(text).splitlines(), 1) if needle in t]
    return lines[nth - 1]


def _one(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def _transfer(**fields: str) -> str:
    extra = "".join(f"\n    {k}: {v}" for k, v in fields.items())
    return f"""\
arms_transfers:
  - id: t9
    supplier: IRN
    recipient: RUS
    weapon_systems: [drone-x]{extra}
    sources: [test-source]
"""


# --- dates in order ------------------------------------------------------------------------


def test_end_before_start_is_refused_with_where_and_what_would_be_right(tmp_path: Path) -> None:
    text = """\
        combat_uses:
          - id: u1
            user: RUS
            weapon_systems: [drone-x]
            start_date: 2014-03
            end_date: 2013
            sources: [test-source]
        """
    p = _one(_problems(tmp_path, {"more.yaml": text}))
    assert p.location.file == "data/more.yaml"
    assert p.location.line == _line(text, "end_date")
    assert p.field == "combat_uses[0].end_date"
    assert (
        p.message == f"end date 2013 is before the start date 2014-03 (line {p.location.line - 1})"
    )
    assert "on or after the start date, at the precision given" in p.hint
    assert str(p).startswith(f"data/more.yaml:{p.location.line}:5: combat_uses[0].end_date: ")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2014", "2014-03"),  # a year covers the whole year
        ("2014-03", "2014"),
        ("2014-03-18", "2014-03"),
        ("2014-03", "2014-03-01"),
        ("2014-03-18", "2014-03-18"),
        ("2013-12-31", "2014"),
    ],
)
def test_dates_compatible_at_their_precision_are_accepted(
    tmp_path: Path, start: str, end: str
) -> None:
    text = f"""\
        combat_uses:
          - id: u1
            user: RUS
            weapon_systems: [drone-x]
            start_date: "{start}"
            end_date: "{end}"
            sources: [test-source]
        """
    _accepted(tmp_path, {"more.yaml": text})


def test_delivery_before_order_is_refused(tmp_path: Path) -> None:
    text = _transfer(order_date="2023", delivery_start_date="2022-10")
    p = _one(_problems(tmp_path, {"more.yaml": text}))
    assert (p.location.line, p.field) == (
        _line(text, "delivery_start"),
        "arms_transfers[0].delivery_start_date",
    )
    assert p.message.startswith("delivery start date 2022-10 is before the order date 2023")


def test_last_delivery_before_the_first_is_refused(tmp_path: Path) -> None:
    text = _transfer(delivery_start_date="2022-10", delivery_end_date="2022-09-30")
    p = _one(_problems(tmp_path, {"more.yaml": text}))
    assert p.field == "arms_transfers[0].delivery_end_date"
    assert p.location.line == _line(text, "delivery_end_date")
    assert "before the delivery start date 2022-10" in p.message


def test_order_is_compared_with_the_last_delivery_when_no_first_is_given(tmp_path: Path) -> None:
    p = _one(
        _problems(tmp_path, {"more.yaml": _transfer(order_date="2023", delivery_end_date="2022")})
    )
    assert p.field == "arms_transfers[0].delivery_end_date"
    assert "before the order date 2023" in p.message
    _accepted(tmp_path, {"more.yaml": _transfer(order_date="2023-05", delivery_end_date="2023")})


# --- quantities ----------------------------------------------------------------------------


def test_more_delivered_than_ordered_is_refused_unless_a_note_explains(tmp_path: Path) -> None:
    text = _transfer(quantity_ordered="100", quantity_delivered="120")
    p = _one(_problems(tmp_path, {"more.yaml": text}))
    assert (p.location.line, p.field) == (
        _line(text, "quantity_delivered"),
        "arms_transfers[0].quantity_delivered",
    )
    assert p.message == (
        f"quantity delivered (120) is more than quantity ordered (100, line "
        f"{_line(text, 'quantity_ordered')})"
    )
    assert "note:" in p.hint and "any note is taken as the explanation" in p.hint
    explained = _transfer(
        quantity_ordered="100",
        quantity_delivered="120",
        note="twenty more came on a follow-on order",
    )
    _accepted(tmp_path, {"more.yaml": explained})
    _accepted(tmp_path, {"more.yaml": _transfer(quantity_ordered="100", quantity_delivered="100")})


# --- parties that must differ --------------------------------------------------------------


@pytest.mark.parametrize("recipient", ["IRN", "state/IRN"])
def test_supplier_equal_to_recipient_is_refused(tmp_path: Path, recipient: str) -> None:
    text = _transfer().replace("recipient: RUS", f"recipient: {recipient}")
    p = _one(_problems(tmp_path, {"more.yaml": text}))
    assert (p.location.line, p.field) == (_line(text, "recipient"), "arms_transfers[0].recipient")
    assert p.message == f"'IRN' is both supplier (line {_line(text, 'supplier')}) and recipient"
    assert p.hint.startswith("a transfer goes from one state to another")


def test_a_user_targeting_itself_and_other_self_pairs_are_refused(tmp_path: Path) -> None:
    text = """\
        combat_uses:
          - id: u1
            user: RUS
            targets: [IRN, RUS]
            weapon_systems: [drone-x]
            sources: [test-source]
        diplomatic_events:
          - id: e1
            event_type: public statement
            actors: [IRN]
            targets: [IRN]
            sources: [test-source]
        territories:
          - id: loop
            label: Loop
            part_of: loop
        """
    found = {(p.field, p.location.line): p for p in _problems(tmp_path, {"more.yaml": text})}
    assert set(found) == {
        ("combat_uses[0].targets[1]", _line(text, "targets: [IRN, RUS]")),
        ("diplomatic_events[0].targets", _line(text, "targets: [IRN]")),
        ("territories[0].part_of", _line(text, "part_of")),
    }
    assert (
        found["combat_uses[0].targets[1]", 4].message == "'RUS' is both user (line 3) and targets"
    )
    assert "does not use weapons against itself" in found["combat_uses[0].targets[1]", 4].hint
    assert found["territories[0].part_of", _line(text, "part_of")].message == (
        "territory 'loop' is part of itself"
    )


# --- dates after today ---------------------------------------------------------------------


def test_a_date_in_2092_is_refused(tmp_path: Path) -> None:
    text = _transfer(delivery_start_date="2092", transfer_status="delivered")
    p = _one(_problems(tmp_path, {"more.yaml": text}))
    assert (p.location.line, p.field) == (
        _line(text, "delivery_start_date"),
        "arms_transfers[0].delivery_start_date",
    )
    assert p.message == f"delivery start date 2092 is after today ({datetime.date.today()})"
    assert "transfer_status: planned" in p.hint


@pytest.mark.parametrize("status", ["planned", "ordered"])
def test_planned_and_ordered_transfers_may_be_dated_ahead(tmp_path: Path, status: str) -> None:
    text = _transfer(
        order_date="2092",
        delivery_start_date="2093",
        delivery_end_date="2094-06",
        transfer_status=status,
    )
    _accepted(tmp_path, {"more.yaml": text})


def test_other_facts_and_citations_may_not_be_dated_ahead(tmp_path: Path) -> None:
    text = """\
        combat_uses:
          - id: u1
            user: RUS
            weapon_systems: [drone-x]
            start_date: "2092"
            as_of: "2092-01-01"
            citations:
              - source: test-source
                accessed: "2092-05-01"
        """
    found = {p.field: p for p in _problems(tmp_path, {"more.yaml": text})}
    assert set(found) == {
        "combat_uses[0].start_date",
        "combat_uses[0].as_of",
        "combat_uses[0].citations[0].accessed",
    }
    assert found["combat_uses[0].citations[0].accessed"].location.line == _line(text, "accessed")
    assert "correct the date" in found["combat_uses[0].start_date"].hint


def test_today_is_compared_at_the_precision_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consistency, "today", lambda: datetime.date(2026, 3, 15))
    for date in ("2026", "2026-03", "2026-03-15"):
        _accepted(tmp_path, {"more.yaml": _transfer(delivery_start_date=f'"{date}"')})
    for date in ("2026-04", "2026-03-16", "2027"):
        p = _one(_problems(tmp_path, {"more.yaml": _transfer(delivery_start_date=f'"{date}"')}))
        assert p.message == f"delivery start date {date} is after today (2026-03-15)"


# --- administrations that overlap, across files --------------------------------------------


def _administration(rid: str, by: str, start: str = "", end: str = "", note: str = "") -> str:
    lines = [f"  - id: {rid}", "    territory: island", f"    administered_by: {by}"]
    lines += [f'    start_date: "{start}"'] if start else []
    lines += [f'    end_date: "{end}"'] if end else []
    lines += [f"    note: {note}"] if note else []
    return "administrations:\n" + "\n".join(lines) + "\n    sources: [test-source]\n"


def test_overlapping_administrations_in_two_files_are_refused(tmp_path: Path) -> None:
    first = _administration("island-under-iran", "IRN", "2000", "2010")
    second = _administration("island-under-uae", "ARE", "2005-06")
    p = _one(_problems(tmp_path, {"a.yaml": first, "b.yaml": second}))
    assert (p.location.file, p.location.line) == ("data/b.yaml", _line(second, "start_date"))
    assert p.field == "administrations[0].start_date"
    assert p.message == (
        "administration 'island-under-uae' by ARE (2005-06 to now) overlaps "
        "'island-under-iran' by IRN (2000 to 2010, data/a.yaml:2) in island"
    )
    assert "'partial' or 'contested' in both records' 'note:'" in p.hint


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("IRN", "2000", "2010-03", ""), ("ARE", "2010-03", "", "")),  # one month, either way
        (("IRN", "2000", "2010-03-18", ""), ("ARE", "2010-03-18", "", "")),  # a handover day
        (("IRN", "2000", "2010", ""), ("IRN", "2005", "", "")),  # the same state
        (("IRN", "2000", "", "partial, the north"), ("ARE", "2005", "", "contested zone")),
    ],
)
def test_administrations_that_do_not_certainly_overlap_or_say_why_are_accepted(
    tmp_path: Path, first: tuple[str, ...], second: tuple[str, ...]
) -> None:
    a = _administration("island-a", *first)
    b = _administration("island-b", *second)
    _accepted(tmp_path, {"a.yaml": a, "b.yaml": b})


def test_an_overlap_marked_on_one_side_only_is_refused(tmp_path: Path) -> None:
    a = _administration("island-a", "IRN", "2000", "", "partial, the north")
    b = _administration("island-b", "ARE", "2005")
    assert "overlaps 'island-a'" in _one(_problems(tmp_path, {"a.yaml": a, "b.yaml": b})).message


def test_an_incremental_build_finds_overlaps_with_files_it_does_not_read(tmp_path: Path) -> None:
    earlier = _administration("island-under-iran", "IRN", "2000", "2010")
    data = _data(tmp_path, {"a.yaml": earlier})
    compiled = compile_data(data, jobs=1)
    # the new file starts first: the problem is in the file the build does not re-read,
    # located from what the manifest keeps of it
    write_data(data, {"b.yaml": _administration("island-under-uae", "ARE", "1995", "2001")})
    with pytest.raises(DataError) as caught:
        compile_data(data, compiled.manifest, jobs=1)
    p = _one(caught.value.problems)
    assert (p.location.file, p.location.line) == ("data/a.yaml", _line(earlier, "start_date"))
    assert "data/b.yaml:2" in p.message
    # and a build that changes nothing near them still passes
    write_data(data, {"b.yaml": _administration("island-under-uae", "ARE", "1995", "2000")})
    again = compile_data(data, compiled.manifest, jobs=1)
    assert again.records == 1  # only b.yaml was read
    assert len(again.manifest.files["a.yaml"].checks) == 1


def test_summaries_survive_the_manifest(tmp_path: Path) -> None:
    text = _administration("island-a", "IRN", "2000", "", "partial")
    compiled = compile_data(_data(tmp_path, {"a.yaml": text}), jobs=1)
    [row] = [Summary.from_json(r) for r in compiled.manifest.files["a.yaml"].checks]
    assert (row.kind, row.id, row.text("start_date"), row.text("marker")) == (
        "administration",
        "island-a",
        "2000",
        "partial",
    )
    from kb.build.manifest import from_json

    reloaded = from_json(compiled.manifest.to_json())
    assert reloaded is not None
    assert [Summary.from_json(r) for r in reloaded.files["a.yaml"].checks] == [row]


# --- claims and their disputes -------------------------------------------------------------


def test_a_claim_whose_claimant_the_dispute_does_not_list_is_refused(tmp_path: Path) -> None:
    dispute = """\
        disputes:
          - id: island-dispute
            territories: [island]
            claimants: [IRN, RUS]
            sources: [test-source]
        """
    claims = """\
        sovereignty_claims:
          - id: iran-claims-island
            dispute: island-dispute
            claimant: IRN
            sources: [test-source]
          - id: uae-claims-island
            dispute: island-dispute
            claimant: ARE
            sources: [test-source]
          - id: russia-claims-island
            dispute: island-dispute
            claimant: RUS
            sources: [test-source]
        """
    p = _one(_problems(tmp_path, {"disputes.yaml": dispute, "claims.yaml": claims}))
    assert (p.location.file, p.location.line) == ("data/claims.yaml", _line(claims, "ARE"))
    assert p.field == "sovereignty_claims[1].claimant"
    assert p.message == (
        "ARE is not a claimant of dispute 'island-dispute' (its claimants: IRN, RUS; "
        "data/disputes.yaml:2)"
    )
    assert p.hint.startswith("add ARE to the dispute's 'claimants:'")


# --- the real data -------------------------------------------------------------------------


def test_the_real_data_validates_with_its_partial_administrations_marked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(DATA.parent)
    compiled = compile_data(DATA, jobs=1)
    by_file = {
        name: [Summary.from_json(r) for r in entry.checks]
        for name, entry in compiled.manifest.files.items()
    }
    # the Abu Musa zones (1971-1992) and Bakassi (2006-2008) overlap, marked as partial
    assert cross_problems(by_file) == []


def test_a_claimant_without_a_claim_record_is_an_error() -> None:
    dispute = Summary(
        "dispute", "isles", "disputes[0]", 3, 5,
        {"claimants": [("AAA", "disputes[0].claimants[0]", 5, 17),
                       ("BBB", "disputes[0].claimants[1]", 5, 22)]},
    )  # fmt: skip
    claim = Summary(
        "claim", "aaa-claims-isles", "sovereignty_claims[0]", 9, 5,
        {"dispute": [("isles", "sovereignty_claims[0].dispute", 10, 14)],
         "claimant": [("AAA", "sovereignty_claims[0].claimant", 11, 15)]},
    )  # fmt: skip
    problems = cross_problems({"data/d.yaml": [dispute, claim]})
    assert [(str(p.location), p.field) for p in problems] == [
        ("data/d.yaml:5:22", "disputes[0].claimants[1]")
    ]
    assert "BBB is a claimant of dispute 'isles' but no sovereignty claim" in problems[0].message
    assert "claimant: BBB" in problems[0].hint
