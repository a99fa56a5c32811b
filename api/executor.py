"""A pool of query worker processes: hard time limits, fair queueing, rationed long queries.

Each query goes to an idle worker process. The rules, in the order a request meets them:

* A client whose queries killed ``CRASH_LIMIT`` workers within ``CRASH_WINDOW_S`` is refused
  for ``THROTTLE_S`` (ClientThrottled), and a query text that killed a worker is refused for
  ``POISON_S`` (QueryPoisoned): one hostile query cannot make the pool respawn in a loop.
* Waiting for a worker is limited to ``queue_timeout_s`` (ServerBusy); clients waiting are
  served in turn, one query each, so a client sending many queries does not starve the others.
* Once a worker has the job it may run ``timeout_s``; then the worker is killed (SIGKILL: the
  query stops and its CPU is freed) and replaced (QueryTimeout).
* A query still running after ``heavy_after_s`` is heavy and marks its client heavy for
  ``HEAVY_MARK_S``. At most ``max(1, workers - 1)`` heavy queries run at once, one per client,
  so a worker is always left for short queries; a heavy client's next queries wait for a heavy
  slot. A query that turns heavy when no slot is free is stopped (HeavyQueryLimited).

Workers are started from one thread that lives as long as the pool: a worker asks the kernel
to kill it when the thread that started it exits (PR_SET_PDEATHSIG, so that a killed server
leaves no worker running), and a short-lived pool thread would take its workers with it.
A worker that cannot be started (e.g. no file descriptors left) is retried with back-off.

The pipe to a worker is an AF_UNIX socketpair carrying frames of bytes (``api.worker``): the
server's end is an asyncio transport, registered with the event loop once for the worker's
life, so a message costs no pickling and no reader registration, and uvloop's non-blocking
descriptors are what the transport expects.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any, NoReturn, cast

from api import worker
from api.heavy_slots import HeavySlots
from api.settings import Settings
from api.worker import Job
from kb.errors import GeokbError, QueryError, QueryRefused, QueryTimeout
from kb.sparql import query as kbquery

_LOG = logging.getLogger("geokb.pool")

HEAVY_MARK_S = 60.0  # a client whose query turned heavy is rationed this long
POISON_S = 600.0  # a query text that killed its worker is refused this long
CRASH_WINDOW_S = 60.0  # a client whose queries killed CRASH_LIMIT workers in this window...
CRASH_LIMIT = 3
THROTTLE_S = 300.0  # ...is refused this long
SPAWN_RETRY_S = (0.05, 2.0)  # first and longest wait between attempts to start a worker
REMEMBERED = 10_000  # poisoned texts and clients remembered at most, so memory stays bounded
WARM_UP_S = 30.0  # time a new worker has to answer its first (warm-up) query


class ServerBusy(GeokbError):
    """No worker could be had in time, or none can be started (HTTP 503 with Retry-After)."""

    http_status = 503
    retry_after_s = 5


class HeavyQueryLimited(ServerBusy):
    """A query turned heavy while every heavy slot was taken, and was stopped (HTTP 503)."""


class WorkerFailed(GeokbError):
    """A worker died or answered with an internal error (HTTP 500)."""

    http_status = 500


class QueryOutOfMemory(ServerBusy):
    """The query needed more memory than a worker may use, and its worker died (HTTP 503)."""


class QueryPoisoned(QueryError):
    """This query text killed a worker a short while ago: refused without running (HTTP 400)."""


class ClientThrottled(GeokbError):
    """This client's queries killed several workers lately: refused for a while (HTTP 429)."""

    http_status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class Execution:
    """A query's answer: whether it was cut, and its bytes, whole or as they come."""

    truncated: str  # why the answer was cut: "rows" or "bytes"; "" if it is whole
    body: bytes | None = None  # the whole answer, when it was small
    chunks: AsyncIterator[bytes] | None = None


class _Closed(Exception):
    """The worker's end of the pipe closed: it exited or was killed."""


# Bytes of a large answer held from a worker before the server stops reading its pipe (the
# worker then waits until the client has taken some): a slow client holds no more.
HOLD_BYTES = 1024 * 1024


