"""The store the app serves: the last good build, reopened when a new build is swapped in.

The server hands the folder of the current build to query workers, which open it when they
get to the query, maybe after waiting in the queue. So that no build prunes a folder in
between, the server holds a lease (``kb.stores.local.lease``) on the current build, and on each
build it served before for ``grace_s`` seconds after it was swapped out.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyoxigraph as ox

from kb.errors import StoreDamaged
from kb.sparql.query import needs_union
from kb.stores.local import check_built, current_build, lease, open_build, release, store_damage

#: How often the link is read again when the build it named was pruned meanwhile.
_FOLLOW_TRIES = 5


class ServedStore:
    """Holds the read-only store of the current build and follows ``geokb build``.

    ``grace_s`` is how long a build stays leased after a newer one is swapped in: at least
    the time a query may wait for a worker plus the time it may run.
    """

    def __init__(self, root: Path, grace_s: float = 120.0) -> None:
        self.root = root
        self._link_file = os.fspath(root / "current")  # (a str: read once per request)
        self.grace_s = grace_s
        self._lock = threading.Lock()
        self._link: str | None = None
        self._path: Path | None = None
        self._store: ox.Store | None = None
        # (the build's folder, its store) if the default graph is written: one attribute, so
        # that a reader in another thread never pairs one build's folder with another's store
        self._indexed: tuple[Path, ox.Store] | None = None
        self._lease: int | None = None
        self._damage: StoreDamaged | None = None
        self._retired: list[tuple[float, int]] = []  # (release at, lease), oldest first
        check_built(root)
        with self._lock:
            self._follow(self._read_link())

    def _read_link(self) -> str | None:
        try:
            return os.readlink(self._link_file)
        except OSError:
            return None

    def get(self) -> ox.Store:
        """The store of the last good build (reopened if a build was swapped in since).

        Raises StoreDamaged (its message names no path) when that build cannot be read.
        """
        store, _ = self._current()
        return store

    def indexed(self, path: Path) -> ox.Store | None:
        """The open store of the build in ``path`` if it is still the current one and has
        its default graph written (every build since the default graph came does), for
        lookups answered from its indexes (``kb.sparql.direct``); else None."""
        indexed = self._indexed
        return indexed[1] if indexed is not None and indexed[0] == path else None

    def current_path(self) -> Path:
        """The folder of the last good build (what query workers should open): leased, so
        no build deletes it for ``grace_s`` seconds after it stops being current."""
        _, path = self._current()
        return path

    @contextmanager
    def reading(self) -> Iterator[ox.Store]:
        """The current store, for reads that turn damage found on the way (a table file
        truncated or overwritten under the open store) into StoreDamaged."""
        store, path = self._current()
        try:
            yield store
        except (OSError, RuntimeError) as exc:
            damaged = store_damage(path, exc)
            if damaged is None:
                raise
            raise damaged from None

    def close(self) -> None:
        """Give back every lease (the server is stopping)."""
        with self._lock:
            for _, held in self._retired:
                release(held)
            self._retired.clear()
            if self._lease is not None:
                release(self._lease)
                self._lease = None

    def _current(self) -> tuple[ox.Store, Path]:
        link = self._read_link()  # one system call per request when nothing changed
        if link != self._link or (self._retired and self._retired[0][0] <= time.monotonic()):
            with self._lock:
                if link != self._link:
                    self._follow(link)
                self._release_expired()
        # One reading of both, so the store and the path always belong to the same build.
        store, path, damage = self._store, self._path, self._damage
        if damage is not None:
            raise damage
        assert store is not None and path is not None
        return store, path

    def _follow(self, link: str | None) -> None:
        """Open and lease the build ``link`` names (under the lock)."""
        for _ in range(_FOLLOW_TRIES):
            path = current_build(self.root) if link is not None else None
            if path is None:
                self._swap(link, None, None, StoreDamaged("the 'current' link names no build"))
                return
            if path == self._path and self._damage is None:
                self._link = link
                return
            held = lease(path)
            if held is None:  # pruned meanwhile: the link has moved on
                link = self._read_link()
                continue
            try:
                store = open_build(path)
            except StoreDamaged as exc:
                release(held)
                self._swap(link, path, None, exc)
                return
            self._swap(link, path, (store, held), None)
            return
        self._swap(link, None, None, StoreDamaged("the 'current' link keeps moving"))

    def _swap(
        self,
        link: str | None,
        path: Path | None,
        opened: tuple[ox.Store, int] | None,
        damage: StoreDamaged | None,
    ) -> None:
        if self._lease is not None:  # queued queries may still open the previous build
            self._retired.append((time.monotonic() + self.grace_s, self._lease))
        self._store, self._lease = opened if opened is not None else (None, None)
        self._indexed = None
        if self._store is not None and path is not None:
            # unreadable: lookups go to the workers, whose answer says so
            with contextlib.suppress(OSError, RuntimeError):
                self._indexed = None if needs_union(self._store) else (path, self._store)
        self._link, self._path, self._damage = link, path, damage

    def _release_expired(self) -> None:
        now = time.monotonic()
        while self._retired and self._retired[0][0] <= now:
            release(self._retired.pop(0)[1])
