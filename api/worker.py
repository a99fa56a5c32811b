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

import io
import json
import os
import socket
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, fields
from multiprocessing import context, popen_spawn_posix, reduction, spawn, util
from multiprocessing.process import BaseProcess
from typing import NoReturn

import pyoxigraph as ox

from api import sandbox
from kb.errors import QueryError, QueryRefused
from kb.sparql import formats, results
from kb.sparql import query as kbquery
from kb.sparql.formats import Format
from kb.sparql.reading import Reading

# An answer up to this size goes in one frame (one hop for the server); a larger one in
# frames of this size, which the server passes on as they come.
CHUNK_BYTES = WHOLE_BYTES = 256 * 1024
# pyoxigraph's parser and optimiser recurse: the query thread gets a stack far deeper than
# any query the reader lets through needs (measured: 50,000 nested '!' need < 64 MiB).
STACK_BYTES = 64 * 1024 * 1024
# A worker exits after an answer this large, or once it holds this much memory.
RECYCLE_ANSWER_BYTES = 16 * 1024 * 1024
RECYCLE_RSS_BYTES = 384 * 1024 * 1024

# The pipe (an AF_UNIX socketpair) carries frames of bytes, parsed by both ends themselves:
# a head of 4 bytes (big-endian length of the payload) and 1 byte (the frame's kind), then
# the payload. No pickling: an answer's bytes go through as they are, and the server's end
# stays registered with its event loop for the worker's life (uvloop and asyncio alike).
FRAME_HEAD = struct.Struct("!IB")
JOB = ord("J")  # server -> worker: a Job (JSON)
WHOLE = ord("W")  # a whole answer: 1 byte (why it was cut, an index in CUTS), then the bytes
HEAD = ord("H")  # a large answer starts: 1 byte (why it was cut)
DATA = ord("D")  # ... a piece of it
END = ord("E")  # ... its end
REFUSED = ord("R")  # the query may not run here (UTF-8 message)
BAD_QUERY = ord("Q")  # the query is wrong (UTF-8 message)
MEMORY = ord("M")  # the query ran out of memory; the worker leaves (UTF-8 message)
INTERNAL = ord("I")  # anything else (UTF-8 message)
CUTS = ("", "rows", "bytes")


# The reading's fields a worker gets: the lookup (kb.sparql.lookups) is the server's business.
_READING_FIELDS = [f for f in fields(Reading) if f.name != "lookup"]


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

    def encode(self) -> bytes:
        """The job as the payload of a JOB frame."""
        r = self.reading
        # (not dataclasses.astuple, which deep-copies: 5x the time)
        reading = None if r is None else [getattr(r, f.name) for f in _READING_FIELDS]
        values = [
            self.store,
            self.query,
            self.dataset.default_graphs,
            self.dataset.named_graphs,
            self.format,
            self.max_rows,
            self.max_bytes,
            reading,
            self.base_iri,
        ]
        # ensure_ascii: a lone surrogate in a query travels as an escape, not as bad UTF-8
        return json.dumps(values, separators=(",", ":")).encode("ascii")

    @staticmethod
    def decode(payload: bytes) -> Job:
        """The job a JOB frame's payload holds."""
        store, query, default, named, fmt, max_rows, max_bytes, reading, base = json.loads(payload)
        return Job(
            store,
            query,
            kbquery.Dataset(tuple(default), tuple(named)),
            fmt,
            max_rows,
            max_bytes,
            Reading(*reading) if reading is not None else None,
            base,
        )


def frame(kind: int, *parts: bytes | memoryview) -> list[bytes | memoryview]:
    """The buffers of one frame of ``kind`` holding ``parts``, to write in one go."""
    return [FRAME_HEAD.pack(sum(len(p) for p in parts), kind), *parts]