class _Pipe(asyncio.Protocol):
    """The server's end of a worker's pipe: frames as they come, and whether it closed."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.frames: deque[tuple[int, bytes]] = deque()
        self.held = 0  # bytes in self.frames
        self.closed = False
        self.waiter: asyncio.Future[None] | None = None
        self.on_event: Callable[[], None] | None = None  # set while the worker is idle
        self._buffer = bytearray()
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not subclasses of asyncio.Transport, but behave as one)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._buffer:
            self._buffer += data
            buf: bytes | bytearray = self._buffer
        else:
            buf = data  # the usual case: frames start at the start of what was read
        pos, end, head = 0, len(buf), worker.FRAME_HEAD
        while end - pos >= head.size:
            size, kind = head.unpack_from(buf, pos)
            stop = pos + head.size + size
            if stop > end:
                break
            self.frames.append((kind, bytes(buf[pos + head.size : stop])))
            self.held += size
            pos = stop
        if buf is self._buffer:
            del self._buffer[:pos]
        elif pos < end:
            self._buffer = bytearray(buf[pos:])
        if self.held > HOLD_BYTES and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)
        if self.on_event is not None:
            self.on_event()

    async def next(self, timeout: float) -> tuple[int, bytes]:
        """The next frame; raises _Closed once the pipe closed, TimeoutError after
        ``timeout`` seconds."""
        if not self.frames and not self.closed:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not self.frames and not self.closed:  # (woken by part of a frame too)
                self.waiter = waiter = loop.create_future()
                # a timer, rather than asyncio.wait_for (a callback and a timer per frame)
                timer = loop.call_at(deadline, _timed_out, waiter)
                try:
                    await waiter
                finally:
                    timer.cancel()
                    self.waiter = None
        if not self.frames:
            raise _Closed
        kind, payload = self.frames.popleft()
        self.held -= len(payload)
        if self._paused and self.held <= HOLD_BYTES // 2 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return kind, payload

    def send(self, job: Job) -> None:
        """Queue ``job`` for the worker (the transport writes it as the pipe takes it)."""
        assert self.transport is not None
        self.transport.write(b"".join(worker.frame(worker.JOB, job.encode())))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _Worker:
    """One worker process and the server's end of its pipe."""

    def __init__(self, memory_mb: int) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.process: BaseProcess = worker.Process(
                target=worker.main, args=(theirs, os.getpid(), memory_mb), daemon=True
            )
            self.process.start()
        except BaseException:
            ours.close()  # a failed start (EMFILE, EAGAIN) must not leak descriptors
            raise
        finally:
            theirs.close()
        self.sock = ours
        self.pipe = _Pipe()

    async def connect(self) -> None:
        """Make the server's end of the pipe a transport of the running event loop."""
        loop = asyncio.get_running_loop()
        try:
            await loop.create_unix_connection(lambda: self.pipe, sock=self.sock)
        except BaseException:
            self.sock.close()
            raise

    def kill(self) -> None:
        """Kill the process (if it still runs) and close the pipe; reaping is ``reap``."""
        if self.process.exitcode is None:
            self.process.kill()
        if self.pipe.transport is not None:
            self.pipe.close()
        else:
            self.sock.close()

    def reap(self) -> int | None:
        """Wait for the process to end (blocking) and return its exit code."""
        self.process.join(timeout=5)
        return self.process.exitcode


@dataclass
class _Run:
    """A job on a worker: who sent it, and what the pool decided about it."""

    client: str
    digest: bytes
    heavy: bool  # holds a heavy slot
    stopped: bool = False  # killed by the pool because no heavy slot was free
    overdue: bool = False  # killed by the pool at its deadline, its answer not all taken
    answered: bool = False  # a first message came back
    done: bool = False
    deadline: float = 0.0  # (the loop's clock) when the job must be over, answer sent
    timer: asyncio.TimerHandle | None = None  # at heavy_after_s, then at the deadline


class _Gone(Exception):
    """The worker had exited cleanly (it recycles itself) before it read the job."""


