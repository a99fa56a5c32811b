"""Facts that must agree with each other: dates in order, no more delivered than ordered,
no party on both sides, nothing dated after today, one administrator of a territory at a time.

Two kinds of check, run where the pipeline has what they need:

- ``record_problems``: within one record (a fact's own dates and parties), in round one of
  the per-file steps (``kb.build.per_file``), beside reading.
- ``cross_problems``: across records, perhaps of different files (administrations of one
  territory; a claim and its dispute). They need only a few fields of a few kinds, kept as
  ``Summary`` rows: round one sends them out of the worker with the file's ids, and the build
  manifest keeps them for the files an incremental build does not re-read, so the checks run
  over every record of the data on every build, at the cost of a few dictionary lookups.

Dates are compared as the intervals their precision gives: '2014' is any day of 2014 and
'2014-03' any day of March 2014. Two dates are out of order only when every reading of them
is (a '2014' start and a '2014-03' end agree); two periods overlap only when every reading of
them overlaps (one that ends in '2014-03' and one that starts in '2014-03' do not), and
periods that meet on a day (one ends, the other starts on 1982-06-14) do not.
"""

from __future__ import annotations

import calendar
import datetime
import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple

from kb.build.records import DateValue, Part, Record, RefValue
from kb.errors import Location, Problem
from kb.model.schema import KINDS, Date, Kind, Option, Structure

# --- dates as intervals ------------------------------------------------------------------


def span(text: str) -> tuple[datetime.date, datetime.date]:
    """The first and last day a date written at year, month or day precision may be."""
    parts = [int(p) for p in text.split("-")]
    year = min(max(parts[0], datetime.MINYEAR), datetime.MAXYEAR)
    if len(parts) == 1:
        return datetime.date(year, 1, 1), datetime.date(year, 12, 31)
    month = parts[1]
    if len(parts) == 2:
        last = calendar.monthrange(year, month)[1]
        return datetime.date(year, month, 1), datetime.date(year, month, last)
    day = datetime.date(year, month, parts[2])
    return day, day


def before(later: str, earlier: str) -> bool:
    """Whether date ``later`` is certainly before date ``earlier``: they cannot be in order."""
    # compared as ISO text, the cheapest way (a build compares a date or two per record):
    # a year runs from YYYY-01-01 to YYYY-12-31, a month from YYYY-MM-01 to YYYY-MM-31
    return later + "-12-31"[len(later) - 4 :] < earlier + "-01-01"[len(earlier) - 4 :]


def _after(text: str, day: str) -> bool:
    """Whether date ``text`` is certainly after ``day`` (an ISO date)."""
    return text + "-01-01"[len(text) - 4 :] > day


def today() -> datetime.date:
    """The build date (a function, so that tests can set it)."""
    return datetime.date.today()


# --- within one record ---------------------------------------------------------------------

#: Dates of one fact that must come in this order (each pair of those given, in turn).
DATE_ORDERS: tuple[tuple[str, ...], ...] = (
    ("start_date", "end_date"),
    ("order_date", "delivery_start_date", "delivery_end_date"),
)

#: Fields of a kind that must not name the same party: (kind, field, field, what it means).
DISTINCT_PARTIES: tuple[tuple[str, str, str, str], ...] = (
    ("transfer", "supplier", "recipient", "a transfer goes from one state to another"),
    ("use", "user", "targets", "a state does not use weapons against itself"),
    ("event", "actors", "targets", "an event's actors act on others, not themselves"),
    (
        "cooperation",
        "providers",
        "beneficiaries",
        "a party that both gives and receives goes under 'participants:'",
    ),
)

#: Transfers in these states may give dates after today (order and deliveries to come).
PLANNED = frozenset({"planned", "ordered"})
PLANNED_DATES = frozenset({"order_date", "delivery_start_date", "delivery_end_date"})

MARKERS = ("partial", "contested")


def record_problems(records: Iterable[Record], on: datetime.date | None = None) -> list[Problem]:
    """What is inconsistent within each record: dates out of order or after ``on`` (the
    build date, by default today), more delivered than ordered, a party on both sides."""
    on = on or today()
    problems: list[Problem] = []
    for record in records:
        name = record.kind.name
        if name in _DATED:
            problems += _date_order(record)
            problems += _future(record, on)
        elif record.values.get("citations"):
            problems += _future(record, on)  # a citation's accessed date
        if name == "transfer":
            problems += _quantities(record)
        if name in _PARTIES:
            problems += _parties(record)
    return problems


