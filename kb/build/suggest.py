"""What a person most likely meant by an id, field or code that names nothing: ranked for
the "did you mean" of messages (``kb.build.linking``, ``kb.build.records``).

The order is by how people err: the right word in the wrong case first ('tur' for 'TUR'),
then a country's name for its code ('Turkey', 'Iran'), then a slip of the keyboard (a key
next to the right one, two keys swapped: 'AZR' for 'AZE', never 'MAR'), and only last a
loose likeness of long words.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import cache

# common English names pycountry's lookup does not know (it knows 'Iran', 'Syria', 'USA')
_STATE_NAMES = {
    "turkey": "TUR",
    "russia": "RUS",
    "uk": "GBR",
    "britain": "GBR",
    "great britain": "GBR",
    "england": "GBR",
    "scotland": "GBR",
    "wales": "GBR",
    "us": "USA",
    "america": "USA",
    "united states of america": "USA",
    "ivory coast": "CIV",
    "palestine": "PSE",
    "burma": "MMR",
    "holland": "NLD",
    "netherlands": "NLD",
    "macedonia": "MKD",
    "swaziland": "SWZ",
    "cape verde": "CPV",
    "east timor": "TLS",
    "vatican": "VAT",
    "vatican city": "VAT",
    "drc": "COD",
    "dr congo": "COD",
    "democratic republic of the congo": "COD",
    "republic of the congo": "COG",
    "uae": "ARE",
    "emirates": "ARE",
    "north korea": "PRK",
    "dprk": "PRK",
    "south korea": "KOR",
    "korea": "KOR",
    "czech republic": "CZE",
    "micronesia": "FSM",
}

_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_ROW_OFFSETS = (0.0, 0.5, 0.75, 1.25)


@cache
def _neighbours() -> dict[str, frozenset[str]]:
    """The keys next to each key of a QWERTY keyboard (left, right, above, below)."""
    where = {
        ch: (row, col + _ROW_OFFSETS[row])
        for row, keys in enumerate(_ROWS)
        for col, ch in enumerate(keys)
    }
    return {
        a: frozenset(
            b
            for b, (r2, c2) in where.items()
            if b != a and abs(r1 - r2) <= 1 and abs(c1 - c2) <= (1.0 if r1 == r2 else 0.8)
        )
        for a, (r1, c1) in where.items()
    }


def distance(a: str, b: str) -> float:
    """Edit distance, case ignored, where a key next to the right one or two keys swapped
    cost half a typo."""
    a, b = a.lower(), b.lower()
    near = _neighbours()
    prev2: list[float] = []
    prev = [float(j) for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        cur = [float(i)] + [0.0] * len(b)
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                sub = 0.0
            elif b[j - 1] in near.get(a[i - 1], ()):
                sub = 0.5
            else:
                sub = 1.0
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + sub)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 0.5)
        prev2, prev = prev, cur
    return prev[-1]


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``word`` most likely meant, or None if none is close."""
    options = list(dict.fromkeys(candidates))
    lower = word.lower()
    for option in options:
        if option.lower() == lower:
            return option
    limit = 1.5 if len(word) <= 4 else max(1.5, len(word) * 0.34)
    ranked = []
    for option in options:
        if abs(len(option) - len(word)) > limit:
            continue  # more insertions than allowed: not worth measuring
        # sharing the first two letters is what a slip usually leaves intact
        d = distance(word, option) + (0.0 if option[:2].lower() == lower[:2] else 0.5)
        if d <= limit:
            ranked.append((d, option))
    if ranked:
        return min(ranked)[1]
    if len(word) <= 4:
        return None  # a loose likeness of short codes is chance ('AZR' and 'MAR')
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return close[0] if close else None


def state_code(name: str) -> str | None:
    """The ISO 3166-1 alpha-3 code of the country called ``name`` ('Turkey', 'Iran', 'IR'),
    or None."""
    key = " ".join(name.replace("_", " ").split()).lower().removeprefix("the ")
    if not key:
        return None
    if key in _STATE_NAMES:
        return _STATE_NAMES[key]
    import pycountry  # only when a message needs it: loading its database takes a while

    try:
        return str(pycountry.countries.lookup(key).alpha_3)
    except LookupError:
        return None


def state_name(code: str) -> str:
    """The English name of the state ``code``, or the code itself."""
    import pycountry

    country = pycountry.countries.get(alpha_3=code)
    if country is None:
        return code
    return str(getattr(country, "common_name", None) or country.name)


def cameo_code(code: str, known: Iterable[str]) -> str | None:
    """The existing CAMEO code nearest to ``code`` under the same root (its first two
    digits): the code itself, else its root, else the sub-code numerically closest. Never a
    code under another root: '057' is about diplomatic cooperation (05), not aid (07)."""
    codes = set(known)
    if not code.isdigit() or len(code) > 4:
        return None
    if len(code) == 1 or (len(code) == 2 and int(code) > 20):
        code = "0" + code  # a leading zero lost: '57' for '057'
    if code in codes:
        return code
    root = code[:2]
    if root in codes:
        return root
    under = sorted(c for c in codes if c.startswith(root))
    if not under:
        return None
    return min(under, key=lambda c: (abs(int(c) - int(code)), c))