@dataclass
class _Waiter:
    future: asyncio.Future[tuple[_Worker, bool]] = field(repr=False)


class QueryPool:
    """Worker processes answering queries, each under a hard timeout, shared fairly."""

    def __init__(
        self,
        settings: Settings,
        *,
        size: int | None = None,
        store: Callable[[], object] | None = None,
    ) -> None:
        """A pool under ``settings``; ``size`` overrides its number of workers (0: none);
        ``store`` gives the store folder a new worker opens before it takes queries."""
        self.size = settings.query_workers() if size is None else size
        self.timeout_s = settings.timeout_s
        self.queue_timeout_s = settings.queue_timeout_s
        self.heavy_after_s = settings.heavy_after_s
        self.memory_mb = settings.worker_memory_mb
        self.heavy_slots = max(1, self.size - 1)
        # With several server processes (geokb serve --processes), a heavy query also needs
        # one of the slots they share: no more run at once than one process would allow.
        shared = settings.shared_heavy_slots
        self._shared = None if shared is None else HeavySlots(shared, self.heavy_slots)
        self._shared_held: dict[str, int] = {}  # client -> the shared slot its query holds
        self._all: set[_Worker] = set()
        # Last in, first out: one client's queries in a row go to the same worker, whose
        # store caches are warm from the query before.
        self._idle: list[_Worker] = []
        self._waiters: dict[str, deque[_Waiter]] = {}  # in turn order: first served first
        self._heavy_running: set[str] = set()  # clients with a heavy query on a worker
        self._heavy_until: dict[str, float] = {}
        self._poisoned: dict[bytes, float] = {}
        self._crashes: dict[str, deque[float]] = {}
        self._throttled: dict[str, float] = {}
        self._spawn_error: str | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._starter: asyncio.Task[None] | None = None
        self._stopping = False
        self._spawner: ThreadPoolExecutor | None = None
        self._store = store

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the workers (from the pool's own long-lived spawner thread).

        Returns once their processes run; they import their libraries and open the store in
        the background (queries meanwhile wait for them as for busy workers), so the server
        opens its port at once.
        """
        if self.size == 0:
            return
        # A ThreadPoolExecutor's thread never exits while idle (unlike anyio's): the workers'
        # parent-death signal is tied to the thread that started them.
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="geokb-spawner")
        new = [await self._spawn() for _ in range(self.size)]
        self._all.update(new)
        self._starter = asyncio.get_running_loop().create_task(self._first_start(new))

    async def _first_start(self, new: list[_Worker]) -> None:
        if await self._warm_up(new) is not None:
            self._want_workers()  # those that failed are replaced, with back-off

    async def _spawn(self) -> _Worker:
        """A new worker process, its pipe registered with the event loop."""
        assert self._spawner is not None
        loop = asyncio.get_running_loop()
        w = await loop.run_in_executor(self._spawner, _Worker, self.memory_mb)
        try:
            await w.connect()
        except BaseException:
            w.kill()
            raise
        return w

    async def stop(self) -> None:
        """Kill every worker and end the spawner thread."""
        self._stopping = True
        for task in (self._keeper, self._starter):
            if task is not None:
                task.cancel()
        for queue in self._waiters.values():
            for waiter in queue:
                waiter.future.cancel()
        self._waiters.clear()
        for w in list(self._idle):
            self._unwatch(w)
        self._idle.clear()
        for w in list(self._all):
            w.kill()
            w.reap()
        self._all.clear()
        if self._spawner is not None:
            self._spawner.shutdown(wait=True)

    # -- a query --------------------------------------------------------------------------

    async def execute(self, job: Job, client: str) -> Execution:
        """Run ``job`` for ``client`` (the peer address).

        Raises QueryTimeout, QueryRefused, QueryError, QueryPoisoned, ClientThrottled,
        ServerBusy (HeavyQueryLimited) or WorkerFailed.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        digest = _digest(job.query)
        self._refuse_if_barred(client, digest, now)
        self._want_workers()
        queue_deadline = now + self.queue_timeout_s
        # A worker that recycled itself just as it got the job never read it: another one
        # answers. At most one try per worker that could have been found that way.
        for _ in range(self.size + 1):
            w, heavy = await self._acquire(client, queue_deadline)
            run = _Run(client, digest, heavy)
            try:
                return await self._run(w, job, run)
            except _Gone:
                continue
        raise WorkerFailed("query workers kept exiting before they read the query")

    def _refuse_if_barred(self, client: str, digest: bytes, now: float) -> None:
        until = self._throttled.get(client)
        if until is not None and until > now:
            wait = int(until - now) + 1
            raise ClientThrottled(
                f"queries from {client} stopped {CRASH_LIMIT} query workers within "
                f"{CRASH_WINDOW_S:g} s; this client is refused for {wait} s more",
                wait,
            )
        until = self._poisoned.get(digest)
        if until is not None and until > now:
            raise QueryPoisoned(
                "this exact query stopped a query worker a short while ago and is refused "
                f"for {int(until - now) + 1} s more; it may nest too deeply or chain too many "
                "operators: simplify it"
            )

    async def _acquire(self, client: str, deadline: float) -> tuple[_Worker, bool]:
        """Wait for a worker (and a heavy slot, if the client is heavy) until ``deadline``."""
        if not self._all and self._spawn_error is not None:
            raise self._no_workers()
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future())
        self._waiters.setdefault(client, deque()).append(waiter)
        self._dispatch()
        fut = waiter.future
        if not fut.done():
            # a timer, rather than asyncio.wait (a set, a callback and a timer per request)
            timer = loop.call_at(deadline, _out_of_time, fut)
            try:
                await fut
            except _OutOfTime:
                pass
            except BaseException:  # cancelled (the client went away), or no worker can start
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    self._release(*fut.result(), client)
                fut.cancel()
                raise
            finally:
                timer.cancel()
        if not fut.cancelled() and isinstance(fut.exception(), _OutOfTime):
            # (_dispatch skips waiters that are done)
            if self._is_heavy(client, loop.time()):
                raise ServerBusy(
                    f"this client's queries ran long lately, and long queries are limited to "
                    f"{self.heavy_slots} at a time; none could start within "
                    f"{self.queue_timeout_s:g} s; try again later"
                )
            raise ServerBusy(
                f"all {self.size} query workers stayed busy for {self.queue_timeout_s:g} s "
                "(the server is busy); try again later"
            )
        return fut.result()  # raises ServerBusy when no worker could be started

    def _release(self, w: _Worker, heavy: bool, client: str) -> None:
        """Give back a worker taken for a request that then went away."""
        if heavy:
            self._give_heavy(client)
        self._make_idle(w)
        self._dispatch()

    async def _run(self, w: _Worker, job: Job, run: _Run) -> Execution:
        loop = asyncio.get_running_loop()
        run.deadline = loop.time() + self.timeout_s  # the run time counts from here
        run.timer = loop.call_later(self.heavy_after_s, self._turned_heavy, w, run)
        try:
            if w.pipe.closed:  # the worker is gone
                await self._why_gone(w, run)
            w.pipe.send(job)
            kind, payload = await self._receive(w, run)
        except BaseException:
            self._finish(w, run, ok=False)
            raise
        if kind == worker.WHOLE:
            self._finish(w, run, ok=True)
            return Execution(truncated=worker.CUTS[payload[0]], body=payload[1:])
        if kind != worker.HEAD:
            self._finish(w, run, ok=kind != worker.MEMORY)  # a worker out of memory leaves
            message = payload.decode("utf-8", "replace")
            if kind == worker.MEMORY:
                raise QueryOutOfMemory(message)
            if kind == worker.REFUSED:
                raise QueryRefused(message)
            if kind == worker.BAD_QUERY:
                raise QueryError(message)
            raise WorkerFailed(f"the query failed inside the server: {message}")
        cut = worker.CUTS[payload[0]]
        return Execution(truncated=cut, chunks=self._stream(w, run))

    async def _stream(self, w: _Worker, run: _Run) -> AsyncIterator[bytes]:
        finished = False
        try:
            while True:
                kind, payload = await self._receive(w, run)
                if kind == worker.END:
                    finished = True
                    return
                yield payload
        finally:
            # not finished: timed out, died, stopped, or the client went away mid-stream
            self._finish(w, run, ok=finished)

    async def _receive(self, w: _Worker, run: _Run) -> tuple[int, bytes]:
        """The worker's next frame for this job, or the error its absence means."""
        loop = asyncio.get_running_loop()
        try:
            if run.stopped or run.overdue:
                raise _Closed
            frame = await w.pipe.next(run.deadline - loop.time())
        except TimeoutError:
            raise self._timed_out() from None
        except _Closed:
            await self._why_gone(w, run)
        if run.stopped:  # killed by _turned_heavy; what it sent before does not count
            raise self._heavy_limited()
        run.answered = True
        return frame

    async def _why_gone(self, w: _Worker, run: _Run) -> NoReturn:
        """The worker's pipe closed: raise what that means for this job."""
        if run.stopped:
            raise self._heavy_limited()
        if run.overdue:
            raise self._timed_out()
        code = await asyncio.get_running_loop().run_in_executor(None, w.reap)
        if code == 0 and not run.answered:
            raise _Gone  # it exited by itself, between jobs: not this query's doing
        how = _how_it_ended(code)
        self._crashed(run)
        if code == -signal.SIGABRT:  # Rust aborts when an allocation fails (RLIMIT_DATA),
            # and when the engine panics (pyoxigraph aborts on a panic): both look alike here
            raise QueryOutOfMemory(
                f"the query stopped its worker process (SIGABRT): it needed more than the "
                f"{self.memory_mb:,} MB of memory a query may use, or the engine failed on it; "
                "narrow it (a LIMIT, fewer or smaller values). The same query is refused for "
                f"the next {POISON_S / 60:g} minutes"
            )
        raise WorkerFailed(
            f"the query stopped its worker process ({how}); a new worker was started. "
            f"The same query is refused for the next {POISON_S / 60:g} minutes"
        )

    def _timed_out(self) -> QueryTimeout:
        return QueryTimeout(
            f"the query ran longer than {self.timeout_s:g} s and was stopped; "
            "narrow it (more specific patterns, a LIMIT) and try again"
        )

    def _heavy_limited(self) -> HeavyQueryLimited:
        return HeavyQueryLimited(
            f"the query ran longer than {self.heavy_after_s:g} s and was stopped: long queries "
            f"are limited to {self._heavy_limit()} at a time, one per client; try again later"
        )

    def _finish(self, w: _Worker, run: _Run, ok: bool) -> None:
        """The job is over: free its heavy slot; keep the worker if it is sound, else kill it."""
        if run.done:
            return
        run.done = True
        if run.timer is not None:
            run.timer.cancel()
        if run.heavy:
            self._give_heavy(run.client)
        if ok and not run.stopped:
            self._make_idle(w)
        else:
            self._discard(w)
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a stream finalised by the garbage collector: no loop here
            return
        self._dispatch()

    # -- heavy queries ---------------------------------------------------------------------

    def _heavy_limit(self) -> int:
        # Fewer while a worker is being replaced, so that one is still left for short queries.
        return min(self.heavy_slots, max(1, len(self._all) - 1))

    def _heavy_slot_free(self, client: str) -> bool:
        return client not in self._heavy_running and (
            len(self._heavy_running) < self._heavy_limit()
        )

    def _take_heavy(self, client: str) -> bool:
        """Take a heavy slot for ``client`` if one is free here (and among the server
        processes, if there are several)."""
        if not self._heavy_slot_free(client):
            return False
        if self._shared is not None:
            slot = self._shared.take()
            if slot is None:
                return False
            self._shared_held[client] = slot
        self._heavy_running.add(client)
        return True

    def _give_heavy(self, client: str) -> None:
        self._heavy_running.discard(client)
        slot = self._shared_held.pop(client, None)
        if slot is not None and self._shared is not None:
            self._shared.give(slot)

    def _is_heavy(self, client: str, now: float) -> bool:
        until = self._heavy_until.get(client)
        if until is not None and until <= now:
            del self._heavy_until[client]
            return False
        return until is not None

    def _turned_heavy(self, w: _Worker, run: _Run) -> None:
        """Called ``heavy_after_s`` into a job: it is heavy; stop it if no slot is free."""
        if run.done:
            return
        loop = asyncio.get_running_loop()
        _remember(self._heavy_until, run.client, loop.time() + HEAVY_MARK_S)
        if run.heavy or self._take_heavy(run.client):
            run.heavy = True
            run.timer = loop.call_at(run.deadline, self._overdue, w, run)
            return
        run.stopped = True
        self._stop_run(w, run)

    def _overdue(self, w: _Worker, run: _Run) -> None:
        """Called at a job's deadline if it is not over. A job still running is also
        stopped by its own wait for the worker (``_receive``); this stops the job whose
        answer the client has not taken: the worker waits on a full pipe, nobody reads."""
        if not run.done:
            run.overdue = True
            self._stop_run(w, run)

    def _stop_run(self, w: _Worker, run: _Run) -> None:
        """Kill the job's worker and replace it now (``_finish`` discards it): its pipe may
        have no reader (an answer half sent to a client who stopped reading), so nothing
        else would. Whoever reads next gets what ``run`` says (heavy-limited, or out of
        time)."""
        self._finish(w, run, ok=False)

    # -- queueing -------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Hand idle workers to waiting requests, one client after another in turn."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._idle and self._waiters:
            for client in list(self._waiters):
                queue = self._waiters[client]
                while queue and queue[0].future.done():  # timed out or cancelled meanwhile
                    queue.popleft()
                if not queue:
                    del self._waiters[client]
                    continue
                heavy = self._is_heavy(client, now)
                if heavy and not self._take_heavy(client):
                    continue
                waiter = queue.popleft()
                del self._waiters[client]
                if queue:  # the client's next query goes to the back of the turn
                    self._waiters[client] = queue
                waiter.future.set_result((self._take_idle(heavy), heavy))
                break
            else:
                return  # nobody waiting can start now

    def _make_idle(self, w: _Worker) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop (garbage collection): do not keep an unwatched worker
            self._discard(w)
            return
        if w.pipe.closed or w.pipe.frames:  # it exited, or said something out of turn
            self._discard(w)
            return
        # An idle worker says nothing: if its pipe closes (it recycles itself after a big
        # answer, or was killed) or speaks, it is replaced at once.
        w.pipe.on_event = lambda: self._idle_readable(w)
        self._idle.append(w)

    def _take_idle(self, heavy: bool) -> _Worker:
        # A short query takes the warmest worker (the top of the stack), a heavy one the
        # coldest, which it does not mind, leaving warm ones to short queries.
        w = self._idle.pop(0 if heavy else -1)
        self._unwatch(w)
        return w

    def _unwatch(self, w: _Worker) -> None:
        w.pipe.on_event = None

    def _idle_readable(self, w: _Worker) -> None:
        if w in self._idle:
            self._idle.remove(w)
            self._unwatch(w)
            self._discard(w)

    # -- workers --------------------------------------------------------------------------

    def _discard(self, w: _Worker) -> None:
        """Kill a worker (if it still runs), forget it, and have it replaced."""
        self._all.discard(w)
        w.kill()  # stops the query and frees its CPU now
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            w.reap()
            return
        loop.run_in_executor(None, w.reap)  # no zombie left; SIGKILL makes this quick
        self._want_workers()

    def _want_workers(self) -> None:
        """Make sure a task is starting workers while there are fewer than ``size``."""
        if self._stopping or len(self._all) >= self.size:
            return
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep_full())

    async def _keep_full(self) -> None:
        assert self._spawner is not None
        delay = SPAWN_RETRY_S[0]
        while not self._stopping and len(self._all) < self.size:
            new: list[_Worker] = []
            problem = None
            while len(self._all) + len(new) < self.size:
                try:
                    new.append(await self._spawn())
                except Exception as exc:  # e.g. EMFILE or EAGAIN: tried again after a while
                    problem = f"{type(exc).__name__}: {exc}"
                    break
            self._all.update(new)
            problem = await self._warm_up(new) or problem
            if problem is None:
                if self._spawn_error is not None:
                    _LOG.warning("query workers start again")
                self._spawn_error = None
                delay = SPAWN_RETRY_S[0]
                continue
            if self._spawn_error != problem:
                _LOG.warning("cannot start a query worker (%s); retrying", problem)
            self._spawn_error = problem
            if not self._all:  # nobody can be served: say why now rather than time out
                self._fail_waiters(self._no_workers())
            await asyncio.sleep(delay)
            delay = min(2 * delay, SPAWN_RETRY_S[1])

    async def _warm_up(self, new: list[_Worker]) -> str | None:
        """Have new workers open the store; idle the ready ones; say why any failed.

        A worker takes queries only once it answered this first one: until then it is still
        importing its libraries, and a query sent to it would wait that long for nothing
        (and could be taken for a long query).
        """
        if self._store is None:
            for w in new:
                self._make_idle(w)
            self._dispatch()
            return None
        job = Job(str(self._store()), "ASK {}", kbquery.Dataset(), "json", 1)
        failures = await asyncio.gather(*(self._first_answer(w, job) for w in new))
        problem = None
        for w, failure in zip(new, failures, strict=True):
            if self._stopping or w not in self._all:
                continue
            if failure is None:
                self._make_idle(w)
            else:
                self._all.discard(w)
                w.kill()
                problem = f"a new query worker failed: {failure}"
        self._dispatch()
        return problem

    async def _first_answer(self, w: _Worker, job: Job) -> str | None:
        """None once ``w`` answered ``job``; else what went wrong."""
        try:
            w.pipe.send(job)
            await w.pipe.next(WARM_UP_S)  # any answer (even an error about the store) will do
            return None
        except TimeoutError:
            return f"no answer within {WARM_UP_S:g} s"
        except (_Closed, OSError):
            pass
        return _how_it_ended(await asyncio.get_running_loop().run_in_executor(None, w.reap))

    def _no_workers(self) -> ServerBusy:
        return ServerBusy(
            f"no query worker is running: starting one failed ({self._spawn_error}); "
            "the server keeps trying, try again in a few seconds"
        )

    def _fail_waiters(self, exc: ServerBusy) -> None:
        for queue in self._waiters.values():
            for waiter in queue:
                if not waiter.future.done():
                    waiter.future.set_exception(exc)
        self._waiters.clear()

    # -- queries that kill workers -------------------------------------------------------

    def _crashed(self, run: _Run) -> None:
        """A job killed its worker: bar its text for a while, and its client if it repeats."""
        now = asyncio.get_running_loop().time()
        _remember(self._poisoned, run.digest, now + POISON_S)
        times = self._crashes.setdefault(run.client, deque())
        times.append(now)
        while times and times[0] < now - CRASH_WINDOW_S:
            times.popleft()
        if len(times) >= CRASH_LIMIT:
            _remember(self._throttled, run.client, now + THROTTLE_S)
            del self._crashes[run.client]
            _LOG.warning("client %s stopped %d query workers: refused", run.client, CRASH_LIMIT)
        elif len(self._crashes) > REMEMBERED:
            del self._crashes[next(iter(self._crashes))]


def _timed_out(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class _OutOfTime(Exception):
    """A request waited for a worker until its deadline."""


def _out_of_time(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(_OutOfTime())


def _digest(query: str) -> bytes:
    return hashlib.sha256(query.encode("utf-8", "surrogatepass")).digest()


def _remember(table: dict[Any, float], key: Any, until: float) -> None:
    """Set ``table[key] = until``, dropping the oldest entries beyond REMEMBERED."""
    table.pop(key, None)  # re-inserted last: the dict's order is the order of setting
    table[key] = until
    while len(table) > REMEMBERED:
        del table[next(iter(table))]


def _how_it_ended(code: int | None) -> str:
    if code is None:
        return "it closed its pipe and did not exit"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
