"""Bounds on the work pages do inside the server process: entity pages, VoID, /transfers.csv.

Queries run in worker processes that can be killed; pages read the embedded store in the
server process, where a pyoxigraph call cannot be interrupted. So pages are bounded the other
way: each reads at most a fixed number of rows per section (``take``), in small steps, and
checks a ``Deadline`` of ``Settings.timeout_s`` between steps; and at most one page per core
renders at once, a request waiting longer than ``Settings.queue_timeout_s`` being turned away.
One client (``api.client_keys``) holds at most all the render slots but one, as it may hold
all the query workers but one with heavy queries: a client looping on the register
(``/transfers.csv``, 11 s of CPU at 1M triples) left no slot for anyone else's page, which
then waited 10 s for a 503. Both refusals answer 503 with Retry-After, like ``/sparql``.

Pages read a build's triples through ``Facts``: each triple once, from the store's default
graph (the union a build writes of its data and ontology graphs), not once per graph that
holds it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import pyoxigraph as ox
from fastapi import FastAPI, Request, Response

from api.client_keys import client_key
from api.responses import plain
from api.settings import Settings
from kb.stores.local import facts_graph

T = TypeVar("T")
RETRY_AFTER = "5"
BATCH = 100  # rows read between two looks at the clock


class PageTimeout(Exception):
    """A page ran past its deadline."""


class PagesBusy(Exception):
    """A page waited too long for its turn to render."""


class Deadline:
    """The time by which a page must be done; ``check`` between steps."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.end - time.monotonic())

    def check(self) -> None:
        """Raise PageTimeout if the deadline has passed."""
        if time.monotonic() > self.end:
            raise PageTimeout(
                f"this page took longer than the server's limit of {self.seconds:g} s; "
                "its full data can be queried through /sparql"
            )


@dataclass(frozen=True)
class Facts:
    """A build's store as pages read it: ``graph`` is where each triple is once (the default
    graph), or None for a build made before builds wrote one (every graph is read then, and
    a triple in two files comes twice: readers keep ``take``'s and ``dict.fromkeys``'s
    de-duplication for those). Pages that must know which file says what read the store's
    named graphs themselves."""

    store: ox.Store
    graph: ox.DefaultGraph | None

    @classmethod
    def of(cls, store: ox.Store) -> Facts:
        """The facts of ``store`` (one index seek to tell its layout: make one per page)."""
        return cls(store, facts_graph(store))

    def quads(
        self,
        subject: ox.NamedNode | ox.BlankNode | ox.Triple | None = None,
        predicate: ox.NamedNode | None = None,
        obj: ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple | None = None,
    ) -> Iterator[ox.Quad]:
        """The triples (as quads) matching the pattern, None matching anything."""
        return self.store.quads_for_pattern(subject, predicate, obj, self.graph)


def take(items: Iterable[T], limit: int, deadline: Deadline) -> tuple[list[T], bool]:
    """The first ``limit`` distinct items (in order) and whether there were more.

    Reads lazily, one more than ``limit`` at most, looking at the clock every BATCH items.
    """
    seen: set[T] = set()
    out: list[T] = []
    read = 0
    for item in items:
        read += 1
        if read % BATCH == 0:
            deadline.check()
        if item in seen:  # the same triple in several graphs (an old build's layout)
            continue
        if len(out) == limit:
            return out, True
        seen.add(item)
        out.append(item)
    return out, False


