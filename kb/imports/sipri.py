"""Rows of a SIPRI trade register (the CSV export of the SIPRI Arms Transfers Database) as
arms transfers.

The layout, as SIPRI explains its trade registers ("Explanation of the Trade Registers",
http://www.sipri.org/contents/armstrad/output_types_reg.html) and as public parsers of the
export read it: a few lines of title and generation date, then a header row
``Recipient,Supplier,Year of order,,Number ordered,,Weapon designation,Weapon description,
Number delivered,,Year(s) of delivery,status,Comments,SIPRI TIV per unit,SIPRI TIV for total
order,SIPRI TIV of delivered weapons`` (Supplier first in exports by supplier), one row per
deal. The three unnamed columns flag the value before them as uncertain with '?'; a value in
parentheses is SIPRI's estimate; '. .' means unknown; delivery years are one year, a range
('2019-2021') or a list ('2019; 2021'). Suppliers or recipients SIPRI could not identify are
'unknown ...'; non-state actors carry a '*'. A newer export's 'SIPRI AT Database ID' column, when
present, keys the deal. The register geokb itself exports (``geokb export --format
sipri-csv``) is read as well.
"""

from __future__ import annotations

import csv
import datetime
import re
from collections.abc import Iterator
from pathlib import Path

from kb.imports import writer
from kb.imports.codes import Actors, Countries, slug
from kb.imports.existing import Curated
from kb.imports.lines import decoded
from kb.imports.rows import Duplicate, Fact, ImportFailed, Outcome, Skip
from kb.review import sipri as register_export

SECTION = "arms_transfers"
KIND = "transfer"

# header (casefolded) -> our name for the column; the first spelling found wins
_COLUMNS = {
    "recipient": "recipient",
    "supplier": "supplier",
    "year of order": "order",
    "year of order/licence": "order",
    "order date": "order",
    "number ordered": "ordered",
    "no. ordered": "ordered",
    "weapon designation": "designation",
    "designation": "designation",
    "weapon description": "description",
    "description": "description",
    "number delivered": "delivered",
    "number delivered/produced": "delivered",
    "no. delivered": "delivered",
    "no. delivered/produced": "delivered",
    "year(s) of delivery": "deliveries",
    "year(s) of deliveries": "deliveries",
    "status": "status",
    "comments": "comments",
    "sipri at database id": "deal",
}
# geokb's own register (`geokb export --format sipri-csv`, kb.review.sipri) reads back too
_COLUMNS.update(
    {
        name.casefold(): ours
        for name, ours in zip(
            register_export.COLUMNS,
            (
                "supplier",
                "recipient",
                "designation",
                "description",
                "ordered",
                "order",
                "delivered",
                "deliveries",
                "status",
            ),
            strict=False,
        )
    }
)
_FLAGGED = ("order", "ordered", "delivered")  # the unnamed column after each holds '?'
_UNKNOWN = re.compile(r"\.\s*\.|")  # '. .' or '..' or nothing
_NUMBER = re.compile(r"\(?(\d+)\)?")
_YEAR = re.compile(r"\(?(\d{4})\)?")
_YEARS = re.compile(r"\d{4}")
_YEARS_TEXT = re.compile("[\\d\\s()?;,\\-\u2013]+")  # U+2013: an en dash in a range


def _find_header(reader: Iterator[list[str]]) -> tuple[list[str], int]:
    for row in reader:
        names = [c.strip().casefold() for c in row]
        if {"recipient", "supplier"} <= set(names[:3]) and (
            "weapon designation" in names or "designation" in names
        ):
            return row, 0
    raise ImportFailed(
        "no header row with Recipient, Supplier and Weapon designation columns was found: "
        "is this a SIPRI trade register exported as CSV?"
    )


