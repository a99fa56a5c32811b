"""Answers to repeated queries, kept for the build they were computed on.

A build never changes once written, so the same query with the same dataset, format and
row cap over the same build has the same answer: the server keeps recent answers, up to a
memory budget, and sends them again without running the query. Dashboards, the example
queries and links to CSV exports ask the same thing over and over. Queries that call
RAND, NOW, UUID, STRUUID or BNODE are never kept: their answers are meant to differ.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    """A kept answer: whether it was cut at the row cap, and its bytes."""

    truncated: str | bool  # why it was cut: "rows", "bytes"; falsy if whole
    body: bytes


class ResultCache:
    """The most recently used answers, within ``max_bytes`` in all."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_entry = max_bytes // 8  # a few huge answers must not evict everything
        self._answers: OrderedDict[Hashable, tuple[Answer, int]] = OrderedDict()
        self._size = 0
        self._build: object = None

    def get(self, build: object, key: Hashable) -> Answer | None:
        """The kept answer for ``key`` on ``build``, if any."""
        if build != self._build:
            return None
        kept = self._answers.get(key)
        if kept is None:
            return None
        self._answers.move_to_end(key)
        return kept[0]

    def put(self, build: object, key: Hashable, answer: Answer, key_size: int = 0) -> None:
        """Keep ``answer``; answers of an older build are dropped. ``key_size`` (the query's
        length) counts against the budget too: many long queries with tiny answers must not
        fill the memory."""
        size = len(answer.body) + key_size
        if size > self.max_entry:
            return
        if build != self._build:  # a new build was swapped in: nothing kept is valid
            self._answers.clear()
            self._size = 0
            self._build = build
        old = self._answers.pop(key, None)
        if old is not None:
            self._size -= old[1]
        self._answers[key] = (answer, size)
        self._size += size
        while self._size > self.max_bytes:
            _, (_, dropped) = self._answers.popitem(last=False)
            self._size -= dropped

    async def keep_stream(
        self,
        build: object,
        key: Hashable,
        truncated: str | bool,
        chunks: AsyncIterator[bytes],
        key_size: int = 0,
    ) -> AsyncIterator[bytes]:
        """Pass ``chunks`` on, and keep the whole answer if it ends and is small enough."""
        parts: list[bytes] | None = []
        size = 0
        async for chunk in chunks:
            if parts is not None:
                size += len(chunk)
                if size > self.max_entry:
                    parts = None  # too big to keep: stop copying
                else:
                    parts.append(chunk)
            yield chunk
        if parts is not None:
            self.put(build, key, Answer(truncated, b"".join(parts)), key_size)