class _Popen(popen_spawn_posix.Popen):
    """multiprocessing's "spawn" start (no fork of a threaded server) without its resource
    tracker: the stdlib's ``_launch`` (as in Python 3.11) minus starting the tracker and
    passing it on. The
    tracker is a process of its own (~13 MB) that cleans up named semaphores and shared
    memory left by dead children; workers create none (their pipe is a socketpair). A worker
    that did would start a tracker of its own. The command line is the stdlib's
    (``spawn_main``), so workers are found as before."""

    def _launch(self, process_obj: BaseProcess) -> None:
        prep_data = spawn.get_preparation_data(process_obj.name)
        # Nor does the worker run the server's main module again (the 'geokb' script and the
        # CLI it imports, ~3 MB a worker): it needs only api.worker, which it imports to find
        # its target.
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        fp = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, fp)
            reduction.dump(process_obj, fp)
        finally:
            context.set_spawning_popen(None)
        parent_r = child_w = child_r = parent_w = None
        try:
            parent_r, child_w = os.pipe()
            child_r, parent_w = os.pipe()
            cmd = spawn.get_command_line(pipe_handle=child_r)
            fds: list[int] = self._fds  # type: ignore[attr-defined]
            fds.extend([child_r, child_w])
            self.pid = util.spawnv_passfds(spawn.get_executable(), cmd, fds)  # type: ignore[arg-type]
            self.sentinel = parent_r
            with open(parent_w, "wb", closefd=False) as f:
                f.write(fp.getbuffer())
        finally:
            self.finalizer = util.Finalize(
                self,
                util.close_fds,  # type: ignore[attr-defined]
                [fd for fd in (parent_r, parent_w) if fd is not None],
            )
            for fd in (child_r, child_w):
                if fd is not None:
                    os.close(fd)


class Process(context.SpawnProcess):
    """A worker process, started the "spawn" way without a resource tracker. (Here, not in
    ``api.executor``: a worker imports the module of its process's class, and this one is
    light.)"""

    @staticmethod
    def _Popen(process_obj: BaseProcess) -> _Popen:
        return _Popen(process_obj)


class BuildGone(QueryError):
    """The build a job names was replaced and removed before the job started."""


def main(pipe: socket.socket, parent_pid: int = 0, memory_mb: int = 0) -> None:
    """Answer jobs from ``pipe`` until it closes (``parent_pid``: the server that started this
    worker; ``memory_mb``: the memory it may use). Fails closed: without its sandbox the
    worker exits before its first job."""
    sandbox.enter(parent_pid, memory_mb)
    threading.stack_size(STACK_BYTES)
    fd = pipe.fileno()
    pipe.setblocking(True)  # this end waits for its jobs
    thread = threading.Thread(target=_serve, args=(fd,), name="geokb-query")
    thread.start()
    thread.join()


def _serve(fd: int) -> None:
    stores: dict[str, tuple[ox.Store, bool]] = {}
    reader = _Reader(fd)
    statm = os.open("/proc/self/statm", os.O_RDONLY)
    while True:
        try:
            payload = reader.frame()
            if payload is None:
                return
            job = Job.decode(payload)
            try:
                answer = _answer(*_open(stores, job.store), job)
            except QueryRefused as exc:
                _write(fd, frame(REFUSED, str(exc).encode()))
                continue
            except QueryError as exc:
                _write(fd, frame(BAD_QUERY, str(exc).encode()))
                continue
            except MemoryError:
                message = (
                    "the query needed more memory than a query may use and was stopped; "
                    "narrow it (a LIMIT, fewer or smaller values)"
                )
                _write(fd, frame(MEMORY, message.encode()))
                _exit(fd)
            except Exception as exc:
                # never show a client where the store lives
                text = f"{type(exc).__name__}: {exc}".replace(job.store, "<store>")
                _write(fd, frame(INTERNAL, text.encode("utf-8", "replace")))
                continue
            _send(fd, answer)
        except OSError:  # the server closed the pipe (it is stopping, or killed us)
            return
        if answer.size > RECYCLE_ANSWER_BYTES or _rss(statm) > RECYCLE_RSS_BYTES:
            _exit(fd)


