"""The example queries, one file each in ``kb/examples/``: the single source for the query
page, the README and the tests."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

EXAMPLES_DIR = Path(__file__).parent / "examples"


@dataclass(frozen=True)
class Example:
    """A named example query."""

    name: str
    title: str
    query: str


@cache
def examples() -> tuple[Example, ...]:
    """Every example query, in file-name order."""
    out = []
    for path in sorted(EXAMPLES_DIR.glob("*.rq")):
        text = path.read_text(encoding="utf-8")
        first, _, rest = text.partition("\n")
        if not first.startswith("# title: "):
            raise ValueError(f"{path}: the first line must be '# title: ...'")
        out.append(Example(path.stem, first.removeprefix("# title: ").strip(), rest))
    return tuple(out)
