"""Heavy-query slots shared by the server processes of one ``geokb serve --processes N``.

Each server process rations long ("heavy") queries in its own pool (``api.executor``), so
that one is always left free for short queries. With several processes on one machine that
is not enough: each would let its own heavy queries run, and together they could take every
core. A slot here is an exclusive ``flock`` on one of ``count`` files in a folder the
supervisor made: a process takes a free one before a query may run heavy and gives it back
when the query ends, and the kernel gives back the slots of a process that dies, so none is
lost to a crash. ``flock`` locks belong to an open file, so each process opens the files
itself (on first use, after the fork).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class HeavySlots:
    """``count`` slots in ``folder``, shared with every process that opens the same folder."""

    def __init__(self, folder: Path, count: int) -> None:
        self.folder = folder
        self.count = count
        self._fds: list[int] | None = None
        self._held: set[int] = set()

    def take(self) -> int | None:
        """A free slot, now held by this process; None if every one is taken."""
        if self._fds is None:
            self._fds = [
                os.open(self.folder / f"slot-{i}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                for i in range(self.count)
            ]
        for i, fd in enumerate(self._fds):
            if i in self._held:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            self._held.add(i)
            return i
        return None

    def give(self, slot: int) -> None:
        """Give back ``slot`` (taken by :meth:`take`)."""
        assert self._fds is not None
        self._held.discard(slot)
        fcntl.flock(self._fds[slot], fcntl.LOCK_UN)
