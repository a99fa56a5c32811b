"""``geokb import``: a dataset file to a YAML file (or folder of parts) in ``data/imported/``.

One pass over the rows, streaming: each row becomes a fact, a reported skip, or a possible
duplicate of a hand-curated fact. The files are staged, checked by the build's own
validation (unless told not to), and only then put in place, replacing the earlier import of
the same name; the changes since that import are reported as ``geokb diff`` reports them.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from kb.build.pipeline import compile_data, data_files
from kb.build.yamlfile import Loader
from kb.errors import DataError, relative
from kb.imports import existing, writer
from kb.imports.codes import slug
from kb.imports.events import EventFile
from kb.imports.rows import Fact, ImportFailed, Skip
from kb.imports.sipri import Register
from kb.model.schema import KINDS_BY_NAME
from kb.review.diff import DataDiff, RecordChange

#: Changed records described field by field in the report; beyond this, only counted.
DETAILED_CHANGES = 200

SOURCES = {
    "sipri-register": (
        "SIPRI Arms Transfers Database: trade register",
        "Stockholm International Peace Research Institute (SIPRI)",
        "https://www.sipri.org/databases/armstransfers",
    ),
    "icews": (
        "ICEWS Coded Event Data",
        "Integrated Crisis Early Warning System (ICEWS), Harvard Dataverse",
        "https://dataverse.harvard.edu/dataverse/icews",
    ),
    "gdelt": (
        "GDELT 1.0 Event Database",
        "The GDELT Project",
        "https://www.gdeltproject.org/",
    ),
}


@dataclass
class Summary:
    """What an import did."""

    read: int = 0
    imported: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    new_weapons: int = 0
    written: list[Path] = field(default_factory=list)
    replaced: list[Path] = field(default_factory=list)
    changes: DataDiff | None = None
    changed_total: int = 0
    validated: bool = False

    def text(self) -> str:
        """The summary as printed after the skipped rows."""
        lines = [
            f"rows read: {self.read}",
            f"imported: {self.imported}"
            + (f" (and {self.new_weapons} new weapon systems)" if self.new_weapons else ""),
            f"possible duplicates of curated facts, not imported: {self.duplicates}",
            f"skipped: {sum(self.skipped.values())}",
        ]
        lines += [f"  {n} {reason}" for reason, n in self.skipped.most_common()]
        return "\n".join(lines)


@dataclass(frozen=True)
class Request:
    """What to import, and how."""

    what: str  # 'sipri-register' or 'events'
    file: Path
    data: Path
    fmt: str = ""  # for events: 'icews' or 'gdelt'
    name: str = ""  # default: the format ('sipri', 'icews', 'gdelt')
    version: str = ""  # default: the file's modification date
    encoding: str = "utf-8"
    validate: bool = True

    @property
    def format_name(self) -> str:
        """'sipri-register', 'icews' or 'gdelt'."""
        return self.what if self.what == "sipri-register" else self.fmt

    @property
    def import_name(self) -> str:
        """The name an import is known by (and replaced by)."""
        return slug(self.name or self.format_name.removesuffix("-register"))

    @property
    def version_text(self) -> str:
        """The export's version or date, as given or as the file's modification date."""
        if self.version:
            return self.version
        stamp = os.stat(self.file).st_mtime
        return datetime.datetime.fromtimestamp(stamp, datetime.UTC).date().isoformat()


def run(request: Request, report: Callable[[str], None]) -> Summary:
    """Import ``request.file``; ``report`` gets each skipped row and duplicate as it is met."""
    if not request.file.is_file():
        raise ImportFailed(f"{request.file}: no such file")
    if not request.import_name:
        raise ImportFailed("--name must hold letters or digits")
    version = request.version_text
    curated = existing.read(request.data, request.import_name)
    source_id = f"import-{request.import_name}"
    if f"source/{source_id}" in curated.ids:
        raise ImportFailed(f"the data already has a source '{source_id}' that is not this import")
    importer: Register | EventFile
    if request.what == "sipri-register":
        importer = Register(request.file, curated, source_id, request.encoding)
    elif request.what == "events":
        importer = EventFile(request.file, request.fmt, curated, source_id, request.encoding)
    else:
        raise ImportFailed(f"unknown import '{request.what}': sipri-register or events")
    before = dict(_digests(curated.previous, importer.section))
    marker = existing.marker_line(request.import_name, request.format_name, version)
    out = writer.PartWriter(
        request.data / existing.IMPORTED,
        f"{request.import_name}-{slug(version) or 'export'}.yaml",
        marker,
        importer.section,
    )
    summary = Summary()
    changed: list[tuple[str, str]] = []  # (id, new text) of changed records, up to a cap
    seen: set[str] = set()
    # event files check their own ids (a set of a million ids costs 60 MB): keep another
    # only for the change report
    track = bool(before) or not importer.unique_ids
    try:
        for outcome in importer.rows():
            if type(outcome) is Fact:
                if track:
                    if outcome.id in seen:
                        summary.skipped["repeated id"] += 1
                        report(str(Skip(outcome.line, "repeated id", f"{outcome.id} came earlier")))
                        continue
                    seen.add(outcome.id)
                out.add(outcome.text)
                if before:
                    _compare(outcome, before, changed, summary)
            elif isinstance(outcome, Skip):
                summary.skipped[outcome.reason] += 1
                report(str(outcome))
            else:
                summary.duplicates += 1
                report(str(outcome))
        summary.read = importer.read
        summary.imported = out.records
        if not out.records:
            raise ImportFailed(
                f"nothing to import: none of the {importer.read} rows could be mapped "
                "(see the lines above)"
            )
        summary.new_weapons = len(getattr(importer, "new_weapons", {}))
        head = _source(source_id, request, version, summary) + importer.head()
        staged = out.finish(head)
        if request.validate:
            _validate(request.data, staged, curated.previous)
            summary.validated = True
        imported = request.data / existing.IMPORTED
        summary.written = staged.final_paths(imported)
        summary.replaced = list(curated.previous)
        if before:
            summary.changes = _changes(before, seen, changed, curated.previous, importer.kind)
        summary.changed_total += len(changed)
        staged.install(imported, curated.previous)
    except BaseException:
        out.abandon()
        raise
    return summary


def _source(source_id: str, request: Request, version: str, summary: Summary) -> str:
    title, publisher, url = SOURCES[request.format_name]
    today = datetime.date.today().isoformat()
    return (
        "sources:\n"
        + writer.record(
            [
                ("id", source_id),
                ("title", f"{title} (export {request.file.name})"),
                ("publisher", publisher),
                ("url", url),
                ("type", "database"),
                ("edition", version),
                (
                    "note",
                    f"Imported by 'geokb import' on {today}: {summary.read} rows read, "
                    f"{summary.imported} imported. Each fact cites its row (locator) and keeps "
                    "the row's values (quote).",
                ),
            ]
        )
        + "\n"
    )


def _digests(previous: list[Path], section: str) -> list[tuple[str, bytes]]:
    return [
        (rid, existing.digest(text))
        for sec, rid, text in existing.blocks(previous)
        if sec == section
    ]


def _compare(
    fact: Fact, before: dict[str, bytes], changed: list[tuple[str, str]], summary: Summary
) -> None:
    old = before.get(fact.id)
    if old is not None and old != existing.digest(fact.text):
        if len(changed) < DETAILED_CHANGES:
            changed.append((fact.id, fact.text))
        else:
            summary.changed_total += 1


def _changes(
    before: dict[str, bytes],
    now: set[str],
    changed: list[tuple[str, str]],
    previous: list[Path],
    kind_name: str,
) -> DataDiff:
    kind = KINDS_BY_NAME[kind_name]
    wanted = {rid for rid, _ in changed}
    old_text = (
        {rid: text for _, rid, text in existing.blocks(previous) if rid in wanted} if wanted else {}
    )
    changes = []
    for rid, text in changed:
        old, new = _fields(old_text.get(rid, "")), _fields(text)
        change = RecordChange(kind.iri_text(rid))
        for key in sorted(set(old) | set(new)):
            if key == "citations":  # the row number moves; the quote says what changed
                old_q, new_q = _quotes(old.get(key)), _quotes(new.get(key))
                if old_q != new_q:
                    change.removed.setdefault("quote", []).extend(old_q)
                    change.added.setdefault("quote", []).extend(new_q)
                continue
            if old.get(key) != new.get(key):
                f = kind.field(key)
                prop = str(f.prop.iri) if f is not None else key
                if key in old:
                    change.removed.setdefault(prop, []).append(_show(old[key]))
                if key in new:
                    change.added.setdefault(prop, []).append(_show(new[key]))
        changes.append(change)
    return DataDiff(
        [kind.iri_text(r) for r in sorted(now - before.keys())],
        [kind.iri_text(r) for r in sorted(before.keys() - now)],
        changes,
        [],
        [],
    )


def _fields(text: str) -> dict[str, object]:
    if not text:
        return {}
    loaded = yaml.load(text, Loader=Loader)
    return loaded[0] if isinstance(loaded, list) and isinstance(loaded[0], dict) else {}


def _quotes(citations: object) -> list[str]:
    if not isinstance(citations, list):
        return []
    return [str(c.get("quote", "")) for c in citations if isinstance(c, dict)]


def _show(value: object) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _validate(data: Path, staged: writer.Staged, replaced: list[Path]) -> None:
    """Compile the data as it would be after the import (the staged files in place of the
    replaced ones) with the build's own checks; raises DataError, changing nothing."""
    imported = data / existing.IMPORTED
    drop = {p.resolve() for p in replaced}
    with tempfile.TemporaryDirectory(prefix="geokb-import-check-") as tmp:
        view = Path(tmp) / "data"
        for path in data_files(data):
            if path.resolve() in drop or path.parent.resolve() in drop:
                continue
            if staged.staging in path.parents:
                continue
            link = view / path.relative_to(data)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path.resolve())
        for src, final in zip(staged.parts, staged.final_paths(imported), strict=True):
            link = view / final.relative_to(data)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(src.resolve())
        try:
            compile_data(view)
        except DataError as exc:  # name the files where they will be, not the check's view
            shown, real = relative(view), relative(data)
            raise DataError(
                [
                    replace(
                        p, location=p.location._replace(file=real + p.location.file[len(shown) :])
                    )
                    if p.location.file.startswith(shown)
                    else p
                    for p in exc.problems
                ]
            ) from None
