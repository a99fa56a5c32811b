"""Which build of a store folder is current: light enough for processes that never open one
(the supervisor of ``geokb serve --processes``, the settings table)."""

from __future__ import annotations

import os
from pathlib import Path

from kb.errors import StoreError

DEFAULT_STORE = Path(".geokb")


def current_build(root: Path) -> Path | None:
    """The folder of the last good build under ``root``, or None if nothing was built."""
    link = root / "current"
    if not link.is_symlink():
        return None
    target = (root / os.readlink(link)).resolve()
    return target if target.is_dir() else None


def check_built(root: Path) -> None:
    """StoreError if nothing was ever built under ``root`` (a damaged build is not checked
    here: whoever opens it says what is wrong)."""
    if current_build(root) is None and not (root / "current").is_symlink():
        raise StoreError(f"no knowledge base built in {root}/ yet; run 'geokb build' first")
