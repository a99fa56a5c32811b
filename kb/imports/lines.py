"""A dataset file's lines, decoded one at a time, so that text in the wrong encoding is
reported with the line it is on (a text-mode file decodes ahead in blocks of 8 KiB, and its
error says neither line nor byte of the file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kb.imports.rows import ImportFailed


def decoded(path: Path, encoding: str, hint: str) -> Iterator[str]:
    """The lines of ``path`` (each with its line end), decoded; ImportFailed naming the line
    that is not ``encoding`` text, with ``hint`` (which encoding the dataset has used)."""
    try:
        "".encode(encoding)
    except LookupError:
        raise ImportFailed(f"unknown encoding '{encoding}'") from None
    with path.open("rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                yield raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise ImportFailed(
                    f"{path}:{n}: not {encoding} text ({exc.reason} at column "
                    f"{exc.start + 1}); pass --encoding ({hint})"
                ) from None