class _Reader:
    """Frames from the server (always JOBs), read in as few system calls as they allow: the
    server sends a job only once the one before was answered, so one read is one job."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def frame(self) -> bytes | None:
        """The payload of the next frame; None once the server closed the pipe."""
        head = FRAME_HEAD.size
        while True:
            buf = self.buffer
            if len(buf) >= head:
                size, kind = FRAME_HEAD.unpack_from(buf)
                if kind != JOB:
                    raise OSError(f"unexpected frame {kind} from the server")
                if len(buf) >= head + size:
                    self.buffer = buf[head + size :]
                    return buf[head : head + size]
                want = head + size - len(buf)
            else:
                want = head - len(buf)
            piece = os.read(self.fd, max(want, 64 * 1024))
            if not piece:
                return None
            self.buffer = buf + piece


def _write(fd: int, buffers: Iterable[bytes | memoryview]) -> None:
    """Write all of ``buffers`` (a blocking pipe: each call writes at least a byte)."""
    views = [memoryview(b) for b in buffers if len(b)]
    i = 0
    while i < len(views):
        written = os.writev(fd, views[i : i + 512])
        while written:
            if written >= len(views[i]):
                written -= len(views[i])
                i += 1
            else:
                views[i] = views[i][written:]
                written = 0


def _open(stores: dict[str, tuple[ox.Store, bool]], path: str) -> tuple[ox.Store, bool]:
    """The store of the build in ``path``, and whether its queries need the union of its
    graphs (both found once per build)."""
    opened = stores.get(path)
    if opened is None:
        stores.clear()  # a new build was swapped in: drop the old handle
        if not os.path.isdir(path):
            raise BuildGone("the knowledge base was rebuilt while the query waited; send it again")
        store = ox.Store.read_only(path)
        opened = stores[path] = (store, kbquery.needs_union(store))
    return opened


def _answer(store: ox.Store, union: bool, job: Job) -> results.Bounded:
    fmt = formats.lookup(job.format)
    assert fmt is not None
    result = kbquery.run(store, job.query, job.dataset, job.reading, job.base_iri, union)
    if isinstance(result, ox.QuerySolutions):
        # pyoxigraph's serialiser (Rust) writes the answer, several times faster than reading
        # rows into Python, under both caps, checked on its bytes as they come. An answer
        # past a cap is written again below, cut to fit: at most one cap's worth of work.
        native = _native(result, fmt, job)
        if native is not None:
            return native
        result = kbquery.run(store, job.query, job.dataset, job.reading, job.base_iri, union)
    return results.write_bounded(results.cap(result, job.max_rows), fmt, job.max_bytes)


def _native(result: ox.QuerySolutions, fmt: Format, job: Job) -> results.Bounded | None:
    budget = results.RowBudget(job.max_bytes, fmt, job.max_rows)
    try:
        result.serialize(results.Sink(budget), format=fmt.ox_format)  # type: ignore[arg-type]
    except (results.AnswerTooLarge, OSError):  # pyoxigraph may wrap the sink's exception
        if budget.size <= job.max_bytes and not budget.too_many_rows:
            raise
        return None
    return results.Bounded(budget.parts, budget.size, "")


def _send(fd: int, answer: results.Bounded) -> None:
    """In one frame if small (one hop for the server), else a head, pieces and an end."""
    cut = bytes([CUTS.index(answer.cut)])
    if answer.size <= WHOLE_BYTES:
        _write(fd, frame(WHOLE, cut, *answer.parts))
        return
    _write(fd, frame(HEAD, cut))
    piece: list[memoryview] = []
    size = 0
    for part in answer.parts:
        view = memoryview(part)
        while view:  # no copies: a piece is views into the answer's parts
            take = view[: CHUNK_BYTES - size]
            piece.append(take)
            size += len(take)
            view = view[len(take) :]
            if size == CHUNK_BYTES:
                _write(fd, frame(DATA, *piece))
                piece, size = [], 0
    if piece:
        _write(fd, frame(DATA, *piece))
    _write(fd, frame(END))


def _rss(statm: int) -> int:
    """The resident memory of this process (``statm``: /proc/self/statm, kept open: one
    system call a job)."""
    return int(os.pread(statm, 256, 0).split()[1]) * _PAGE


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _exit(fd: int) -> NoReturn:
    """Leave after the last frame: the pool sees the pipe close and starts a new worker."""
    os.close(fd)
    os._exit(0)