#: The kinds with dates of their own, and those with parties that must differ.
_DATED = frozenset(k.name for k in KINDS if any(isinstance(f.prop.range, Date) for f in k.fields))
_PARTIES = frozenset({"territory", *(owner for owner, *_ in DISTINCT_PARTIES)})


def _date(record: Record | Part, key: str) -> str | None:
    value = next(iter(record.values.get(key, ())), None)
    return value.text if type(value) is DateValue else None


def _field_path(record: Record, key: str) -> str:
    return f"{record.path}.{key}" if record.path else key


def _date_order(record: Record) -> Iterator[Problem]:
    for order in DATE_ORDERS:
        given = [(k, d) for k in order if (d := _date(record, k)) is not None]
        for (first, a), (second, b) in itertools.pairwise(given):
            if before(b, a):
                yield Problem(
                    record.location_of(second),
                    _field_path(record, second),
                    f"{_name(second)} {b} is before the {_name(first)} {a} "
                    f"(line {record.location_of(first).line})",
                    f"the {_name(second)} must be on or after the {_name(first)}, at the "
                    "precision given (after a start in '2014', any end in 2014 or later is "
                    "right): correct the one that is wrong",
                )


def _name(key: str) -> str:
    return key.replace("_", " ")


def _quantities(record: Record) -> Iterator[Problem]:
    ordered = next(iter(record.values.get("quantity_ordered", ())), None)
    delivered = next(iter(record.values.get("quantity_delivered", ())), None)
    if type(ordered) is not int or type(delivered) is not int or delivered <= ordered:
        return
    if record.values.get("note"):
        return  # the curators explain it (a follow-on order, a count of another kind)
    yield Problem(
        record.location_of("quantity_delivered"),
        _field_path(record, "quantity_delivered"),
        f"quantity delivered ({delivered}) is more than quantity ordered ({ordered}, "
        f"line {record.location_of('quantity_ordered').line})",
        "correct the one that is wrong, or say why more were delivered in the fact's 'note:' "
        "(any note is taken as the explanation and accepted)",
    )


def _parties(record: Record) -> Iterator[Problem]:
    kind = record.kind.name
    if kind == "territory":
        for ref in record.values.get("part_of", ()):
            if type(ref) is RefValue and ref.id == record.id and "territory" in ref.kinds:
                yield Problem(
                    ref.location,
                    ref.path,
                    f"territory '{record.id}' is part of itself",
                    "name the state or territory it belongs to, or leave 'part_of:' out",
                )
    for owner, one, other, why in DISTINCT_PARTIES:
        if kind != owner:
            continue
        ones = {r.id: r for r in record.values.get(one, ()) if type(r) is RefValue}
        for ref in record.values.get(other, ()):
            if type(ref) is not RefValue or ref.id not in ones:
                continue
            if set(ref.kinds) & set(ones[ref.id].kinds):
                yield Problem(
                    ref.location,
                    ref.path,
                    f"'{ref.id}' is both {_name(one)} (line {ones[ref.id].location.line}) and "
                    f"{_name(other)}",
                    f"{why}: correct the {_name(one)} or the {_name(other)}",
                )


def _future(record: Record, on: datetime.date) -> Iterator[Problem]:
    status = next(iter(record.values.get("transfer_status", ())), None)
    planned = type(status) is Option and status.key in PLANNED
    owners: list[Record | Part] = [record, *record.parts()]
    day = on.isoformat()
    for owner in owners:
        shape = owner.kind if isinstance(owner, Record) else owner.structure
        for key in _date_keys(shape):
            for value in owner.values.get(key, ()):
                if type(value) is not DateValue or not _after(value.text, day):
                    continue
                if planned and owner is record and key in PLANNED_DATES:
                    continue
                path = owner.path + "." + key if owner.path else key
                if record.kind.name == "transfer" and key in PLANNED_DATES:
                    hint = (
                        "only a planned or ordered transfer may be dated ahead "
                        "('transfer_status: planned' or 'ordered'); otherwise correct the date"
                    )
                else:
                    hint = "a fact is recorded once it is known: correct the date (the year?)"
                yield Problem(
                    owner.location_of(key),
                    path,
                    f"{_name(key)} {value.text} is after today ({on.isoformat()})",
                    hint,
                )