class PageWork:
    """At most ``slots`` page renders at once, each in its own thread under a deadline."""

    def __init__(self, settings: Settings, slots: int | None = None) -> None:
        self.timeout_s = settings.timeout_s
        self.queue_timeout_s = settings.queue_timeout_s
        self.slots = slots or os.cpu_count() or 2
        self.per_client = max(1, self.slots - 1)  # slots one client may hold at once
        self._executor = ThreadPoolExecutor(self.slots, thread_name_prefix="geokb-page")
        self._semaphore: asyncio.Semaphore | None = None  # made on the server's event loop
        # client -> its share of the slots (forgotten when no request of it waits or
        # renders, so the table holds only clients with a page under way)
        self._clients: dict[str, _Share] = {}

    def deadline(self) -> Deadline:
        """A new deadline of ``Settings.timeout_s`` from now."""
        return Deadline(self.timeout_s)

    @asynccontextmanager
    async def slot(self, deadline: Deadline | None = None, client: str = "") -> AsyncIterator[None]:
        """Hold one of the render slots for ``client``; PagesBusy if none frees up in time.

        A request waits at most ``queue_timeout_s`` (and no longer than its deadline), first
        for one of its client's share (``per_client``), then for a slot.
        """
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.slots)
        wait = self.queue_timeout_s
        if deadline is not None:
            wait = min(wait, deadline.remaining())
        share = self._clients.get(client)
        if share is None:
            share = self._clients[client] = _Share(asyncio.Semaphore(self.per_client))
        share.requests += 1
        end = time.monotonic() + wait
        busy = f"the server is busy rendering other pages (waited {wait:g} s); try again"
        try:
            try:
                await _take(share.slots, wait)
            except TimeoutError:
                raise PagesBusy(busy) from None
            try:
                try:
                    await _take(self._semaphore, max(0.0, end - time.monotonic()))
                except TimeoutError:
                    raise PagesBusy(busy) from None
                try:
                    yield
                finally:
                    self._semaphore.release()
            finally:
                share.slots.release()
        finally:
            share.requests -= 1
            if not share.requests:
                del self._clients[client]

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a render thread; the caller must hold a slot."""
        # Awaited to the end, not abandoned at the deadline: the slot stays taken while the
        # thread works, and ``fn`` itself stops at its next deadline check.
        return await asyncio.get_running_loop().run_in_executor(self._executor, _bare, fn)

    async def run(self, fn: Callable[[Deadline], T], client: str = "") -> T:
        """Wait for a slot (for ``client``), then run ``fn(deadline)`` in a render thread.

        The deadline starts once the slot is held (as a query's does once a worker has it).
        """
        async with self.slot(client=client):
            deadline = self.deadline()
            return await self.call(lambda: fn(deadline))


@dataclass
class _Share:
    """One client's share of the render slots, and its requests waiting or rendering."""

    slots: asyncio.Semaphore
    requests: int = 0


async def _take(semaphore: asyncio.Semaphore, wait: float) -> None:
    """Acquire ``semaphore``, waiting at most ``wait`` s (TimeoutError); a free one is
    taken at once, even with no time to wait."""
    if semaphore.locked():
        await asyncio.wait_for(semaphore.acquire(), wait)
    else:
        await semaphore.acquire()


@dataclass(frozen=True)
class ClientWork:
    """The app's PageWork as one client's requests use it: their slots count as theirs."""

    work: PageWork
    client: str

    def deadline(self) -> Deadline:
        """A new deadline of ``Settings.timeout_s`` from now."""
        return self.work.deadline()

    def slot(self, deadline: Deadline | None = None) -> AbstractAsyncContextManager[None]:
        """One of the render slots, of this client's share (``PageWork.slot``)."""
        return self.work.slot(deadline, self.client)

    async def call(self, fn: Callable[[], T]) -> T:
        """``PageWork.call``."""
        return await self.work.call(fn)

    async def run(self, fn: Callable[[Deadline], T]) -> T:
        """``PageWork.run`` for this client."""
        return await self.work.run(fn, self.client)


def for_request(request: Request) -> ClientWork:
    """The app's PageWork for the client of ``request`` (``api.client_keys``)."""
    peer = request.client
    return ClientWork(for_app(request.app), client_key(peer.host) if peer else "")


def _bare(fn: Callable[[], T]) -> T:
    """``fn()``, a timeout raised afresh, without the frames it stopped in.

    Those frames hold pyoxigraph iterators, which must be dropped in the thread that made
    them; a traceback travelling to the event loop's thread would drop them there.
    """
    try:
        return fn()
    except PageTimeout as exc:
        message = str(exc)
    raise PageTimeout(message)  # outside the except block: the old traceback is gone


def for_app(app: FastAPI) -> PageWork:
    """The app's PageWork, made on first use from its settings."""
    work: PageWork | None = getattr(app.state, "page_work", None)
    if work is None:
        work = PageWork(app.state.settings)
        app.state.page_work = work
    return work


def refusal(exc: PageTimeout | PagesBusy) -> Response:
    """The 503 answer to a page that ran out of time or waited too long."""
    return plain(503, str(exc), {"Retry-After": RETRY_AFTER})
