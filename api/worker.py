"""A query worker process: opens the store read-only, runs one query at a time.

Queries run here, not in the web server, because pyoxigraph cannot interrupt a query from
Python: on timeout the server kills this process, which really stops the work and frees its
CPU, and starts a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing.connection import Connection

import pyoxigraph as ox

from kb import formats, results
from kb import query as kbquery
from kb.errors import QueryError, QueryRefused

# An answer larger than this is streamed in pieces of this size, so that the server sends
# the first rows while the worker writes the next (A/B at 1M triples, 10k-row SELECT: 0.84x
# of oxigraph serve with 4 MiB whole messages, 0.88x with 256 KiB pieces; 64 KiB: same).
CHUNK_BYTES = WHOLE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Job:
    """One query for a worker."""

    store: str
    query: str
    dataset: kbquery.Dataset
    format: str
    max_rows: int


class _Chunks:
    """Sends a result: in one message if it is small, else a head and then chunks."""

    def __init__(self, conn: Connection, truncated: bool) -> None:
        self.conn = conn
        self.truncated = truncated
        self.parts: list[bytes] = []
        self.size = 0
        self.streaming = False

    def write(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)
        if self.size >= (CHUNK_BYTES if self.streaming else WHOLE_BYTES):
            self._flush()

    def _flush(self) -> None:
        if not self.streaming:
            self.conn.send(("head", self.truncated))
            self.streaming = True
        if self.parts:
            self.conn.send(("data", b"".join(self.parts)))
            self.parts, self.size = [], 0

    def close(self) -> None:
        if self.streaming:
            self._flush()
            self.conn.send(("end",))
        else:  # the common case: one message, one hop for the server
            self.conn.send(("whole", self.truncated, b"".join(self.parts)))


def _within_cap(job: Job) -> bool:
    limit = kbquery.declared_limit(job.query)
    return limit is not None and limit <= job.max_rows


def main(conn: Connection, parent_pid: int = 0, memory_mb: int = 0) -> None:
    """Answer jobs from ``conn`` until it closes (``parent_pid``: the server that started this
    worker; ``memory_mb``: the memory it may use)."""
    stores: dict[str, ox.Store] = {}
    while True:
        try:
            job: Job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if job.store not in stores:
                stores.clear()  # a new build was swapped in: drop the old handle
                stores[job.store] = ox.Store.read_only(job.store)
            fmt = formats.lookup(job.format)
            assert fmt is not None
            result = kbquery.run(stores[job.store], job.query, job.dataset)
            if isinstance(result, ox.QuerySolutions) and _within_cap(job):
                # The query's own LIMIT keeps it under the cap: no row needs counting, so
                # pyoxigraph's serialiser writes it, far faster than reading rows into Python.
                out = _Chunks(conn, truncated=False)
                result.serialize(results.Sink(out.write), format=fmt.ox_format)  # type: ignore[arg-type]
                out.close()
                continue
            capped = results.cap(result, job.max_rows)
        except QueryRefused as exc:
            conn.send(("refused", str(exc)))
            continue
        except QueryError as exc:
            conn.send(("query", str(exc)))
            continue
        except Exception as exc:
            conn.send(("internal", f"{type(exc).__name__}: {exc}"))
            continue
        out = _Chunks(conn, capped.truncated)
        results.write(capped, fmt, out.write)
        out.close()