def _layout(header: list[str]) -> dict[str, int]:
    where: dict[str, int] = {}
    for i, name in enumerate(header):
        ours = _COLUMNS.get(name.strip().casefold())
        if ours is not None:
            where.setdefault(ours, i)
    for flagged in _FLAGGED:
        at = where.get(flagged)
        if at is not None and at + 1 < len(header) and not header[at + 1].strip():
            where[flagged + "?"] = at + 1
    missing = [c for c in ("recipient", "supplier", "designation") if c not in where]
    if missing:
        raise ImportFailed(f"the header row has no {', '.join(missing)} column")
    return where


class Register:
    """A SIPRI trade register read row by row into transfers (``rows``), and the weapon
    systems it needed that the data did not have (``new_weapons``)."""

    section = SECTION
    kind = KIND
    unique_ids = False  # a 'SIPRI AT Database ID' could repeat

    def __init__(self, path: Path, curated: Curated, source_id: str, encoding: str) -> None:
        self.path = path
        self.curated = curated
        self.source_id = source_id
        self.encoding = encoding
        self.countries = Countries(curated.states)
        self.actors = Actors(curated.actors)
        self.today = datetime.date.today()
        self.new_weapons: dict[str, tuple[str, str]] = {}  # id -> (designation, category)
        self.read = 0
        self._keys: dict[str, int] = {}

    def rows(self) -> Iterator[Outcome]:
        """Every data row's outcome, in file order."""
        lines = decoded(self.path, self.encoding, "SIPRI's exports have been latin-1")
        try:
            reader = csv.reader(lines)
            header, _ = _find_header(reader)
            where = _layout(header)
            names = [h.strip() or "(flag)" for h in header]
            for row in reader:
                if not any(c.strip() for c in row):
                    continue
                self.read += 1
                yield self._row(reader.line_num, row, where, names)
        except csv.Error as exc:
            raise ImportFailed(f"{self.path}: not CSV: {exc}") from None

    def _party(self, text: str, role: str, line: int) -> str | Skip:
        name = text.strip()
        if not name or name.casefold().startswith("unknown"):
            return Skip(line, f"unknown {role}", f"SIPRI names no {role} ('{name}')")
        found = (
            self.actors.by_name(name)
            if name.endswith("*")
            else (self.countries.by_name(name) or self.actors.by_name(name))
        )
        if found is None:
            what = "non-state actor" if name.endswith("*") else "state or non-state actor"
            return Skip(line, f"unmapped {role}", f"'{name}' names no {what} in the data")
        if role == "supplier" and found.startswith("igo/"):
            return Skip(line, "unmapped supplier", f"'{name}' is an organisation, not a supplier")
        return found

    def _row(self, line: int, row: list[str], where: dict[str, int], names: list[str]) -> Outcome:
        def cell(name: str) -> str:
            i = where.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""

        supplier = self._party(cell("supplier"), "supplier", line)
        if isinstance(supplier, Skip):
            return supplier
        recipient = self._party(cell("recipient"), "recipient", line)
        if isinstance(recipient, Skip):
            return recipient
        if supplier == recipient:
            return Skip(line, "same supplier and recipient", supplier)
        designation = cell("designation")
        if not designation:
            return Skip(line, "no weapon designation")
        weapon = self._weapon(designation, cell("description"))
        if weapon is None:
            return Skip(line, "new weapon without a description", designation)
        numbers: dict[str, int] = {}
        uncertain: list[str] = []
        for col in ("ordered", "delivered"):
            text = cell(col)
            if _UNKNOWN.fullmatch(text):
                continue
            m = _NUMBER.fullmatch(text)
            if m is None:
                return Skip(line, f"number {col} is not a number", text)
            numbers[col] = int(m[1])
            if text.startswith("(") or cell(col + "?") == "?":
                uncertain.append(f"number {col}")
        order = ""
        text = cell("order")
        if not _UNKNOWN.fullmatch(text):
            m = _YEAR.fullmatch(text.rstrip("?").strip())
            if m is None:
                return Skip(line, "year of order is not a year", text)
            order = m[1]
            if text.startswith("(") or text.endswith("?") or cell("order?") == "?":
                uncertain.append("year of order")
        deliveries = cell("deliveries")
        years: list[str] = []
        if not _UNKNOWN.fullmatch(deliveries):
            if not _YEARS_TEXT.fullmatch(deliveries):
                return Skip(line, "years of delivery are not years", deliveries)
            years = sorted(set(_YEARS.findall(deliveries)))
            if "(" in deliveries or "?" in deliveries:
                uncertain.append("years of delivery")
        if "ordered" in numbers and numbers.get("delivered", 0) > numbers["ordered"]:
            return Skip(
                line,
                "more delivered than ordered",
                f"{numbers['delivered']} delivered, {numbers['ordered']} ordered",
            )
        if order and years and years[0] < order:
            return Skip(line, "delivered before ordered", f"ordered {order}, delivered {years[0]}")
        latest = max([order, *years])
        if latest and int(latest) > self.today.year:
            return Skip(line, "year after today", latest)
        key = (_bare(supplier), _bare(recipient), weapon, order)
        fact_id = self._id(cell("deal"), supplier, recipient, designation, order)
        curated = self.curated.transfers.get(key)
        if curated is not None:
            return Duplicate(line, fact_id, f"transfer/{curated}")
        fields: list[tuple[str, writer.Value]] = [
            ("id", fact_id),
            ("label", f"{designation} from {cell('supplier')} to {cell('recipient')}"),
            ("supplier", supplier),
            ("recipient", recipient),
            ("weapon_systems", [weapon]),
        ]
        if "ordered" in numbers:
            fields.append(("quantity_ordered", numbers["ordered"]))
        if "delivered" in numbers:
            fields.append(("quantity_delivered", numbers["delivered"]))
        if order:
            fields.append(("order_date", order))
        if years:
            fields.append(("delivery_start_date", years[0]))
            if years[-1] != years[0]:
                fields.append(("delivery_end_date", years[-1]))
        deal = cell("deal")
        quote = "; ".join(
            f"{n}: {v.strip()}" for n, v in zip(names, row, strict=False) if v.strip()
        )
        fields.append(
            (
                "citations",
                [
                    {
                        "source": self.source_id,
                        "locator": f"row {line}" + (f", deal {deal}" if deal else ""),
                        "quote": quote,
                    }
                ],
            )
        )
        notes = []
        if uncertain:
            notes.append("SIPRI marks as estimated or uncertain: " + ", ".join(uncertain) + ".")
        if cell("status"):
            notes.append(f"SIPRI status: {cell('status')}.")
        if cell("comments"):
            notes.append(f"SIPRI comments: {cell('comments')}")
        if notes:
            fields.append(("note", " ".join(notes)))
        return Fact(fact_id, writer.record(fields), line)

    def _weapon(self, designation: str, description: str) -> str | None:
        found = self.curated.weapons.get(designation.casefold())
        if found is None:
            found = self.curated.weapons.get(slug(designation))
        if found is not None:
            return found
        wid = slug(designation)
        if not wid:
            return None
        if wid not in self.new_weapons:
            if not description:
                return None
            self.new_weapons[wid] = (designation, description)
        return wid

    def _id(self, deal: str, supplier: str, recipient: str, designation: str, order: str) -> str:
        if deal and slug(deal):
            return f"sipri-{slug(deal)}"
        base = slug(f"sipri {supplier} {recipient} {designation} {order or 'no order year'}")
        n = self._keys.get(base, 0) + 1
        self._keys[base] = n
        return base if n == 1 else f"{base}-{n}"

    def head(self) -> str:
        """The sections written before the transfers: the weapon systems the register
        needed that the data did not have, citing the register."""
        if not self.new_weapons:
            return ""
        lines = ["weapon_systems:"]
        for wid, (designation, category) in self.new_weapons.items():
            lines.append(
                writer.record(
                    [
                        ("id", wid),
                        ("label", designation),
                        ("category", category),
                        ("sources", [self.source_id]),
                    ]
                ).rstrip("\n")
            )
        return "\n".join(lines) + "\n"


def _bare(ref: str) -> str:
    return ref.removeprefix("state/")
