"""YAML text written by hand, fast and safe, and the files of an import put in place whole.

PyYAML's emitter costs about 100 µs a record, two seconds per 20,000 rows; an import of a
million events must stay near 20 µs a row. So records are written as text here: every string
that is not a plain token is a JSON string, which is also a valid YAML double-quoted scalar,
once the few characters YAML refuses raw (DEL, C1 controls, U+2028/2029, BOM, U+FFFE/FFFF)
are escaped. tests/test_imports.py loads what is written back and compares.

The files are staged beside their final place (names ending '.tmp', which the build does not
read) and renamed into ``data/imported/`` only when the whole import succeeded; a failure
removes the staging folder, so ``data/`` is as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from pathlib import Path

#: Parts are kept under half the build's per-file limit (kb.build.yamlfile.MAX_FILE_BYTES,
#: 8 MiB): checking a file costs about 80 MB of memory per MB of YAML, per build worker.
PART_BYTES = 4 * 1024 * 1024

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9/._-]*")
# Plain scalars that YAML 1.1 readers (PyYAML's safe_load and others) would not read as text:
# booleans and nulls by name; numbers, dates and hex or binary numbers start with a digit.
_WORDS = frozenset({"null", "true", "false", "yes", "no", "on", "off", "y", "n"})
_RAW_REFUSED = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"


def scalar(text: str) -> str:
    """``text`` as a YAML scalar: plain when it is a token any YAML reader takes as text (an
    id, a state code), else a double-quoted string that loads back as exactly ``text``."""
    if _PLAIN.fullmatch(text) and text[0].isalpha() and text.lower() not in _WORDS:
        return text
    # json's C encoder without its per-call set-up (json.dumps builds an encoder each time
    # ensure_ascii is off): quotes, escapes '"', '\\' and the C0 controls, keeps the rest
    quoted: str = encode_basestring(text)
    if (not text.isascii() or "\x7f" in text) and _RAW_REFUSED.search(quoted):
        quoted = _RAW_REFUSED.sub(_escape, quoted)
    return quoted


Value = str | int | list[str] | list[dict[str, str]]


def record(fields: Sequence[tuple[str, Value]]) -> str:
    """One record of a section's list, as YAML text: ``fields`` in order, the first one
    (the id) after the list's dash. Strings are scalars, ints plain numbers, lists of strings
    flow sequences, lists of mappings block sequences (citations)."""
    lines = []
    for n, (key, value) in enumerate(fields):
        lead = "  - " if n == 0 else "    "
        if isinstance(value, bool):  # pragma: no cover - no boolean field is imported
            raise TypeError(key)
        if isinstance(value, int):
            lines.append(f"{lead}{key}: {value}")
        elif isinstance(value, str):
            lines.append(f"{lead}{key}: {scalar(value)}")
        elif value and isinstance(value[0], dict):
            lines.append(f"{lead}{key}:")
            for part in value:
                assert isinstance(part, dict)
                inner = "      - "
                for k, v in part.items():
                    lines.append(f"{inner}{k}: {scalar(v)}")
                    inner = "        "
        else:
            lines.append(f"{lead}{key}: [{', '.join(scalar(str(v)) for v in value)}]")
    return "\n".join(lines) + "\n"


@dataclass
class Staged:
    """The files of one import, staged: install() puts them in place, discard() drops them."""

    staging: Path
    name: str  # the final file or folder name under data/imported/
    parts: list[Path]

    @property
    def folder(self) -> str:
        """The folder's name when the import is a folder of parts."""
        return self.name.removesuffix(".yaml")

    @property
    def is_folder(self) -> bool:
        """Whether the import is a folder of parts (too big for one file)."""
        return len(self.parts) > 1

    def final_paths(self, imported: Path) -> list[Path]:
        """Where the files will be once installed."""
        if not self.is_folder:
            return [imported / self.name]
        return [imported / self.folder / p.name.removesuffix(".tmp") for p in self.parts]

    def install(self, imported: Path, replaces: Sequence[Path]) -> None:
        """Rename the staged files into ``imported`` and remove the import's earlier files
        ``replaces`` (moved aside first, so a name can be reused)."""
        trash = self.staging / "replaced"
        trash.mkdir()
        for n, old in enumerate(replaces):
            os.replace(old, trash / f"{n}-{old.name}")
        if self.is_folder:
            folder = self.staging / "folder"
            folder.mkdir()
            for p in self.parts:
                os.replace(p, folder / p.name.removesuffix(".tmp"))
            os.replace(folder, imported / self.folder)
        else:
            os.replace(self.parts[0], imported / self.name)
        self.discard()

    def discard(self) -> None:
        """Remove the staging folder and whatever is left in it."""
        shutil.rmtree(self.staging, ignore_errors=True)


class PartWriter:
    """Writes the records of one YAML section into parts of at most ``part_bytes`` each.

    Every part starts with the ``marker`` line and opens ``section:``; ``finish`` puts the
    sections that come first (the dataset's source record, new weapon systems), known only
    once every row was read, at the top of the first part.
    """

    def __init__(
        self, imported: Path, name: str, marker: str, section: str, part_bytes: int = 0
    ) -> None:
        """Stage into a new folder under ``imported`` (created if missing; removed again by
        ``abandon`` if this made it)."""
        self._made = [p for p in (imported.parent, imported) if not p.exists()]
        imported.mkdir(parents=True, exist_ok=True)
        _clear_abandoned(imported)
        staging = imported / f".staging-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.staged = Staged(staging, name, [])
        self.staged.staging.mkdir()
        self.section = section
        self.part_bytes = part_bytes or PART_BYTES
        self.marker = marker  # the first line of every part
        self.records = 0
        self._open()

    def _open(self) -> None:
        path = self.staged.staging / f"part-{len(self.staged.parts) + 1:04d}.yaml.tmp"
        self.staged.parts.append(path)
        self._out = path.open("w", encoding="utf-8", newline="\n")
        opening = f"{self.marker}\n{self.section}:\n"
        self._out.write(opening)
        self._size = len(opening.encode())
        self._empty = True

    def add(self, text: str) -> None:
        """Append one record (from ``record``)."""
        size = len(text) if text.isascii() else len(text.encode())
        if not self._empty and self._size + size + 1 > self.part_bytes:
            self._out.close()
            self._open()
        self._out.write(text if self._empty else "\n" + text)
        self._size += size + 1
        self._empty = False
        self.records += 1

    def finish(self, head: str) -> Staged:
        """Close the last part and put ``head`` (whole YAML sections) after the marker line
        of the first; the staged files, ready to install."""
        self._out.close()
        first = self.staged.parts[0]
        body = first.read_text(encoding="utf-8").split("\n", 1)[1]
        with_head = first.with_suffix(".head")
        with_head.write_text(f"{self.marker}\n{head}\n{body}", encoding="utf-8", newline="\n")
        os.replace(with_head, first)
        if not self.staged.is_folder:
            single = self.staged.staging / (self.staged.name + ".tmp")
            os.replace(self.staged.parts[0], single)
            self.staged.parts[0] = single
        return self.staged

    def abandon(self) -> None:
        """Drop everything staged (the import failed)."""
        self._out.close()
        self.staged.discard()
        for made in reversed(self._made):
            with contextlib.suppress(OSError):
                made.rmdir()  # only if empty: another import may have written meanwhile


def _clear_abandoned(imported: Path) -> None:
    """Remove the staging folders of imports whose process is gone (killed mid-import: the
    build never read their '.tmp' files, but they take room)."""
    for folder in imported.glob(".staging-*"):
        pid = folder.name.split("-")[1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # alive, another user's
            continue
