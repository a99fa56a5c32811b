"""One exception type per kind of failure, raised deep and turned into a message at the edge."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from kb.display import escape_controls


class Location(NamedTuple):
    """A place in a data file: 1-based line and column (a tuple: one is made per value)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the data, located, with what would be right."""

    location: Location
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        head = (
            f"{self.location}: {self.field}: {self.message}"
            if self.field
            else (f"{self.location}: {self.message}")
        )
        return f"{head}\n  {self.hint}" if self.hint else head


class GeokbError(Exception):
    """Base of every error geokb reports to a person.

    Each kind knows the HTTP status it is answered with (the web API turns any of them into
    a plain-text response in one place) and, for the kinds worth retrying, after how long.
    """

    http_status: int = 500
    retry_after_s: int | None = None


class DataError(GeokbError):
    """The curated data is wrong: carries every problem found in one run."""

    http_status = 400

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__(self.report())

    def report(self) -> str:
        """All problems, sorted by file and line, then a count."""
        lines = [str(p) for p in self.problems]
        n = len(self.problems)
        lines.append(f"{n} error{'s' if n != 1 else ''} found; nothing was built.")
        return "\n".join(lines)


class QueryError(GeokbError):
    """A SPARQL query is malformed or not allowed."""

    http_status = 400


class QueryRefused(QueryError):
    """A well-formed request that geokb will not run: an update, SERVICE, LOAD."""

    http_status = 403


class QueryTooLong(QueryError):
    """A query longer than the configured limit."""

    http_status = 413


class QueryTimeout(QueryError):
    """A query ran past its time limit and was stopped."""

    http_status = 503
    retry_after_s = 5


class StoreError(GeokbError):
    """The store cannot be opened, built or swapped."""

    http_status = 500


class StoreDamaged(StoreError):
    """A build's store files are missing or corrupt (truncated, overwritten, deleted).

    The message is meant for anyone, HTTP clients included: it names no path. ``detail``
    says what was found, with the build's folder, for the operator's log.
    """

    http_status = 503
    retry_after_s = 30

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(
            "the current build of the knowledge base is damaged (a store file is missing or "
            "corrupt); run 'geokb build' to rebuild it"
        )


def relative(path: Path) -> str:
    """A path as a person would type it: relative to the working directory where possible,
    control characters escaped (``kb.display``)."""
    try:
        # abspath, not resolve: a data file that is a symbolic link is named, not its target
        shown = str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except ValueError:
        shown = str(path)
    return escape_controls(shown)  # a name holding a newline or ESC must not forge output