def _date_keys(shape: Kind | Structure) -> tuple[str, ...]:
    # by identity: hashing a Kind hashes all its fields
    keys = _DATE_KEYS.get(id(shape))
    if keys is None:
        keys = tuple(f.key for f in shape.fields if isinstance(f.prop.range, Date))
        _DATE_KEYS[id(shape)] = keys
    return keys


_DATE_KEYS: dict[int, tuple[str, ...]] = {}


# --- across records ------------------------------------------------------------------------

#: What the checks across records need of one value: its text (an id or a date), where it
#: is in the file (the YAML path) and its line and column.
Cell = tuple[str, str, int, int]


class Summary(NamedTuple):
    """The fields of one record that the checks across records read, with where each is
    written (kept in the build manifest as a plain list, see ``as_json``)."""

    kind: str
    id: str
    path: str
    line: int
    column: int
    fields: dict[str, list[Cell]]

    def as_json(self) -> list[object]:
        """As JSON values: lists, strings and numbers."""
        return [self.kind, self.id, self.path, self.line, self.column, self.fields]

    @staticmethod
    def from_json(row: list[object]) -> Summary:
        """Read back from ``as_json`` (raises ValueError, TypeError on anything else)."""
        kind, rid, path, line, column, fields = row
        assert isinstance(fields, dict)
        return Summary(
            str(kind),
            str(rid),
            str(path),
            int(line),  # type: ignore[call-overload]
            int(column),  # type: ignore[call-overload]
            {
                str(k): [(str(t), str(p), int(ln), int(c)) for t, p, ln, c in v]
                for k, v in fields.items()
            },
        )

    def first(self, key: str) -> Cell | None:
        """The first value of field ``key``, if any."""
        cells = self.fields.get(key)
        return cells[0] if cells else None

    def text(self, key: str) -> str:
        """The text of the first value of field ``key``, or ''."""
        cell = self.first(key)
        return cell[0] if cell else ""


#: The fields each kind contributes to the checks across records.
SUMMARISED: dict[str, tuple[str, ...]] = {
    "administration": ("territory", "administered_by", "start_date", "end_date"),
    "dispute": ("claimants",),
    "claim": ("dispute", "claimant"),
}


def summaries(records: Iterable[Record]) -> list[Summary]:
    """What the checks across records need of ``records`` (of most files: nothing)."""
    out = []
    for record in records:
        keys = SUMMARISED.get(record.kind.name)
        if keys is None:
            continue
        fields: dict[str, list[Cell]] = {}
        for key in keys:
            cells = []
            for v in record.values.get(key, ()):
                where = v.location if type(v) is RefValue else record.location_of(key)
                text = v.id if type(v) is RefValue else v.text if type(v) is DateValue else None
                path = v.path if type(v) is RefValue else _field_path(record, key)
                if text is not None:
                    cells.append((text, path, where.line, where.column))
            if cells:
                fields[key] = cells
        note = " ".join(str(v) for v in record.values.get("note", ())).lower()
        marked = [m for m in MARKERS if m in note]
        if marked:
            where = record.location_of("note")
            fields["marker"] = [(marked[0], _field_path(record, "note"), where.line, where.column)]
        here = record.location
        row = Summary(record.kind.name, record.id, record.path, here.line, here.column, fields)
        out.append(row)
    return out


#: Administrations of one territory that overlap, unmarked, in the data as shipped, as
class Overlap(NamedTuple):
    """Two administrations of one territory by different states at the same time."""

    territory: str
    first: tuple[str, Summary]  # (file, record) of the one that starts first
    second: tuple[str, Summary]
    marked: bool  # both say they are partial or contested

    @property
    def ids(self) -> tuple[str, str]:
        """The two administrations' ids, the earlier first."""
        return self.first[1].id, self.second[1].id


