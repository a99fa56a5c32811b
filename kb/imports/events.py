"""Rows of CAMEO-coded event files (ICEWS, GDELT 1.0) as machine-coded diplomatic events.

Layouts (tab-separated, one event a line):

- ICEWS ("ICEWS Coded Event Data", Harvard Dataverse, doi:10.7910/DVN/28075): a header line,
  then 20 columns: Event ID, Event Date (YYYY-MM-DD), Source Name, Source Sectors, Source
  Country, Event Text, CAMEO Code, Intensity, Target Name, Target Sectors, Target Country,
  Story ID, Sentence Number, Publisher, City, District, Province, Country, Latitude,
  Longitude. Countries are written as names. An Event ID can repeat in a release: the second
  is reported and left out.
- GDELT 1.0 events ("GDELT 1.0 Event Database" data format codebook,
  http://data.gdeltproject.org/documentation/GDELT-Data_Format_Codebook.pdf): no header;
  57 columns in the historical backfiles, 58 in the daily files, which add SOURCEURL last.
  GLOBALEVENTID (0), SQLDATE (1, YYYYMMDD), Actor1Name (6), Actor1CountryCode (7, a CAMEO
  country code), Actor2Name (16), Actor2CountryCode (17), EventCode (26, CAMEO).

Every event is written under ``diplomatic_events:`` (the kind for a dated act between actors;
combat uses need a weapon system, which event files do not give) with its CAMEO code mapped to
the schema's table (the code, or its nearest listed ancestor: the original code stays in the
citation's quote), ``status: machine-coded`` and ``confidence: low``.

The row loop is the import's hot path (a million rows at 50,000 a second leaves 20 µs each):
names and codes are resolved once and cached, and the YAML text is written by hand.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from kb.imports.codes import Actors, Countries, cameo_option
from kb.imports.existing import Curated
from kb.imports.lines import decoded
from kb.imports.rows import Duplicate, Fact, ImportFailed, Outcome, Skip
from kb.imports.writer import scalar

SECTION = "diplomatic_events"
KIND = "event"
FORMATS = ("icews", "gdelt")
_HINT = "older ICEWS files are latin-1"

ICEWS_COLUMNS = (
    "Event ID",
    "Event Date",
    "Source Name",
    "Source Sectors",
    "Source Country",
    "Event Text",
    "CAMEO Code",
    "Intensity",
    "Target Name",
    "Target Sectors",
    "Target Country",
    "Story ID",
    "Sentence Number",
    "Publisher",
    "City",
    "District",
    "Province",
    "Country",
    "Latitude",
    "Longitude",
)
GDELT_COLUMNS = (57, 58)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_SQLDATE = re.compile(r"(\d{4})(\d{2})(\d{2})")

Resolved = str | None


class EventFile:
    """An event file read row by row into diplomatic events (``rows``)."""

    section = SECTION
    kind = KIND
    unique_ids = True  # each row's id is its event id, checked once in the row loop

    def __init__(
        self, path: Path, fmt: str, curated: Curated, source_id: str, encoding: str
    ) -> None:
        if fmt not in FORMATS:
            raise ImportFailed(f"unknown event format '{fmt}': use one of {', '.join(FORMATS)}")
        self.path = path
        self.fmt = fmt
        self.curated = curated
        self.source_id = source_id
        self.encoding = encoding
        self.countries = Countries(curated.states)
        self.actors = Actors(curated.actors)
        self.today = datetime.date.today().isoformat()
        self.read = 0
        self._seen: set[str] = set()
        self._parties: dict[tuple[str, str], Resolved] = {}
        self._codes: dict[str, tuple[str, str] | None] = {}
        self._days: dict[str, bool] = {}
        self._curated_dates = {date for _, _, date in curated.events}
        self._citation_head = (
            f"    citations:\n      - source: {scalar(source_id)}\n        locator: "
        )

    def head(self) -> str:
        """Nothing comes before the events but the source record."""
        return ""

    def rows(self) -> Iterator[Outcome]:
        """Every data row's outcome, in file order."""
        row = self._icews if self.fmt == "icews" else self._gdelt
        yield from self._lines(decoded(self.path, self.encoding, _HINT), row)

    def _lines(
        self, f: Iterator[str], row: Callable[[int, str, list[str]], Outcome]
    ) -> Iterator[Outcome]:
        first = True
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            if not line:
                continue
            cells = line.split("\t")
            if first:
                first = False
                if self.fmt == "icews":
                    if [c.strip() for c in cells] != list(ICEWS_COLUMNS):
                        raise ImportFailed(
                            f"{self.path}:{n}: the first line is not the ICEWS header "
                            f"({', '.join(ICEWS_COLUMNS[:3])} ...): is this an ICEWS events file?"
                        )
                    continue
                if cells[0] == "GLOBALEVENTID":  # a header some copies add
                    continue
            self.read += 1
            yield row(n, line, cells)

    def _party(self, name: str, country: str, by_code: bool) -> Resolved:
        key = (name, country)
        if key in self._parties:
            return self._parties[key]
        found = self.actors.by_name(name) if name else None
        if found is None and country:
            found = self.countries.by_cameo(country) if by_code else self.countries.by_name(country)
        self._parties[key] = found
        return found

    def _code(self, code: str) -> tuple[str, str] | None:
        option = cameo_option(code)
        self._codes[code] = None if option is None else (option.key, option.label)
        return self._codes[code]

    def _day(self, date: str) -> bool:
        valid = self._days.get(date)
        if valid is None:
            valid = self._days[date] = _valid_day(date)
        return valid

    def _icews(self, n: int, line: str, cells: list[str]) -> Outcome:
        if len(cells) != len(ICEWS_COLUMNS):
            return Skip(n, "wrong number of columns", f"{len(cells)}, ICEWS has 20")
        event_id, date = cells[0].strip(), cells[1].strip()
        m = _DATE.fullmatch(date)
        return self._event(
            n,
            line,
            event_id,
            "Event ID",
            date if m else None,
            (cells[2].strip(), cells[4].strip(), False),
            (cells[8].strip(), cells[10].strip(), False),
            cells[6].strip(),
            cells[5].strip(),
        )

    def _gdelt(self, n: int, line: str, cells: list[str]) -> Outcome:
        if len(cells) not in GDELT_COLUMNS:
            return Skip(n, "wrong number of columns", f"{len(cells)}, GDELT 1.0 has 57 or 58")
        m = _SQLDATE.fullmatch(cells[1])
        return self._event(
            n,
            line,
            cells[0].strip(),
            "GLOBALEVENTID",
            f"{m[1]}-{m[2]}-{m[3]}" if m else None,
            (cells[6].strip(), cells[7].strip(), True),
            (cells[16].strip(), cells[17].strip(), True),
            cells[26].strip(),
            "",
        )

    def _event(
        self,
        n: int,
        line: str,
        event_id: str,
        id_name: str,
        date: str | None,
        source: tuple[str, str, bool],
        target: tuple[str, str, bool],
        code: str,
        text: str,
    ) -> Outcome:
        if not (event_id.isdigit() and event_id.isascii()):
            return Skip(n, "no event id", f"{id_name} '{event_id}'")
        if event_id in self._seen:
            return Skip(n, "repeated event id", f"{id_name} {event_id} came earlier in the file")
        self._seen.add(event_id)
        if date is None or not self._day(date):
            return Skip(n, "no valid date", f"{id_name} {event_id}")
        if date > self.today:
            return Skip(n, "date after today", date)
        mapped = self._codes.get(code) if code in self._codes else self._code(code)
        if mapped is None:
            return Skip(n, "not a CAMEO event code", f"'{code}'")
        actor = self._party(*source)
        if actor is None:
            what = f"'{source[0]}' ({source[1] or 'no country'})"
            return Skip(n, "unmapped actor", f"{what} names no state or actor in the data")
        targets: list[str] = []
        if target[0] or target[1]:
            found = self._party(*target)
            if found is None:
                what = f"'{target[0]}' ({target[1] or 'no country'})"
                return Skip(n, "unmapped target", f"{what} names no state or actor in the data")
            if found == actor:
                return Skip(n, "same actor and target", found)
            targets = [found]
        cameo, label = mapped
        fact_id = f"{self.fmt}-{event_id}"
        if date in self._curated_dates:
            for their_code, their_id in self.curated.events.get(
                ((actor,), tuple(targets), date), ()
            ):
                if their_code and (cameo.startswith(their_code) or their_code.startswith(cameo)):
                    return Duplicate(n, fact_id, f"event/{their_id}")
        event_type = text or label
        # the label names the parties as the row does (its ids are in actors/targets)
        target_text = f" → {target[0] or targets[0]}" if targets else ""
        # the locator is letters, digits, spaces and a comma: quoted as it is
        return Fact(
            fact_id,
            f"  - id: {fact_id}\n"
            f"    label: {scalar(f'{event_type}: {source[0] or actor}{target_text}, {date}')}\n"
            f"    event_type: {scalar(event_type)}\n"
            f'    cameo: "{cameo}"\n'
            f"    actors: [{actor}]\n"
            + (f"    targets: [{targets[0]}]\n" if targets else "")
            + f'    date: "{date}"\n'
            "    status: machine-coded\n"
            "    confidence: low\n"
            f'{self._citation_head}"{id_name} {event_id}, line {n}"\n'
            f"        quote: {scalar(line)}\n",
        )


def _valid_day(date: str) -> bool:
    try:
        datetime.date.fromisoformat(date)
    except ValueError:
        return False
    return True
