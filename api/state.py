"""The store the app serves: the last good build, reopened when a new build is swapped in."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pyoxigraph as ox

from kb.store import current_build, open_current


class ServedStore:
    """Holds the read-only store of the current build and follows ``geokb build``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._store, self._path = open_current(root)
        self._link = self._read_link()

    def _read_link(self) -> str | None:
        try:
            return os.readlink(self.root / "current")
        except OSError:
            return None

    def get(self) -> ox.Store:
        """The store of the last good build (reopened if a build was swapped in since)."""
        link = self._read_link()  # one system call per request when nothing changed
        if link == self._link:
            return self._store
        path = current_build(self.root)
        if path is not None and path != self._path:
            with self._lock:
                if path != self._path:
                    self._store, self._path = open_current(self.root)
        self._link = link
        return self._store

    def current_path(self) -> Path:
        """The folder of the last good build (what query workers should open)."""
        self.get()
        return self._path
