"""Outside codes to geokb ids: country names and codes to states, actor names to non-state
actors and organisations, CAMEO event codes to the CAMEO options of the schema.

Nothing here guesses. A name or code maps only when it names one record exactly (a state's
ISO code or label, pycountry's names for an ISO code, a listed alias, a non-state actor's id
or label); anything else is None and the importer reports the row.

Where the tables come from:

- CAMEO country codes: the CAMEO codebook (Schrodt, *CAMEO Conflict and Mediation Event
  Observations Event and Actor Codebook*, v1.1b3, March 2012) codes a country with its ISO
  3166-1 alpha-3 code, as ICEWS and GDELT 1.0 do (the GDELT 1.0 codebook describes
  Actor1CountryCode as the three-letter CAMEO code of the actor's country, empty when none
  was found). Regional and other non-ISO CAMEO codes ('AFR', 'EUR', 'WST' ...) name no state:
  they are reported, not mapped.
- COW (Correlates of War) state numbers and abbreviations: only those read in excerpts of
  COW files (the state list, 'StateAbb, CCode, StateNme'; a direct-contiguity file; a table
  pairing COW numbers with ISO codes) found through the code search; the rest of the list was
  not read, so it is not here.
- Country-name aliases: the spellings of SIPRI's registers that pycountry does not know,
  as seen in public parsers of SIPRI trade-register exports (tables mapping SIPRI names to
  ISO codes): 'Russia', 'Turkey', 'Turkiye', 'UAE', 'Bosnia-Herzegovina'.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import pycountry

from kb.model.schema import CAMEO, Option

#: Names pycountry does not resolve, mapped only where the state is beyond doubt.
NAME_ALIASES: dict[str, str] = {
    "russia": "RUS",
    "turkey": "TUR",
    "turkiye": "TUR",
    "türkiye": "TUR",
    "uae": "ARE",
    "bosnia-herzegovina": "BIH",
}

#: COW state numbers (CCode) and abbreviations (StateAbb) read in the COW state list.
#: 255 is Germany from 1990; 260 (the German Federal Republic, 1955-1990) is left out: it is
#: not today's state.
#: 817 (the Republic of Vietnam, 1954-1975) is left out for the same reason.
COW_NUMBERS: dict[str, str] = {
    "2": "USA",
    "20": "CAN",
    "220": "FRA",
    "255": "DEU",
    "325": "ITA",
    "366": "EST",
    "630": "IRN",
    "710": "CHN",
}
COW_ABBREVIATIONS: dict[str, str] = {
    "USA": "USA",
    "CAN": "CAN",
    "FRN": "FRA",
    "GMY": "DEU",
    "ITA": "ITA",
    "EST": "EST",
}

_CAMEO_CODE = re.compile(r"\d{2,4}")
_SLUG_SPACE = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """``text`` as an id: lower-case letters and digits joined by single hyphens."""
    return _SLUG_SPACE.sub("-", text.lower()).strip("-")


class Countries:
    """Country names and codes to the state ids of the data (ISO alpha-3)."""

    def __init__(self, states: Mapping[str, str]) -> None:
        """``states``: state id (alpha-3) to its English label, as the data declares them."""
        self.ids = frozenset(states)
        self._by_name: dict[str, str] = {}
        for code, label in states.items():
            self._by_name[label.casefold()] = code
            country = pycountry.countries.get(alpha_3=code)
            if country is None:
                continue
            self._by_name[country.alpha_2.casefold()] = code
            for attr in ("name", "official_name", "common_name"):
                name = getattr(country, attr, None)
                if name:
                    self._by_name[str(name).casefold()] = code
        for alias, code in NAME_ALIASES.items():
            if code in self.ids:
                self._by_name.setdefault(alias, code)
        self._cache: dict[str, str | None] = {}

    def by_name(self, name: str) -> str | None:
        """The state named ``name``: an English name, an ISO alpha-2 or alpha-3 code, or a
        COW state number or abbreviation (ISO codes first: 'EST' is Estonia in both)."""
        key = name.strip()
        if key in self._cache:
            return self._cache[key]
        found: str | None = None
        if key.upper() in self.ids and len(key) == 3:
            found = key.upper()
        elif key.isdigit() or key.upper() in COW_ABBREVIATIONS:
            found = self.by_cow(key)
        else:
            found = self._by_name.get(key.casefold())
            if found is None:
                try:
                    country = pycountry.countries.lookup(key)
                except LookupError:
                    country = None
                if country is not None and country.alpha_3 in self.ids:
                    found = country.alpha_3
        self._cache[key] = found
        return found

    def by_cameo(self, code: str) -> str | None:
        """The state of a CAMEO country code (ISO alpha-3 for states)."""
        return code if code in self.ids else None

    def by_cow(self, code: str) -> str | None:
        """The state of a COW state number or abbreviation, where the table has it."""
        found = COW_NUMBERS.get(code.strip()) or COW_ABBREVIATIONS.get(code.strip().upper())
        return found if found in self.ids else None


class Actors:
    """Names of non-state actors and international organisations to their references."""

    def __init__(self, actors: Iterable[tuple[str, str, str]]) -> None:
        """``actors``: (kind, id, English label) of every non-state actor and organisation."""
        self._by_name: dict[str, str] = {}
        for kind, record_id, label in actors:
            ref = f"{kind}/{record_id}"
            self._by_name.setdefault(record_id, ref)
            self._by_name.setdefault(label.casefold(), ref)
            # 'Ansar Allah (the Houthis)' is also found as 'Ansar Allah'
            short = label.split(" (")[0].casefold()
            self._by_name.setdefault(short, ref)

    def by_name(self, name: str) -> str | None:
        """The actor ``name`` names: its id or label, ignoring case and a trailing '*'
        (SIPRI's mark of a non-state actor)."""
        key = name.strip().rstrip("*").strip()
        if not key:
            return None
        found = self._by_name.get(key.casefold()) or self._by_name.get(slug(key))
        if found is None and " (" in key:  # SIPRI: 'Hezbollah (Lebanon)*', the country after
            found = self._by_name.get(key.split(" (")[0].casefold())
        return found


_CAMEO_OPTIONS: dict[str, Option] = {o.key: o for o in CAMEO.options}


def cameo_option(code: str) -> Option | None:
    """The schema's CAMEO option for an event code: the code itself where the schema lists
    it, else its nearest listed ancestor (CAMEO codes are hierarchical: '0231' is under
    '023', under root '02'). None when ``code`` is not a CAMEO code: 2 to 4 digits whose first
    two are a root category, 01 to 20."""
    code = code.strip()
    if not _CAMEO_CODE.fullmatch(code) or not 1 <= int(code[:2]) <= 20:
        return None
    for end in range(len(code), 1, -1):
        option = _CAMEO_OPTIONS.get(code[:end])
        if option is not None:
            return option
    return None
