"""A pool of query worker processes with a hard per-query timeout.

Each query goes to an idle worker. If it has not finished by the deadline the worker is
killed (SIGKILL: the query stops, its CPU is freed) and replaced, and the client gets a
timeout error. Other queries keep running on the other workers meanwhile.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import AsyncIterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import anyio.to_thread

from api import worker
from api.worker import Job
from kb.errors import GeokbError, QueryError, QueryRefused, QueryTimeout

_CTX = multiprocessing.get_context("spawn")  # no fork of a threaded server


class ServerBusy(GeokbError):
    """Every worker stayed busy until the request's deadline."""


class WorkerFailed(GeokbError):
    """A worker died or answered with an internal error."""


@dataclass
class Execution:
    """A query's answer: whether it was cut, and its bytes, whole or as they come."""

    truncated: bool
    body: bytes | None = None  # the whole answer, when it was small
    chunks: AsyncIterator[bytes] | None = None


class _Worker:
    def __init__(self) -> None:
        parent, child = _CTX.Pipe()
        self.process: BaseProcess = _CTX.Process(target=worker.main, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.conn: Connection = parent

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class QueryPool:
    """Worker processes answering queries, each under a hard timeout."""

    def __init__(self, size: int, timeout_s: float) -> None:
        self.size = size
        self.timeout_s = timeout_s
        # Last in, first out: one client's queries in a row go to the same worker, whose
        # store caches are warm from the query before.
        self._idle: asyncio.Queue[_Worker] = asyncio.LifoQueue()
        self._all: set[_Worker] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._missing = 0  # workers killed when no event loop was running to replace them

    async def start(self) -> None:
        """Start the workers."""
        for _ in range(self.size):
            await self._spawn()

    async def stop(self) -> None:
        """Kill every worker."""
        for task in self._tasks:
            task.cancel()
        for w in list(self._all):
            w.kill()
        self._all.clear()

    async def execute(self, job: Job) -> Execution:
        """Run ``job``; raise QueryTimeout, QueryRefused, QueryError, ServerBusy or WorkerFailed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while self._missing:
            self._missing -= 1
            await self._spawn()
        try:
            w = await asyncio.wait_for(self._idle.get(), timeout=self.timeout_s)
        except TimeoutError:
            raise ServerBusy(
                f"all {self.size} query workers stayed busy for {self.timeout_s:g} s; "
                "try again later"
            ) from None
        try:
            w.conn.send(job)
            msg = await self._receive(w, deadline)
        except BaseException:
            self._replace(w)
            raise
        kind = msg[0]
        if kind == "whole":
            self._idle.put_nowait(w)
            return Execution(truncated=bool(msg[1]), body=msg[2])
        if kind != "head":
            self._idle.put_nowait(w)
            if kind == "refused":
                raise QueryRefused(msg[1])
            if kind == "query":
                raise QueryError(msg[1])
            raise WorkerFailed(msg[1])
        return Execution(truncated=bool(msg[1]), chunks=self._stream(w, deadline))

    async def _stream(self, w: _Worker, deadline: float) -> AsyncIterator[bytes]:
        finished = False
        try:
            while True:
                msg = await self._receive(w, deadline)
                if msg[0] == "end":
                    finished = True
                    return
                yield msg[1]
        finally:
            if finished:
                self._idle.put_nowait(w)
            else:  # timed out, died, or the client went away mid-stream
                self._replace(w)

    async def _receive(self, w: _Worker, deadline: float) -> tuple[Any, ...]:
        loop = asyncio.get_running_loop()
        if not w.conn.poll():
            # Wait for the pipe on the event loop itself: no thread hop per message.
            ready: asyncio.Future[None] = loop.create_future()
            fd = w.conn.fileno()

            def wake() -> None:
                if not ready.done():
                    ready.set_result(None)

            loop.add_reader(fd, wake)
            try:
                await asyncio.wait_for(ready, max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise QueryTimeout(
                    f"the query ran longer than {self.timeout_s:g} s and was stopped; "
                    "narrow it (more specific patterns, a LIMIT) and try again"
                ) from None
            finally:
                loop.remove_reader(fd)
        try:
            # The worker writes a message in one go, so reading it does not wait long.
            msg: tuple[Any, ...] = w.conn.recv()
        except (EOFError, OSError):
            raise WorkerFailed("the query worker died; it has been restarted") from None
        return msg

    def _replace(self, w: _Worker) -> None:
        w.kill()  # stops the query and frees its CPU now
        self._all.discard(w)
        try:
            task = asyncio.get_running_loop().create_task(self._spawn())
        except RuntimeError:  # a stream finalised by the garbage collector
            self._missing += 1
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _spawn(self) -> None:
        w = await anyio.to_thread.run_sync(_Worker)
        self._all.add(w)
        self._idle.put_nowait(w)
