"""A query worker process: opens the store read-only, runs one query at a time.

Queries run here, not in the web server, because pyoxigraph cannot interrupt a query from
Python: on timeout the server kills this process, which really stops the work and frees its
CPU, and starts a fresh one. Before it takes a job the worker shuts itself in
(``api.sandbox``): no network, bounded memory, death with the server.

Every answer is cut to the job's row and byte caps here, on the result stream, whatever the
query says. A worker that sent a very large answer, or has grown large, exits after sending
it (the pool starts a fresh one), so one big answer does not keep its memory forever.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import NoReturn

import pyoxigraph as ox

from api import sandbox
from kb.errors import QueryError, QueryRefused
from kb.sparql import formats, results
from kb.sparql import query as kbquery
from kb.sparql.formats import Format
from kb.sparql.reading import Reading

# An answer larger than this is sent in pieces of this size (pickling one 64 MB message would
# double the memory it takes on both sides).
CHUNK_BYTES = WHOLE_BYTES = 256 * 1024
# pyoxigraph's parser and optimiser recurse: the query thread gets a stack far deeper than
# any query the reader lets through needs (measured: 50,000 nested '!' need < 64 MiB).
STACK_BYTES = 64 * 1024 * 1024
# A worker exits after an answer this large, or once it holds this much memory.
RECYCLE_ANSWER_BYTES = 16 * 1024 * 1024
RECYCLE_RSS_BYTES = 384 * 1024 * 1024


@dataclass(frozen=True)
class Job:
    """One query for a worker, with everything it needs: no global settings in workers."""

    store: str
    query: str
    dataset: kbquery.Dataset
    format: str
    max_rows: int
    max_bytes: int = 64 * 1024 * 1024
    reading: Reading | None = None  # the server's reading of the query (read once)
    base_iri: str | None = None  # relative IRIs in the query resolve against this


class BuildGone(QueryError):
    """The build a job names was replaced and removed before the job started."""


def main(conn: Connection, parent_pid: int = 0, memory_mb: int = 0) -> None:
    """Answer jobs from ``conn`` until it closes (``parent_pid``: the server that started this
    worker; ``memory_mb``: the memory it may use). Fails closed: without its sandbox the
    worker exits before its first job."""
    sandbox.enter(parent_pid, memory_mb)
    threading.stack_size(STACK_BYTES)
    thread = threading.Thread(target=_serve, args=(conn,), name="geokb-query")
    thread.start()
    thread.join()


def _serve(conn: Connection) -> None:
    stores: dict[str, ox.Store] = {}
    while True:
        try:
            job: Job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer = _answer(_open(stores, job.store), job)
        except QueryRefused as exc:
            conn.send(("refused", str(exc)))
            continue
        except QueryError as exc:
            conn.send(("query", str(exc)))
            continue
        except MemoryError:
            conn.send(
                (
                    "memory",
                    "the query needed more memory than a query may use and was stopped; "
                    "narrow it (a LIMIT, fewer or smaller values)",
                )
            )
            _exit(conn)
        except Exception as exc:
            # never show a client where the store lives
            text = f"{type(exc).__name__}: {exc}".replace(job.store, "<store>")
            conn.send(("internal", text))
            continue
        _send(conn, answer)
        if answer.size > RECYCLE_ANSWER_BYTES or _rss() > RECYCLE_RSS_BYTES:
            _exit(conn)


def _open(stores: dict[str, ox.Store], path: str) -> ox.Store:
    store = stores.get(path)
    if store is None:
        stores.clear()  # a new build was swapped in: drop the old handle
        if not os.path.isdir(path):
            raise BuildGone("the knowledge base was rebuilt while the query waited; send it again")
        store = stores[path] = ox.Store.read_only(path)
    return store


def _answer(store: ox.Store, job: Job) -> results.Bounded:
    fmt = formats.lookup(job.format)
    assert fmt is not None
    result = kbquery.run(store, job.query, job.dataset, job.reading, job.base_iri)
    limit = job.reading.limit if job.reading is not None else None
    if isinstance(result, ox.QuerySolutions) and limit is not None and limit <= job.max_rows:
        # The query's own LIMIT should keep it under the cap: pyoxigraph's serialiser writes
        # it, twice as fast as reading rows into Python. Its output is checked against both
        # caps all the same, so a misreading of the LIMIT costs time, never the cap.
        native = _native(result, fmt, job)
        if native is not None:
            return native
        result = kbquery.run(store, job.query, job.dataset, job.reading, job.base_iri)
    return results.write_bounded(results.cap(result, job.max_rows), fmt, job.max_bytes)


def _native(result: ox.QuerySolutions, fmt: Format, job: Job) -> results.Bounded | None:
    budget = results.Budget(job.max_bytes)
    try:
        result.serialize(results.Sink(budget), format=fmt.ox_format)  # type: ignore[arg-type]
    except (results.AnswerTooLarge, OSError):  # pyoxigraph may wrap the sink's exception
        if budget.size <= job.max_bytes:
            raise
        return None
    data = b"".join(budget.parts)
    if results.most_rows(data, fmt) > job.max_rows:
        return None
    return results.Bounded([data], len(data), "")


def _send(conn: Connection, answer: results.Bounded) -> None:
    """In one message if small (one hop for the server), else a head and then pieces."""
    if answer.size <= WHOLE_BYTES:
        conn.send(("whole", answer.cut, b"".join(answer.parts)))
        return
    conn.send(("head", answer.cut))
    piece: list[bytes] = []
    size = 0
    for part in answer.parts:
        piece.append(part)
        size += len(part)
        if size >= CHUNK_BYTES:
            data = b"".join(piece)
            for start in range(0, len(data), CHUNK_BYTES):
                conn.send(("data", data[start : start + CHUNK_BYTES]))
            piece, size = [], 0
    if piece:
        conn.send(("data", b"".join(piece)))
    conn.send(("end",))


def _rss() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _exit(conn: Connection) -> NoReturn:
    """Leave after the last message: the pool sees the pipe close and starts a new worker."""
    conn.close()
    os._exit(0)
