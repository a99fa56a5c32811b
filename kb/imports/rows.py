"""What an importer makes of each row of a dataset: a fact, a skip with its reason, or a
possible duplicate of a hand-curated fact."""

from __future__ import annotations

from dataclasses import dataclass

from kb.errors import GeokbError


class ImportFailed(GeokbError):
    """The file cannot be imported at all (not the layout named, unreadable, nothing in it
    maps); ``data/`` is left as it was."""


@dataclass(frozen=True)
class Fact:
    """One record to write: its id and its YAML text (``kb.imports.writer.record``)."""

    id: str
    text: str
    line: int = 0


@dataclass(frozen=True)
class Skip:
    """A row left out: where, why (``reason`` is the kind, counted in the summary) and the
    particulars (``detail``)."""

    line: int
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class Duplicate:
    """A row that matches a hand-curated fact (``curated``: 'kind/id'); not imported."""

    line: int
    id: str
    curated: str

    def __str__(self) -> str:
        return f"line {self.line}: possible duplicate of curated {self.curated}; not imported"


Outcome = Fact | Skip | Duplicate