def overlaps(by_file: Mapping[str, Iterable[Summary]]) -> list[Overlap]:
    """Every pair of administrations of one territory by different states whose periods
    certainly overlap. A period without a start is taken to have always run, one without an
    end to run still."""
    by_territory: dict[str, list[tuple[str, Summary]]] = defaultdict(list)
    for file, summaries in by_file.items():
        for row in summaries:
            if row.kind == "administration" and row.text("territory"):
                by_territory[row.text("territory")].append((file, row))
    out = []
    for territory, rows in sorted(by_territory.items()):
        rows.sort(key=lambda fr: (_bounds(fr[1])[0], fr[1].id))
        for i, (fa, a) in enumerate(rows):
            for fb, b in rows[i + 1 :]:
                if a.text("administered_by") == b.text("administered_by"):
                    continue
                (a_start, a_end), (b_start, b_end) = _bounds(a), _bounds(b)
                if max(a_start, b_start) < min(a_end, b_end):
                    marked = "marker" in a.fields and "marker" in b.fields
                    out.append(Overlap(territory, (fa, a), (fb, b), marked))
    return out


def _bounds(row: Summary) -> tuple[datetime.date, datetime.date]:
    """The part of the period certainly covered: from the last day the start may be to the
    first day the end may be."""
    start, end = row.first("start_date"), row.first("end_date")
    return (
        span(start[0])[1] if start else datetime.date.min,
        span(end[0])[0] if end else datetime.date.max,
    )


def period(row: Summary) -> str:
    """The period of an administration as written, for messages."""
    start, end = row.first("start_date"), row.first("end_date")
    return f"{start[0] if start else '…'} to {end[0] if end else 'now'}"


def cross_problems(
    by_file: Mapping[str, Iterable[Summary]],
) -> list[Problem]:
    """What is inconsistent across the records of every file (``by_file``: the summaries of
    each file, by its name as shown): administrations of a territory that overlap, unmarked,
    claims whose claimant the dispute does not list, and claimants with no claim record."""
    rows = {f: list(rs) for f, rs in by_file.items()}
    problems = []
    for o in overlaps(rows):
        if o.marked:
            continue
        (fa, a), (fb, b) = o.first, o.second
        where = b.first("start_date") or b.first("territory")
        assert where is not None
        problems.append(
            Problem(
                Location(fb, where[2], where[3]),
                where[1],
                f"administration '{b.id}' by {b.text('administered_by')} ({period(b)}) "
                f"overlaps '{a.id}' by {a.text('administered_by')} "
                f"({period(a)}, {fa}:{a.line}) in {o.territory}",
                "one state administers a territory at a time: correct the dates (one ends "
                "when the other starts), or, if each held part of it or control was "
                "contested, say 'partial' or 'contested' in both records' 'note:'",
            )
        )
    claimants: dict[str, set[str]] = {}
    disputes: dict[str, tuple[str, Summary]] = {}
    for file, rs in rows.items():
        for r in rs:
            if r.kind == "dispute":
                claimants[r.id] = {c[0] for c in r.fields.get("claimants", [])}
                disputes[r.id] = (file, r)
    for file, rs in rows.items():
        for r in rs:
            dispute, claimant = r.first("dispute"), r.first("claimant")
            if r.kind != "claim" or not dispute or not claimant:
                continue
            if dispute[0] in claimants and claimant[0] not in claimants[dispute[0]]:
                df, d = disputes[dispute[0]]
                listed = ", ".join(sorted(claimants[dispute[0]]))
                problems.append(
                    Problem(
                        Location(file, claimant[2], claimant[3]),
                        claimant[1],
                        f"{claimant[0]} is not a claimant of dispute '{dispute[0]}' "
                        f"(its claimants: {listed}; {df}:{d.line})",
                        f"add {claimant[0]} to the dispute's 'claimants:', or correct the "
                        "claim's claimant or dispute",
                    )
                )
    # and the reverse: every claimant of a dispute states its claim in a claim record
    claimed = {
        (of[0], by[0])
        for rs in rows.values()
        for r in rs
        if r.kind == "claim" and (of := r.first("dispute")) and (by := r.first("claimant"))
    }
    for file, rs in rows.items():
        for r in rs:
            if r.kind != "dispute":
                continue
            for value, field, line, column in r.fields.get("claimants", []):
                if (r.id, value) not in claimed:
                    problems.append(
                        Problem(
                            Location(file, line, column),
                            field,
                            f"{value} is a claimant of dispute '{r.id}' but no "
                            "sovereignty claim records what it claims",
                            f"add a 'sovereignty_claims:' record with dispute: {r.id}, "
                            f"claimant: {value}, its position and citations (or remove "
                            f"{value} from the dispute's claimants)",
                        )
                    )
    return problems
