"""What the data folder already holds, as an import needs it: the states, actors and weapon
systems rows map to, the hand-curated facts an imported one may duplicate, and the files and
records of an earlier import of the same dataset.

Files are read with the build's YAML loader but not compiled: ``geokb validate`` checks them.
Earlier imports are scanned as text (they may be hundreds of megabytes), record by record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kb.build.pipeline import data_files
from kb.build.yamlfile import Loader

#: The first line of every file an import writes: it names the import, so that a newer
#: export of the same dataset finds and replaces it.
MARKER = "# geokb import:"
IMPORTED = "imported"  # the folder of data/ that imports write into


def marker_line(name: str, fmt: str, version: str) -> str:
    """The first line of an import's files."""
    return f"{MARKER} name={name} format={fmt} version={version}"


def _marked(path: Path) -> str | None:
    with path.open(encoding="utf-8", errors="replace") as f:
        first = f.readline()
    if not first.startswith(MARKER):
        return None
    fields = dict(p.split("=", 1) for p in first[len(MARKER) :].split() if "=" in p)
    return fields.get("name")


@dataclass
class Curated:
    """The records of data/ an import maps to or compares with."""

    states: dict[str, str] = field(default_factory=dict)  # id -> English label
    actors: list[tuple[str, str, str]] = field(default_factory=list)  # kind, id, label
    weapons: dict[str, str] = field(default_factory=dict)  # casefolded label or id -> id
    ids: set[str] = field(default_factory=set)  # every 'kind/id' defined
    # (supplier, recipient, weapon, order year) of each curated transfer -> its id
    transfers: dict[tuple[str, str, str, str], str] = field(default_factory=dict)
    # (actors, targets, date) of each curated event -> (its CAMEO code, its id)
    events: dict[tuple[tuple[str, ...], tuple[str, ...], str], list[tuple[str, str]]] = field(
        default_factory=dict
    )
    previous: list[Path] = field(default_factory=list)  # the earlier import's files/folders


def _text(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("en") or next(iter(value.values()), ""))
    return "" if value is None else str(value)


def _bare(ref: object) -> str:
    text = str(ref)
    return text.removeprefix("state/")


def read(data_dir: Path, name: str) -> Curated:
    """What ``data_dir`` holds, leaving out the earlier import named ``name`` (which the new
    one replaces) and other imports' facts (only their entities are needed)."""
    found = Curated()
    imported = data_dir / IMPORTED
    for path in data_files(data_dir):
        in_imports = imported in path.parents
        if in_imports:
            owner = _marked(path)
            if owner == name:
                top = path if path.parent == imported else path.parent
                if top not in found.previous:
                    found.previous.append(top)
                continue
            # another import: its entities count (weapon systems it made), its facts do not;
            # in a folder of parts, only the first part has anything before the facts
            if path.parent == imported or path.name == "part-0001.yaml":
                _read_file(path, found, facts=False)
            continue
        _read_file(path, found, facts=True)
    return found


def _read_file(path: Path, found: Curated, facts: bool) -> None:
    text = path.read_text(encoding="utf-8")
    if not facts:  # only the sections before the facts: stop at the first fact section
        cut = min(
            (i for s in ("arms_transfers:", "diplomatic_events:") if (i := text.find(s)) >= 0),
            default=len(text),
        )
        text = text[:cut]
    try:
        doc = yaml.load(text, Loader=Loader)
    except yaml.YAMLError:
        return  # 'geokb validate' reports it; the import maps against what it can read
    if not isinstance(doc, dict):
        return
    for section, kind in (
        ("states", "state"),
        ("non_state_actors", "actor"),
        ("international_organizations", "igo"),
        ("weapon_systems", "weapon"),
        ("sources", "source"),
        ("arms_transfers", "transfer"),
        ("diplomatic_events", "event"),
    ):
        for rec in doc.get(section) or []:
            if not isinstance(rec, dict) or "id" not in rec:
                continue
            rid = str(rec["id"])
            found.ids.add(f"{kind}/{rid}")
            label = _text(rec.get("label"))
            if kind == "state":
                found.states[rid] = label
            elif kind in ("actor", "igo"):
                found.actors.append((kind, rid, label))
            elif kind == "weapon":
                found.weapons.setdefault(rid, rid)
                if label:
                    found.weapons.setdefault(label.casefold(), rid)
            elif kind == "transfer" and facts:
                order = str(rec.get("order_date") or "")[:4]
                for w in rec.get("weapon_systems") or []:
                    deal = (_bare(rec.get("supplier")), _bare(rec.get("recipient")), str(w), order)
                    found.transfers.setdefault(deal, rid)
            elif kind == "event" and facts:
                parties = (
                    tuple(sorted(_bare(a) for a in rec.get("actors") or [])),
                    tuple(sorted(_bare(t) for t in rec.get("targets") or [])),
                    str(rec.get("date") or ""),
                )
                found.events.setdefault(parties, []).append((str(rec.get("cameo") or ""), rid))


# --- an earlier import, record by record --------------------------------------------------


def digest(block: str) -> bytes:
    """What identifies a record's content: its text without the citation's locator (which
    names a row number that moves when rows are added above it)."""
    at = block.find(_LOCATOR)
    if at >= 0:
        block = block[:at] + block[block.find("\n", at + 1) :]
    return hashlib.blake2b(block.encode(), digest_size=8).digest()


_LOCATOR = "\n        locator: "
_RECORD = "\n  - id: "


def blocks(paths: list[Path]) -> Iterator[tuple[str, str, str]]:
    """(section, id, text) of every record of an import's files, in order: the files are
    cut at each record's first line by str.split (a line-by-line loop in Python costs ten
    times more over the hundreds of megabytes of a large import)."""
    for top in paths:
        files = sorted(top.glob("*.yaml")) if top.is_dir() else [top]
        for path in files:
            chunks = path.read_text(encoding="utf-8").split(_RECORD)
            section = _last_section(chunks[0])
            for chunk in chunks[1:]:
                text = "  - id: " + chunk.rstrip("\n") + "\n"
                cut = text.find("\n\n")  # a blank line: a new section follows
                if cut >= 0:
                    yield section, _id_of(text), text[: cut + 1]
                    section = _last_section(text[cut:])
                else:
                    yield section, _id_of(text), text


def _last_section(text: str) -> str:
    found = ""
    for line in text.splitlines():
        if line[:1].isalpha() and line.endswith(":"):
            found = line[:-1]
    return found


def _id_of(text: str) -> str:
    return text[len("  - id: ") : text.find("\n")].strip()
